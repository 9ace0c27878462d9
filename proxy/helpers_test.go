package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proxy/accesslog"
	"github.com/haraft/haraft/proxy/internal/h1test"
)

// stubState is a State with a fixed session table and every server ready.
type stubState struct {
	mu       sync.Mutex
	sessions map[string]string
}

func (s *stubState) Lookup(_, key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.sessions[key]
	return v, ok
}

func (s *stubState) Servers() *fsm.ServerTable { return nil }

// proxyOpts configures a test frontend.
type proxyOpts struct {
	cookie    *CookieOptions
	timeouts  Timeouts
	maxHeader int
	state     State
	learner   *Learner
	noFwdFor  bool
	protoHost bool // X-Forwarded-Proto/-Host
	httpClose bool // option httpclose
	accessLog accesslog.Logger
	// tls: the clients speak HTTP/1.1 over TLS to a TLSFrontend, whose
	// engine frontend startProxy returns (dialFrontend, transports).
	tls         bool
	acceptProxy *AcceptProxy
}

// transports are the two ways a client reaches the HTTP/1.1 engine: the
// framing tests run over each (plain TCP, and TLS with ALPN http/1.1).
var transports = []struct {
	name string
	tls  bool
}{{"tcp", false}, {"tls", true}}

// frontend is what Frontend and TLSFrontend have in common.
type frontend interface {
	Serve() error
	Shutdown(context.Context) error
}

// serveUntilCleanup serves f in the background; when the test ends it
// shuts f down, checks that Serve returned cleanly, and closes b.
func serveUntilCleanup(t testing.TB, f frontend, b *Backend) {
	served := make(chan error, 1)
	go func() { served <- f.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := f.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		b.Close()
	})
}

// upgradeAndEcho answers an upgrade request on c with 101 Switching
// Protocols and "server-hello;", then echoes whatever comes from br.
func upgradeAndEcho(c net.Conn, br *bufio.Reader) {
	_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\nserver-hello;")
	buf := make([]byte, 64)
	for {
		n, err := br.Read(buf)
		if err != nil {
			return
		}
		if _, err := c.Write(buf[:n]); err != nil {
			return
		}
	}
}

func insertCookie() *CookieOptions {
	return &CookieOptions{Name: "SERVERID", Mode: ModeInsert, Indirect: true, NoCache: true}
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startProxy starts a frontend in front of servers A, B, ... at addrs. It
// is shut down when the test ends.
func startProxy(t testing.TB, o proxyOpts, addrs ...string) *Frontend {
	t.Helper()
	var servers []ServerOptions
	for i, a := range addrs {
		name := string(rune('A' + i))
		servers = append(servers, ServerOptions{Name: name, Addr: a, Cookie: name, Weight: 1})
	}
	b, err := NewBackend(BackendOptions{Name: "app", Cookie: o.cookie, Servers: servers, Timeouts: o.timeouts, ForwardFor: !o.noFwdFor, ForwardProtoHost: o.protoHost, HTTPClose: o.httpClose})
	if err != nil {
		t.Fatal(err)
	}
	st := o.state
	if st == nil {
		st = &stubState{}
	}
	if o.tls {
		dir := t.TempDir()
		pair, _ := newTestCA(t).issue(t, dir, "web", "www.example.com")
		store, err := NewCertStore([]CertPair{pair}, quietLogger())
		if err != nil {
			t.Fatal(err)
		}
		tf, err := NewTLSFrontend(TLSFrontendOptions{Certs: store, FrontendOptions: FrontendOptions{Name: "web", Bind: "127.0.0.1:0", Backend: b,
			Timeouts: o.timeouts, MaxHeaderBytes: o.maxHeader, Redispatch: true, AccessLog: o.accessLog, AcceptProxy: o.acceptProxy}}, st, o.learner, quietLogger())
		if err != nil {
			t.Fatal(err)
		}
		serveUntilCleanup(t, tf, b)
		return tf.h1
	}
	f, err := NewFrontend(FrontendOptions{Name: "web", Bind: "127.0.0.1:0", Backend: b, Timeouts: o.timeouts,
		MaxHeaderBytes: o.maxHeader, Redispatch: true, AccessLog: o.accessLog, AcceptProxy: o.acceptProxy}, st, o.learner, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	serveUntilCleanup(t, f, b)
	return f
}

// startBackend serves h on a loopback port until the test ends.
func startBackend(t testing.TB, h http.HandlerFunc) string {
	t.Helper()
	return h1test.StartBackend(t, h)
}

// rawBackend runs serve on every connection accepted on a loopback port
// until the test ends.
func rawBackend(t testing.TB, serve func(net.Conn)) string {
	t.Helper()
	return h1test.RawBackend(t, serve)
}

// named answers "hello from NAME" with X-Backend: NAME, echoing what it
// saw of the request in X-Saw-* headers.
func named(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Backend", name)
		h.Set("X-Saw-Cookie", strings.Join(r.Header.Values("Cookie"), " | "))
		h.Set("X-Saw-XFF", strings.Join(r.Header.Values("X-Forwarded-For"), " | "))
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "hello from "+name+"\n")
	}
}

// client is a raw HTTP/1.1 client connection.
type client struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	return dialConn(t, addr, false)
}

// dialFrontend dials f as its clients do: over TLS when it serves a
// TLSFrontend's connections.
func dialFrontend(t testing.TB, f *Frontend) *client {
	t.Helper()
	return dialConn(t, f.Addr().String(), f.https)
}

func dialConn(t testing.TB, addr string, overTLS bool) *client {
	t.Helper()
	c, err := netDial(addr, overTLS)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &client{t: t, conn: c, br: bufio.NewReader(c)}
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// response reads one response; method is the request's (HEAD has no body).
func (c *client) response(method string) (*http.Response, string) {
	c.t.Helper()
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		c.t.Fatalf("read response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("read body: %v", err)
	}
	return resp, string(b)
}

// closed reports whether the server closed the connection (EOF) within d.
func (c *client) closed(d time.Duration) bool {
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	_, err := c.br.ReadByte()
	return err == io.EOF
}

// netDial connects to addr, over TLS (HTTP/1.1 by ALPN, the test
// certificate not verified) when overTLS.
func netDial(addr string, overTLS bool) (net.Conn, error) {
	if !overTLS {
		return net.Dial("tcp", addr)
	}
	return tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
}

// closeWrite half-closes c: FIN on TCP, close_notify on TLS.
func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}
