package proxy

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haraft/haraft/proxy/accesslog"
)

// bothRecorder keeps every line in both formats: httplog and JSON.
type bothRecorder struct {
	mu          sync.Mutex
	lines, json []string
}

func (r *bothRecorder) Log(l *accesslog.Line) {
	h, j := accesslog.AppendHTTP(nil, l), accesslog.AppendJSON(nil, l)
	r.mu.Lock()
	r.lines, r.json = append(r.lines, string(h)), append(r.json, string(j))
	r.mu.Unlock()
}

// line waits for the n-th line (from 0) and returns it in both formats.
func (r *bothRecorder) line(t *testing.T, n int) (string, map[string]any) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r.mu.Lock()
		if len(r.lines) > n {
			h, j := r.lines[n], r.json[n]
			r.mu.Unlock()
			var m map[string]any
			if err := json.Unmarshal([]byte(j), &m); err != nil {
				t.Fatalf("JSON line %q: %v", j, err)
			}
			return h, m
		}
		r.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no access log line %d", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *bothRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.lines)
}

// h2Do sends req over HTTP/2 and returns the response (body read unless
// keepBody), its body and the client's address of the connection used.
func h2Do(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string, string) {
	t.Helper()
	var local string
	ctx := httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { local = i.Conn.LocalAddr().String() },
	})
	resp, err := c.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ProtoMajor != 2 {
		t.Fatalf("protocol %s, want HTTP/2", resp.Proto)
	}
	return resp, string(b), local
}

// TestAccessLogLinesHTTP2 checks the lines of HTTP/2 requests through a
// TLS frontend: one per request, in httplog and JSON, with the request
// line "METHOD URI HTTP/2.0", the timers that apply, the bytes each way
// and the termination state of each way a request ends.
func TestAccessLogLinesHTTP2(t *testing.T) {
	ca := newTestCA(t)
	pair, _ := ca.issue(t, t.TempDir(), "web", "www.example.com")
	rec := &bothRecorder{}
	a := startBackend(t, named("A"))
	dead := func() string { // a port nothing listens on
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}()
	hangup := rawBackend(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		_, _ = c.Read(buf)
		c.Close()
	})
	stuck := make(chan struct{})
	t.Cleanup(func() { close(stuck) })
	slowBody := startBackend(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Backend", "S")
		_, _ = w.Write([]byte("first part"))
		w.(http.Flusher).Flush()
		<-stuck
	})
	opts := func(cookie *CookieOptions) tlsProxyOpts {
		return tlsProxyOpts{proxyOpts: proxyOpts{cookie: cookie, accessLog: rec}, certs: []CertPair{pair}}
	}
	f, _ := startTLSProxy(t, opts(insertCookie()), a)
	deadF, _ := startTLSProxy(t, opts(nil), dead)
	hangF, _ := startTLSProxy(t, opts(nil), hangup)
	slowF, _ := startTLSProxy(t, opts(nil), slowBody)
	c := tlsClient(t, ca, "www.example.com", false)
	url := func(f *TLSFrontend, path string) string { return "https://" + f.Addr().String() + path }
	newReq := func(method, url, body string, cookies ...string) *http.Request {
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body == "" {
			req.Body = http.NoBody
		}
		for _, ck := range cookies {
			req.Header.Add("Cookie", ck)
		}
		return req
	}

	n := 0
	check := func(want string, wantJSON map[string]any) {
		t.Helper()
		got, j := rec.line(t, n)
		n++
		if m := maskLine(got); m != want {
			t.Errorf("line\n%s\nmasked\n%s\nwant\n%s", got, m, want)
		}
		for k, v := range wantJSON {
			if j[k] != v {
				t.Errorf("JSON %s = %v (%T), want %v; line %v", k, j[k], j[k], v, j)
			}
		}
	}
	// size is %B of a response: its head as HTTP/1.1 frames it, and the
	// body. The client sees the fields the handler sent, and for the
	// proxy's own answers (own) a Date and Content-Length the HTTP/2
	// server adds after the handler wrote its head.
	size := func(resp *http.Response, body string, own bool) string {
		h := resp.Header.Clone()
		if own {
			h.Del("Date")
			h.Del("Content-Length")
		}
		return strconv.FormatInt(headSize(resp.StatusCode, h)+int64(len(body)), 10)
	}

	// A new client: no cookie, one inserted.
	resp, body, local := h2Do(t, c, newReq("GET", url(f, "/hello?x=1"), ""))
	if resp.StatusCode != 200 || resp.Header.Get("X-Backend") != "A" {
		t.Fatalf("status %d, backend %q", resp.StatusCode, resp.Header.Get("X-Backend"))
	}
	check(local+` [DATE] web-tls~ app/A T/T/T/T/T 200 `+size(resp, body, false)+` - - --NI 1/1/0/0/0 0/0 "GET /hello?x=1 HTTP/2.0"`,
		map[string]any{"tls": true, "frontend": "web-tls", "status": 200.0, "bytes_uploaded": 0.0, "TR": 0.0,
			"request": "GET /hello?x=1 HTTP/2.0", "termination_state": "--NI"})

	// The same client with the cookie, and a body: valid, nothing
	// inserted; the bytes uploaded are the body's.
	upload := strings.Repeat("u", 1234)
	resp, body, local = h2Do(t, c, newReq("POST", url(f, "/up"), upload, "SERVERID=A"))
	check(local+` [DATE] web-tls~ app/A T/T/T/T/T 200 `+size(resp, body, false)+` - - --VN 1/1/0/0/0 0/0 "POST /up HTTP/2.0"`,
		map[string]any{"bytes_uploaded": 1234.0, "Tc": 0.0, "termination_state": "--VN"})

	// CONNECT is refused by the proxy before any backend: web-tls/<NOSRV>.
	resp, body, local = h2Do(t, c, newReq("CONNECT", url(f, ""), ""))
	if resp.StatusCode != 405 {
		t.Fatalf("CONNECT: status %d", resp.StatusCode)
	}
	check(local+` [DATE] web-tls~ web-tls/<NOSRV> T/-1/-1/-1/T 405 `+size(resp, body, true)+` - - PR-- 1/1/0/0/0 0/0 "CONNECT `+f.Addr().String()+` HTTP/2.0"`,
		map[string]any{"server": "<NOSRV>", "Tw": -1.0, "status": 405.0})

	// A server that cannot be reached: SC, 503.
	resp, body, local = h2Do(t, c, newReq("POST", url(deadF, "/x"), "data"))
	if resp.StatusCode != 503 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	check(local+` [DATE] web-tls~ app/A T/T/-1/-1/T 503 `+size(resp, body, true)+` - - SC-- 1/1/0/0/0 0/0 "POST /x HTTP/2.0"`,
		map[string]any{"Tc": -1.0, "Tr": -1.0, "termination_state": "SC--"})

	// A server that hangs up before its response head: SH, 502.
	resp, body, local = h2Do(t, c, newReq("GET", url(hangF, "/y"), ""))
	if resp.StatusCode != 502 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	check(local+` [DATE] web-tls~ app/A T/T/T/-1/T 502 `+size(resp, body, true)+` - - SH-- 1/1/0/0/0 0/0 "GET /y HTTP/2.0"`,
		map[string]any{"Tr": -1.0, "termination_state": "SH--"})

	// The client resets the stream while the body comes: CD, the status
	// sent and the bytes sent so far.
	ctx, cancel := context.WithCancel(context.Background())
	req := newReq("GET", url(slowF, "/slow"), "").WithContext(ctx)
	var slowLocal string
	req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { slowLocal = i.Conn.LocalAddr().String() },
	}))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, len("first part"))
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	before := rec.count()
	cancel()
	resp.Body.Close()
	check(slowLocal+` [DATE] web-tls~ app/A T/T/T/T/T 200 `+size(resp, string(first), false)+` - - CD-- 1/1/0/0/0 0/0 "GET /slow HTTP/2.0"`,
		map[string]any{"termination_state": "CD--", "status": 200.0})
	if before != n-1 {
		t.Fatalf("the aborted request was logged before it was aborted (%d lines, want %d)", before, n-1)
	}
}
