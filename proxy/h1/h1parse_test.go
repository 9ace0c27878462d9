package h1

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"testing"
	"time"
)

func TestFindHeadEnd(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"GET / HTTP/1.1\r\n\r\n", 18},
		{"GET / HTTP/1.1\n\n", 16},
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody", 27},
		{"GET / HTTP/1.1\r\nHost: x\r\n", -1},
		{"GET / HTTP/1.1\r\nHost: x\r\n\r", -1},
		{"GET / HTTP/1.1\r\nHost: x\n\r\n", 26},
		{"", -1},
	}
	for _, tc := range tests {
		if got := findHeadEnd([]byte(tc.in), 0); got != tc.want {
			t.Errorf("findHeadEnd(%q) = %d, want %d", tc.in, got, tc.want)
		}
		// Fed byte by byte, resuming where the last search stopped.
		scan, got := 0, -1
		for i := 1; i <= len(tc.in) && got < 0; i++ {
			got = findHeadEnd([]byte(tc.in[:i]), scan)
			scan = i
		}
		if got != tc.want {
			t.Errorf("findHeadEnd(%q) byte by byte = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestParseRequestHead(t *testing.T) {
	type want struct {
		method, target string
		minor          int
		framing        framing
		cl             int64
		close, keep    bool
		upgrade        string
		expect         bool
		hop            []string // fields marked hop-by-hop by Connection
	}
	tests := []struct {
		name string
		in   string
		want want
	}{
		{"simple", "GET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\n", want{method: "GET", target: "/a?b=c", minor: 1}},
		{"1.0 without host", "GET / HTTP/1.0\r\n\r\n", want{method: "GET", target: "/", minor: 0}},
		{"content-length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 42\r\n\r\n", want{method: "POST", target: "/", minor: 1, framing: bodyLength, cl: 42}},
		{"content-length list", "POST / HTTP/1.1\r\nHost: x\r\ncontent-length: 7, 7\r\n\r\n", want{method: "POST", target: "/", minor: 1, framing: bodyLength, cl: 7}},
		{"content-length zero", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", want{method: "POST", target: "/", minor: 1}},
		{"chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n", want{method: "POST", target: "/", minor: 1, framing: bodyChunked}},
		{"chunked beats length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", want{method: "POST", target: "/", minor: 1, framing: bodyChunked, cl: 3}},
		{"connection tokens", "GET / HTTP/1.1\r\nHost: x\r\nConnection: Keep-Alive, close, X-A , x-b\r\nX-A: 1\r\nX-B: 2\r\nX-C: 3\r\n\r\n",
			want{method: "GET", target: "/", minor: 1, close: true, keep: true, hop: []string{"X-A", "X-B"}}},
		{"framing fields are never nominated", "POST / HTTP/1.1\r\nHost: x\r\nConnection: Content-Length, Host, Transfer-Encoding, Cookie, X-Forwarded-For, x-a\r\n" +
			"Content-Length: 2\r\nCookie: a=1\r\nX-Forwarded-For: 1.2.3.4\r\nX-A: 1\r\n\r\n",
			want{method: "POST", target: "/", minor: 1, framing: bodyLength, cl: 2, hop: []string{"X-A"}}},
		{"HTTP/1.2 is 1.1", "GET / HTTP/1.2\r\nHost: x\r\n\r\n", want{method: "GET", target: "/", minor: 1}},
		{"absolute-form", "GET http://user@X.example:80/p?q HTTP/1.1\r\nHost: x.example:80\r\n\r\n", want{method: "GET", target: "http://user@X.example:80/p?q", minor: 1}},
		{"asterisk-form", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", want{method: "OPTIONS", target: "*", minor: 1}},
		{"CONNECT authority-form", "CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n", want{method: "CONNECT", target: "x:443", minor: 1}},
		{"upgrade", "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", want{method: "GET", target: "/ws", minor: 1, upgrade: "websocket"}},
		{"expect", "PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n", want{method: "PUT", target: "/", minor: 1, framing: bodyLength, cl: 1, expect: true}},
		{"LF only and OWS", "OPTIONS * HTTP/1.1\nHost:\tx \n\n", want{method: "OPTIONS", target: "*", minor: 1}},
		{"absolute form", "GET http://e.com/p HTTP/1.1\r\nHost: e.com\r\n\r\n", want{method: "GET", target: "http://e.com/p", minor: 1}},
		{"obs-text value", "GET / HTTP/1.1\r\nHost: x\r\nX: caf\xc3\xa9\r\n\r\n", want{method: "GET", target: "/", minor: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := []byte(tc.in)
			var h head
			if err := parseRequestHead(b, &h); err != nil {
				t.Fatal(err)
			}
			var hop []string
			for i := 0; i < h.nfields; i++ {
				if h.fields[i].hop {
					hop = append(hop, string(h.fields[i].name.of(b)))
				}
			}
			got := want{string(h.method.of(b)), string(h.target.of(b)), h.minor, h.framing, h.contentLength,
				h.connClose, h.connKeepAlive, string(h.upgrade.of(b)), h.expectContinue, hop}
			if !h.connUpgrade && got.upgrade != "" && tc.name != "upgrade" {
				t.Errorf("upgrade without Connection: upgrade")
			}
			if strings.Join(got.hop, ",") != strings.Join(tc.want.hop, ",") {
				t.Errorf("hop = %q, want %q", got.hop, tc.want.hop)
			}
			got.hop, tc.want.hop = nil, nil
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseRequestHeadErrors(t *testing.T) {
	tests := []struct {
		in     string
		status int
	}{
		{"GET / HTTP/1.1\r\n\r\n", 400},                                                    // no Host
		{"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400},                              // two
		{"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400},                              // two in 1.0 too
		{"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},     // a coding not implemented
		{"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity, chunked\r\n\r\n", 501}, // identity is no coding any more
		{"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
		{"GET http://a/ HTTP/1.1\r\nHost: b\r\n\r\n", 400},
		{"GET a:80 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"GET /\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
		{"GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505},                       // unknown major
		{"GET / HTTP/1.1 \r\nHost: x\r\n\r\n", 400},                      // trailing space
		{"GET /\r\nHost: x\r\n\r\n", 400},                                // HTTP/0.9
		{"G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400},                       // method not a token
		{" GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400},                      // leading space
		{"GET / HTTP/1.1\r\n: x\r\nHost: x\r\n\r\n", 400},                // empty name
		{"GET / HTTP/1.1\r\nHost: x\r\nX\x7f: 1\r\n\r\n", 400},           // DEL in name
		{"GET / HTTP/1.1\r\nHost: x\r\nX: \x7f\r\n\r\n", 400},            // DEL in value
		{"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400}, // negative
		{"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X: y\r\n", maxFields) + "\r\n", 431},
	}
	for _, tc := range tests {
		var h head
		err := parseRequestHead([]byte(tc.in), &h)
		var he *headError
		if !errors.As(err, &he) || he.status != tc.status {
			t.Errorf("parseRequestHead(%q) = %v, want status %d", tc.in, err, tc.status)
		}
	}
}

func TestParseResponseHead(t *testing.T) {
	tests := []struct {
		in      string
		reqHEAD bool
		status  int
		reason  string
		framing framing
		cl      int64
		ok      bool
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false, 200, "OK", bodyLength, 5, true},
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true, 200, "OK", bodyNone, 5, true},
		{"HTTP/1.0 200\r\n\r\n", false, 200, "", bodyClose, 0, true},
		{"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n", false, 204, "No Content", bodyNone, 7, true},
		{"HTTP/1.1 304 Not Modified\r\n\r\n", false, 304, "Not Modified", bodyNone, 0, true},
		{"HTTP/1.1 100 Continue\r\n\r\n", false, 100, "Continue", bodyNone, 0, true},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", false, 200, "OK", bodyChunked, 5, true},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false, 200, "OK", bodyNone, 0, false},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", false, 200, "OK", bodyNone, 0, false},
		{"HTTP/1.1 200 A reason, with spaces\r\n\r\n", false, 200, "A reason, with spaces", bodyClose, 0, true},
		{"HTTP/1.1 20 OK\r\n\r\n", false, 0, "", 0, 0, false},
		{"HTTP/1.1 200OK\r\n\r\n", false, 0, "", 0, 0, false},
		{"HTTP/2 200 OK\r\n\r\n", false, 0, "", 0, 0, false},
		{"HTTP/1.1 099 X\r\n\r\n", false, 0, "", 0, 0, false},
		{"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", false, 0, "", 0, 0, false},
	}
	for _, tc := range tests {
		b := []byte(tc.in)
		var h head
		err := parseResponseHead(b, &h, tc.reqHEAD)
		if (err == nil) != tc.ok {
			t.Errorf("parseResponseHead(%q) = %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if err != nil {
			continue
		}
		if h.status != tc.status || string(h.reason.of(b)) != tc.reason || h.framing != tc.framing || h.contentLength != tc.cl {
			t.Errorf("parseResponseHead(%q) = %d %q framing %d cl %d", tc.in, h.status, h.reason.of(b), h.framing, h.contentLength)
		}
	}
}

func TestParseChunkSize(t *testing.T) {
	tests := []struct {
		in   string
		n    int64
		isOK bool
	}{
		{"0", 0, true}, {"1a", 26, true}, {"FFFF", 65535, true}, {"a;name=value", 10, true}, {"a ; x", 10, true},
		{"a\t;x=\"q\"", 10, true}, {"fffffffffffffff", 1<<60 - 1, true},
		{"", 0, false}, {"g", 0, false}, {"-1", 0, false}, {"0x10", 0, false}, {"a b", 0, false},
		{"1000000000000000", 0, false}, {"a;\x00", 0, false},
	}
	for _, tc := range tests {
		n, ok := parseChunkSize([]byte(tc.in))
		if ok != tc.isOK || ok && n != tc.n {
			t.Errorf("parseChunkSize(%q) = %d, %v; want %d, %v", tc.in, n, ok, tc.n, tc.isOK)
		}
	}
}

// FuzzParseRequestHead: no input panics the parser, and a head it accepts
// is well formed: every field lies inside it, names are tokens, values
// hold no line breaks, the framing is consistent.
func FuzzParseRequestHead(f *testing.F) {
	for _, s := range []string{
		benchRequest,
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /u HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
		"GET / HTTP/1.0\nConnection: keep-alive, X\nX: 1\n\n",
		"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
		"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\nExpect: 100-continue\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nConnection: Content-Length, Host, Transfer-Encoding, X\r\nContent-Length: 3\r\nX: 1\r\n\r\n",
		"GET http://u@h:80/p?q HTTP/1.2\r\nHost: h:80\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		end := findHeadEnd(b, 0)
		// Parsing straight from the buffer (what the engine does first)
		// agrees with parsing the head findHeadEnd delimits.
		var direct head
		derr := parseRequestHead(b, &direct)
		if end < 0 {
			if derr == nil {
				t.Fatalf("parsed a head of %d bytes that findHeadEnd does not see", direct.size)
			}
			return
		}
		if derr == nil && direct.size != end {
			t.Fatalf("head size %d, findHeadEnd %d", direct.size, end)
		}
		b = b[:end]
		var h head
		if err := parseRequestHead(b, &h); err != nil {
			var he *headError
			if !errors.As(err, &he) || he.status < 400 || err == errIncomplete {
				t.Fatalf("error without a status, or incomplete: %v", err)
			}
			if derr == nil {
				t.Fatalf("the head alone fails (%v), with what follows it parses", err)
			}
			return
		}
		if derr != nil {
			t.Fatalf("the head alone parses, with what follows it fails: %v", derr)
		}
		if !isToken(h.method.of(b)) || len(h.target.of(b)) == 0 || h.minor > 1 {
			t.Fatalf("bad request line %q %q %d", h.method.of(b), h.target.of(b), h.minor)
		}
		for i := 0; i < h.nfields; i++ {
			fl := h.fields[i]
			if fl.name.start < 0 || fl.value.end > int32(len(b)) || fl.value.start > fl.value.end {
				t.Fatalf("field %d out of the head", i)
			}
			if !isToken(fl.name.of(b)) || bytes.ContainsAny(fl.value.of(b), "\r\n\x00") {
				t.Fatalf("bad field %q: %q", fl.name.of(b), fl.value.of(b))
			}
		}
		if h.framing == bodyLength && h.contentLength <= 0 || h.framing == bodyClose || h.contentLength < 0 {
			t.Fatalf("framing %d with length %d", h.framing, h.contentLength)
		}
		if h.minor == 1 && h.hosts != 1 {
			t.Fatalf("HTTP/1.1 request with %d Host fields accepted", h.hosts)
		}
		// A target is printable ASCII without '#'; a Connection token
		// never nominates a field the engine acts on.
		for _, c := range h.target.of(b) {
			if c <= ' ' || c >= 0x7f || c == '#' {
				t.Fatalf("target %q accepted", h.target.of(b))
			}
		}
		for i := 0; i < h.nfields; i++ {
			if fl := h.fields[i]; fl.hop && fl.id != hdrOther {
				t.Fatalf("field %q (id %d) nominated by Connection", fl.name.of(b), fl.id)
			}
		}
		if h.framing == bodyChunked && !equalFold(h.teValue.of(b), "chunked") {
			t.Fatalf("chunked framing from Transfer-Encoding %q", h.teValue.of(b))
		}
	})
}

// FuzzParseChunked: a chunked body either decodes or fails cleanly; the
// normalized copy is canonical chunked syntax (copying it again changes
// nothing: no extension, no bare LF survives) that decodes (with
// net/http's reader, an independent one) to the same bytes as the input
// and copies again unchanged; checkChunked, which judges a body before it
// is forwarded, never refuses one copyChunked accepts, and accepts
// nothing copyChunked refuses when the whole body is at hand.
func FuzzParseChunked(f *testing.F) {
	for _, s := range []string{"0\r\n\r\n", "5\r\nhello\r\n0\r\nT: v\r\n\r\n", "a;x=1\r\n0123456789\r\n0\r\n\r\n", "3\nabc\n0\n\n",
		"00003 ; a=\"b\"\r\nabc\r\n0\r\n\r\n", "+3\r\nabc\r\n0\r\n\r\n", "3\r\nabcde\r\n0\r\n\r\n", "0\r\nX : y\r\n\r\n"} {
		f.Add([]byte(s))
	}
	copyAll := func(b []byte, raw bool) ([]byte, int, error) {
		src := &endpoint{conn: &bufConn{r: bytes.NewReader(b)}}
		src.in.acquire()
		defer src.in.release()
		var out bytes.Buffer
		dst := &endpoint{conn: &bufConn{w: &out}}
		err := copyChunked(sink{ep: dst}, src, raw)
		return out.Bytes(), src.in.buffered(), err
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		out, _, err := copyAll(b, true)
		cerr := checkChunked(b)
		if err == nil && cerr != nil {
			t.Fatalf("checkChunked refuses %q (%v), copyChunked accepts it", b, cerr)
		}
		if errors.Is(err, errBadChunk) && cerr == nil {
			// The check stops where the input does: only a body cut
			// short may look fine to it.
			if _, _, eerr := copyAll(append(b[:len(b):len(b)], "\r\n"...), true); !errors.Is(eerr, errBadChunk) {
				return
			}
			t.Fatalf("checkChunked accepts %q, copyChunked refuses it", b)
		}
		if err != nil {
			return
		}
		decoded, _, derr := copyAll(b, false)
		if derr != nil {
			t.Fatalf("decoding %q: %v", b, derr)
		}
		want, rerr := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(out)))
		if rerr != nil || !bytes.Equal(want, decoded) {
			t.Fatalf("normalized %q reads as %q (%v), want %q", out, want, rerr, decoded)
		}
		again, _, aerr := copyAll(out, true)
		if aerr != nil || !bytes.Equal(again, out) {
			t.Fatalf("normalized %q copies as %q (%v)", out, again, aerr)
		}
	})
}

// FuzzServe feeds arbitrary bytes to the engine (with the least policy,
// onePool) as a client: no input may panic it, and it always ends the
// connection.
func FuzzServe(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nCookie: SERVERID=B; a=1\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc",
		"GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\nframe",
		"HEAD / HTTP/1.0\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	be := startBackend(f, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "hello\n")
	})
	addr := startEngine(f, be, Options{HTTPRequest: 500 * time.Millisecond, HTTPKeepAlive: 200 * time.Millisecond, Client: time.Second})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write(b)
		_ = c.(*net.TCPConn).CloseWrite()
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatal("the engine kept the connection open")
				}
				return
			}
		}
	})
}

// bufConn is a net.Conn over an in-memory reader or writer.
type bufConn struct {
	net.Conn
	r *bytes.Reader
	w *bytes.Buffer
}

func (c *bufConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *bufConn) Write(p []byte) (int, error)      { return c.w.Write(p) }
func (c *bufConn) SetReadDeadline(time.Time) error  { return nil }
func (c *bufConn) SetWriteDeadline(time.Time) error { return nil }

// A head is parsed at the start of a buffer that may hold less (the rest
// has not arrived) or more (a body, the next request).
func TestParseHeadPrefix(t *testing.T) {
	full := "GET / HTTP/1.1\r\nHost: x\r\nX: y\r\n\r\n"
	for i := 0; i < len(full); i++ {
		var h head
		if err := parseRequestHead([]byte(full[:i]), &h); err != errIncomplete {
			t.Fatalf("parseRequestHead(%q) = %v, want errIncomplete", full[:i], err)
		}
	}
	var h head
	if err := parseRequestHead([]byte(full+"BODY"), &h); err != nil || h.size != len(full) {
		t.Fatalf("with a body after it: %v, size %d", err, h.size)
	}
	resp := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
	for i := 0; i < len(resp); i++ {
		if err := parseResponseHead([]byte(resp[:i]), &h, false); err != errIncomplete {
			t.Fatalf("parseResponseHead(%q) = %v, want errIncomplete", resp[:i], err)
		}
	}
	if err := parseResponseHead([]byte(resp+"ok"), &h, false); err != nil || h.size != len(resp) {
		t.Fatalf("response with its body: %v, size %d", err, h.size)
	}
	// A broken line is reported before the head is complete.
	if err := parseRequestHead([]byte("GET / HTTP/1.1\r\nBad Line\r\n"), &h); err == errIncomplete || err == nil {
		t.Fatalf("broken line in a partial head: %v", err)
	}
}
