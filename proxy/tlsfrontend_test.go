package proxy

import (
	"bufio"
	"bytes"
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
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testCA issues certificates for the TLS tests.
type testCA struct {
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	pool   *x509.CertPool
	serial atomic.Int64
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "haraft test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	ca := &testCA{cert: cert, key: key, pool: pool}
	ca.serial.Store(1)
	return ca
}

// issue writes a certificate for names (and its key) as base.crt and
// base.key in dir, replacing files already there, and returns its serial.
func (ca *testCA) issue(t testing.TB, dir, base string, names ...string) (CertPair, int64) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial := ca.serial.Add(1)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := CertPair{CertFile: filepath.Join(dir, base+".crt"), KeyFile: filepath.Join(dir, base+".key")}
	writeAtomic(t, p.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	writeAtomic(t, p.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
	return p, serial
}

func writeAtomic(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

type tlsProxyOpts struct {
	proxyOpts
	certs []CertPair
	log   *slog.Logger
}

// startTLSProxy starts a TLS frontend in front of servers A, B, ... at
// addrs; it is shut down when the test ends.
func startTLSProxy(t testing.TB, o tlsProxyOpts, addrs ...string) (*TLSFrontend, *countingListener) {
	t.Helper()
	var servers []ServerOptions
	for i, a := range addrs {
		name := string(rune('A' + i))
		servers = append(servers, ServerOptions{Name: name, Addr: a, Cookie: name, Weight: 1})
	}
	b, err := NewBackend(BackendOptions{Name: "app", Cookie: o.cookie, Servers: servers, Timeouts: o.timeouts, ForwardFor: !o.noFwdFor, ForwardProtoHost: o.protoHost})
	if err != nil {
		t.Fatal(err)
	}
	st := o.state
	if st == nil {
		st = &stubState{}
	}
	log := o.log
	if log == nil {
		log = quietLogger()
	}
	store, err := NewCertStore(o.certs, log)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &countingListener{Listener: raw}
	f, err := NewTLSFrontend(TLSFrontendOptions{
		FrontendOptions: FrontendOptions{Name: "web-tls", Listener: ln, Backend: b, Timeouts: o.timeouts, MaxHeaderBytes: o.maxHeader, Redispatch: true,
			AccessLog: o.accessLog},
		Certs: store,
	}, st, o.learner, log)
	if err != nil {
		t.Fatal(err)
	}
	serveUntilCleanup(t, f, b)
	return f, ln
}

// tlsClient is an HTTPS client trusting ca, sending serverName as SNI;
// h1 restricts it to HTTP/1.1.
func tlsClient(t testing.TB, ca *testCA, serverName string, h1 bool) *http.Client {
	conf := &tls.Config{RootCAs: ca.pool, ServerName: serverName}
	tr := &http.Transport{TLSClientConfig: conf, ForceAttemptHTTP2: !h1, DisableCompression: true}
	if h1 {
		conf.NextProtos = []string{"http/1.1"}
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func get(t testing.TB, c *http.Client, url string, cookies ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, ck := range cookies {
		req.Header.Add("Cookie", ck)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestTLSFrontendInsertCookie(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	pair, _ := ca.issue(t, dir, "web", "www.example.com")
	a := startBackend(t, named("A"))
	cacheable := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		named("B")(w, r)
	}
	b := startBackend(t, cacheable)
	ck := insertCookie()
	ck.HTTPOnly, ck.Secure = true, true
	f, _ := startTLSProxy(t, tlsProxyOpts{proxyOpts: proxyOpts{cookie: ck}, certs: []CertPair{pair}}, a, b)
	url := "https://" + f.Addr().String() + "/"

	for _, h1 := range []bool{false, true} {
		c := tlsClient(t, ca, "www.example.com", h1)
		seen := map[string]string{}
		for range 4 {
			resp, body := get(t, c, url)
			if want := map[bool]int{false: 2, true: 1}[h1]; resp.ProtoMajor != want {
				t.Fatalf("h1=%v: protocol %s", h1, resp.Proto)
			}
			name := resp.Header.Get("X-Backend")
			if body != "hello from "+name+"\n" {
				t.Fatalf("body %q", body)
			}
			sc := resp.Header.Values("Set-Cookie")
			if len(sc) != 1 || sc[0] != "SERVERID="+name+"; path=/; HttpOnly; Secure" {
				t.Fatalf("Set-Cookie %q", sc)
			}
			// nocache: Cache-Control: private only on a cacheable response, as HAProxy.
			cc := strings.Join(resp.Header.Values("Cache-Control"), ", ")
			if name == "B" && cc != "max-age=60, private" || name == "A" && cc != "" {
				t.Fatalf("server %s: Cache-Control %q", name, cc)
			}
			seen[name] = sc[0]
		}
		if len(seen) != 2 {
			t.Fatalf("roundrobin reached %v", seen)
		}
		// Sticky, and indirect: the server never sees SERVERID.
		for range 3 {
			resp, _ := get(t, c, url, "SERVERID=B; other=1")
			if resp.Header.Get("X-Backend") != "B" {
				t.Fatalf("cookie B went to %s", resp.Header.Get("X-Backend"))
			}
			if got := resp.Header.Get("X-Saw-Cookie"); got != "other=1" {
				t.Fatalf("server saw Cookie %q", got)
			}
			if sc := resp.Header.Values("Set-Cookie"); len(sc) != 0 {
				t.Fatalf("sticky request got Set-Cookie %q", sc)
			}
			if xff := resp.Header.Get("X-Saw-XFF"); xff != "127.0.0.1" {
				t.Fatalf("X-Forwarded-For %q", xff)
			}
		}
	}
	if st := f.Stats(); st.Requests != 14 || st.Errors != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestTLSFrontendPrefixAndLearn(t *testing.T) {
	ca := newTestCA(t)
	pair, _ := ca.issue(t, t.TempDir(), "web", "www.example.com")
	app := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if _, err := r.Cookie("JSESSIONID"); err != nil {
				w.Header().Add("Set-Cookie", "JSESSIONID=s"+name+"; Path=/")
			}
			named(name)(w, r)
		}
	}
	a, b := startBackend(t, app("A")), startBackend(t, app("B"))

	t.Run("prefix", func(t *testing.T) {
		f, _ := startTLSProxy(t, tlsProxyOpts{proxyOpts: proxyOpts{cookie: &CookieOptions{Name: "JSESSIONID", Mode: ModePrefix}}, certs: []CertPair{pair}}, a, b)
		c := tlsClient(t, ca, "www.example.com", false)
		url := "https://" + f.Addr().String() + "/"
		resp, _ := get(t, c, url)
		name := resp.Header.Get("X-Backend")
		if sc := resp.Header.Get("Set-Cookie"); sc != "JSESSIONID="+name+"~s"+name+"; Path=/" {
			t.Fatalf("Set-Cookie %q", sc)
		}
		for range 3 {
			resp, _ = get(t, c, url, "JSESSIONID="+name+"~s"+name)
			if resp.Header.Get("X-Backend") != name || resp.Header.Get("X-Saw-Cookie") != "JSESSIONID=s"+name {
				t.Fatalf("backend %s saw %q", resp.Header.Get("X-Backend"), resp.Header.Get("X-Saw-Cookie"))
			}
		}
	})

	t.Run("learn", func(t *testing.T) {
		l := NewLearner(nil, LearnerOptions{NodeID: "n1", Logger: quietLogger()}) // not run: bindings stay pending
		f, _ := startTLSProxy(t, tlsProxyOpts{proxyOpts: proxyOpts{cookie: &CookieOptions{Name: "JSESSIONID", Mode: ModeLearn}, learner: l}, certs: []CertPair{pair}}, a, b)
		c := tlsClient(t, ca, "www.example.com", false)
		url := "https://" + f.Addr().String() + "/"
		resp, _ := get(t, c, url)
		name := resp.Header.Get("X-Backend")
		if sc := resp.Header.Get("Set-Cookie"); sc != "JSESSIONID=s"+name+"; Path=/" {
			t.Fatalf("Set-Cookie %q (learn mode must not touch it)", sc)
		}
		for range 4 {
			resp, _ = get(t, c, url, "JSESSIONID=s"+name)
			if resp.Header.Get("X-Backend") != name || resp.Header.Get("X-Saw-Cookie") != "JSESSIONID=s"+name {
				t.Fatalf("learned session went to %s (saw %q)", resp.Header.Get("X-Backend"), resp.Header.Get("X-Saw-Cookie"))
			}
		}
		if st := f.Stats(); st.Learned != 1 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestTLSFrontendSNI(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	p1, s1 := ca.issue(t, dir, "one", "one.example.com")
	p2, s2 := ca.issue(t, dir, "two", "two.example.com", "*.two.example.com")
	f, _ := startTLSProxy(t, tlsProxyOpts{certs: []CertPair{p1, p2}}, startBackend(t, named("A")))
	for _, tc := range []struct {
		sni    string
		serial int64
	}{
		{"one.example.com", s1},
		{"TWO.example.com", s2},
		{"api.two.example.com", s2},
		{"", s1},                  // no SNI: the default (first) certificate
		{"other.example.org", s1}, // no certificate names it: the default
	} {
		conn, err := tls.Dial("tcp", f.Addr().String(), &tls.Config{ServerName: tc.sni, InsecureSkipVerify: true, NextProtos: []string{"h2"}})
		if err != nil {
			t.Fatalf("%q: %v", tc.sni, err)
		}
		cs := conn.ConnectionState()
		conn.Close()
		if got := cs.PeerCertificates[0].SerialNumber.Int64(); got != tc.serial {
			t.Errorf("SNI %q: served certificate %d, want %d", tc.sni, got, tc.serial)
		}
		if cs.NegotiatedProtocol != "h2" {
			t.Errorf("SNI %q: ALPN %q", tc.sni, cs.NegotiatedProtocol)
		}
	}
	// Verified end to end, each name by its own certificate.
	for _, name := range []string{"one.example.com", "two.example.com"} {
		resp, _ := get(t, tlsClient(t, ca, name, false), "https://"+f.Addr().String()+"/")
		if resp.StatusCode != 200 || resp.TLS.ServerName != name {
			t.Fatalf("%s: %d %q", name, resp.StatusCode, resp.TLS.ServerName)
		}
	}
}

func TestTLSFrontendHTTP2ConcurrentStreams(t *testing.T) {
	ca := newTestCA(t)
	pair, _ := ca.issue(t, t.TempDir(), "web", "www.example.com")
	const n = 20
	var inFlight, peak atomic.Int64
	release := make(chan struct{})
	var arrived sync.WaitGroup
	arrived.Add(n)
	slow := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wait" {
			cur := inFlight.Add(1)
			for {
				p := peak.Load()
				if cur <= p || peak.CompareAndSwap(p, cur) {
					break
				}
			}
			arrived.Done()
			<-release
			inFlight.Add(-1)
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Backend", "A")
		_, _ = w.Write(bytes.ToUpper(body))
	}
	f, ln := startTLSProxy(t, tlsProxyOpts{certs: []CertPair{pair}}, startBackend(t, slow))
	c := tlsClient(t, ca, "www.example.com", false)
	url := "https://" + f.Addr().String()
	if resp, _ := get(t, c, url+"/"); resp.ProtoMajor != 2 {
		t.Fatalf("protocol %s, want HTTP/2", resp.Proto)
	}
	go func() {
		arrived.Wait()
		close(release)
	}()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := strings.Repeat("x", 1000+i)
			resp, err := c.Post(url+"/wait", "text/plain", strings.NewReader(body))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			switch {
			case err != nil:
				errs <- err
			case resp.ProtoMajor != 2:
				errs <- io.ErrUnexpectedEOF
				t.Errorf("protocol %s", resp.Proto)
			case string(got) != strings.ToUpper(body):
				t.Errorf("stream %d: body of %d bytes mixed up", i, len(got))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if p := peak.Load(); p != n {
		t.Fatalf("peak concurrency at the server %d, want %d", p, n)
	}
	if got := ln.n.Load(); got != 1 {
		t.Fatalf("%d client connections, want 1 (streams multiplexed)", got)
	}
}

func TestTLSFrontendReload(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	pair, old := ca.issue(t, dir, "web", "www.example.com")
	f, ln := startTLSProxy(t, tlsProxyOpts{certs: []CertPair{pair}}, startBackend(t, named("A")))
	url := "https://" + f.Addr().String() + "/"

	serial := func(resp *http.Response) int64 { return resp.TLS.PeerCertificates[0].SerialNumber.Int64() }
	h2, h1 := tlsClient(t, ca, "www.example.com", false), tlsClient(t, ca, "www.example.com", true)
	for _, c := range []*http.Client{h2, h1} {
		if resp, _ := get(t, c, url); serial(resp) != old {
			t.Fatalf("serial %d, want %d", serial(resp), old)
		}
	}
	if ln.n.Load() != 2 {
		t.Fatalf("%d connections", ln.n.Load())
	}

	_, renewed := ca.issue(t, dir, "web", "www.example.com")
	if err := f.Reload(); err != nil {
		t.Fatal(err)
	}
	// Established connections carry on (HTTP/2 and HTTP/1.1 keep-alive).
	for _, c := range []*http.Client{h2, h1} {
		resp, body := get(t, c, url)
		if resp.StatusCode != 200 || body != "hello from A\n" || serial(resp) != old {
			t.Fatalf("old connection after reload: %d %q serial %d", resp.StatusCode, body, serial(resp))
		}
	}
	if ln.n.Load() != 2 {
		t.Fatalf("reload dropped a connection: %d accepted", ln.n.Load())
	}
	// New connections get the new certificate.
	if resp, _ := get(t, tlsClient(t, ca, "www.example.com", false), url); serial(resp) != renewed {
		t.Fatalf("new connection: serial %d, want %d", serial(resp), renewed)
	}

	// A broken file: the reload fails, says which file, and the renewed
	// certificate stays in use.
	if err := os.WriteFile(pair.CertFile, []byte("-----BEGIN CERTIFICATE-----\ngarbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := f.Reload()
	if err == nil || !strings.Contains(err.Error(), pair.CertFile) {
		t.Fatalf("reload of a broken file: %v", err)
	}
	if resp, _ := get(t, tlsClient(t, ca, "www.example.com", false), url); serial(resp) != renewed {
		t.Fatalf("after a failed reload: serial %d, want %d", serial(resp), renewed)
	}
}

func TestCertStoreErrors(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	p1, _ := ca.issue(t, dir, "one", "one.example.com")
	p2, _ := ca.issue(t, dir, "two", "two.example.com")
	for _, tc := range []struct {
		name  string
		pairs []CertPair
		want  string
	}{
		{"none", nil, "no certificate"},
		{"missing", []CertPair{{CertFile: filepath.Join(dir, "nope.crt"), KeyFile: p1.KeyFile}}, "nope.crt"},
		{"mismatched key", []CertPair{p1, {CertFile: p2.CertFile, KeyFile: p1.KeyFile}}, p2.CertFile},
		{"key as cert", []CertPair{{CertFile: p1.KeyFile, KeyFile: p1.KeyFile}}, p1.KeyFile},
	} {
		_, err := NewCertStore(tc.pairs, quietLogger())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one naming %q", tc.name, err, tc.want)
		}
	}
}

func TestTLSFrontendRedispatch(t *testing.T) {
	ca := newTestCA(t)
	pair, _ := ca.issue(t, t.TempDir(), "web", "www.example.com")
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	f, _ := startTLSProxy(t, tlsProxyOpts{proxyOpts: proxyOpts{cookie: insertCookie()}, certs: []CertPair{pair}}, deadAddr, startBackend(t, named("B")))
	c := tlsClient(t, ca, "www.example.com", false)
	url := "https://" + f.Addr().String() + "/"
	for range 3 {
		resp, body := get(t, c, url, "SERVERID=A")
		if resp.StatusCode != 200 || resp.Header.Get("X-Backend") != "B" {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		if sc := resp.Header.Get("Set-Cookie"); !strings.HasPrefix(sc, "SERVERID=B;") {
			t.Fatalf("redispatched session not re-stuck: Set-Cookie %q", sc)
		}
	}
	// A body too: nothing of it was read before the dial failed.
	req, _ := http.NewRequest("POST", url, strings.NewReader("payload"))
	req.Header.Set("Cookie", "SERVERID=A")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Backend") != "B" {
		t.Fatalf("POST after redispatch: %d from %q", resp.StatusCode, resp.Header.Get("X-Backend"))
	}
	if st := f.Stats(); st.Redispatches != 4 {
		t.Fatalf("stats %+v", st)
	}
}

func TestTLSFrontendWebSocket(t *testing.T) {
	ca := newTestCA(t)
	pair, _ := ca.issue(t, t.TempDir(), "web", "www.example.com")
	be := rawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil || req.Header.Get("Upgrade") != "websocket" {
			return
		}
		upgradeAndEcho(c, br)
	})
	f, _ := startTLSProxy(t, tlsProxyOpts{certs: []CertPair{pair}}, be)
	conn, err := tls.Dial("tcp", f.Addr().String(), &tls.Config{RootCAs: ca.pool, ServerName: "www.example.com", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Upgrade") != "websocket" {
		t.Fatalf("handshake: %d %v", resp.StatusCode, resp.Header)
	}
	hello := make([]byte, len("server-hello;"))
	if _, err := io.ReadFull(br, hello); err != nil || string(hello) != "server-hello;" {
		t.Fatalf("bytes after 101: %q %v", hello, err)
	}
	for _, msg := range []string{"ping", strings.Repeat("x", 100000)} {
		_, _ = io.WriteString(conn, msg)
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != msg {
			t.Fatalf("echo of %d bytes: %v", len(msg), err)
		}
	}
}

// Shutdown lets an HTTP/2 request in flight finish, then returns.
func TestTLSFrontendGracefulShutdown(t *testing.T) {
	ca := newTestCA(t)
	pair, _ := ca.issue(t, t.TempDir(), "web", "www.example.com")
	started, release := make(chan struct{}), make(chan struct{})
	be := startBackend(t, func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "done")
	})
	f, _ := startTLSProxy(t, tlsProxyOpts{certs: []CertPair{pair}}, be)
	c := tlsClient(t, ca, "www.example.com", false)
	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := c.Get("https://" + f.Addr().String() + "/slow")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()
	<-started
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		stopped <- f.Shutdown(ctx)
	}()
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-stopped:
		t.Fatalf("shutdown returned with a request in flight: %v", err)
	default:
	}
	close(release)
	if r := <-got; r.err != nil || r.body != "done" {
		t.Fatalf("in-flight request: %q %v", r.body, r.err)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialTimeout("tcp", f.Addr().String(), time.Second); err == nil {
		t.Fatal("still accepting after shutdown")
	}
}
