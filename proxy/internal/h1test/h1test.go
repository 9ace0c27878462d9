// Package h1test holds the loopback servers and the keep-alive client
// loop that the tests and benchmarks of proxy and proxy/h1 share.
package h1test

import (
	"bytes"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

// StartBackend serves h on a loopback port until the test ends; the
// server's own error log is discarded.
func StartBackend(t testing.TB, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// RawBackend runs serve on every connection accepted on a loopback port
// until the test ends.
func RawBackend(t testing.TB, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ServeRaw(t, ln, serve)
	return ln.Addr().String()
}

// ServeRaw runs serve on every connection accepted on ln until the test
// ends; it then closes ln and waits for the serve calls to return.
func ServeRaw(t testing.TB, ln net.Listener, serve func(net.Conn)) {
	var wg sync.WaitGroup
	// The accept loop holds the group too, so no Add ever races the
	// cleanup's Wait on a zero counter.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
}

// FixedServer answers every request head on c with response, allocating
// nothing.
func FixedServer(c net.Conn, response string) {
	buf := make([]byte, 8192)
	resp := []byte(response)
	n := 0
	for {
		k, err := c.Read(buf[n:])
		if err != nil {
			return
		}
		n += k
		for {
			end := bytes.Index(buf[:n], []byte("\r\n\r\n"))
			if end < 0 {
				break
			}
			if _, err := c.Write(resp); err != nil {
				return
			}
			n = copy(buf, buf[end+4:n])
		}
	}
}

// ReadFixedResponse reads one Content-Length response from c into buf.
func ReadFixedResponse(c net.Conn, buf []byte) error {
	n := 0
	for {
		k, err := c.Read(buf[n:])
		if err != nil {
			return err
		}
		n += k
		end := bytes.Index(buf[:n], []byte("\r\n\r\n"))
		if end < 0 {
			continue
		}
		i := bytes.Index(buf[:end], []byte("Content-Length: "))
		j := bytes.IndexByte(buf[i:end+2], '\r')
		cl, _ := strconv.Atoi(string(buf[i+16 : i+j]))
		for n < end+4+cl {
			k, err := c.Read(buf[n:])
			if err != nil {
				return err
			}
			n += k
		}
		return nil
	}
}

// BenchRoundTrips sends req to addr one after another over one keep-alive
// connection, reading each Content-Length response, for every iteration
// of b, and reports allocations.
func BenchRoundTrips(b *testing.B, addr string, req []byte) {
	b.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	buf := make([]byte, 4096)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := conn.Write(req); err != nil {
			b.Fatal(err)
		}
		if err := ReadFixedResponse(conn, buf); err != nil {
			b.Fatal(err)
		}
	}
}
