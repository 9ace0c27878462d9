package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The differential harness of the HTTP/1.1 engine (issue 12, item 8).
//
// Requests: a client byte stream goes through a running frontend to a raw
// server that records every byte it receives on every connection. Go's
// net/http, an independent HTTP/1.1 reader, reads the client stream (what
// the proxy should have accepted) and each server connection's bytes (what
// the proxy sent). The server answers every request with "Connection:
// close", so each server connection carries exactly one request as the
// proxy sees it: a second request on it, or bytes left after the first,
// is what smuggling looks like. The assertions:
//
//   - every server connection holds one complete, well-formed HTTP/1.1
//     request and nothing after it (one Host; a target in origin,
//     absolute or asterisk form, absolute with the Host it names); only
//     the last may be cut short, and only when the client got no server
//     answer for it (the proxy gave up on a body and closed both sides);
//   - the i-th forwarded request equals the i-th request net/http reads
//     from the client stream: method, target, Host, body bytes; so the
//     proxy never forwards more requests than net/http sees, nor a request
//     net/http refuses;
//   - the client gets the server's answers in order, then at most one
//     error of the proxy's own (without a body to a HEAD), then the
//     connection closes; every byte it gets parses.
//
// Not compared, as the legitimate rewrites of a proxy: the version (always
// HTTP/1.1), hop-by-hop fields, X-Forwarded-*, Cookie lines (the cookie
// mode rewrites them), the chunk syntax (bodies are compared decoded), and
// a Host the proxy supplies where the client sent none. Where net/http is
// stricter than RFC 9112 without any ambiguity, both sides are read
// alike after normalizeHead (a Content-Length list of one value, a
// transfer-coding list ending in chunked, a lone "%" in the target).
//
// Responses: the server answers the first request of an exchange with a
// byte stream of the fuzzer's and half-closes; every other request gets a
// fixed sentinel answer. net/http reads the server's stream (what the
// proxy should have accepted) and the client's bytes. The client must get
// the same interim (1xx) statuses, then the same final status and body
// bytes, or an error of the proxy's own, or a message cut short and a
// close; after a complete answer it keeps alive, the next request must get
// the sentinel, and a fresh connection's request (the pool's most recent
// server connection) must get the sentinel too: leftover bytes of a
// server's response never become the next one's answer. The server must
// get nothing but the client's requests.

const (
	diffMaxInput = 16 << 10
	// diffWait bounds every wait of one exchange; a healthy one takes a
	// few milliseconds, so it only ends a hung proxy.
	diffWait = 10 * time.Second
)

// diffTimeouts are short enough that a request the proxy waits on forever
// ends the exchange quickly, long enough for a busy machine.
func diffTimeouts() Timeouts {
	return Timeouts{Connect: time.Second, Client: 3 * time.Second, Server: 3 * time.Second,
		HTTPRequest: 2 * time.Second, HTTPKeepAlive: 2 * time.Second}
}

// recBackend is a raw HTTP/1.1 server that records, per connection and in
// the order they were accepted, every byte it receives.
type recBackend struct {
	ln     net.Listener
	serve  func(*recConn, net.Conn)
	record bool // keep the connections for settle

	mu    sync.Mutex
	next  int // number of the next accepted connection
	conns []*recConn
	wg    sync.WaitGroup
}

// recConn is one recorded server connection; buf is written by its serving
// goroutine only, and read once done is set (under recBackend.mu).
type recConn struct {
	n      int
	remote string
	buf    bytes.Buffer
	done   bool
}

func newRecBackend(t testing.TB, record bool, serve func(*recConn, net.Conn)) *recBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &recBackend{ln: ln, serve: serve, record: record}
	b.wg.Add(1)
	go b.acceptLoop()
	t.Cleanup(func() {
		ln.Close()
		b.wg.Wait()
	})
	return b
}

// acceptLoop registers connections in the order the kernel queued them:
// the proxy opens a request's server connection only after the previous
// request's answer, so this is the order of the forwarded requests.
func (b *recBackend) acceptLoop() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		rc := &recConn{remote: c.RemoteAddr().String()}
		b.mu.Lock()
		rc.n = b.next
		b.next++
		if b.record {
			b.conns = append(b.conns, rc)
		}
		b.mu.Unlock()
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(diffWait))
			b.serve(rc, c)
			// Whatever the proxy sends until it closes is recorded.
			_, _ = io.Copy(&rc.buf, c)
			b.mu.Lock()
			rc.done = true
			b.mu.Unlock()
		}()
	}
}

// settle waits until every connection the proxy opened so far is accepted
// (a barrier connection of ours, queued after them, is) and closed, and
// returns them, forgetting them for the next exchange.
func (b *recBackend) settle() ([]*recConn, error) {
	bar, err := net.Dial("tcp", b.ln.Addr().String())
	if err != nil {
		return nil, err
	}
	barrier := bar.LocalAddr().String()
	bar.Close()
	deadline := time.Now().Add(diffWait)
	for {
		b.mu.Lock()
		at, ready := -1, true
		for i, c := range b.conns {
			if c.remote == barrier {
				at = i
				break
			}
			ready = ready && c.done
		}
		if at >= 0 && ready {
			conns := b.conns[:at]
			b.conns = append([]*recConn(nil), b.conns[at+1:]...)
			b.mu.Unlock()
			return conns, nil
		}
		b.mu.Unlock()
		if time.Now().After(deadline) {
			return nil, errors.New("the proxy kept a server connection open")
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// diffExchange sends in to addr, half-closes, and returns everything received
// until the proxy closes.
func diffExchange(addr string, overTLS bool, in []byte) ([]byte, error) {
	c, err := netDial(addr, overTLS)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(diffWait))
	go func() {
		// Written alongside the reads: a pipelined stream and its answers
		// may together exceed the socket buffers.
		_, _ = c.Write(in)
		closeWrite(c)
	}()
	out, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, net.ErrClosed) && !isConnClosed(err) {
		return out, fmt.Errorf("the proxy did not close the client connection: %w", err)
	}
	return out, nil
}

// isConnClosed reports a connection the peer closed or reset.
func isConnClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// ---- requests ----

// diffReq is a request as net/http reads it.
type diffReq struct {
	method, target, host, proto string
	body                        []byte
	close                       bool
}

func (r diffReq) String() string {
	return fmt.Sprintf("%s %q %s Host=%q body=%q", r.method, r.target, r.proto, r.host, r.body)
}

// normalizeHead returns s with the message head at its start rewritten
// where RFC 9112 reads it as net/http does not (net/http is stricter), and
// how much longer the head became:
//   - a Content-Length list of one repeated value ("5, 5") is that value
//     (RFC 9110 8.6 lets a recipient replace it so);
//   - a Transfer-Encoding list whose last coding, and only chunked one, is
//     chunked ("gzip, chunked") frames the body as chunked (RFC 9112 6.3);
//     net/http implements no other coding and refuses the list;
//   - a "%" in the request line that starts no percent-encoding is "%25"
//     (escapePercent).
//
// Bodies are compared as the chunked framing leaves them, so the codings
// under it need no reading.
//
// cl is false for what the proxy sends: a Content-Length list is no valid
// field value (RFC 9110 8.6), and the proxy must not send one.
func normalizeHead(s []byte, cl bool) ([]byte, int) {
	var out []byte
	off, delta := 0, 0
	for off < len(s) {
		j := bytes.IndexByte(s[off:], '\n')
		if j < 0 {
			break
		}
		line := s[off : off+j]
		eol := "\n"
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line, eol = line[:n-1], "\r\n"
		}
		next := off + j + 1
		if len(line) == 0 {
			break
		}
		if off == 0 && bytes.IndexByte(line, '%') >= 0 {
			if repl := escapePercent(line); repl != string(line) {
				out = append(out, repl+eol...)
				delta += len(repl) - len(line)
				off = next
				continue
			}
		}
		if off > 0 {
			if repl := normalizedField(line, cl); repl != "" {
				if out == nil {
					out = append(out, s[:off]...)
				}
				out = append(out, repl+eol...)
				delta += len(repl) + len(eol) - (next - off)
				off = next
				continue
			}
		}
		if out != nil {
			out = append(out, s[off:next]...)
		}
		off = next
	}
	if out == nil {
		return s, 0
	}
	return append(out, s[off:]...), delta
}

// escapePercent writes a "%" that starts no percent-encoding as "%25":
// net/http refuses such a target, RFC 9112 leaves it to the origin server
// and HAProxy forwards it; both sides are read the same way.
func escapePercent(line []byte) string {
	var b strings.Builder
	for i := 0; i < len(line); i++ {
		if line[i] == '%' && (i+2 >= len(line) || !isHex(line[i+1]) || !isHex(line[i+2])) {
			b.WriteString("%25")
			continue
		}
		b.WriteByte(line[i])
	}
	return b.String()
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'f' }

// normalizedField returns the rewrite of one field line, or "".
func normalizedField(line []byte, cl bool) string {
	name, value, ok := strings.Cut(string(line), ":")
	if !ok {
		return ""
	}
	var toks []string
	for _, t := range strings.Split(value, ",") {
		if t = strings.Trim(t, " \t"); t != "" {
			toks = append(toks, t)
		}
	}
	if len(toks) < 2 {
		return ""
	}
	switch {
	case cl && strings.EqualFold(name, "Content-Length"):
		if strings.Count(value, ",") != len(toks)-1 {
			return "" // an empty element
		}
		for _, t := range toks {
			if t != toks[0] || strings.Trim(t, "0123456789") != "" {
				return ""
			}
		}
		return name + ": " + toks[0]
	case strings.EqualFold(name, "Transfer-Encoding"):
		for i, t := range toks {
			c, _, _ := strings.Cut(t, ";")
			if strings.EqualFold(strings.TrimRight(c, " \t"), "chunked") != (i == len(toks)-1) {
				return ""
			}
		}
		return name + ": chunked"
	}
	return ""
}

// readDiffRequest reads the request at the start of s (from the proxy, or
// from the client) as net/http's
// server does (ReadRequest, then its Host checks), and its whole body; n
// is how many bytes of s it took. head is true when the head was read,
// whatever became of the body.
func readDiffRequest(s []byte, fromProxy bool) (r diffReq, n int, head bool, err error) {
	ns, delta := normalizeHead(s, !fromProxy)
	rd := bytes.NewReader(ns)
	br := bufio.NewReader(rd)
	pos := func() int { return len(ns) - rd.Len() - br.Buffered() }
	req, err := http.ReadRequest(br)
	if err != nil {
		return r, 0, false, fmt.Errorf("head: %w", err)
	}
	raw := ns[:pos()]
	r = diffReq{method: req.Method, target: req.RequestURI, host: req.Host, proto: req.Proto, close: req.Close}
	// What net/http's server checks after ReadRequest (server.go).
	hosts := headLines(raw, "host")
	switch {
	case len(hosts) > 1:
		return r, 0, false, errors.New("head: too many Host fields")
	case len(hosts) == 0 && req.ProtoAtLeast(1, 1):
		return r, 0, false, errors.New("head: HTTP/1.1 request without Host")
	case len(hosts) == 1 && !validHost(hosts[0]):
		return r, 0, false, fmt.Errorf("head: malformed Host %q", hosts[0])
	case req.ProtoMajor != 1:
		return r, 0, false, fmt.Errorf("head: version %s", req.Proto)
	}
	r.body, err = io.ReadAll(req.Body)
	if err != nil {
		return r, 0, true, fmt.Errorf("body: %w", err)
	}
	return r, pos() - delta, true, nil
}

// headLines returns the values of the fields named name (lower case) in
// the raw head.
func headLines(raw []byte, name string) []string {
	var vals []string
	for i, line := range strings.Split(string(raw), "\n") {
		if i == 0 {
			continue
		}
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			break
		}
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(k, name) {
			vals = append(vals, strings.Trim(v, " \t"))
		}
	}
	return vals
}

// validHost is net/http's (httpguts.ValidHostHeader) check of a Host value.
func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!$%&'()*+,-.:;=[]_~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// refRequests reads a client stream as net/http does: the requests it
// accepts, the head of one whose body it then refused, and why it stopped
// (nil: the stream ended, or a request asked to close).
func refRequests(s []byte) (reqs []diffReq, failed *diffReq, err error) {
	for {
		// RFC 9112 2.2: empty lines before a request line are ignored
		// (net/http does not; the engine does).
		for len(s) > 0 && (s[0] == '\r' || s[0] == '\n') {
			s = s[1:]
		}
		if len(s) == 0 {
			return reqs, nil, nil
		}
		r, n, head, err := readDiffRequest(s, false)
		if err != nil {
			if head {
				failed = &r
			}
			return reqs, failed, err
		}
		reqs = append(reqs, r)
		if r.close {
			return reqs, nil, nil
		}
		s = s[n:]
	}
}

// forwardedRequest reads what one server connection received: exactly one
// complete request and nothing more.
func forwardedRequest(b []byte) (r diffReq, head bool, err error) {
	r, n, head, err := readDiffRequest(b, true)
	if err != nil {
		return r, head, err
	}
	if n != len(b) {
		return r, head, fmt.Errorf("%d bytes after the request: %q", len(b)-n, b[n:])
	}
	return r, head, checkForwardedHead(b, r)
}

// checkForwardedHead checks a head the proxy sent against RFC 9112: an
// HTTP/1.1 request line, a request target in origin form, absolute form
// (with the Host it names) or asterisk form, and one Host field.
func checkForwardedHead(b []byte, r diffReq) error {
	if r.proto != "HTTP/1.1" {
		return fmt.Errorf("sent as %s", r.proto)
	}
	if n := len(headLines(b, "host")); n != 1 {
		return fmt.Errorf("sent with %d Host fields", n)
	}
	t := r.target
	for i := 0; i < len(t); i++ {
		if c := t[i]; c <= ' ' || c >= 0x7f || c == '#' {
			return fmt.Errorf("target %q holds %q (RFC 9112 3.2)", t, c)
		}
	}
	switch {
	case strings.HasPrefix(t, "/"):
	case t == "*" && r.method == "OPTIONS":
	case strings.HasPrefix(strings.ToLower(t), "http://") || strings.HasPrefix(strings.ToLower(t), "https://"):
		u, err := url.Parse(t)
		if err != nil {
			return fmt.Errorf("absolute target %q: %w", t, err)
		}
		if hosts := headLines(b, "host"); !strings.EqualFold(hosts[0], u.Host) {
			return fmt.Errorf("absolute target %q sent with Host %q (RFC 9112 3.2.2)", t, hosts[0])
		}
	default:
		return fmt.Errorf("target %q is in no form a server accepts for %s (RFC 9112 3.2)", t, r.method)
	}
	return nil
}

// sameRequest compares a forwarded request with the one net/http read from
// the client; a proxy may turn an absolute-form target into origin form
// with the Host it named, and supply a Host where the client sent none.
func sameRequest(fwd, ref diffReq, withBody bool) error {
	target := fwd.target
	if target != ref.target && strings.HasPrefix(target, "/") {
		if u, err := url.Parse(ref.target); err == nil && u.IsAbs() && u.RequestURI() == target && strings.EqualFold(fwd.host, u.Host) {
			target = ref.target
		}
	}
	switch {
	case fwd.method != ref.method:
	case target != ref.target:
	case ref.host != "" && !strings.EqualFold(fwd.host, ref.host):
	case withBody && !bytes.Equal(fwd.body, ref.body):
	default:
		return nil
	}
	return fmt.Errorf("the server got\n\t%v\nnet/http reads the client's request as\n\t%v", fwd, ref)
}

// reqRig is a frontend in front of a recording server that answers every
// request with "Connection: close" (one request per server connection).
type reqRig struct {
	addr string
	tls  bool // the client speaks over TLS
	be   *recBackend
}

func newReqRig(t testing.TB, overTLS bool) *reqRig {
	be := newRecBackend(t, true, func(rc *recConn, c net.Conn) {
		br := bufio.NewReader(io.TeeReader(c, &rc.buf))
		status := "400 Bad Request"
		if req, err := http.ReadRequest(br); err == nil {
			if _, err := io.Copy(io.Discard, req.Body); err == nil {
				status = "200 OK"
			}
		}
		_, _ = fmt.Fprintf(c, "HTTP/1.1 %s\r\nX-Conn: %d\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status, rc.n)
		// What is buffered beyond the request was recorded by the tee.
		_, _ = io.Copy(io.Discard, br)
	})
	fe := startProxy(t, proxyOpts{cookie: insertCookie(), timeouts: diffTimeouts(), tls: overTLS}, be.ln.Addr().String())
	return &reqRig{addr: fe.Addr().String(), tls: overTLS, be: be}
}

// check runs one client stream through the proxy and returns what is wrong.
func (rig *reqRig) check(in []byte) error {
	out, cerr := diffExchange(rig.addr, rig.tls, in)
	conns, err := rig.be.settle()
	if err != nil {
		return err
	}
	if cerr != nil {
		return cerr
	}
	ref, refFailed, refErr := refRequests(in)
	why := func(format string, a ...any) error {
		return fmt.Errorf(format+"\n(net/http read %d requests from the client, then: %v)", append(a, len(ref), refErr)...)
	}

	// The client's answers: the server's, in order, then maybe one of the
	// proxy's own, then the close.
	answered := 0
	base := -1
	if len(conns) > 0 {
		base = conns[0].n
	}
	br := bufio.NewReader(bytes.NewReader(out))
	for {
		if _, err := br.Peek(1); err != nil {
			break
		}
		// The answer to a HEAD has no body, the proxy's own errors too.
		method := "GET"
		if answered < len(ref) {
			method = ref[answered].method
		} else if answered == len(ref) && refFailed != nil {
			method = refFailed.method
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			return why("the client got bytes net/http cannot read as a response: %v\n%q", err, out)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil && len(body) == 0 && resp.Header.Get("X-Conn") == "" && answered >= len(ref) && method != "HEAD" {
			// An answer to a request net/http cannot read: the proxy may
			// have read it as a HEAD ("HEAD \n") and sent its error
			// without a body.
			resp.Request.Method, err = "HEAD", nil
		}
		if err != nil {
			return why("the client got a response body cut short: %v\n%q", err, out)
		}
		xc := resp.Header.Get("X-Conn")
		if xc == "" {
			if !isProxyError(resp, body) {
				return why("the proxy answered %d %v %q itself, not as its errors", resp.StatusCode, resp.Header, body)
			}
			if rest, _ := io.ReadAll(br); len(rest) > 0 {
				return why("the proxy sent %q after its error %d", rest, resp.StatusCode)
			}
			break
		}
		if n, _ := strconv.Atoi(xc); n != base+answered || answered >= len(conns) {
			return why("answer %d came from server connection %s, want %d", answered, xc, base+answered)
		}
		answered++
	}

	for i, rc := range conns {
		fwd, head, err := forwardedRequest(rc.buf.Bytes())
		if err != nil {
			// A request cut short: the proxy gave up on it and closed.
			if i != len(conns)-1 || i < answered || !head || strings.Contains(err.Error(), "after the request") {
				return why("server connection %d: %v\nit got %q", i, err, rc.buf.Bytes())
			}
			// Its head still must be one net/http read from the client.
			switch {
			case i < len(ref):
				err = sameRequest(fwd, ref[i], false)
			case i == len(ref) && refFailed != nil:
				err = sameRequest(fwd, *refFailed, false)
			default:
				err = errors.New("net/http reads no such request from the client")
			}
			if err != nil {
				return why("server connection %d got a head, then the proxy gave up on its body: %v\nit got %q", i, err, rc.buf.Bytes())
			}
			continue
		}
		if i >= answered {
			return why("server connection %d got a complete request the client got no answer to\nit got %q", i, rc.buf.Bytes())
		}
		if i >= len(ref) {
			return why("the proxy forwarded request %d that net/http does not accept from the client:\n\t%v", i, fwd)
		}
		if err := sameRequest(fwd, ref[i], true); err != nil {
			return why("request %d: %v", i, err)
		}
	}
	return nil
}

// diffRequestCases are the classic request smuggling families and the
// engine's own edge cases; each is a table test and a fuzz seed.
var diffRequestCases = []struct{ name, in string }{
	{"get", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
	{"pipelined-bodies", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloPOST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\nCookie: SERVERID=A; a=1\r\n\r\n"},
	{"http10-keepalive", "GET /a HTTP/1.0\r\nConnection: keep-alive\r\nHost: x\r\n\r\nGET /b HTTP/1.0\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n"},
	{"close-then-more", "GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"},
	{"leading-crlf", "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"},
	{"expect-continue", "PUT /u HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc"},
	{"body-cut-short", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"},
	{"chunked-cut-short", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"},
	// CL.TE and TE.CL
	{"cl-te", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"},
	{"te-cl", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n"},
	{"cl-te-http10", "POST / HTTP/1.0\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
	// TE.TE obfuscations
	{"te-space-before-colon", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\nContent-Length: 4\r\n\r\n1\r\nZ\r\n0\r\n\r\n"},
	{"te-xchunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\nContent-Length: 4\r\n\r\n1\r\nZ\r\n0\r\n\r\n"},
	{"te-twice", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n1\r\nZ\r\n0\r\n\r\n"},
	{"te-list", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity, chunked\r\n\r\n1\r\nZ\r\n0\r\n\r\n"},
	{"te-chunked-twice", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n1\r\nZ\r\n0\r\n\r\n"},
	{"te-tab", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\tchunked\r\n\r\n1\r\nZ\r\n0\r\n\r\n"},
	{"te-case", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: CHUNKED\r\n\r\n1\r\nZ\r\n0\r\n\r\n"},
	{"te-obs-fold", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\nContent-Length: 4\r\n\r\n1\r\nZ\r\n0\r\n\r\n"},
	{"te-vertical-tab", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \vchunked\r\nContent-Length: 4\r\n\r\n1\r\nZ\r\n0\r\n\r\n"},
	{"te-nul", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\x00\r\nContent-Length: 4\r\n\r\n1\r\nZ\r\n0\r\n\r\n"},
	// Connection-nominated framing and routing fields
	{"connection-content-length", "POST / HTTP/1.1\r\nHost: x\r\nConnection: Content-Length\r\nContent-Length: 41\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\nX: \r\n\r\n"},
	{"connection-close-content-length", "POST / HTTP/1.1\r\nHost: x\r\nConnection: close, Content-Length\r\nContent-Length: 34\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n"},
	{"connection-content-length-http10", "POST / HTTP/1.0\r\nHost: x\r\nConnection: keep-alive, Content-Length\r\nContent-Length: 34\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n"},
	{"connection-transfer-encoding", "POST / HTTP/1.1\r\nHost: x\r\nConnection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
	{"connection-host", "GET / HTTP/1.1\r\nHost: x\r\nConnection: Host\r\n\r\n"},
	// chunk-size tricks
	{"chunk-plus", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n"},
	{"chunk-0x", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n"},
	{"chunk-huge", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff1\r\nhello\r\n0\r\n\r\n"},
	{"chunk-overrun", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n"},
	{"chunk-ext", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b;c=\"d\"\r\nhello\r\n0;z\r\nTrailer: t\r\n\r\n"},
	{"chunk-bare-lf", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n"},
	{"chunk-space", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n"},
	{"head-bad-chunk", "HEAD / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n"},
	{"head-unreadable", "HEAD \n"},
	{"head-refused", "HEAD * HTTP/1.0\n0000:000000000000000000\n\n"},
	{"head-cut-short", "HEAD / HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nabc"},
	{"chunk-lf-data-end", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n"},
	// line syntax
	{"bare-lf-head", "GET /a HTTP/1.1\nHost: x\n\nGET /b HTTP/1.1\nHost: x\n\n"},
	{"bare-cr", "GET / HTTP/1.1\rHost: x\r\n\r\n"},
	{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n"},
	{"space-before-colon", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello"},
	{"space-first-line", "GET / HTTP/1.1\r\n Host: x\r\n\r\n"},
	// Content-Length forms
	{"cl-differing", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"},
	{"cl-same-twice", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"},
	{"cl-list", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello"},
	{"cl-empty-element", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ,0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"},
	{"cl-trailing-comma", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5,\r\n\r\nhello"},
	{"cl-plus", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello"},
	{"cl-empty", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"},
	// Host and targets
	{"host-duplicate", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
	{"host-missing", "GET / HTTP/1.1\r\n\r\n"},
	{"host-missing-http10", "GET / HTTP/1.0\r\n\r\n"},
	{"host-bad", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"},
	{"absolute-form", "GET http://x/p?q HTTP/1.1\r\nHost: x\r\n\r\n"},
	{"absolute-form-other-host", "GET http://evil/p HTTP/1.1\r\nHost: x\r\n\r\n"},
	{"authority-form", "GET evil:80 HTTP/1.1\r\nHost: x\r\n\r\n"},
	{"asterisk-form", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"},
	{"target-bad-percent", "GET /a%zz%4 HTTP/1.1\r\nHost: x\r\n\r\n"},
	{"host-empty-http10", "POST /% HTTP/1.0\r\nX:0\n\r\n00"},
	{"target-fragment", "GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n"},
	{"target-high-bytes", "GET /\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n"},
	{"version-1.2", "GET / HTTP/1.2\r\nHost: x\r\n\r\n"},
	{"version-2", "GET / HTTP/2.0\r\nHost: x\r\n\r\n"},
	{"connect", "CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n"},
	{"many-cookie-lines", "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("Cookie: a=1\r\n", 20) + "Cookie: SERVERID=A\r\n\r\n"},
}

func TestDiffRequestCases(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			rig := newReqRig(t, tr.tls)
			for _, tc := range diffRequestCases {
				t.Run(tc.name, func(t *testing.T) {
					if err := rig.check([]byte(tc.in)); err != nil {
						t.Fatalf("client sent %q:\n%v", tc.in, err)
					}
				})
			}
		})
	}
}

// FuzzDiffRequests: for any client byte stream, the server gets exactly the
// requests net/http reads from it, or fewer and the proxy refused.
func FuzzDiffRequests(f *testing.F) {
	for _, tc := range diffRequestCases {
		f.Add([]byte(tc.in))
	}
	rig := newReqRig(f, false)
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > diffMaxInput {
			t.Skip()
		}
		if err := rig.check(in); err != nil {
			t.Fatalf("client sent %q:\n%v", in, err)
		}
	})
}

// ---- responses ----

// diffResp is a response as net/http reads it.
type diffResp struct {
	interim []int
	status  int
	body    []byte
	close   bool
}

// readDiffResponse reads the response at the start of s (its head
// normalized as normalizeHead's) and its whole body; n is how many bytes
// of s it took. resp is set when the head was read, whatever became of
// the body.
func readDiffResponse(s []byte, method string, fromProxy bool) (resp *http.Response, body []byte, n int, err error) {
	ns, delta := normalizeHead(s, !fromProxy)
	rd := bytes.NewReader(ns)
	br := bufio.NewReader(rd)
	resp, err = http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("head: %w", err)
	}
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		return resp, body, 0, fmt.Errorf("body: %w", err)
	}
	return resp, body, len(ns) - rd.Len() - br.Buffered() - delta, nil
}

// refResponse reads a server's answer to a request as net/http does: its
// interim responses, its final one, and whether net/http accepts it all.
func refResponse(s []byte, method string) (r diffResp, err error) {
	for {
		resp, body, n, err := readDiffResponse(s, method, false)
		if err != nil {
			return r, err
		}
		if resp.StatusCode == 101 {
			return r, errors.New("101 to a request that asked for no upgrade")
		}
		if resp.StatusCode < 200 {
			r.interim = append(r.interim, resp.StatusCode)
			s = s[n:]
			continue
		}
		r.status, r.close, r.body = resp.StatusCode, resp.Close, body
		return r, nil
	}
}

// respRig is a frontend in front of a server that answers an exchange's
// first request with stream and every other with the sentinel.
type respRig struct {
	addr   string
	tls    bool // the client speaks over TLS
	mu     sync.Mutex
	stream []byte
	iter   int
	// bad: what the server got that is no request of the client's.
	bad string
}

func newRespRig(t testing.TB, overTLS bool) *respRig {
	rig := &respRig{tls: overTLS}
	be := newRecBackend(t, false, func(_ *recConn, c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				if !errors.Is(err, io.EOF) {
					rig.mu.Lock()
					rig.bad = fmt.Sprintf("the server got no request of the client's: %v", err)
					rig.mu.Unlock()
				}
				return
			}
			_, _ = io.Copy(io.Discard, req.Body)
			if req.Header.Get("X-Want") == "stream" {
				rig.mu.Lock()
				s := rig.stream
				rig.mu.Unlock()
				_, _ = c.Write(s)
				_ = c.(*net.TCPConn).CloseWrite()
				return
			}
			if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nX-Sentinel: %s\r\nContent-Length: 9\r\n\r\nsentinel\n", req.Header.Get("X-Iter")); err != nil {
				return
			}
		}
	})
	fe := startProxy(t, proxyOpts{cookie: insertCookie(), timeouts: diffTimeouts(), tls: overTLS}, be.ln.Addr().String())
	rig.addr = fe.Addr().String()
	return rig
}

// isProxyError reports one of the proxy's own error answers (to a HEAD,
// without its body).
func isProxyError(resp *http.Response, body []byte) bool {
	if resp.StatusCode < 400 || !resp.Close || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" || resp.Header.Get("Cache-Control") != "no-cache" {
		return false
	}
	if resp.Request != nil && resp.Request.Method == "HEAD" {
		return len(body) == 0
	}
	return bytes.HasPrefix(body, []byte(resp.Status+"\n")) // the engine writes its status line again
}

// check has the server answer the client's first request with stream; the
// mode's bit 0 makes it a HEAD, bit 1 the client HTTP/1.0.
func (rig *respRig) check(stream []byte, mode uint8) error {
	rig.mu.Lock()
	rig.stream = stream
	rig.iter++
	iter := strconv.Itoa(rig.iter)
	rig.mu.Unlock()
	method, version, conn := "GET", "HTTP/1.1", ""
	if mode&1 != 0 {
		method = "HEAD"
	}
	if mode&2 != 0 {
		version, conn = "HTTP/1.0", "Connection: keep-alive\r\n"
	}
	in := method + " /stream " + version + "\r\nHost: x\r\n" + conn + "X-Want: stream\r\nX-Iter: " + iter + "\r\n\r\n" +
		"GET /next " + version + "\r\nHost: x\r\n" + conn + "X-Iter: " + iter + "\r\n\r\n"
	out, err := diffExchange(rig.addr, rig.tls, []byte(in))
	if err != nil {
		return err
	}
	ref, refErr := refResponse(stream, method)
	why := func(format string, a ...any) error {
		return fmt.Errorf(format+"\n(net/http reads the server's answer as %+v, %v)\nthe client got %q", append(a, ref, refErr, out)...)
	}
	sentinel := func(br *bufio.Reader, what string) error {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return why("%s: not the next answer of the server: %v", what, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 || resp.Header.Get("X-Sentinel") != iter || string(body) != "sentinel\n" {
			return why("%s: got %d %v %q (%v), not the server's next answer", what, resp.StatusCode, resp.Header, body, err)
		}
		return nil
	}

	var interim []int
	var got diffResp
	var gotErr error
	var proxyErr bool
	rest := out
	for {
		resp, body, n, err := readDiffResponse(rest, method, true)
		if err != nil {
			gotErr = err
			if resp != nil {
				got.status, got.body = resp.StatusCode, body
			}
			break
		}
		rest = rest[n:]
		if resp.StatusCode < 200 {
			interim = append(interim, resp.StatusCode)
			continue
		}
		got.status, got.close, got.body = resp.StatusCode, resp.Close, body
		proxyErr = isProxyError(resp, body)
		break
	}
	switch {
	case gotErr != nil:
		// The client cannot read what it got: the proxy gave up on the
		// answer and closed (a message cut short), or relayed one
		// net/http refuses from the server too. Either way the
		// connection must have ended there: the second request is never
		// answered.
		if bytes.Contains(out, []byte("X-Sentinel: "+iter+"\r\n")) {
			return why("the client cannot read an answer (%v), and the proxy went on to the next request", gotErr)
		}
		if !errors.Is(gotErr, io.ErrUnexpectedEOF) && !errors.Is(gotErr, io.EOF) && refErr == nil {
			return why("the client cannot read the proxy's answer (%v), net/http reads the server's", gotErr)
		}
	case proxyErr:
		// The proxy refused the answer; it closed right after. The proxy
		// may be stricter than net/http.
		if len(rest) > 0 {
			return why("after its own error the proxy sent more: %q", rest)
		}
	case refErr != nil:
		// net/http refuses the server's answer; the proxy relayed one.
		// It may only if it closed the connection right after.
		if len(rest) > 0 || !got.close {
			return why("the proxy relayed an answer net/http refuses (%v), and kept the connection", refErr)
		}
	default:
		wantInterim := ref.interim
		if version == "HTTP/1.0" {
			wantInterim = nil
		}
		if fmt.Sprint(interim) != fmt.Sprint(wantInterim) || got.status != ref.status || !bytes.Equal(got.body, ref.body) {
			return why("the client got interim %v, %d %q", interim, got.status, got.body)
		}
		if got.close {
			if len(rest) > 0 {
				return why("the proxy said close, then sent %q", rest)
			}
			break
		}
		rb := bufio.NewReader(bytes.NewReader(rest))
		if err := sentinel(rb, "the second request on the client connection"); err != nil {
			return err
		}
		if more, _ := io.ReadAll(rb); len(more) > 0 {
			return why("after the second answer the proxy sent %q", more)
		}
	}
	// The most recently pooled server connection, if any, serves the next
	// request: it must carry nothing of the stream.
	probe, err := diffExchange(rig.addr, rig.tls, []byte("GET /probe HTTP/1.1\r\nHost: x\r\nX-Iter: "+iter+"\r\nConnection: close\r\n\r\n"))
	if err != nil {
		return err
	}
	if err := sentinel(bufio.NewReader(bytes.NewReader(probe)), "a request on a new client connection"); err != nil {
		return err
	}
	rig.mu.Lock()
	bad := rig.bad
	rig.bad = ""
	rig.mu.Unlock()
	if bad != "" {
		return why("%s", bad)
	}
	return nil
}

// diffResponseCases are the response framing families; mode as check's.
var diffResponseCases = []struct {
	name, stream string
	mode         uint8
}{
	{"length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 0},
	{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n0\r\nT: 1\r\n\r\n", 0},
	{"chunked-http10-client", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 2},
	{"close-delimited", "HTTP/1.1 200 OK\r\n\r\nhello until the close", 0},
	{"http10-server-chunked", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 0},
	{"http10-server-chunked-http10-client", "HTTP/1.0 200 \nTransfer-Encoding: chunked\n\n0\r\n0:\r\n\r0", 2},
	{"http10-server", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 0},
	{"cl-te", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 0},
	{"te-cl-smuggle", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 50\r\n\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil", 0},
	{"te-not-chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nraw bytes", 0},
	{"cl-duplicate-differing", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 4\r\n\r\nokok", 0},
	{"cl-duplicate-same", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", 0},
	{"cl-list", "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok", 0},
	{"cl-empty-element", "HTTP/1.0 200 \nContent-Length:,0\n\n00", 14},
	{"interim-100", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0},
	{"interim-103-with-length", "HTTP/1.1 103 Early Hints\r\nLink: </s>\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0},
	{"interim-then-close", "HTTP/1.0 100\n\n", 0},
	{"interim-http10-client", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 2},
	{"switching-unasked", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0},
	{"204-with-body", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello", 0},
	{"204-smuggle", "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil", 0},
	{"304-with-length", "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", 0},
	{"304-with-body", "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\nhello", 0},
	{"head-with-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 1},
	{"head-with-body", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 1},
	{"extra-after-body", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil", 0},
	{"extra-after-chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil", 0},
	{"body-cut-short", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 0},
	{"chunk-bare-lf", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n", 0},
	{"chunk-0x", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", 0},
	{"obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 2\r\n\r\nok", 0},
	{"space-before-colon", "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok", 0},
	{"connection-content-length", "HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 2\r\n\r\nok", 0},
	{"connection-transfer-encoding", "HTTP/1.1 200 OK\r\nConnection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", 0},
	{"set-cookies", "HTTP/1.1 200 OK\r\n" + strings.Repeat("Set-Cookie: JSESSIONID=1\r\n", 40) + "Content-Length: 2\r\n\r\nok", 0},
	{"empty", "", 0},
	{"garbage", "hello\r\n\r\n", 0},
	{"garbage-to-head", "hello\r\n\r\n", 1},
	{"cut-short-to-head", "HTTP/1.1 200 OK\r\nContent-Le", 1},
}

func TestDiffResponseCases(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			rig := newRespRig(t, tr.tls)
			for _, tc := range diffResponseCases {
				t.Run(tc.name, func(t *testing.T) {
					if err := rig.check([]byte(tc.stream), tc.mode); err != nil {
						t.Fatalf("server sent %q:\n%v", tc.stream, err)
					}
				})
			}
		})
	}
}

// FuzzDiffResponses: for any server byte stream, the client gets exactly
// the answer net/http reads from it, or the proxy refused or closed; no
// byte of it reaches another request.
func FuzzDiffResponses(f *testing.F) {
	for _, tc := range diffResponseCases {
		f.Add(tc.mode, []byte(tc.stream))
	}
	rig := newRespRig(f, false)
	f.Fuzz(func(t *testing.T, mode uint8, stream []byte) {
		if len(stream) > diffMaxInput {
			t.Skip()
		}
		if err := rig.check(stream, mode); err != nil {
			t.Fatalf("server sent %q (mode %d):\n%v", stream, mode, err)
		}
	})
}
