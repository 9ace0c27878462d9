package h1

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/haraft/haraft/proxy/internal/h1test"
)

// onePool is the least policy: every request goes to one upstream, no
// field is rewritten or added, and the response passes as it came. It
// tests the engine's contract alone: client bytes in, well-framed
// requests out; server bytes in, well-framed responses out.
type onePool struct{ pool *Pool }

func (p onePool) Open(string) Session { return p }

func (p onePool) Route(*Request) (*Pool, error)                                    { return p.pool, nil }
func (p onePool) Redispatch(error) *Pool                                           { return nil }
func (p onePool) RequestField(dst []byte, _ FieldKind, _, _ []byte) ([]byte, bool) { return dst, false }
func (p onePool) AppendFields(dst []byte, _ *Request) []byte                       { return dst }
func (p onePool) Response(r *Response, _ time.Duration) ([]string, bool, error) {
	return r.SetCookies, false, nil
}
func (p onePool) Done(bool, time.Duration) {}
func (p onePool) Close()                   {}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startEngine serves the engine, with onePool to addr, on a loopback port
// until the test ends, and returns its address.
func startEngine(t testing.TB, addr string, o Options) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pool := NewPool("A", addr, PoolOptions{Connect: time.Second, Server: time.Second})
	o.Log = quietLogger()
	s := NewServer(onePool{pool}, o)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !s.ServeConn(c) {
				_ = c.Close()
			}
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		pool.CloseIdle(true)
	})
	return ln.Addr().String()
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
