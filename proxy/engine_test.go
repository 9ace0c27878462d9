package proxy

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Behaviour of the HTTP/1.1 engine over real sockets.

func TestForwardHeaders(t *testing.T) {
	var saw atomic.Pointer[http.Header]
	be := startBackend(t, func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		h.Set("Host", r.Host)
		saw.Store(&h)
		w.Header().Set("Connection", "X-Resp-Hop")
		w.Header().Set("X-Resp-Hop", "1")
		w.Header().Set("Keep-Alive", "timeout=3")
		w.Header().Set("X-End", "kept")
		_, _ = io.WriteString(w, "ok")
	})
	f := startProxy(t, proxyOpts{cookie: insertCookie(), protoHost: true}, be)
	c := dial(t, f.Addr().String())
	c.send("GET /p?q=1 HTTP/1.1\r\nHost: front.example\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n" +
		"Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nUpgrade: foo\r\n" +
		"X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Host: spoofed\r\nX-End-To-End: yes\r\n" +
		"Cookie: a=1; SERVERID=A; b=2\r\nCookie: c=3\r\n\r\n")
	resp, body := c.response("GET")
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("status %d body %q", resp.StatusCode, body)
	}
	h := *saw.Load()
	for _, hop := range []string{"Connection", "X-Hop", "Keep-Alive", "Proxy-Connection", "Te", "Upgrade"} {
		if v, ok := h[hop]; ok {
			t.Errorf("hop-by-hop %s forwarded: %q", hop, v)
		}
	}
	want := map[string]string{
		"Host":              "front.example",
		"X-End-To-End":      "yes",
		"X-Forwarded-For":   "10.0.0.1 | 127.0.0.1", // HAProxy appends its own line
		"X-Forwarded-Host":  "front.example",
		"X-Forwarded-Proto": "http",
		"Cookie":            "a=1; b=2 | c=3", // indirect: SERVERID removed
	}
	for k, v := range want {
		if got := strings.Join(h.Values(k), " | "); got != v {
			t.Errorf("server saw %s = %q, want %q", k, got, v)
		}
	}
	for _, hop := range []string{"X-Resp-Hop", "Keep-Alive"} {
		if v := resp.Header.Get(hop); v != "" {
			t.Errorf("response hop-by-hop %s forwarded: %q", hop, v)
		}
	}
	if resp.Header.Get("X-End") != "kept" {
		t.Errorf("end-to-end response field lost: %v", resp.Header)
	}
	if resp.Close {
		t.Error("keep-alive connection closed")
	}
}

func TestCookieInsertThroughEngine(t *testing.T) {
	a, b := startBackend(t, named("A")), startBackend(t, named("B"))
	f := startProxy(t, proxyOpts{cookie: insertCookie()}, a, b)
	c := dial(t, f.Addr().String())
	tests := []struct {
		cookie      string
		backend     string
		setCookie   string
		cache       string
		serverSaw   string
		description string
	}{
		{"", "A", "SERVERID=A; path=/", "", "", "new session: round robin, cookie inserted"},
		{"", "B", "SERVERID=B; path=/", "", "", "round robin goes on"},
		{"SERVERID=B", "B", "", "", "", "sticky; indirect strips the cookie"},
		{"x=1; SERVERID=A; y=2", "A", "", "", "x=1; y=2", "other cookies kept"},
		{"SERVERID=Z", "A", "SERVERID=A; path=/", "", "-", "unknown server: balanced again"},
	}
	for _, tc := range tests {
		req := "GET / HTTP/1.1\r\nHost: x\r\n"
		if tc.cookie != "" {
			req += "Cookie: " + tc.cookie + "\r\n"
		}
		c.send(req + "\r\n")
		resp, _ := c.response("GET")
		got := []string{resp.Header.Get("X-Backend"), strings.Join(resp.Header.Values("Set-Cookie"), ","), resp.Header.Get("Cache-Control"), resp.Header.Get("X-Saw-Cookie")}
		want := []string{tc.backend, tc.setCookie, tc.cache, tc.serverSaw}
		if tc.serverSaw == "-" {
			got = got[:3]
			want = want[:3]
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: got %q, want %q", tc.description, got, want)
		}
	}
}

func TestKeepAliveReusesServerConnections(t *testing.T) {
	var conns atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: named("A"), ConnState: func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	f := startProxy(t, proxyOpts{}, ln.Addr().String())
	c := dial(t, f.Addr().String())
	for i := 0; i < 20; i++ {
		c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, body := c.response("GET"); resp.StatusCode != 200 || body != "hello from A\n" || resp.Close {
			t.Fatalf("request %d: %d %q close=%v", i, resp.StatusCode, body, resp.Close)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("20 sequential requests opened %d server connections, want 1", n)
	}
	// Pipelined requests are answered in order.
	c.send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\nHEAD /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\n\r\n")
	for _, m := range []string{"GET", "HEAD", "GET"} {
		if resp, _ := c.response(m); resp.StatusCode != 200 {
			t.Fatalf("pipelined %s: %d", m, resp.StatusCode)
		}
	}
}

func TestConnectionManagement(t *testing.T) {
	be := startBackend(t, named("A"))
	f := startProxy(t, proxyOpts{}, be)
	tests := []struct {
		name, req  string
		wantConn   string
		wantClosed bool
	}{
		{"1.1 default keep-alive", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "", false},
		{"1.1 close", "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "close", true},
		{"1.0 default close", "GET / HTTP/1.0\r\n\r\n", "close", true},
		{"1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "keep-alive", false},
		{"1.1 close among tokens", "GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, Close\r\n\r\n", "close", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, f.Addr().String())
			c.send(tc.req)
			resp, body := c.response("GET")
			if resp.StatusCode != 200 || body != "hello from A\n" {
				t.Fatalf("%d %q", resp.StatusCode, body)
			}
			got := resp.Header.Get("Connection") // net/http moves "close" to resp.Close
			if resp.Close {
				got = "close"
			}
			if got != tc.wantConn {
				t.Errorf("Connection: %q, want %q", got, tc.wantConn)
			}
			if got := c.closed(300 * time.Millisecond); got != tc.wantClosed {
				t.Errorf("closed = %v, want %v", got, tc.wantClosed)
			}
		})
	}
}

func TestResponsesWithoutBody(t *testing.T) {
	be := rawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			var resp string
			switch req.URL.Path {
			case "/head":
				resp = "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
			case "/204":
				resp = "HTTP/1.1 204 No Content\r\n\r\n"
			case "/304":
				resp = "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 99\r\n\r\n"
			default:
				resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
			}
			if _, err := io.WriteString(c, resp); err != nil {
				return
			}
		}
	})
	f := startProxy(t, proxyOpts{}, be)
	c := dial(t, f.Addr().String())
	for _, tc := range []struct{ method, path, cl string }{
		{"HEAD", "/head", "1234"}, {"GET", "/204", ""}, {"GET", "/304", "99"}, {"GET", "/end", "2"},
	} {
		c.send(tc.method + " " + tc.path + " HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := c.response(tc.method)
		if body != "" && tc.path != "/end" || resp.Header.Get("Content-Length") != tc.cl {
			t.Errorf("%s %s: %d body %q Content-Length %q", tc.method, tc.path, resp.StatusCode, body, resp.Header.Get("Content-Length"))
		}
	}
}

// A large upload streams: the server sees the first half before the
// client sends the second.
func TestRequestBodyStreams(t *testing.T) {
	const half = 4 << 20
	gotHalf := make(chan struct{})
	be := startBackend(t, func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		if _, err := io.CopyN(h, r.Body, half); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		close(gotHalf)
		n, _ := io.Copy(h, r.Body)
		fmt.Fprintf(w, "%d %x", half+n, h.Sum(nil))
	})
	f := startProxy(t, proxyOpts{}, be)
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			if chunked {
				gotHalf = make(chan struct{})
			}
			c := dial(t, f.Addr().String())
			data := make([]byte, 2*half)
			for i := range data {
				data[i] = byte(i * 7)
			}
			sum := sha256.Sum256(data)
			if chunked {
				c.send("POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
				c.send(strconv.FormatInt(half, 16) + ";ext=1\r\n" + string(data[:half]) + "\r\n")
			} else {
				c.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(2*half) + "\r\n\r\n")
				c.send(string(data[:half]))
			}
			select {
			case <-gotHalf:
			case <-time.After(5 * time.Second):
				t.Fatal("the server did not get the first half before the second was sent: the body is buffered")
			}
			if chunked {
				c.send(strconv.FormatInt(half, 16) + "\r\n" + string(data[half:]) + "\r\n0\r\nX-Trailer: t\r\n\r\n")
			} else {
				c.send(string(data[half:]))
			}
			resp, body := c.response("POST")
			if want := fmt.Sprintf("%d %x", 2*half, sum); resp.StatusCode != 200 || body != want {
				t.Fatalf("%d %q, want %q", resp.StatusCode, body, want)
			}
		})
	}
}

// A chunked response streams to the client chunk by chunk; trailers pass
// through to HTTP/1.1 clients; an HTTP/1.0 client gets the data decoded.
func TestChunkedResponse(t *testing.T) {
	next := make(chan struct{})
	be := startBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		_, _ = io.WriteString(w, "first;")
		w.(http.Flusher).Flush()
		if r.URL.Path == "/wait" {
			select {
			case <-next:
			case <-time.After(5 * time.Second):
			}
		}
		_, _ = io.WriteString(w, "second")
		w.Header().Set("X-Sum", "42")
	})
	f := startProxy(t, proxyOpts{}, be)

	c := dial(t, f.Addr().String())
	c.send("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 6)
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "first;" {
		t.Fatalf("first chunk: %q %v (not streamed?)", first, err)
	}
	close(next)
	rest, _ := io.ReadAll(resp.Body)
	if string(rest) != "second" || resp.Trailer.Get("X-Sum") != "42" || len(resp.TransferEncoding) == 0 {
		t.Fatalf("rest %q trailer %v te %v", rest, resp.Trailer, resp.TransferEncoding)
	}

	c10 := dial(t, f.Addr().String())
	c10.send("GET /now HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	raw, _ := io.ReadAll(c10.br)
	head, body, _ := strings.Cut(string(raw), "\r\n\r\n")
	if body != "first;second" || strings.Contains(strings.ToLower(head), "transfer-encoding") || !strings.Contains(head, "Connection: close") {
		t.Fatalf("HTTP/1.0 client got:\n%s", raw)
	}
}

func TestExpectContinue(t *testing.T) {
	be := startBackend(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body) // net/http sends 100 Continue here
		_, _ = w.Write(b)
	})
	f := startProxy(t, proxyOpts{}, be)
	c := dial(t, f.Addr().String())
	c.send("PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	line, err := c.br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
		t.Fatalf("want 100 Continue first, got %q %v", line, err)
	}
	for line != "\r\n" {
		if line, err = c.br.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	c.send("hello")
	resp, body := c.response("PUT")
	if resp.StatusCode != 200 || body != "hello" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
}

func TestWebSocketUpgrade(t *testing.T) {
	var sawConn, sawUpgrade atomic.Value
	be := rawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		sawConn.Store(req.Header.Get("Connection"))
		sawUpgrade.Store(req.Header.Get("Upgrade"))
		upgradeAndEcho(c, br)
	})
	f := startProxy(t, proxyOpts{}, be)
	c := dial(t, f.Addr().String())
	c.send("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\nSec-WebSocket-Version: 13\r\n\r\n")
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Upgrade") != "websocket" || !strings.EqualFold(resp.Header.Get("Connection"), "upgrade") {
		t.Fatalf("handshake: %d %v", resp.StatusCode, resp.Header)
	}
	if sawConn.Load() != "Upgrade" || sawUpgrade.Load() != "websocket" {
		t.Fatalf("server saw Connection %q Upgrade %q", sawConn.Load(), sawUpgrade.Load())
	}
	hello := make([]byte, len("server-hello;"))
	if _, err := io.ReadFull(c.br, hello); err != nil || string(hello) != "server-hello;" {
		t.Fatalf("bytes after 101: %q %v", hello, err)
	}
	for _, msg := range []string{"ping", "frame-2", strings.Repeat("x", 100000)} {
		c.send(msg)
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c.br, got); err != nil || string(got) != msg {
			t.Fatalf("echo of %d bytes: %v", len(msg), err)
		}
	}
	c.conn.(*net.TCPConn).CloseWrite()
	if !c.closed(2 * time.Second) {
		t.Fatal("tunnel not closed after the client closed")
	}
}

func TestBadRequests(t *testing.T) {
	be := startBackend(t, named("A"))
	f := startProxy(t, proxyOpts{maxHeader: 4096}, be)
	tests := []struct {
		name, req string
		status    int
	}{
		{"header too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 5000) + "\r\n\r\n", 431},
		{"too many fields", "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("A: b\r\n", 200) + "\r\n", 431},
		{"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400},
		{"no colon", "GET / HTTP/1.1\r\nHost: x\r\nBad\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400},
		{"double space", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"lower-case version", "GET / http/1.1\r\nHost: x\r\n\r\n", 400},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
		{"missing Host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"NUL in value", "GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n", 400},
		{"bare CR", "GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", 400},
		{"bad Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n", 400},
		{"conflicting Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400},
		{"unknown transfer coding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
		{"chunked twice", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400},
		{"Transfer-Encoding in 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"bad chunk size", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
		{"CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405},
		{"control char in target", "GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, f.Addr().String())
			c.send(tc.req)
			resp, _ := c.response("GET")
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if !c.closed(time.Second) {
				t.Fatal("connection not closed after the error")
			}
		})
	}
	// Leading empty lines before a request are ignored (RFC 9112 2.2).
	c := dial(t, f.Addr().String())
	c.send("\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := c.response("GET"); resp.StatusCode != 200 {
		t.Fatalf("leading CRLF: %d", resp.StatusCode)
	}
}

// A client sending its head slowly is cut at timeout http_request with
// 408; an idle keep-alive connection at http_keep_alive.
func TestClientTimeouts(t *testing.T) {
	be := startBackend(t, named("A"))
	f := startProxy(t, proxyOpts{timeouts: Timeouts{HTTPRequest: 300 * time.Millisecond, HTTPKeepAlive: 200 * time.Millisecond}}, be)

	c := dial(t, f.Addr().String())
	start := time.Now()
	c.send("GET / HTTP/1.1\r\n")
	for i := 0; i < 20; i++ { // a byte every 50 ms: always active, never done
		time.Sleep(50 * time.Millisecond)
		if _, err := c.conn.Write([]byte("X")); err != nil {
			break
		}
	}
	resp, _ := c.response("GET")
	if el := time.Since(start); resp.StatusCode != 408 || el > 900*time.Millisecond {
		t.Fatalf("slow head: %d after %v, want 408 after ~300ms", resp.StatusCode, el)
	}

	c = dial(t, f.Addr().String())
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	c.response("GET")
	start = time.Now()
	if !c.closed(2 * time.Second) {
		t.Fatal("idle keep-alive connection not closed")
	}
	if el := time.Since(start); el < 150*time.Millisecond || el > 700*time.Millisecond {
		t.Fatalf("idle connection closed after %v, want ~200ms", el)
	}

	// A connection that never sends anything gets http_request.
	c = dial(t, f.Addr().String())
	start = time.Now()
	if !c.closed(2*time.Second) || time.Since(start) > 900*time.Millisecond {
		t.Fatalf("silent connection not closed in time (%v)", time.Since(start))
	}
}

func TestServerFailures(t *testing.T) {
	dead := func() string { // a port nobody listens on
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	t.Run("redispatch", func(t *testing.T) {
		b := startBackend(t, named("B"))
		f := startProxy(t, proxyOpts{cookie: insertCookie()}, dead(), b)
		c := dial(t, f.Addr().String())
		// Sticky to the dead A; the body has not been read yet, so even a
		// POST is redispatched.
		c.send("POST / HTTP/1.1\r\nHost: x\r\nCookie: SERVERID=A\r\nContent-Length: 3\r\n\r\nabc")
		resp, body := c.response("POST")
		if resp.StatusCode != 200 || body != "hello from B\n" {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		if got := resp.Header.Values("Set-Cookie"); len(got) != 1 || got[0] != "SERVERID=B; path=/" {
			t.Errorf("the redispatched session is not rebound: %q", got)
		}
		if n := f.Stats().Redispatches; n != 1 {
			t.Errorf("redispatches = %d", n)
		}
	})
	t.Run("all down", func(t *testing.T) {
		f := startProxy(t, proxyOpts{}, dead(), dead())
		c := dial(t, f.Addr().String())
		c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, body := c.response("GET"); resp.StatusCode != 503 || len(body) > 200 {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
	})
	t.Run("server timeout", func(t *testing.T) {
		b := rawBackend(t, func(c net.Conn) { time.Sleep(2 * time.Second) })
		f := startProxy(t, proxyOpts{timeouts: Timeouts{Server: 200 * time.Millisecond}}, b)
		c := dial(t, f.Addr().String())
		c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, _ := c.response("GET"); resp.StatusCode != 504 {
			t.Fatalf("%d", resp.StatusCode)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		b := rawBackend(t, func(c net.Conn) {
			_, _ = bufio.NewReader(c).ReadString('\n')
			_, _ = io.WriteString(c, "NOT HTTP\r\n\r\n")
		})
		f := startProxy(t, proxyOpts{}, b)
		c := dial(t, f.Addr().String())
		c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, _ := c.response("GET"); resp.StatusCode != 502 {
			t.Fatalf("%d", resp.StatusCode)
		}
	})
	t.Run("server closes kept-alive connections", func(t *testing.T) {
		// One response per connection, without saying so: the proxy finds
		// the pooled connection dead and retries the GET on a new one.
		b := rawBackend(t, func(c net.Conn) {
			if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}
		})
		f := startProxy(t, proxyOpts{}, b)
		c := dial(t, f.Addr().String())
		for i := 0; i < 5; i++ {
			c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			if resp, body := c.response("GET"); resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
			}
			time.Sleep(10 * time.Millisecond) // let the close arrive
		}
	})
}

func TestGracefulShutdown(t *testing.T) {
	release := make(chan struct{})
	be := startBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		_, _ = io.WriteString(w, "done")
	})
	b, err := NewBackend(BackendOptions{Name: "app", Servers: []ServerOptions{{Name: "A", Addr: be, Weight: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	f, err := NewFrontend(FrontendOptions{Name: "web", Bind: "127.0.0.1:0", Backend: b}, &stubState{}, nil, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- f.Serve() }()

	idle := dial(t, f.Addr().String())
	idle.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	idle.response("GET")
	busy := dial(t, f.Addr().String())
	busy.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(50 * time.Millisecond) // the slow request reaches the server

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shut <- f.Shutdown(ctx)
	}()
	if !idle.closed(time.Second) {
		t.Fatal("idle keep-alive connection not closed by Shutdown")
	}
	if _, err := net.DialTimeout("tcp", f.Addr().String(), 200*time.Millisecond); err == nil {
		t.Fatal("still accepting after Shutdown")
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	resp, body := busy.response("GET")
	if resp.StatusCode != 200 || body != "done" || !resp.Close {
		t.Fatalf("in-flight request: %d %q close %v", resp.StatusCode, body, resp.Close)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// When Shutdown's context ends first, what is left is closed, and every
// goroutine of the frontend has ended when it returns.
func TestShutdownDeadline(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	be := rawBackend(t, func(c net.Conn) {
		select {
		case <-hang:
		case <-time.After(10 * time.Second):
		}
	})
	b, err := NewBackend(BackendOptions{Name: "app", Servers: []ServerOptions{{Name: "A", Addr: be, Weight: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	f, err := NewFrontend(FrontendOptions{Name: "web", Bind: "127.0.0.1:0", Backend: b}, &stubState{}, nil, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = f.Serve() }()
	c := dial(t, f.Addr().String())
	c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npartial")
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := f.Shutdown(ctx); err == nil {
		t.Fatal("Shutdown reported success with a request stuck")
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("Shutdown took %v", el)
	}
	if !c.closed(time.Second) {
		t.Fatal("client connection left open")
	}
}

// Every goroutine the engine starts (connections, body copies, tunnels)
// has ended once the frontend and the servers are shut down, whatever the
// traffic was.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("traffic", func(t *testing.T) {
		ws := rawBackend(t, func(c net.Conn) {
			if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
				_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n")
				_, _ = io.Copy(c, c)
			}
		})
		be := startBackend(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/ws" {
				http.Error(w, "no", 400)
				return
			}
			_, _ = io.Copy(w, r.Body)
		})
		f := startProxy(t, proxyOpts{cookie: insertCookie(), timeouts: Timeouts{HTTPRequest: 200 * time.Millisecond}}, be, ws)
		addr := f.Addr().String()
		for i := 0; i < 5; i++ {
			c := dial(t, addr)
			c.send("GET / HTTP/1.1\r\nHost: x\r\nCookie: SERVERID=A\r\n\r\nPOST / HTTP/1.1\r\nHost: x\r\nCookie: SERVERID=A\r\nContent-Length: 3\r\n\r\nabc")
			c.response("GET")
			c.response("POST")
			c.send("POST / HTTP/1.1\r\nHost: x\r\nCookie: SERVERID=A\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n")
			c.conn.Close() // mid-body

			up := dial(t, addr)
			up.send("GET /ws HTTP/1.1\r\nHost: x\r\nCookie: SERVERID=B\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n")
			if resp, err := http.ReadResponse(up.br, nil); err != nil || resp.StatusCode != 101 {
				t.Fatalf("upgrade: %v %v", resp, err)
			}
			up.send("hi")
			if i%2 == 0 {
				up.conn.Close() // the client leaves the tunnel open until the end otherwise
			}

			bad := dial(t, addr)
			bad.send("GET / HTTP/1.1\r\nHost") // slow head: cut at http_request
			dial(t, addr).send("BAD\r\n\r\n")  // malformed
		}
		time.Sleep(300 * time.Millisecond)
	})
	var n int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if n = runtime.NumGoroutine(); n <= before {
			return
		}
	}
	buf := make([]byte, 1<<20)
	t.Fatalf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
}

// option forwardfor alone adds X-Forwarded-For only, as HAProxy's; the
// client's X-Forwarded-Host/-Proto pass untouched.
func TestForwardForOnly(t *testing.T) {
	var saw atomic.Pointer[http.Header]
	be := startBackend(t, func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		saw.Store(&h)
	})
	f := startProxy(t, proxyOpts{}, be)
	c := dial(t, f.Addr().String())
	c.send("GET / HTTP/1.1\r\nHost: front\r\nX-Forwarded-Proto: https\r\n\r\n")
	c.response("GET")
	h := *saw.Load()
	if h.Get("X-Forwarded-For") != "127.0.0.1" || h.Get("X-Forwarded-Proto") != "https" || h.Get("X-Forwarded-Host") != "" {
		t.Fatalf("server saw %v", h)
	}
}

// option httpclose: every response closes both connections; the server is
// told so and no connection is pooled, even for a client asking for
// keep-alive.
func TestHTTPClose(t *testing.T) {
	var conns, closeAsked atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Close {
			closeAsked.Add(1)
		}
		named("A")(w, r)
	}), ConnState: func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	f := startProxy(t, proxyOpts{httpClose: true}, ln.Addr().String())
	const n = 3
	for i := range n {
		c := dial(t, f.Addr().String())
		c.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
		resp, body := c.response("GET")
		if resp.StatusCode != 200 || body != "hello from A\n" || !resp.Close {
			t.Fatalf("request %d: %d %q close=%v", i, resp.StatusCode, body, resp.Close)
		}
		if !c.closed(time.Second) {
			t.Fatalf("request %d: client connection left open", i)
		}
	}
	if got := conns.Load(); got != n {
		t.Errorf("%d requests opened %d server connections, want %d (none pooled)", n, got, n)
	}
	if got := closeAsked.Load(); got != n {
		t.Errorf("server saw Connection: close on %d of %d requests", got, n)
	}
}
