package h1

import (
	"bytes"
	"errors"
	"unsafe"
)

// This file is the HTTP/1.1 message-head parser of the forwarding engine
// (RFC 9112). It works in place on the connection's read buffer: fields are
// recorded as offsets into it, nothing is copied or allocated.

// hdrID names the header fields the engine acts on; every other field is
// hdrOther and forwarded as it came.
type hdrID uint8

const (
	hdrOther hdrID = iota
	hdrHost
	hdrContentLength
	hdrTransferEncoding
	hdrConnection
	hdrKeepAlive
	hdrProxyConnection
	hdrTE
	hdrUpgrade
	hdrCookie
	hdrSetCookie
	hdrExpect
	hdrXForwardedFor
	hdrXForwardedHost
	hdrXForwardedProto
	hdrCacheControl
)

// span is a byte range of the buffer a head was parsed from.
type span struct{ start, end int32 }

func (s span) of(b []byte) []byte { return b[s.start:s.end] }

// field is one header field line.
type field struct {
	name, value span
	id          hdrID
	// hop: named in Connection, so hop-by-hop and not forwarded. Only a
	// field the engine does not act on (hdrOther) can be nominated: a
	// Connection token never removes Content-Length, Transfer-Encoding,
	// Host, Cookie, Set-Cookie or any other field that decides framing or
	// routing (as HAProxy, the token is ignored; see FRAMING.md).
	hop bool
}

const (
	// maxFields bounds the header fields of one head (HAProxy's
	// tune.http.maxhdr is 101); more is answered 431.
	maxFields = 128
	// maxConnTokens bounds the extension tokens of Connection whose fields
	// are dropped; further tokens are ignored.
	maxConnTokens = 8
)

// Framing of a message body (RFC 9112 section 6.3).
type framing uint8

const (
	bodyNone    framing = iota // no body
	bodyLength                 // Content-Length bytes
	bodyChunked                // chunked transfer coding
	bodyClose                  // response delimited by the connection's close
)

// head is a parsed request or response head. Offsets refer to the buffer
// the head was parsed from; head.size is its length including the empty
// line.
type head struct {
	size int

	// Request line.
	method, target span
	// Status line.
	status int
	reason span

	minor int // HTTP/1.minor

	fields  [maxFields]field
	nfields int

	framing       framing
	contentLength int64 // bodyLength only
	teValue       span  // the Transfer-Encoding value, forwarded as is

	connClose, connKeepAlive, connUpgrade bool
	hosts                                 int
	host                                  span
	upgrade                               span // Upgrade value; zero if absent
	expectContinue                        bool
	teAndCL                               bool // both framings: close after (RFC 9112 6.1)
}

// headError is a message-head parse failure with the status to answer
// (its reason's) and the reason it is counted under.
type headError struct {
	status int
	reason rejectReason
	msg    string
}

func newHeadError(r rejectReason, msg string) *headError {
	return &headError{r.status(), r, msg}
}

func (e *headError) Error() string { return e.msg }

var (
	errMalformed     = newHeadError(rejMalformed, "malformed request")
	errBadVersion    = newHeadError(rejVersion, "HTTP version not supported")
	errTooManyFields = newHeadError(rejFieldsTooLarge, "too many header fields")
	errBadFraming    = newHeadError(rejFraming, "invalid message framing")
	errBadHost       = newHeadError(rejHost, "missing, repeated or invalid Host")
	errBadTarget     = newHeadError(rejTarget, "invalid request target")
	errHostMismatch  = newHeadError(rejTarget, "Host differs from the request target's authority")
	errBadTE         = newHeadError(rejNotImplemented, "transfer coding not implemented")
	errBadResponse   = errors.New("malformed response head")
	// errIncomplete: the buffer ends before the head does.
	errIncomplete = newHeadError(rejMalformed, "incomplete head")
)

// findHeadEnd returns the length of the head at the start of b (the offset
// just past its empty line) or -1 when b does not hold it all yet. from is
// where the previous unsuccessful search stopped (0 first); it keeps a
// head trickling in byte by byte linear, not quadratic.
func findHeadEnd(b []byte, from int) int {
	i := max(from-2, 0)
	for {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		p := i + j
		if p+1 < len(b) && b[p+1] == '\n' {
			return p + 2
		}
		if p+2 < len(b) && b[p+1] == '\r' && b[p+2] == '\n' {
			return p + 3
		}
		if p+2 >= len(b) {
			return -1
		}
		i = p + 1
	}
}

// nextLine returns the line starting at off (without its CRLF or LF) and
// the offset of the next line. A CR not followed by LF is an error.
func nextLine(b []byte, off int) (line []byte, next int, ok bool) {
	j := bytes.IndexByte(b[off:], '\n')
	if j < 0 {
		return nil, 0, false
	}
	line = b[off : off+j]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, off + j + 1, true
}

// parseRequestHead parses the request head at the start of b and sets
// h.size to its length; errIncomplete means b ends before the head does.
func parseRequestHead(b []byte, h *head) error {
	h.reset(len(b))
	line, off, ok := nextLine(b, 0)
	if !ok {
		return errIncomplete
	}
	// method SP request-target SP HTTP-version
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 || !isToken(line[:sp1]) {
		return errMalformed
	}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 {
		return errMalformed
	}
	target := rest[:sp2]
	minor, err := parseVersion(rest[sp2+1:])
	if err != nil {
		return err
	}
	authority, absolute, ok := checkTarget(target, line[:sp1])
	if !ok {
		return errBadTarget
	}
	h.method = span{0, int32(sp1)}
	h.target = span{int32(sp1 + 1), int32(sp1 + 1 + sp2)}
	h.minor = minor
	if err := h.parseFields(b, off, true); err != nil {
		return err
	}
	if h.minor >= 1 && h.hosts != 1 || h.hosts > 1 {
		return errBadHost
	}
	// RFC 9112 3.2.2: the target's authority is the request's; a Host
	// saying otherwise is refused, as HAProxy 2.6 does.
	if absolute && h.hosts == 1 && !equalFoldBytes(h.host.of(b), authority) {
		return errHostMismatch
	}
	return nil
}

// checkTarget checks a request target (RFC 9112 3.2): origin-form
// ("/path?query"), absolute-form ("scheme://authority/path"), of which it
// returns the authority, or asterisk-form ("*", OPTIONS only: 3.2.4);
// authority-form ("host:port") only with CONNECT (answered 405 later, as
// before). No byte outside the URI grammar's printable
// ASCII is accepted: no CTL, no SP, no DEL, no byte >= 0x80, and no "#"
// (a fragment is never sent, RFC 9110 4.2.4).
func checkTarget(t, method []byte) (authority []byte, absolute, ok bool) {
	for _, c := range t {
		if c <= ' ' || c >= 0x7f || c == '#' {
			return nil, false, false
		}
	}
	switch {
	case len(t) == 0:
		return nil, false, false
	case string(method) == "CONNECT":
		return nil, false, true
	case t[0] == '/':
		return nil, false, true
	case len(t) == 1 && t[0] == '*':
		return nil, false, string(method) == "OPTIONS"
	}
	// absolute-form: scheme "://" authority [ path-abempty [ "?" query ] ]
	i := 0
	for i < len(t) && (isAlpha(t[i]) || i > 0 && (isDigit(t[i]) || t[i] == '+' || t[i] == '-' || t[i] == '.')) {
		i++
	}
	if i == 0 || len(t) < i+3 || string(t[i:i+3]) != "://" {
		return nil, false, false // authority-form or garbage
	}
	rest := t[i+3:]
	end := len(rest)
	for j, c := range rest {
		if c == '/' || c == '?' {
			end = j
			break
		}
	}
	authority = rest[:end]
	if at := bytes.LastIndexByte(authority, '@'); at >= 0 {
		authority = authority[at+1:] // userinfo is no part of Host
	}
	return authority, true, true
}

// hostChar is the bytes of RFC 9112's Host value: uri-host [ ":" port ],
// with reg-name, IP-literal and IPv4 as RFC 3986 has them.
var hostChar = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._~%!$&'()*+,;=:[]" {
		t[c] = true
	}
	return t
}()

// validHostValue reports whether v may be a Host value (it may be empty: RFC
// 9112 3.2).
func validHostValue(v []byte) bool {
	for _, c := range v {
		if !hostChar[c] {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }

// parseVersion parses "HTTP/1.0" or "HTTP/1.1". A later HTTP/1 minor
// version is treated as 1.1 (RFC 9110 2.5: a recipient processes a
// higher minor version as the highest it conforms to; HAProxy 2.6 does
// too); another major version is answered 505.
func parseVersion(v []byte) (int, error) {
	if len(v) != 8 || string(v[:5]) != "HTTP/" || v[6] != '.' || !isDigit(v[5]) || !isDigit(v[7]) {
		return 0, errMalformed
	}
	if v[5] != '1' {
		return 0, errBadVersion
	}
	return min(int(v[7]-'0'), 1), nil
}

// parseResponseHead parses the response head at the start of b, as
// parseRequestHead. reqHEAD tells that the request was HEAD (no body
// whatever the framing fields say).
func parseResponseHead(b []byte, h *head, reqHEAD bool) error {
	h.reset(len(b))
	line, off, ok := nextLine(b, 0)
	if !ok {
		return errIncomplete
	}
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || !isDigit(line[7]) || line[8] != ' ' {
		return errBadResponse
	}
	h.minor = min(int(line[7]-'0'), 1)
	code := line[9:12]
	if !isDigit(code[0]) || !isDigit(code[1]) || !isDigit(code[2]) || code[0] == '0' {
		return errBadResponse
	}
	h.status = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	switch {
	case len(line) == 12:
		h.reason = span{12, 12}
	case line[12] == ' ':
		h.reason = span{13, int32(len(line))}
	default:
		return errBadResponse
	}
	if err := h.parseFields(b, off, false); err != nil {
		if err == errIncomplete {
			return err
		}
		return errBadResponse
	}
	// RFC 9112 6.3: these never have a body, whatever their fields say.
	if reqHEAD || h.status < 200 || h.status == 204 || h.status == 304 {
		h.framing = bodyNone
	} else if h.framing == bodyNone {
		h.framing = bodyClose
	}
	return nil
}

// bodyless reports a response whose status forbids a body but whose
// fields announce one (a 204 with a length, a 204 or 304 with a transfer
// coding): its framing is in doubt, and its connection is not reused.
func (h *head) bodyless() bool {
	return (h.status == 204 || h.status == 304) && h.teValue.end > 0 || h.status == 204 && h.contentLength > 0
}

func (h *head) reset(size int) {
	h.size = size
	h.nfields = 0
	h.framing = bodyNone
	h.contentLength = 0
	h.teValue = span{}
	h.connClose, h.connKeepAlive, h.connUpgrade = false, false, false
	h.hosts = 0
	h.host = span{}
	h.upgrade = span{}
	h.expectContinue = false
	h.teAndCL = false
	h.status = 0
}

// parseFields parses the field lines from off to the empty line.
func (h *head) parseFields(b []byte, off int, request bool) error {
	var tokens [maxConnTokens]span
	ntokens := 0
	haveCL, haveTE := false, false
	for {
		line, next, ok := nextLine(b, off)
		if !ok {
			return errIncomplete
		}
		if len(line) == 0 {
			h.size = next
			break
		}
		if line[0] == ' ' || line[0] == '\t' { // obs-fold (RFC 9112 5.2)
			return errMalformed
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) { // no whitespace before the colon (5.1)
			return errMalformed
		}
		vs, ve := colon+1, len(line)
		for vs < ve && (line[vs] == ' ' || line[vs] == '\t') {
			vs++
		}
		for ve > vs && (line[ve-1] == ' ' || line[ve-1] == '\t') {
			ve--
		}
		for _, c := range line[vs:ve] {
			if c < ' ' && c != '\t' || c == 0x7f {
				return errMalformed
			}
		}
		if h.nfields == maxFields {
			return errTooManyFields
		}
		f := &h.fields[h.nfields]
		h.nfields++
		f.name = span{int32(off), int32(off + colon)}
		f.value = span{int32(off + vs), int32(off + ve)}
		f.id = classify(line[:colon])
		f.hop = false
		value := line[vs:ve]
		switch f.id {
		case hdrHost:
			if request && !validHostValue(value) {
				return errBadHost
			}
			h.hosts++
			h.host = f.value
		case hdrContentLength:
			n, ok := parseContentLength(value)
			if !ok || haveCL && n != h.contentLength {
				return errBadFraming
			}
			haveCL, h.contentLength = true, n
		case hdrTransferEncoding:
			if haveTE { // one field, so the value forwarded is the whole list
				return errBadFraming
			}
			haveTE, h.teValue = true, f.value
		case hdrConnection:
			forEachToken(value, func(t []byte) {
				switch {
				case equalFold(t, "close"):
					h.connClose = true
				case equalFold(t, "keep-alive"):
					h.connKeepAlive = true
				case equalFold(t, "upgrade"):
					h.connUpgrade = true
				default:
					if ntokens < maxConnTokens {
						s := int32(off) + int32(vs) + int32(offsetIn(value, t))
						tokens[ntokens] = span{s, s + int32(len(t))}
						ntokens++
					}
				}
			})
		case hdrUpgrade:
			h.upgrade = f.value
		case hdrExpect:
			h.expectContinue = equalFold(value, "100-continue")
		}
		off = next
	}
	for i := 0; i < ntokens; i++ {
		t := tokens[i].of(b)
		for j := 0; j < h.nfields; j++ {
			if f := &h.fields[j]; f.id == hdrOther && equalFoldBytes(f.name.of(b), t) {
				f.hop = true
			}
		}
	}
	switch {
	case haveTE:
		// RFC 9112 6.1: an HTTP/1.0 message with Transfer-Encoding has
		// faulty framing (a 1.0 sender may not have chunked it, and a 1.0
		// recipient reads it to the close): a request is refused (400),
		// a response too (502), whatever else it says.
		if h.minor == 0 {
			return errBadFraming
		}
		// Only chunked alone is forwarded: with chunked last the framing
		// is known but another coding is not implemented (RFC 9112 6.1:
		// 501); without it a request's length cannot be determined (6.3:
		// 400). A response with any coding but chunked is refused (502):
		// the client could not read it as the server meant.
		v := h.teValue.of(b)
		switch {
		case equalFold(v, "chunked"):
			h.framing = bodyChunked
		case !request:
			return errBadFraming
		case chunkedLast(v):
			return errBadTE
		default:
			return errBadFraming
		}
		h.teAndCL = haveCL
	case haveCL:
		h.framing = bodyLength
		if h.contentLength == 0 && request {
			h.framing = bodyNone
		}
	}
	return nil
}

// parseContentLength parses a Content-Length value; a list of identical
// values ("42, 42") is accepted, as RFC 9110 8.6 allows. An empty element
// ("", ",0", "0,") is not: the field's grammar has none, and HAProxy
// refuses them since CVE-2023-40225 (a server reading ",0" as no length
// would read the body as the next message).
func parseContentLength(v []byte) (int64, bool) {
	var n int64 = -1
	for {
		t, rest, more := bytes.Cut(v, []byte{','})
		for len(t) > 0 && (t[0] == ' ' || t[0] == '\t') {
			t = t[1:]
		}
		for len(t) > 0 && (t[len(t)-1] == ' ' || t[len(t)-1] == '\t') {
			t = t[:len(t)-1]
		}
		if len(t) == 0 || len(t) > 18 {
			return 0, false
		}
		var x int64
		for _, c := range t {
			if !isDigit(c) {
				return 0, false
			}
			x = x*10 + int64(c-'0')
		}
		if n >= 0 && x != n {
			return 0, false
		}
		n = x
		if !more {
			return n, true
		}
		v = rest
	}
}

// chunkedLast reports whether chunked is the final transfer coding, and
// the only chunked one.
func chunkedLast(v []byte) bool {
	count, last := 0, false
	forEachToken(v, func(t []byte) {
		// A coding may carry parameters: "gzip;q=1".
		if i := bytes.IndexByte(t, ';'); i >= 0 {
			t = bytes.TrimRight(t[:i], " \t")
		}
		last = equalFold(t, "chunked")
		if last {
			count++
		}
	})
	return last && count == 1
}

// forEachToken calls fn with every non-empty element of a comma-separated
// list, trimmed of optional whitespace.
func forEachToken(v []byte, fn func([]byte)) {
	for len(v) > 0 {
		var t []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			t, v = v[:i], v[i+1:]
		} else {
			t, v = v, nil
		}
		for len(t) > 0 && (t[0] == ' ' || t[0] == '\t') {
			t = t[1:]
		}
		for len(t) > 0 && (t[len(t)-1] == ' ' || t[len(t)-1] == '\t') {
			t = t[:len(t)-1]
		}
		if len(t) > 0 {
			fn(t)
		}
	}
}

// offsetIn returns the offset of sub, a subslice of b, within b.
func offsetIn(b, sub []byte) int {
	return int(uintptr(unsafe.Pointer(unsafe.SliceData(sub))) - uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}

// classify returns the hdrID of a field name.
func classify(n []byte) hdrID {
	switch len(n) {
	case 2:
		if equalFold(n, "te") {
			return hdrTE
		}
	case 4:
		if equalFold(n, "host") {
			return hdrHost
		}
	case 6:
		switch {
		case equalFold(n, "cookie"):
			return hdrCookie
		case equalFold(n, "expect"):
			return hdrExpect
		}
	case 7:
		if equalFold(n, "upgrade") {
			return hdrUpgrade
		}
	case 10:
		switch {
		case equalFold(n, "connection"):
			return hdrConnection
		case equalFold(n, "set-cookie"):
			return hdrSetCookie
		case equalFold(n, "keep-alive"):
			return hdrKeepAlive
		}
	case 13:
		if equalFold(n, "cache-control") {
			return hdrCacheControl
		}
	case 14:
		if equalFold(n, "content-length") {
			return hdrContentLength
		}
	case 15:
		if equalFold(n, "x-forwarded-for") {
			return hdrXForwardedFor
		}
	case 16:
		switch {
		case equalFold(n, "proxy-connection"):
			return hdrProxyConnection
		case equalFold(n, "x-forwarded-host"):
			return hdrXForwardedHost
		}
	case 17:
		switch {
		case equalFold(n, "transfer-encoding"):
			return hdrTransferEncoding
		case equalFold(n, "x-forwarded-proto"):
			return hdrXForwardedProto
		}
	}
	return hdrOther
}

// equalFold reports whether b equals the lower-case ASCII string lower,
// ignoring ASCII case.
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if c := b[i]; c != lower[i] && c|0x20 != lower[i] {
			return false
		}
	}
	return true
}

func equalFoldBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x |= 0x20
		}
		if 'A' <= y && y <= 'Z' {
			y |= 0x20
		}
		if x != y {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// tchar is RFC 9110's token character set.
var tchar = [256]bool{
	'!': true, '#': true, '$': true, '%': true, '&': true, '\'': true, '*': true, '+': true, '-': true, '.': true,
	'^': true, '_': true, '`': true, '|': true, '~': true,
	'0': true, '1': true, '2': true, '3': true, '4': true, '5': true, '6': true, '7': true, '8': true, '9': true,
	'A': true, 'B': true, 'C': true, 'D': true, 'E': true, 'F': true, 'G': true, 'H': true, 'I': true, 'J': true,
	'K': true, 'L': true, 'M': true, 'N': true, 'O': true, 'P': true, 'Q': true, 'R': true, 'S': true, 'T': true,
	'U': true, 'V': true, 'W': true, 'X': true, 'Y': true, 'Z': true,
	'a': true, 'b': true, 'c': true, 'd': true, 'e': true, 'f': true, 'g': true, 'h': true, 'i': true, 'j': true,
	'k': true, 'l': true, 'm': true, 'n': true, 'o': true, 'p': true, 'q': true, 'r': true, 's': true, 't': true,
	'u': true, 'v': true, 'w': true, 'x': true, 'y': true, 'z': true,
}

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tchar[c] {
			return false
		}
	}
	return true
}

// bstr views b as a string without copying. The string is valid only while
// b's bytes are: the engine uses it for header values that the router
// reads during the request and never keeps (the learner clones what it
// stores).
func bstr(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
