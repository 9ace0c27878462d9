package proxy

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haraft/haraft/proxy/accesslog"
	"github.com/haraft/haraft/proxy/proxyproto"
)

// tcpLines is an accesslog.Logger keeping tcplog lines.
type tcpLines struct {
	mu    sync.Mutex
	lines []string
}

func (r *tcpLines) Log(l *accesslog.Line) {
	b := accesslog.AppendTCP(nil, l)
	r.mu.Lock()
	r.lines = append(r.lines, string(b))
	r.mu.Unlock()
}

// wait returns the n-th line (from 0) once written.
func (r *tcpLines) wait(t testing.TB, n int) string {
	t.Helper()
	var l string
	waitUntil(t, "access log line", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		if len(r.lines) > n {
			l = r.lines[n]
			return true
		}
		return false
	})
	return l
}

// from returns the line of client (ip:port) once written.
func (r *tcpLines) from(t testing.TB, client string) string {
	t.Helper()
	var l string
	waitUntil(t, "access log line of "+client, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, x := range r.lines {
			if strings.HasPrefix(x, client+" ") {
				l = x
				return true
			}
		}
		return false
	})
	return l
}

func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// proxyServer is a TCP server that reads a PROXY header from every
// connection, answers "SOURCE\n" (the header's client, or "local") and
// echoes; accepted counts its connections.
type proxyServer struct {
	addr     string
	accepted atomic.Int64
}

func startProxyServer(t testing.TB) *proxyServer {
	s := &proxyServer{}
	s.addr = rawBackend(t, func(c net.Conn) {
		defer c.Close()
		s.accepted.Add(1)
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		h, err := proxyproto.Read(c)
		switch {
		case err != nil:
			_, _ = fmt.Fprintf(c, "error %v\n", err)
			return
		case h.Command == proxyproto.Local:
			_, _ = io.WriteString(c, "local\n")
		default:
			_, _ = fmt.Fprintf(c, "%s\n", h.Source)
		}
		_, _ = io.Copy(c, c)
	})
	return s
}

// countingServer counts its connections and the bytes they sent.
type countingServer struct {
	addr         string
	conns, bytes atomic.Int64
}

func startCountingServer(t testing.TB) *countingServer {
	s := &countingServer{}
	s.addr = rawBackend(t, func(c net.Conn) {
		defer c.Close()
		s.conns.Add(1)
		n, _ := io.Copy(io.Discard, c)
		s.bytes.Add(n)
	})
	return s
}

func writeHeader(t testing.TB, c net.Conn, h proxyproto.Header) {
	t.Helper()
	b, err := h.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

// The client address of a PROXY header (either version) is the
// connection's: the server behind send_proxy v1/v2 learns it, and the
// tcplog line names it.
func TestTCPAcceptAndSendProxy(t *testing.T) {
	for _, v := range []proxyproto.Version{1, 2} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			srv := startProxyServer(t)
			rec := &tcpLines{}
			f := startTCP(t, tcpOpts{acceptProxy: &AcceptProxy{}, sendProxy: int(v), accessLog: rec}, srv.addr)
			c, err := net.Dial("tcp", f.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			client := netip.MustParseAddrPort("203.0.113.9:4242")
			writeHeader(t, c, proxyproto.Header{Version: v, Source: client, Dest: netip.MustParseAddrPort("198.51.100.1:80")})
			br := bufio.NewReader(c)
			line, err := br.ReadString('\n')
			if err != nil || strings.TrimSpace(line) != client.String() {
				t.Fatalf("the server saw %q %v, want %s", line, err, client)
			}
			_, _ = io.WriteString(c, "ping\n")
			if l, err := br.ReadString('\n'); err != nil || l != "ping\n" {
				t.Fatalf("echo %q %v", l, err)
			}
			c.Close()
			if l := rec.wait(t, 0); !strings.HasPrefix(l, "203.0.113.9:4242 [") || !strings.Contains(l, " tcp app/A ") {
				t.Fatalf("log line %q: want the header's client and app/A", l)
			}
		})
	}
}

// A missing, malformed, truncated or late header closes the connection,
// is counted by reason, and no server is ever connected.
func TestTCPAcceptProxyRefuses(t *testing.T) {
	tests := []struct {
		name, send string
		reason     string
	}{
		{"missing", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "missing"},
		{"malformed v1", "PROXY TCP4 1.2.3.4 5.6.7.8 99999 80\r\nhello", "malformed"},
		{"malformed v2", "\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x02ab", "malformed"},
		{"truncated", "PROXY TCP4 1.2.3.4", "truncated"},
		{"timeout", "", "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startCountingServer(t)
			f := startTCP(t, tcpOpts{acceptProxy: &AcceptProxy{Timeout: 200 * time.Millisecond}}, srv.addr)
			c, err := net.Dial("tcp", f.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			_, _ = io.WriteString(c, tt.send)
			if tt.reason == "truncated" {
				_ = c.(*net.TCPConn).CloseWrite()
			}
			if n, err := c.Read(make([]byte, 1)); err == nil {
				t.Fatalf("read %d bytes, want the connection closed", n)
			} else if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the connection was left open")
			}
			got := f.ProxyProtocolErrors()
			for i, r := range ProxyProtocolReasons {
				want := uint64(0)
				if r == tt.reason {
					want = 1
				}
				if got[i] != want {
					t.Errorf("%s errors: %d, want %d (all: %v)", r, got[i], want, got)
				}
			}
			if srv.conns.Load() != 0 || srv.bytes.Load() != 0 {
				t.Fatalf("the server got %d connections, %d bytes", srv.conns.Load(), srv.bytes.Load())
			}
			if f.Connections().Current != 0 {
				waitUntil(t, "the connection's slot back", func() bool { return f.Connections().Current == 0 })
			}
		})
	}
}

// With a source list, only the listed peers must send a header; another
// peer is served with its own address (HAProxy's expect-proxy layer4 if
// { src ... }), its bytes untouched.
func TestTCPAcceptProxyFrom(t *testing.T) {
	srv := startProxyServer(t)
	rec := &tcpLines{}
	f := startTCP(t, tcpOpts{acceptProxy: &AcceptProxy{From: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, sendProxy: 2, accessLog: rec}, srv.addr)
	c, err := net.Dial("tcp", f.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	// A header from a peer outside the list is payload, not an address.
	_, _ = io.WriteString(c, "PROXY TCP4 203.0.113.9 198.51.100.1 4242 80\r\n")
	br := bufio.NewReader(c)
	line, _ := br.ReadString('\n')
	want := c.LocalAddr().String()
	if strings.TrimSpace(line) != want {
		t.Fatalf("the server saw %q, want the socket's peer %s", line, want)
	}
	if l, _ := br.ReadString('\n'); !strings.HasPrefix(l, "PROXY TCP4 203.0.113.9") {
		t.Fatalf("echo %q: want the bytes as sent", l)
	}
}

// A health-check-like LOCAL header is accepted: the socket's addresses
// apply.
func TestTCPAcceptProxyLocal(t *testing.T) {
	srv := startProxyServer(t)
	f := startTCP(t, tcpOpts{acceptProxy: &AcceptProxy{}, sendProxy: 1}, srv.addr)
	c, err := net.Dial("tcp", f.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	writeHeader(t, c, proxyproto.Header{Version: 2, Command: proxyproto.Local})
	line, _ := bufio.NewReader(c).ReadString('\n')
	if strings.TrimSpace(line) != c.LocalAddr().String() {
		t.Fatalf("the server saw %q, want %s", line, c.LocalAddr())
	}
}

// HTTP frontends, plain and TLS (the header precedes the handshake): the
// header's client is X-Forwarded-For's and the access log's; a
// malformed header reaches no server.
func TestHTTPAcceptProxy(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			rec := &lineRecorder{}
			a := startBackend(t, named("A"))
			f := startProxy(t, proxyOpts{tls: tr.tls, accessLog: rec, acceptProxy: &AcceptProxy{}}, a)
			raw, err := net.Dial("tcp", f.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
			writeHeader(t, raw, proxyproto.Header{Version: 2, Source: netip.MustParseAddrPort("[2001:db8::7]:5555"), Dest: netip.MustParseAddrPort("[2001:db8::1]:443")})
			c := raw
			if tr.tls {
				tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
				if err := tc.Handshake(); err != nil {
					t.Fatal(err)
				}
				c = tc
			}
			cl := &client{t: t, conn: c, br: bufio.NewReader(c)}
			cl.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
			resp, _ := cl.response("GET")
			if xff := resp.Header.Get("X-Saw-XFF"); xff != "2001:db8::7" {
				t.Fatalf("X-Forwarded-For %q, want the header's client", xff)
			}
			if l := rec.line(t, 0); !strings.HasPrefix(l, "2001:db8::7:5555 [") {
				t.Fatalf("log line %q", l)
			}

			bad, err := net.Dial("tcp", f.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer bad.Close()
			_ = bad.SetDeadline(time.Now().Add(10 * time.Second))
			_, _ = io.WriteString(bad, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
			if _, err := bad.Read(make([]byte, 1)); err == nil {
				t.Fatal("a request without a header was answered")
			}
			if got := f.ProxyProtocolErrors(); got[0] != 1 {
				t.Fatalf("errors %v, want one missing", got)
			}
			if st := f.Stats(); st.Requests != 1 {
				t.Fatalf("%d requests, want the first only", st.Requests)
			}
		})
	}
}
