//go:build linux

package h1

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// startParkEngine is startEngine that also returns the engine, whose
// Shutdown the test may call itself.
func startParkEngine(t *testing.T, backend string, o Options) (string, *Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pool := NewPool("A", backend, PoolOptions{Connect: time.Second, Server: 5 * time.Second})
	o.Log = quietLogger()
	s := NewServer(onePool{pool}, o)
	go func() {
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
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		pool.CloseIdle(true)
	})
	return ln.Addr().String(), s
}

type parkClient struct {
	c  net.Conn
	br *bufio.Reader
}

func (pc *parkClient) get(t *testing.T, path string) string {
	t.Helper()
	_ = pc.c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := fmt.Fprintf(pc.c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(pc.br, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	return string(b)
}

func echoPath(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "path="+r.URL.Path) }

// Kept-alive connections idle past IdlePark are parked without a
// goroutine, and each is served again, right, when its next request comes;
// parked a second time (the descriptor is already in the epoll set), too.
func TestIdleConnectionsParkAndResume(t *testing.T) {
	be := startBackend(t, echoPath)
	addr, s := startParkEngine(t, be, Options{IdlePark: 20 * time.Millisecond, HTTPKeepAlive: time.Minute, HTTPRequest: 10 * time.Second, Client: 10 * time.Second})
	const n = 50
	clients := make([]*parkClient, n)
	for i := range clients {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		clients[i] = &parkClient{c: c, br: bufio.NewReader(c)}
		if got, want := clients[i].get(t, fmt.Sprintf("/first/%d", i)), fmt.Sprintf("path=/first/%d", i); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	for round := range 3 {
		waitUntil(t, fmt.Sprintf("round %d: %d connections parked", round, n), func() bool { return s.Parked() == n })
		for i, pc := range clients {
			if got, want := pc.get(t, fmt.Sprintf("/r%d/%d", round, i)), fmt.Sprintf("path=/r%d/%d", round, i); got != want {
				t.Fatalf("round %d: got %q, want %q", round, got, want)
			}
		}
	}
}

// A parked connection is closed when http_keep_alive runs out, and one
// whose client closed is forgotten.
func TestParkedConnectionsEnd(t *testing.T) {
	be := startBackend(t, echoPath)
	addr, s := startParkEngine(t, be, Options{IdlePark: 10 * time.Millisecond, HTTPKeepAlive: 300 * time.Millisecond, HTTPRequest: 10 * time.Second, Client: 10 * time.Second})
	dial := func() *parkClient {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		pc := &parkClient{c: c, br: bufio.NewReader(c)}
		pc.get(t, "/")
		return pc
	}
	t.Run("keep-alive timeout", func(t *testing.T) {
		pc := dial()
		_ = pc.c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, err := pc.br.ReadByte(); err != io.EOF {
			t.Fatalf("read on a connection past http_keep_alive: %v, want EOF", err)
		}
	})
	t.Run("client closes", func(t *testing.T) {
		pc := dial()
		waitUntil(t, "parked", func() bool { return s.Parked() == 1 })
		_ = pc.c.Close()
		waitUntil(t, "forgotten", func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return len(s.conns) == 0
		})
	})
}

// Shutdown closes parked connections and returns.
func TestShutdownClosesParked(t *testing.T) {
	be := startBackend(t, echoPath)
	addr, s := startParkEngine(t, be, Options{IdlePark: 10 * time.Millisecond, HTTPKeepAlive: time.Minute, HTTPRequest: 10 * time.Second, Client: 10 * time.Second})
	var clients []*parkClient
	for range 20 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		pc := &parkClient{c: c, br: bufio.NewReader(c)}
		pc.get(t, "/")
		clients = append(clients, pc)
	}
	waitUntil(t, "20 parked", func() bool { return s.Parked() == 20 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v (parked connections not closed)", err)
	}
	for i, pc := range clients {
		_ = pc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := pc.br.ReadByte(); err != io.EOF {
			t.Fatalf("client %d: %v, want EOF", i, err)
		}
	}
}
