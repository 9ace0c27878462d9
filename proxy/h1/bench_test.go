package h1

import (
	"bytes"
	"net"
	"testing"

	"github.com/haraft/haraft/proxy/internal/h1test"
)

// The engine's hot path, piece by piece and end to end, with the least
// policy (onePool); proxy's benchmarks add the routing and cookie policy.
// Run: go test -run '^$' -bench . -benchmem ./proxy/h1/

const benchRequest = "GET /index.html?user=42 HTTP/1.1\r\n" +
	"Host: www.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)\r\n" +
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
	"Accept-Language: en-US,en;q=0.5\r\n" +
	"Accept-Encoding: gzip, deflate\r\n" +
	"Cookie: SERVERID=A; JSESSIONID=0123456789abcdef; theme=dark\r\n" +
	"Connection: keep-alive\r\n" +
	"\r\n"

const benchResponse = "HTTP/1.1 200 OK\r\n" +
	"Set-Cookie: JSESSIONID=0123456789abcdef; Path=/\r\n" +
	"X-Server: A\r\n" +
	"Date: Wed, 25 Nov 2026 10:00:00 GMT\r\n" +
	"Content-Length: 13\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"hello from A\n"

func BenchmarkParseRequestHead(b *testing.B) {
	buf := []byte(benchRequest)
	var h head
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if err := parseRequestHead(buf, &h); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseResponseHead(b *testing.B) {
	buf := []byte(benchResponse)
	var h head
	b.ReportAllocs()
	for b.Loop() {
		if err := parseResponseHead(buf, &h, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHeads builds the head sent to the server (hop-by-hop fields
// dropped, Content-Length normalized, the policy asked about the Cookie
// line) and the head sent back to the client.
func BenchmarkHeads(b *testing.B) {
	pool := NewPool("A", "127.0.0.1:1", PoolOptions{})
	c := &clientConn{out: make([]byte, 0, bufSize), scratch: new(scratch), sess: onePool{pool}}
	hb := []byte(benchRequest)
	if err := parseRequestHead(hb, &c.req); err != nil {
		b.Fatal(err)
	}
	rb := []byte(benchResponse)
	rb = rb[:findHeadEnd(rb, 0)]
	if err := parseResponseHead(rb, &c.resp, false); err != nil {
		b.Fatal(err)
	}
	c.reqView = Request{h: &c.req, b: hb}
	b.Run("request", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c.out = c.appendRequestHead(c.out[:0], hb, pool, false)
		}
		if bytes.Contains(c.out, []byte("Connection: keep-alive")) {
			b.Fatalf("hop-by-hop field forwarded:\n%s", c.out)
		}
	})
	setCookies := []string{"JSESSIONID=0123456789abcdef; Path=/"}
	b.Run("response", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c.out = c.appendResponseHead(c.out[:0], rb, setCookies, false, true, 1, false)
		}
	})
}

// BenchmarkServe sends requests one after another over one keep-alive
// connection through the engine to a minimal server; allocs/op counts the
// whole process (client and server allocate nothing).
func BenchmarkServe(b *testing.B) {
	srv := rawBackend(b, func(c net.Conn) { h1test.FixedServer(c, benchResponse) })
	addr := startEngine(b, srv, Options{})
	h1test.BenchRoundTrips(b, addr, []byte("GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: wrk\r\nCookie: SERVERID=A\r\n\r\n"))
}
