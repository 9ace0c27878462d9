package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The request smuggling regression table (issue 12): client bytes go
// through a running frontend to a raw backend that records exactly the
// bytes it received. net/http's ReadRequest, an independent reader, must
// read them as exactly the requests the table says the proxy accepts, and
// nothing else; the client gets the table's statuses, and after a refusal
// the connection is closed.

// smugRecorder is a raw backend answering every request net/http reads
// with a 200, recording each connection's bytes.
type smugRecorder struct {
	mu    sync.Mutex
	conns []*bytes.Buffer
}

func startSmugRecorder(t *testing.T) (*smugRecorder, string) {
	r := &smugRecorder{}
	addr := rawBackend(t, func(c net.Conn) {
		buf := &bytes.Buffer{}
		r.mu.Lock()
		r.conns = append(r.conns, buf)
		r.mu.Unlock()
		br := bufio.NewReader(io.TeeReader(c, writerFunc(func(p []byte) (int, error) {
			r.mu.Lock()
			defer r.mu.Unlock()
			return buf.Write(p)
		})))
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if _, err := io.Copy(io.Discard, req.Body); err != nil {
				return
			}
			if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
				return
			}
		}
	})
	return r, addr
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// take reads the recorded bytes of every connection again with net/http
// and forgets them: the requests as "METHOD target host bodylen", and
// any bytes that are no complete request.
func (r *smugRecorder) take() (reqs []string, leftover string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.conns {
		br := bufio.NewReader(bytes.NewReader(b.Bytes()))
		for {
			if _, err := br.Peek(1); err != nil {
				break
			}
			req, err := http.ReadRequest(br)
			if err != nil {
				rest, _ := io.ReadAll(br)
				leftover += fmt.Sprintf("%v: %q", err, rest)
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
			reqs = append(reqs, fmt.Sprintf("%s %s %s %d", req.Method, req.RequestURI, host, len(body)))
		}
		b.Reset()
	}
	return reqs, leftover
}

func TestSmuggling(t *testing.T) {
	const post = "POST / HTTP/1.1\r\nHost: x\r\n"
	const get = "GET / HTTP/1.1\r\nHost: x\r\n"
	const smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\nCookie: SERVERID=B\r\n\r\n"
	sl := fmt.Sprint(len(smuggled))
	sx := fmt.Sprintf("%x", len(smuggled))
	body := fmt.Sprintf("POST / x %d", len(smuggled))
	tests := []smugCase{
		{"CL.TE", "both: chunked wins, the rest is no request", post + "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG", []int{200}, []string{"POST / x 0"}},
		{"CL.TE", "both, smuggled after the chunks", post + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, []int{200}, []string{"POST / x 0"}},
		{"TE.CL", "chunk data holds a request", post + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n" + sx + "\r\n" + smuggled + "\r\n0\r\n\r\n", []int{200}, []string{body}},
		{"TE.TE", "xchunked", post + "Transfer-Encoding: xchunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", []int{400}, nil},
		{"TE.TE", "chunked, identity", post + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", []int{400}, nil},
		{"TE.TE", "identity, chunked", post + "Transfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n", []int{501}, nil},
		{"TE.TE", "two TE lines", post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n", []int{400}, nil},
		{"TE.TE", "TE line folded", post + "X: y\r\n Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", []int{400}, nil},
		{"TE.TE", "space before colon", post + "Transfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", []int{400}, nil},
		{"TE.TE", "tab before value", post + "Transfer-Encoding:\tchunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", []int{200}, []string{"POST / x 3"}},
		{"TE.TE", "vertical tab", post + "Transfer-Encoding: \vchunked\r\n\r\n0\r\n\r\n", []int{400}, nil},
		{"TE.TE", "upper case", post + "Transfer-Encoding: CHUNKED\r\n\r\n3\r\nabc\r\n0\r\n\r\n", []int{200}, []string{"POST / x 3"}},
		{"Connection", "Connection: Content-Length", post + "Connection: Content-Length\r\nContent-Length: " + sl + "\r\n\r\n" + smuggled, []int{200}, []string{body}},
		{"Connection", "Connection: close, Content-Length", post + "Connection: close, Content-Length\r\nContent-Length: " + sl + "\r\n\r\n" + smuggled, []int{200}, []string{body}},
		{"Connection", "Connection: Transfer-Encoding", post + "Connection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n" + sx + "\r\n" + smuggled + "\r\n0\r\n\r\n", []int{200}, []string{body}},
		{"Connection", "Connection: Host", get + "Connection: Host\r\n\r\n", []int{200}, []string{"GET / x 0"}},
		{"Connection", "Connection: Cookie, X-Forwarded-For", get + "Connection: Cookie, X-Forwarded-For\r\nCookie: a=1\r\n\r\n", []int{200}, []string{"GET / x 0"}},
		{"Connection", "HTTP/1.0 keep-alive, Content-Length", "POST / HTTP/1.0\r\nConnection: keep-alive, Content-Length\r\nContent-Length: " + sl + "\r\n\r\n" + smuggled, []int{200}, []string{"POST / - " + sl}},
		{"Connection", "HTTP/1.0 Content-Length, then the smuggled request kept alive", "POST / HTTP/1.0\r\nHost: x\r\nConnection: Content-Length, keep-alive\r\nContent-Length: " + sl + "\r\n\r\n" + smuggled + get + "\r\n", []int{200, 200}, []string{body, "GET / x 0"}},
		{"chunk size", "plus sign", post + "Transfer-Encoding: chunked\r\n\r\n+3\r\nabc\r\n0\r\n\r\n", []int{400}, nil},
		{"chunk size", "0x prefix", post + "Transfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n", []int{400}, nil},
		{"chunk size", "overflow", post + "Transfer-Encoding: chunked\r\n\r\n10000000000000003\r\nabc\r\n0\r\n\r\n", []int{400}, nil},
		{"chunk size", "data overrun", post + "Transfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n", []int{400}, nil},
		{"chunk size", "data short", post + "Transfer-Encoding: chunked\r\n\r\n5\r\nabc\r\n0\r\n\r\n", []int{400}, nil},
		{"chunk size", "leading space", post + "Transfer-Encoding: chunked\r\n\r\n 3\r\nabc\r\n0\r\n\r\n", []int{400}, nil},
		{"chunk size", "negative", post + "Transfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n", []int{400}, nil},
		{"chunk size", "extension dropped", post + "Transfer-Encoding: chunked\r\n\r\n3;a=\"b\" ; c\r\nabc\r\n0;x\r\n\r\n", []int{200}, []string{"POST / x 3"}},
		{"chunk size", "trailer kept", post + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n", []int{200}, []string{"POST / x 3"}},
		{"chunk size", "bad trailer", post + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T : 1\r\n\r\n", []int{400}, nil},
		{"bare LF", "chunk lines", post + "Transfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\n", []int{400}, nil},
		{"bare LF", "after chunk data", post + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n", []int{400}, nil},
		{"bare LF", "head lines (RFC 9112 2.2 allows)", "GET / HTTP/1.1\nHost: x\n\n", []int{200}, []string{"GET / x 0"}},
		{"bare LF", "bare CR in a field", get + "X: a\rb\r\n\r\n", []int{400}, nil},
		{"obs-fold", "folded value", get + "X: a\r\n b\r\n\r\n", []int{400}, nil},
		{"obs-fold", "folded Host", "GET / HTTP/1.1\r\nHost:\r\n x\r\n\r\n", []int{400}, nil},
		{"whitespace", "before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", []int{400}, nil},
		{"whitespace", "tab before colon", post + "Content-Length\t: 3\r\n\r\nabc", []int{400}, nil},
		{"Host", "two", get + "Host: y\r\n\r\n", []int{400}, nil},
		{"Host", "two equal", get + "Host: x\r\n\r\n", []int{400}, nil},
		{"Host", "missing in 1.1", "GET / HTTP/1.1\r\n\r\n", []int{400}, nil},
		{"Host", "missing in 1.0: none invented", "GET / HTTP/1.0\r\n\r\n", []int{200}, []string{"GET / - 0"}},
		{"Host", "invalid value", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", []int{400}, nil},
		{"target", "absolute-form, same Host", "GET http://x/p HTTP/1.1\r\nHost: x\r\n\r\n", []int{200}, []string{"GET http://x/p x 0"}},
		{"target", "absolute-form, other Host", "GET http://a.example/p HTTP/1.1\r\nHost: b.example\r\n\r\n", []int{400}, nil},
		{"target", "authority-form", "GET x:80 HTTP/1.1\r\nHost: x\r\n\r\n", []int{400}, nil},
		{"target", "asterisk-form OPTIONS", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", []int{200}, []string{"OPTIONS * x 0"}},
		{"target", "asterisk-form GET", "GET * HTTP/1.1\r\nHost: x\r\n\r\n", []int{400}, nil},
		{"target", "fragment", "GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n", []int{400}, nil},
		{"target", "byte 0x80", "GET /a\x80 HTTP/1.1\r\nHost: x\r\n\r\n", []int{400}, nil},
		{"target", "CTL", "GET /a\x01 HTTP/1.1\r\nHost: x\r\n\r\n", []int{400}, nil},
		{"version", "HTTP/1.2 is 1.1", "GET / HTTP/1.2\r\nHost: x\r\n\r\n", []int{200}, []string{"GET / x 0"}},
		{"version", "HTTP/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", []int{505}, nil},
		{"version", "HTTP/0.9", "GET /\r\n\r\n", []int{400}, nil},
		{"length", "URI over the head limit", "GET /" + strings.Repeat("a", 5000) + " HTTP/1.1\r\nHost: x\r\n\r\n", []int{414}, nil},
		{"length", "field over the head limit", get + "X: " + strings.Repeat("a", 5000) + "\r\n\r\n", []int{431}, nil},
		{"length", "Content-Length list", post + "Content-Length: 3, 3\r\n\r\nabc", []int{200}, []string{"POST / x 3"}},
		{"length", "Content-Length repeated", post + "Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", []int{200}, []string{"POST / x 3"}},
		{"length", "Content-Length differing", post + "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", []int{400}, nil},
		{"length", "Content-Length sign", post + "Content-Length: +3\r\n\r\nabc", []int{400}, nil},
		{"pipelining", "three with bodies", post + "Content-Length: 3\r\n\r\nabc" + post + "Transfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n" + get + "\r\n",
			[]int{200, 200, 200}, []string{"POST / x 3", "POST / x 2", "GET / x 0"}},
		{"pipelining", "a bad one ends it", post + "Content-Length: 3\r\n\r\nabc" + post + "Transfer-Encoding: chunked\r\n\r\n+2\r\nde\r\n0\r\n\r\n" + get + "\r\n",
			[]int{200, 400}, []string{"POST / x 3"}},
	}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			rec, be := startSmugRecorder(t)
			f := startProxy(t, proxyOpts{maxHeader: 4096, noFwdFor: true, timeouts: Timeouts{HTTPRequest: time.Second}, tls: tr.tls}, be)
			for _, tc := range tests {
				runSmugglingCase(t, f, rec, tc)
			}
		})
	}
}

// smugCase is a client stream, the statuses the client must get and
// the requests the server must have received.
type smugCase struct {
	family, name, req string
	statuses          []int
	reqs              []string // what the server must have received
}

// runSmugglingCase sends tc's stream through f and checks what the client
// and the server got.
func runSmugglingCase(t *testing.T, f *Frontend, rec *smugRecorder, tc smugCase) {
	t.Run(tc.family+"/"+tc.name, func(t *testing.T) {
		c := dialFrontend(t, f)
		c.send(tc.req)
		var statuses []int
		for len(statuses) < len(tc.statuses) {
			resp, _ := c.response("GET")
			statuses = append(statuses, resp.StatusCode)
			if resp.StatusCode >= 400 {
				break
			}
		}
		if fmt.Sprint(statuses) != fmt.Sprint(tc.statuses) {
			t.Errorf("statuses %v, want %v", statuses, tc.statuses)
		}
		if last := tc.statuses[len(tc.statuses)-1]; last >= 400 && !c.closed(2*time.Second) {
			t.Error("connection not closed after the refusal")
		}
		// What the server got: the response to the last request came
		// after the server read it; a refused one may have left bytes
		// in flight, closed with the connection.
		deadline := time.Now().Add(2 * time.Second)
		var reqs []string
		var left string
		for {
			r, l := rec.take()
			reqs, left = append(reqs, r...), left+l
			if len(reqs) >= len(tc.reqs) || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if fmt.Sprint(reqs) != fmt.Sprint(tc.reqs) || left != "" {
			t.Errorf("server received %q (then %s), want %q", reqs, left, tc.reqs)
		}
	})
}

// A server that sends more than its response, or frames it doubtfully,
// must not desynchronize the client, and its connection must not go back
// to the pool: the next request, on the same client connection and on
// another, is answered by a fresh server connection, never by the stray
// bytes.
func TestMaliciousResponseNotPooled(t *testing.T) {
	const stray = "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nSTRAYED"
	tests := []struct {
		name, method string
		first        func(net.Conn) // the first server connection's answer
		status       int            // the client's first answer; 0: cut short, closed
		body         string
		keep         bool // the client connection stays open
	}{
		{"bytes after the Content-Length body", "GET", writeAll("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + stray), 200, "ok", true},
		{"bytes after the chunked body", "GET", writeAll("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n" + stray), 200, "ok", true},
		{"Content-Length and chunked", "GET", writeAll("HTTP/1.1 200 OK\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n" + stray), 200, "ok", true},
		{"Connection: Content-Length", "GET", writeAll("HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 2\r\n\r\nok" + stray), 200, "ok", true},
		{"conflicting Content-Length", "GET", writeAll("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 9\r\n\r\nok" + stray), 502, "", false},
		{"Content-Length list", "GET", writeAll("HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok" + stray), 200, "ok", true},
		{"transfer coding other than chunked", "GET", writeAll("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n" + stray), 502, "", false},
		{"204 with a late body", "GET", func(c net.Conn) {
			_, _ = io.WriteString(c, "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n")
			time.Sleep(100 * time.Millisecond)
			_, _ = io.WriteString(c, stray)
		}, 204, "", true},
		{"304 with a chunked late body", "GET", func(c net.Conn) {
			_, _ = io.WriteString(c, "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n")
			time.Sleep(100 * time.Millisecond)
			_, _ = io.WriteString(c, stray)
		}, 304, "", true},
		{"HEAD answered with a body", "HEAD", writeAll("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nSTRAYED"), 200, "", true},
		{"1xx then bytes after the final", "GET", writeAll("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + stray), 200, "ok", true},
		{"bad chunk before anything was relayed", "GET", writeAll("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n+7\r\nSTRAYED\r\n0\r\n\r\n"), 502, "", false},
		{"bad chunk after the head was relayed", "GET", writeAll("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8000\r\n" + strings.Repeat("a", 0x8000) + "\r\n+7\r\nSTRAYED\r\n0\r\n\r\n"), 0, "", false},
		{"bare LF in a chunk line", "GET", writeAll("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nok\n0\n\n"), 502, "", false},
		{"body delimited by the close", "GET", func(c net.Conn) {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\nuntil the end")
			_ = c.(*net.TCPConn).CloseWrite()
			time.Sleep(100 * time.Millisecond)
		}, 200, "until the end", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var conns atomic.Int32
			be := rawBackend(t, func(c net.Conn) {
				n := conns.Add(1)
				br := bufio.NewReader(c)
				for i := 0; ; i++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					switch {
					case n == 1 && i == 0:
						tc.first(c)
					case n == 1:
						_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nREUSED")
					default:
						_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh")
					}
				}
			})
			f := startProxy(t, proxyOpts{}, be)
			c := dial(t, f.Addr().String())
			c.send(tc.method + " / HTTP/1.1\r\nHost: x\r\n\r\n")
			if tc.status == 0 {
				// The head went out; the body is cut short and both
				// sides closed.
				resp, err := http.ReadResponse(c.br, &http.Request{Method: tc.method})
				if err == nil {
					_, err = io.ReadAll(resp.Body)
				}
				if err == nil {
					t.Fatal("a malformed chunked body was relayed complete")
				}
			} else {
				resp, body := c.response(tc.method)
				for resp.StatusCode < 200 { // interim answers pass
					resp, body = c.response(tc.method)
				}
				if tc.status >= 400 {
					body = "" // the proxy's own error text
				}
				if resp.StatusCode != tc.status || body != tc.body {
					t.Fatalf("first answer %d %q, want %d %q", resp.StatusCode, body, tc.status, tc.body)
				}
			}
			if tc.keep {
				c.send("GET /again HTTP/1.1\r\nHost: x\r\n\r\n")
				if _, body := c.response("GET"); body != "fresh" {
					t.Fatalf("the same client connection's next answer is %q, want a fresh server connection's", body)
				}
			} else if !c.closed(2 * time.Second) {
				t.Fatal("client connection kept after a response whose end is in doubt")
			}
			time.Sleep(150 * time.Millisecond) // a late stray body arrives meanwhile
			c2 := dial(t, f.Addr().String())
			c2.send("GET /other HTTP/1.1\r\nHost: x\r\n\r\n")
			if _, body := c2.response("GET"); body != "fresh" {
				t.Fatalf("another client's answer is %q, want a fresh server connection's", body)
			}
		})
	}
}

func writeAll(s string) func(net.Conn) {
	return func(c net.Conn) { _, _ = io.WriteString(c, s) }
}

// A chunked request body found malformed after its head went out (the
// bad chunk comes later): the client gets 400, and both connections are
// closed, so the server never reads what follows as a request.
func TestBadChunkAfterHeadClosesBoth(t *testing.T) {
	const first = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"
	started, got := make(chan struct{}), make(chan string, 1)
	be := rawBackend(t, func(c net.Conn) {
		var b []byte
		buf := make([]byte, 4096)
		signalled := false
		for {
			n, err := c.Read(buf)
			b = append(b, buf[:n]...)
			if len(b) >= len(first) && !signalled {
				close(started)
				signalled = true
			}
			if err != nil { // the proxy closed
				got <- string(b)
				return
			}
		}
	})
	f := startProxy(t, proxyOpts{noFwdFor: true}, be)
	c := dial(t, f.Addr().String())
	c.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;ext\r\nabc\r\n")
	select {
	case <-started: // the head and the first chunk reached the server
	case <-time.After(5 * time.Second):
		t.Fatal("the head and first chunk did not reach the server")
	}
	c.send("0x5\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n\r\n0\r\n\r\n")
	resp, _ := c.response("POST")
	if resp.StatusCode != 400 {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
	if !c.closed(2 * time.Second) {
		t.Fatal("client connection not closed")
	}
	select {
	case s := <-got:
		if s != first { // normalized: no chunk extension
			t.Fatalf("server received %q, want %q and the close", s, first)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("server connection not closed")
	}
}

// Every Cookie line counts: a server cookie in the 20th line routes.
func TestCookieInLateLine(t *testing.T) {
	a, b := startBackend(t, named("A")), startBackend(t, named("B"))
	f := startProxy(t, proxyOpts{cookie: insertCookie()}, a, b)
	c := dial(t, f.Addr().String())
	var req strings.Builder
	req.WriteString("GET / HTTP/1.1\r\nHost: x\r\n")
	for i := 0; i < 19; i++ {
		fmt.Fprintf(&req, "Cookie: c%d=%d\r\n", i, i)
	}
	req.WriteString("Cookie: SERVERID=B\r\n\r\n")
	for i := 0; i < 4; i++ {
		c.send(req.String())
		resp, _ := c.response("GET")
		if got := resp.Header.Get("X-Backend"); got != "B" {
			t.Fatalf("request %d went to %q, want B (the cookie of the 20th line)", i, got)
		}
		if sc := resp.Header.Values("Set-Cookie"); len(sc) != 0 {
			t.Fatalf("a bound session got a new cookie: %q", sc)
		}
	}
}

// Learn mode learns one binding per response: the first Set-Cookie of
// its cookie; every line still reaches the client.
func TestLearnFirstSetCookieOnly(t *testing.T) {
	be := startBackend(t, func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 40; i++ {
			w.Header().Add("Set-Cookie", fmt.Sprintf("JSESSIONID=s%02d; Path=/", i))
		}
		_, _ = io.WriteString(w, "ok")
	})
	l := NewLearner(nil, LearnerOptions{NodeID: "n1", Logger: quietLogger()}) // not run: bindings stay pending
	f := startProxy(t, proxyOpts{cookie: &CookieOptions{Name: "JSESSIONID", Mode: ModeLearn}, learner: l}, be)
	c := dial(t, f.Addr().String())
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, _ := c.response("GET")
	if n := len(resp.Header.Values("Set-Cookie")); n != 40 {
		t.Fatalf("client got %d Set-Cookie lines, want 40", n)
	}
	if n := f.Stats().Learned; n != 1 {
		t.Fatalf("learned %d bindings from one response, want 1", n)
	}
	if _, ok := l.pending("app", "s00"); !ok {
		t.Fatal("the first Set-Cookie was not learned")
	}
	if _, ok := l.pending("app", "s01"); ok {
		t.Fatal("a later Set-Cookie was learned")
	}
}
