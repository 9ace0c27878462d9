package integration

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proxy"
)

// Differential framing test: the same hostile client byte streams through
// HAProxy 2.6 and through haraft's HTTP/1.1 engine, each in front of a raw
// backend that records exactly the bytes it received. What the backend got
// is read back with net/http's ReadRequest (an independent parser): it must
// be exactly the requests the proxy accepted, never a smuggled one. The
// outcomes of both proxies are logged side by side (the table of
// proxy/FRAMING.md is measured with this test: go test -v -run
// TestFramingAgainstHAProxy ./integration/).

// framingCase is one client byte stream and haraft's expected outcome.
type framingCase struct {
	name, req string
	// want is haraft's outcome as outcome.String prints it.
	want string
	// likeHAProxy: HAProxy 2.6 must have the same outcome.
	likeHAProxy bool
}

func framingCases() []framingCase {
	const post = "POST / HTTP/1.1\r\nHost: x\r\n"
	const get = "GET / HTTP/1.1\r\nHost: x\r\n"
	const smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	return []framingCase{
		{"plain", get + "\r\n", "[200] | GET / x 0", true},
		{"CL.TE", post + "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG", "[200] | POST / x 0", true},
		{"TE.CL", post + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n", "[200] | POST / x 8", true},
		{"TE xchunked", post + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", "[400]", true},
		{"TE leading space line", post + " Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", "[400]", false},
		{"TE space before colon", post + "Transfer-Encoding : chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", "[400]", true},
		{"TE chunked, identity", post + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", "[400]", true},
		{"TE twice", post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "[400]", true},
		{"TE gzip then chunked lines", post + "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "[400]", false},
		{"TE tab", post + "Transfer-Encoding:\tchunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "[200] | POST / x 3", true},
		{"TE CHUNKED upper case", post + "Transfer-Encoding: CHUNKED\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "[200] | POST / x 3", true},
		{"TE vertical tab", post + "Transfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n", "[400]", true},
		{"Connection: Content-Length", post + "Connection: Content-Length\r\nContent-Length: " + fmt.Sprint(len(smuggled)) + "\r\n\r\n" + smuggled, "[200] | POST / x 35", true},
		{"Connection: close, Content-Length", post + "Connection: close, Content-Length\r\nContent-Length: " + fmt.Sprint(len(smuggled)) + "\r\n\r\n" + smuggled, "[200] | POST / x 35", true},
		{"Connection: Transfer-Encoding", post + "Connection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n" + fmt.Sprintf("%x", len(smuggled)) + "\r\n" + smuggled + "\r\n0\r\n\r\n", "[200] | POST / x 35", true},
		{"Connection: Host", get + "Connection: Host\r\n\r\n", "[200] | GET / x 0", true},
		{"HTTP/1.0 Connection: keep-alive, Content-Length", "POST / HTTP/1.0\r\nConnection: keep-alive, Content-Length\r\nContent-Length: " + fmt.Sprint(len(smuggled)) + "\r\n\r\n" + smuggled, "[200] | POST / - 35", true},
		{"chunk size +5", post + "Transfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n", "[400]", true},
		{"chunk size 0x5", post + "Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", "[400]", true},
		{"chunk size overflow", post + "Transfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n", "[400]", true},
		{"chunk data overrun", post + "Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", "[400]", true},
		{"chunk extension", post + "Transfer-Encoding: chunked\r\n\r\n5;ext=\"x\"\r\nhello\r\n0\r\n\r\n", "[200] | POST / x 5", true},
		{"chunk bare LF", post + "Transfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n", "[400]", false},
		{"chunk size leading space", post + "Transfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n", "[400]", true},
		{"obs-fold", get + "X-A: a\r\n b\r\n\r\n", "[400]", false},
		{"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", "[400]", true},
		{"two Hosts", get + "Host: y\r\n\r\n", "[400]", true},
		{"two equal Hosts", get + "Host: x\r\n\r\n", "[400]", false},
		{"no Host 1.1", "GET / HTTP/1.1\r\n\r\n", "[400]", false},
		{"no Host 1.0", "GET / HTTP/1.0\r\n\r\n", "[200] | GET / - 0", true},
		{"absolute-form same Host", "GET http://x/p HTTP/1.1\r\nHost: x\r\n\r\n", "[200] | GET http://x/p x 0", true},
		{"absolute-form other Host", "GET http://a.example/p HTTP/1.1\r\nHost: b.example\r\n\r\n", "[400]", true},
		{"authority-form GET", "GET x:80 HTTP/1.1\r\nHost: x\r\n\r\n", "[400]", true},
		{"asterisk-form OPTIONS", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", "[200] | OPTIONS * x 0", true},
		{"# in target", "GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n", "[400]", true},
		{"byte 0x80 in target", "GET /a\x80b HTTP/1.1\r\nHost: x\r\n\r\n", "[400]", false},
		{"CTL in target", "GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n", "[400]", true},
		{"HTTP/1.2", "GET / HTTP/1.2\r\nHost: x\r\n\r\n", "[200] | GET / x 0", true},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", "[505]", false},
		{"HTTP/0.9", "GET /\r\n\r\n", "[400]", true},
		{"long URI", "GET /" + strings.Repeat("a", 70<<10) + " HTTP/1.1\r\nHost: x\r\n\r\n", "[414]", false},
		{"long header", get + "X-Big: " + strings.Repeat("a", 70<<10) + "\r\n\r\n", "[431]", false},
		{"pipelined CL bodies", post + "Content-Length: 3\r\n\r\nabc" + post + "Content-Length: 2\r\n\r\nde" + get + "\r\n", "[200 200 200] | POST / x 3; POST / x 2; GET / x 0", true},
		{"pipelined chunked then GET", post + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" + get + "\r\n", "[200 200] | POST / x 3; GET / x 0", true},
		{"TE identity, chunked", post + "Transfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n", "[501]", false},
		{"TE chunked then identity lines", post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n", "[400]", true},
		{"asterisk-form GET", "GET * HTTP/1.1\r\nHost: x\r\n\r\n", "[400]", false},
		{"Host with space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "[400]", false},
		{"Host with slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", "[400]", false},
		{"trailer field", post + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n", "[200] | POST / x 3", true},
		{"bad chunk in a later chunk", post + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n-1\r\nx\r\n0\r\n\r\n", "[400]", true},
		{"CL repeated lines", post + "Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", "[200] | POST / x 3", true},
		{"CL with sign", post + "Content-Length: +3\r\n\r\nabc", "[400]", true},
		{"CL list equal", post + "Content-Length: 3, 3\r\n\r\nabc", "[200] | POST / x 3", true},
		{"CL list differ", post + "Content-Length: 3, 4\r\n\r\nabcd", "[400]", true},
	}
}

// outcome is what a client and the backend behind the proxy saw.
type outcome struct {
	statuses []int    // responses the client read, in order
	requests []string // what the backend received, parsed by net/http
	leftover string   // backend bytes net/http could not parse as a request
}

// sorted orders the requests: HAProxy spreads pipelined requests over
// several server connections, recorded one after the other.
func (o outcome) sorted() outcome {
	o.requests = slices.Sorted(slices.Values(o.requests))
	return o
}

func (o outcome) String() string {
	s := fmt.Sprint(o.statuses)
	if len(o.requests) > 0 {
		s += " | " + strings.Join(o.requests, "; ")
	}
	if o.leftover != "" {
		s += " | LEFTOVER " + o.leftover
	}
	return s
}

// recorder is a raw backend: it answers every request net/http can read
// with a 200 and records the bytes of every connection.
type recorder struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []*bytes.Buffer
	wg    sync.WaitGroup
}

func startRecorder(t *testing.T) *recorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{ln: ln}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := &bytes.Buffer{}
			r.mu.Lock()
			r.conns = append(r.conns, buf)
			r.mu.Unlock()
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				defer c.Close()
				br := bufio.NewReader(io.TeeReader(c, lockedWriter{&r.mu, buf}))
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); r.wg.Wait() })
	return r
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// take returns the requests the backend received since the last take,
// read again from the recorded bytes by net/http.
func (r *recorder) take() (reqs []string, leftover string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.conns {
		raw := b.Bytes()
		br := bufio.NewReader(bytes.NewReader(raw))
		for {
			if _, err := br.Peek(1); err != nil {
				break
			}
			req, err := http.ReadRequest(br)
			if err != nil {
				rest, _ := io.ReadAll(br)
				leftover += fmt.Sprintf("%q", truncate(string(rest), 60))
				break
			}
			body, err := io.ReadAll(req.Body)
			if err != nil {
				leftover += fmt.Sprintf("body: %v", err)
				break
			}
			host := req.Host
			if host == "" {
				host = "-"
			}
			reqs = append(reqs, fmt.Sprintf("%s %s %s %d", req.Method, truncate(req.RequestURI, 40), host, len(body)))
		}
		b.Reset()
	}
	return reqs, leftover
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// exchangeRaw sends req on a new connection, half-closes it, and reads
// the responses until the proxy closes it (both answer what they read,
// then close); a pipelined exchange is not half-closed.
func exchangeRaw(t *testing.T, addr, req string, pipelined bool) []int {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	_, _ = io.WriteString(conn, req)
	var got bytes.Buffer
	if pipelined {
		// HAProxy stops at the first answer of a half-closed connection:
		// read until the proxy stays silent a while.
		buf := make([]byte, 4096)
		for {
			_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, err := conn.Read(buf)
			got.Write(buf[:n])
			if err != nil {
				break
			}
		}
	} else {
		_ = conn.(*net.TCPConn).CloseWrite()
		_, _ = io.Copy(&got, conn)
	}
	var statuses []int
	br := bufio.NewReader(&got)
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			break
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		statuses = append(statuses, resp.StatusCode)
	}
	return statuses
}

// startHAProxyFraming runs haproxy in front of the recorder at be.
func startHAProxyFraming(t *testing.T, be string) string {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Skip("haproxy not installed: the HAProxy column is not measured")
	}
	addr := freeAddr(t)
	cfg := fmt.Sprintf(`global
    maxconn 1000
    nbthread 1
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout http-request 2s
listen web
    bind %s
    server A %s
`, addr, be)
	runHAProxy(t, bin, addr, cfg)
	return addr
}

// framingState is a proxy.State with no sessions and every server ready.
type framingState struct{}

func (framingState) Lookup(_, _ string) (string, bool) { return "", false }
func (framingState) Servers() *fsm.ServerTable         { return nil }

// startHaraftFraming runs haraft's HTTP/1.1 engine in front of be.
func startHaraftFraming(t *testing.T, be string) string {
	t.Helper()
	to := proxy.Timeouts{HTTPRequest: 2 * time.Second}
	b, err := proxy.NewBackend(proxy.BackendOptions{Name: "app", Servers: []proxy.ServerOptions{{Name: "A", Addr: be, Weight: 1}}, Timeouts: to})
	if err != nil {
		t.Fatal(err)
	}
	f, err := proxy.NewFrontend(proxy.FrontendOptions{Name: "web", Bind: "127.0.0.1:0", Backend: b, Timeouts: to},
		framingState{}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- f.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = f.Shutdown(ctx)
		if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) {
			t.Errorf("serve: %v", err)
		}
		b.Close()
	})
	return f.Addr().String()
}

func TestFramingAgainstHAProxy(t *testing.T) {
	type peer struct {
		name, addr string
		rec        *recorder
	}
	rr := startRecorder(t)
	peers := []peer{{"haraft", startHaraftFraming(t, rr.ln.Addr().String()), rr}}
	if _, err := exec.LookPath("haproxy"); err == nil {
		hr := startRecorder(t)
		peers = append(peers, peer{"haproxy", startHAProxyFraming(t, hr.ln.Addr().String()), hr})
	} else {
		t.Log("haproxy not installed: only haraft's outcomes are checked")
	}
	var table strings.Builder
	for _, tc := range framingCases() {
		got := map[string]outcome{}
		for _, p := range peers {
			statuses := exchangeRaw(t, p.addr, tc.req, strings.HasPrefix(tc.name, "pipelined"))
			time.Sleep(300 * time.Millisecond) // the backend's read of the last bytes
			reqs, left := p.rec.take()
			got[p.name] = outcome{statuses, reqs, left}
		}
		r := got["haraft"].String()
		h, haveH := got["haproxy"]
		fmt.Fprintf(&table, "| %s | %s | %s |\n", tc.name, h, r)
		if r != tc.want {
			t.Errorf("%s: haraft %s, want %s", tc.name, r, tc.want)
		}
		if haveH && tc.likeHAProxy && h.sorted().String() != got["haraft"].sorted().String() {
			t.Errorf("%s: haraft %s, HAProxy %s", tc.name, r, h)
		}
		if o := got["haraft"]; o.leftover != "" {
			t.Errorf("%s: the backend received bytes that are no request: %s", tc.name, o.leftover)
		}
	}
	t.Logf("case | HAProxy | haraft\n%s", table.String())
}

// responseCase is one answer of a malicious or confused server to the
// first request on its first connection; every other request gets
// "fresh" from a well-behaved answer.
type responseCase struct {
	name, method string
	answer       func(net.Conn)
	want         string // haraft's outcome, as respOutcome prints it
	likeHAProxy  bool
}

func writeThen(parts ...string) func(net.Conn) {
	return func(c net.Conn) {
		for i, p := range parts {
			if i > 0 {
				time.Sleep(100 * time.Millisecond)
			}
			_, _ = io.WriteString(c, p)
		}
	}
}

func responseCases() []responseCase {
	const stray = "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nSTRAYED"
	return []responseCase{
		{"bytes after the Content-Length body", "GET", writeThen("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + stray), "200 ok | next fresh | other fresh", true},
		{"Content-Length and chunked", "GET", writeThen("HTTP/1.1 200 OK\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n" + stray), "200 ok | next fresh | other fresh", false},
		{"Connection: Content-Length", "GET", writeThen("HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 2\r\n\r\nok" + stray), "200 ok | next fresh | other fresh", true},
		{"conflicting Content-Length", "GET", writeThen("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 9\r\n\r\nok" + stray), "502 | closed | other fresh", true},
		{"Content-Length list", "GET", writeThen("HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok"), "200 ok | next fresh | other fresh", false},
		{"Transfer-Encoding gzip", "GET", writeThen("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzzz"), "502 | closed | other fresh", false},
		{"204 with a late body", "GET", writeThen("HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n", stray), "204 | next fresh | other fresh", false},
		{"HEAD answered with a body", "HEAD", writeThen("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nSTRAYED"), "200 | next fresh | other fresh", true},
		{"103 then bytes after the final", "GET", writeThen("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + stray), "200 ok | next fresh | other fresh", true},
		{"bad chunk size", "GET", writeThen("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n+7\r\nSTRAYED\r\n0\r\n\r\n"), "502 | closed | other fresh", true},
		{"chunk with bare LF", "GET", writeThen("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nok\n0\n\n"), "502 | closed | other fresh", false},
		{"body until the close", "GET", func(c net.Conn) {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\nuntil the end")
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
		}, "200 until the end | closed | other fresh", true},
	}
}

// respExchange sends one request and reads its final answer: "STATUS
// body", "STATUS cut" when the body ends early, or "closed".
func respExchange(br *bufio.Reader, conn net.Conn, method, path string) string {
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, method+" "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return "closed"
	}
	for {
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			return "closed"
		}
		if resp.StatusCode < 200 {
			continue
		}
		body, err := io.ReadAll(resp.Body)
		switch {
		case err != nil:
			return fmt.Sprintf("%d cut", resp.StatusCode)
		case resp.StatusCode >= 500 || len(body) == 0:
			return fmt.Sprint(resp.StatusCode)
		}
		return fmt.Sprintf("%d %s", resp.StatusCode, body)
	}
}

// respOutcome runs a response case against the proxy at addr: the first
// answer, the next on the same client connection (or "closed"), and one
// on another client connection.
func respOutcome(addr string, tc responseCase) string {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err.Error()
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	first := respExchange(br, conn, tc.method, "/")
	next := "closed"
	if first != "closed" && !strings.HasSuffix(first, " cut") && !strings.HasPrefix(first, "5") {
		next = strings.Replace(respExchange(br, conn, "GET", "/next"), "200 ", "next ", 1)
	} else {
		// The proxy closes after a refusal or a body cut short.
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := br.ReadByte(); err == nil {
			next = "open"
		}
	}
	time.Sleep(200 * time.Millisecond) // a late stray body arrives meanwhile
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		return err.Error()
	}
	defer c2.Close()
	other := strings.Replace(respExchange(bufio.NewReader(c2), c2, "GET", "/other"), "200 ", "other ", 1)
	return first + " | " + next + " | " + other
}

// responseBackend answers the first request on its first connection with
// tc.answer and every other with "fresh".
func responseBackend(t *testing.T, tc responseCase) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns++
			n := conns
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				for i := 0; ; i++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					if n == 1 && i == 0 {
						tc.answer(c)
						continue
					}
					if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh"); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

// TestResponseFramingAgainstHAProxy: a malicious or confused server must
// not desynchronize the client, nor a pooled server connection: the next
// request, on the same client connection and on another, gets a fresh
// server connection's answer, never the stray bytes.
func TestResponseFramingAgainstHAProxy(t *testing.T) {
	_, err := exec.LookPath("haproxy")
	haveHAProxy := err == nil
	var table strings.Builder
	for _, tc := range responseCases() {
		t.Run(tc.name, func(t *testing.T) {
			r := respOutcome(startHaraftFraming(t, responseBackend(t, tc)), tc)
			h := "-"
			if haveHAProxy {
				h = respOutcome(startHAProxyFraming(t, responseBackend(t, tc)), tc)
			}
			fmt.Fprintf(&table, "| %s | %s | %s |\n", tc.name, h, r)
			if r != tc.want {
				t.Errorf("haraft %s, want %s", r, tc.want)
			}
			if haveHAProxy && tc.likeHAProxy && h != r {
				t.Errorf("haraft %s, HAProxy %s", r, h)
			}
		})
	}
	t.Logf("case | HAProxy | haraft\n%s", table.String())
}
