package daemon

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/haraft/haraft/cmd/haraftd/config"
)

// writeSelfSigned writes a self-signed certificate for name and its key
// under dir and returns the files and the certificate.
func writeSelfSigned(t *testing.T, dir, base, name string, serial int64) (config.CertKey, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	ck := config.CertKey{CertFile: filepath.Join(dir, base+".pem"), KeyFile: filepath.Join(dir, base+"-key.pem")}
	for path, data := range map[string][]byte{
		ck.CertFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		ck.KeyFile:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
	} {
		if err := os.WriteFile(path+".tmp", data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	return ck, cert
}

// oneNodeConfig is a single-node cluster with a plain and a TLS frontend
// in front of backend.
// startServing starts a node, stops it when the test ends, and waits until
// it serves.
func startServing(t *testing.T, cfg *config.Config, o Options) *Daemon {
	t.Helper()
	d, err := Start(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = d.Shutdown(ctx)
	})
	select {
	case <-d.Serving():
	case <-time.After(20 * time.Second):
		t.Fatal("node did not serve")
	}
	return d
}

func oneNodeConfig(t *testing.T, raftAddr, backend string, tlsConf *config.FrontendTLS) *config.Config {
	cfg := config.Default()
	cfg.File = "tls.yaml"
	cfg.Node = config.Node{ID: "n1", AZ: "a", DataDir: t.TempDir()}
	cfg.Raft.Bind, cfg.Raft.Advertise = raftAddr, raftAddr
	cfg.Raft.Peers = []config.Peer{{ID: "n1", Addr: raftAddr}}
	cfg.Raft.HeartbeatTimeout = config.Duration{Duration: 50 * time.Millisecond}
	cfg.Raft.ElectionTimeout = config.Duration{Duration: 50 * time.Millisecond}
	cfg.Raft.LeaderLeaseTimeout = config.Duration{Duration: 50 * time.Millisecond}
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Backends = []config.Backend{{Name: "app", Balance: config.BalanceRoundRobin, LearnCommit: config.LearnCommitAsync,
		Cookie:  &config.Cookie{Name: "SERVERID", Mode: "insert", Indirect: true, Secure: true},
		Servers: []config.Server{{Name: "A", Addr: backend, Cookie: "A", Weight: 1}}}}
	cfg.Frontends = []config.Frontend{
		{Name: "web", Bind: "127.0.0.1:0", Backend: "app"},
		{Name: "web-tls", Bind: "127.0.0.1:0", Backend: "app", TLS: tlsConf},
	}
	return cfg
}

func TestTLSFrontendDaemon(t *testing.T) {
	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", "A")
		_, _ = io.WriteString(w, "hello from A\n")
	}), ReadHeaderTimeout: 5 * time.Second}
	bln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = backend.Serve(bln) }()
	t.Cleanup(func() { _ = backend.Close() })

	dir := t.TempDir()
	www, wwwCert := writeSelfSigned(t, dir, "www", "www.example.com", 1)
	api, apiCert := writeSelfSigned(t, dir, "api", "api.example.com", 2)
	tlsConf := &config.FrontendTLS{Certs: []config.CertKey{www, api}, MinVersion: "1.2"}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

	// A certificate that cannot be read fails the start, naming the file.
	rln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bad := oneNodeConfig(t, rln.Addr().String(), bln.Addr().String(),
		&config.FrontendTLS{Certs: []config.CertKey{www, {CertFile: filepath.Join(dir, "missing.pem"), KeyFile: api.KeyFile}}})
	if _, err := Start(bad, Options{Logger: log, RaftListener: rln, RaftLogLevel: "error"}); err == nil ||
		!strings.Contains(err.Error(), "tls.yaml: frontends[1].tls: certificate "+filepath.Join(dir, "missing.pem")) {
		t.Fatalf("start with a missing certificate: %v", err)
	}

	rln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := startServing(t, oneNodeConfig(t, rln.Addr().String(), bln.Addr().String(), tlsConf), Options{Logger: log, RaftListener: rln, RaftLogLevel: "error"})

	addr := d.Frontends()[1].Addr().String()
	client := func(name string, roots ...*x509.Certificate) *http.Client {
		pool := x509.NewCertPool()
		for _, c := range roots {
			pool.AddCert(c)
		}
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: name}, ForceAttemptHTTP2: true}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
	get := func(c *http.Client) (*http.Response, error) {
		resp, err := c.Get("https://" + addr + "/")
		if err != nil {
			return nil, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp, nil
	}
	wwwClient := client("www.example.com", wwwCert)
	for name, c := range map[string]*http.Client{"www.example.com": wwwClient, "api.example.com": client("api.example.com", apiCert)} {
		resp, err := get(c)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if resp.ProtoMajor != 2 || resp.Header.Get("X-Backend") != "A" || resp.Header.Get("Set-Cookie") != "SERVERID=A; path=/; Secure" {
			t.Fatalf("%s: %s %d %q", name, resp.Proto, resp.StatusCode, resp.Header.Get("Set-Cookie"))
		}
	}
	if st := d.Frontends()[1].Stats(); st.Requests != 2 {
		t.Fatalf("TLS frontend stats %+v", st)
	}

	// Reload (SIGHUP): new connections get the renewed certificate, the
	// open one carries on.
	_, renewed := writeSelfSigned(t, dir, "www", "www.example.com", 3)
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := get(wwwClient); err != nil {
		t.Fatalf("open connection after reload: %v", err)
	}
	if _, err := get(client("www.example.com", wwwCert)); err == nil {
		t.Fatal("a new connection still got the old certificate")
	}
	resp, err := get(client("www.example.com", renewed))
	if err != nil {
		t.Fatalf("new connection after reload: %v", err)
	}
	if resp.TLS.PeerCertificates[0].SerialNumber.Int64() != 3 {
		t.Fatalf("serial %v", resp.TLS.PeerCertificates[0].SerialNumber)
	}

	// A reload that fails keeps the certificates in use.
	if err := os.WriteFile(api.KeyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(); err == nil || !strings.Contains(err.Error(), "frontend web-tls: certificate "+api.CertFile+" with key "+api.KeyFile) {
		t.Fatalf("failed reload: %v", err)
	}
	if _, err := get(client("api.example.com", apiCert)); err != nil {
		t.Fatalf("after a failed reload: %v", err)
	}
}
