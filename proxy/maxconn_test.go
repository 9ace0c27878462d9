package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// acceptCounter counts the connections a listener accepted; it keeps the
// listener's SyscallConn (limitListener sees pending connections through
// it).
type acceptCounter struct {
	*net.TCPListener
	n atomic.Int64
}

func (l *acceptCounter) Accept() (net.Conn, error) {
	c, err := l.TCPListener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

func newAcceptCounter(t *testing.T) *acceptCounter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return &acceptCounter{TCPListener: ln.(*net.TCPListener)}
}

var _ syscall.Conn = (*acceptCounter)(nil)

// maxconnFrontend is a frontend of either kind under test.
type maxconnFrontend interface {
	frontend
	Addr() net.Addr
	Connections() ConnStats
}

// exchange is one request on a client connection, run in the background:
// its outcome comes on done (nil: a 200 response on a connection kept
// alive).
type exchange struct {
	conn net.Conn
	br   *bufio.Reader
	done chan error
}

// startExchange dials addr (through TLS when tlsConf is set) and sends one
// request, then reads its response in the background.
func startExchange(t *testing.T, addr string, tlsConf *tls.Config) *exchange {
	t.Helper()
	raw, err := net.Dial("tcp", addr) // completes in the kernel, accepted or not
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	_ = raw.SetDeadline(time.Now().Add(30 * time.Second))
	c := raw
	if tlsConf != nil {
		c = tls.Client(raw, tlsConf)
	}
	e := &exchange{conn: c, br: bufio.NewReader(c), done: make(chan error, 1)}
	go func() { e.done <- e.roundTrip() }()
	return e
}

func (e *exchange) roundTrip() error {
	// A TLS handshake waits for the proxy to accept: so does the write.
	if _, err := io.WriteString(e.conn, "GET / HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(e.br, nil)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	switch {
	case err != nil:
		return err
	case resp.StatusCode != 200:
		return errors.New(resp.Status)
	case resp.Close:
		return errors.New("the response closes the connection")
	}
	return nil
}

// served waits for the exchange's outcome.
func (e *exchange) served(t *testing.T) {
	t.Helper()
	select {
	case err := <-e.done:
		if err != nil {
			t.Fatalf("request: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("request not served")
	}
}

// TestMaxConn: beyond maxconn (the frontend's or the global one), a
// connection is not accepted: it waits in the kernel's accept queue, and
// is served once a connection closes. Real sockets, both kinds of
// frontend; the listener under the frontend counts what was accepted.
func TestMaxConn(t *testing.T) {
	ca := newTestCA(t)
	pair, _ := ca.issue(t, t.TempDir(), "proxy", "proxy.test")
	tlsConf := &tls.Config{RootCAs: ca.pool, ServerName: "proxy.test", NextProtos: []string{"http/1.1"}}
	const limit = 2
	for _, tc := range []struct {
		name            string
		tls             bool
		frontend, globl int // maxconn
		wantMax         int
	}{
		{name: "frontend maxconn", frontend: limit, wantMax: limit},
		{name: "global maxconn", globl: limit, wantMax: limit},
		{name: "frontend below global", frontend: limit, globl: 100, wantMax: limit},
		{name: "global below frontend", frontend: 100, globl: limit, wantMax: 100},
		{name: "tls frontend maxconn", tls: true, frontend: limit, wantMax: limit},
		{name: "tls global maxconn", tls: true, globl: limit, wantMax: limit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backend := startBackend(t, named("A"))
			b, err := NewBackend(BackendOptions{Name: "app", Servers: []ServerOptions{{Name: "A", Addr: backend, Cookie: "A", Weight: 1}}})
			if err != nil {
				t.Fatal(err)
			}
			ln := newAcceptCounter(t)
			var global *ConnLimit
			if tc.globl > 0 {
				global = NewConnLimit(tc.globl)
			}
			o := FrontendOptions{Name: "web", Listener: ln, Backend: b, MaxConn: tc.frontend, Global: global}
			var f maxconnFrontend
			var conf *tls.Config
			if tc.tls {
				store, err := NewCertStore([]CertPair{pair}, quietLogger())
				if err != nil {
					t.Fatal(err)
				}
				f, err = NewTLSFrontend(TLSFrontendOptions{FrontendOptions: o, Certs: store}, &stubState{}, nil, quietLogger())
				if err != nil {
					t.Fatal(err)
				}
				conf = tlsConf
			} else {
				if f, err = NewFrontend(o, &stubState{}, nil, quietLogger()); err != nil {
					t.Fatal(err)
				}
			}
			serveUntilCleanup(t, f, b)
			addr := f.Addr().String()

			var open []*exchange
			for range limit {
				e := startExchange(t, addr, conf)
				e.served(t)
				open = append(open, e)
			}
			if st := f.Connections(); st.Current != limit || st.Max != tc.wantMax || st.Total != limit {
				t.Fatalf("connections %+v, want current %d, max %d, total %d", st, limit, tc.wantMax, limit)
			}

			// One more: it waits, unaccepted, as long as the others stay.
			waiting := startExchange(t, addr, conf)
			select {
			case err := <-waiting.done:
				t.Fatalf("connection %d was answered (%v) while %d were open", limit+1, err, limit)
			case <-time.After(300 * time.Millisecond):
			}
			if n := ln.n.Load(); n != limit {
				t.Fatalf("the listener accepted %d connections, want %d (the next one waits in the accept queue)", n, limit)
			}
			if st := f.Connections(); st.Current != limit {
				t.Fatalf("current connections %d, want %d", st.Current, limit)
			}

			// One closes: the waiting one is accepted and served, and
			// its connection stays open for another request.
			_ = open[0].conn.Close()
			waiting.served(t)
			if n := ln.n.Load(); n != limit+1 {
				t.Fatalf("the listener accepted %d connections, want %d", n, limit+1)
			}
			go func() { waiting.done <- waiting.roundTrip() }()
			waiting.served(t)
			// The first connection's slot came back when it closed.
			deadline := time.Now().Add(10 * time.Second)
			for f.Connections().Current != limit && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if st := f.Connections(); st.Current != limit || st.Total != limit+1 {
				t.Fatalf("connections %+v, want current %d, total %d", st, limit, limit+1)
			}
			if global != nil {
				if st := global.Stats(); st.Current != limit || st.Max != tc.globl {
					t.Fatalf("global connections %+v, want current %d, max %d", st, limit, tc.globl)
				}
			}
		})
	}
}

// TestMaxConnGlobalShared: the global maxconn counts the connections of
// every frontend; an idle frontend holds none of its slots (a busy one may
// use them all), and a frontend waits while the others hold them.
func TestMaxConnGlobalShared(t *testing.T) {
	backend := startBackend(t, named("A"))
	b, err := NewBackend(BackendOptions{Name: "app", Servers: []ServerOptions{{Name: "A", Addr: backend, Cookie: "A", Weight: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	global := NewConnLimit(2)
	var fs [2]*Frontend
	var lns [2]*acceptCounter
	for i := range fs {
		lns[i] = newAcceptCounter(t)
		f, err := NewFrontend(FrontendOptions{Name: "web", Listener: lns[i], Backend: b, Global: global}, &stubState{}, nil, quietLogger())
		if err != nil {
			t.Fatal(err)
		}
		fs[i] = f
		serveUntilCleanup(t, f, b)
	}
	a1 := startExchange(t, fs[0].Addr().String(), nil)
	a1.served(t)
	a2 := startExchange(t, fs[0].Addr().String(), nil)
	a2.served(t) // the idle second frontend held no slot
	waiting := startExchange(t, fs[1].Addr().String(), nil)
	select {
	case err := <-waiting.done:
		t.Fatalf("the second frontend answered (%v) beyond the global maxconn", err)
	case <-time.After(300 * time.Millisecond):
	}
	if n := lns[1].n.Load(); n != 0 {
		t.Fatalf("the second frontend accepted %d connections, want 0", n)
	}
	_ = a2.conn.Close()
	waiting.served(t)
	if st := global.Stats(); st.Total != 3 {
		t.Fatalf("global %+v, want 3 accepted", st)
	}
	for i, want := range []ConnStats{{Current: 1, Peak: 2, Max: 2, Total: 2}, {Current: 1, Peak: 1, Max: 2, Total: 1}} {
		deadline := time.Now().Add(10 * time.Second)
		for fs[i].Connections() != want && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if st := fs[i].Connections(); st != want {
			t.Errorf("frontend %d: %+v, want %+v", i, st, want)
		}
	}
}

// TestMaxConnShutdown: a frontend waiting for room shuts down promptly.
func TestMaxConnShutdown(t *testing.T) {
	backend := startBackend(t, named("A"))
	b, err := NewBackend(BackendOptions{Name: "app", Servers: []ServerOptions{{Name: "A", Addr: backend, Cookie: "A", Weight: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, tc := range []struct {
		name            string
		frontend, globl int
	}{
		{"frontend", 1, 0},
		{"global", 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var global *ConnLimit
			if tc.globl > 0 {
				global = NewConnLimit(tc.globl)
			}
			f, err := NewFrontend(FrontendOptions{Name: "web", Bind: "127.0.0.1:0", Backend: b, MaxConn: tc.frontend, Global: global}, &stubState{}, nil, quietLogger())
			if err != nil {
				t.Fatal(err)
			}
			served := make(chan error, 1)
			go func() { served <- f.Serve() }()
			e := startExchange(t, f.Addr().String(), nil)
			e.served(t)
			startExchange(t, f.Addr().String(), nil) // waits for room
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := f.Shutdown(ctx); err != nil {
				t.Fatalf("shutdown: %v", err)
			}
			select {
			case err := <-served:
				if err != nil {
					t.Fatalf("serve: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Serve did not return")
			}
			if st := f.Connections(); st.Current != 0 {
				t.Fatalf("%d connections left after shutdown", st.Current)
			}
		})
	}
}

func TestDefaultMaxConn(t *testing.T) {
	for _, tc := range []struct {
		nofile uint64
		want   int
	}{
		{0, 100},
		{1024, 462},
		{20000, 9950},
		{1 << 20, (1<<20 - 100) / 2},
		{1 << 30, (1<<20 - 100) / 2},
	} {
		if got := DefaultMaxConn(tc.nofile); got != tc.want {
			t.Errorf("DefaultMaxConn(%d) = %d, want %d", tc.nofile, got, tc.want)
		}
	}
}
