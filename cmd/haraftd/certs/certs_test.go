package certs

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"
)

// handshake runs a TLS handshake over a pipe and returns both sides' errors.
func handshake(t *testing.T, server, client *tls.Config) (serr, cerr error) {
	t.Helper()
	// Loopback TCP, not net.Pipe: an unbuffered pipe deadlocks when both
	// sides write at once (an alert against the rest of a flight).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	b, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	done := make(chan error, 1)
	go func() {
		s := tls.Server(a, server)
		_ = s.SetDeadline(time.Now().Add(5 * time.Second))
		err := s.Handshake()
		if err == nil {
			_, err = s.Write([]byte{'x'}) // the client reads it once it is accepted
		}
		if err != nil {
			a.Close() // unblock the client
		}
		done <- err
	}()
	c := tls.Client(b, client)
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	cerr = c.Handshake()
	if cerr == nil {
		// TLS 1.3: the server's verdict on the client certificate comes
		// with the first read.
		_, cerr = c.Read(make([]byte, 1))
	}
	if cerr != nil {
		b.Close()
	}
	return <-done, cerr
}

func TestClusterAndAdminTLS(t *testing.T) {
	dir := t.TempDir()
	dev, err := GenerateDev(dir, []string{"n1", "n2"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewCA("other CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.WriteCA(dir, "other-ca.pem"); err != nil {
		t.Fatal(err)
	}
	intruder, err := other.Issue(dir, "intruder")
	if err != nil {
		t.Fatal(err)
	}
	n1s, _, err := Cluster(dev.Nodes["n1"])
	if err != nil {
		t.Fatal(err)
	}
	_, n2c, err := Cluster(dev.Nodes["n2"])
	if err != nil {
		t.Fatal(err)
	}
	intS, intC, err := Cluster(intruder)
	if err != nil {
		t.Fatal(err)
	}
	noCert := n2c.Clone()
	noCert.Certificates = nil
	adminMTLS, err := AdminServer(dev.Nodes["n1"])
	if err != nil {
		t.Fatal(err)
	}
	adminNoCA, err := AdminServer(Files{Cert: dev.Nodes["n1"].Cert, Key: dev.Nodes["n1"].Key})
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := Client(dev.Client, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ctlNoCert, err := Client(Files{CA: dev.CA}, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ctlWrongCA, err := Client(Files{CA: other.File, Cert: dev.Client.Cert, Key: dev.Client.Key}, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ctlWrongName, err := Client(dev.Client, "db.example")
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name           string
		server, client *tls.Config
		wantErr        string // "" = both sides succeed
	}{
		{"peers of one CA", n1s, n2c, ""},
		{"peer signed by another CA is refused", n1s, intC, "certificate"},
		{"peer without a certificate is refused", n1s, noCert, "certificate"},
		{"node does not talk to a server of another CA", intS, n2c, "not signed by the cluster CA"},
		{"admin client with certificate", adminMTLS, ctl, ""},
		{"admin client without certificate refused", adminMTLS, ctlNoCert, "certificate"},
		{"admin client trusting another CA refuses the node", adminMTLS, ctlWrongCA, "unknown authority"},
		{"admin client checks the host name", adminNoCA, ctlWrongName, "db.example"},
		{"admin without client CA takes any client", adminNoCA, ctlNoCert, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			serr, cerr := handshake(t, tc.server, tc.client)
			if tc.wantErr == "" {
				if serr != nil || cerr != nil {
					t.Fatalf("server %v, client %v", serr, cerr)
				}
				return
			}
			if serr == nil && cerr == nil {
				t.Fatal("handshake succeeded")
			}
			msg := ""
			for _, e := range []error{serr, cerr} {
				if e != nil {
					msg += e.Error() + "; "
				}
			}
			if !strings.Contains(msg, tc.wantErr) {
				t.Fatalf("errors %q do not mention %q", msg, tc.wantErr)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	dev, err := GenerateDev(dir, []string{"n1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		f    Files
		want string
	}{
		{"missing CA", Files{CA: dir + "/nope.pem", Cert: dev.Nodes["n1"].Cert, Key: dev.Nodes["n1"].Key}, "no such file"},
		{"CA not PEM", Files{CA: dev.Nodes["n1"].Key + "x", Cert: dev.Nodes["n1"].Cert, Key: dev.Nodes["n1"].Key}, "no such file"},
		{"key mismatch", Files{CA: dev.CA, Cert: dev.Nodes["n1"].Cert, Key: dev.Client.Key}, "private key does not match"},
		{"nothing", Files{}, "needs a CA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Cluster(tc.f)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}
