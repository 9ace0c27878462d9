package h1

import (
	"bytes"
	"errors"
	"io"
	"net"
)

// Message bodies are streamed: a few buffers' worth at a time, never a
// whole upload or download in memory. Bodies keep their framing: a
// Content-Length body passes as it came, a chunked one stays chunked but
// leaves normalized (see copyChunked); only an HTTP/1.0 client gets a
// chunked response decoded.

var errBadChunk = errors.New("malformed chunked body")

const (
	// maxChunkLine bounds a chunk-size line with its extensions.
	maxChunkLine = 4096
	// maxTrailers bounds the trailer section of a chunked body.
	maxTrailers = 16 << 10
	// spliceMin is the smallest remaining body length moved with
	// splice(2) between the sockets instead of through the buffer.
	spliceMin = 64 << 10
	// spliceChunk is how much one splice call may move: the inactivity
	// timeouts are re-armed between calls.
	spliceChunk = 1 << 20
)

// sink writes to an endpoint, through an output buffer when buf is set
// (the client side: a head and a small body leave in one write).
type sink struct {
	ep  *endpoint
	buf *[]byte
}

func (s sink) write(p []byte) error {
	if s.buf != nil {
		b := *s.buf
		if len(b)+len(p) <= cap(b) {
			*s.buf = append(b, p...)
			return nil
		}
		if err := s.flush(); err != nil {
			return err
		}
		if len(p) < cap(b)/2 {
			*s.buf = append((*s.buf)[:0], p...)
			return nil
		}
	}
	if err := s.ep.write(p); err != nil {
		return &writeError{err}
	}
	return nil
}

func (s sink) flush() error {
	if s.buf == nil || len(*s.buf) == 0 {
		return nil
	}
	err := s.ep.write(*s.buf)
	*s.buf = (*s.buf)[:0]
	if err != nil {
		return &writeError{err}
	}
	return nil
}

// eofIsUnexpected turns io.EOF into io.ErrUnexpectedEOF: the body ended
// before its framing said it would.
func eofIsUnexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// copyLength copies n body bytes from src (buffered bytes first) to dst.
func copyLength(dst sink, src *endpoint, n int64) error {
	for n > 0 {
		if src.in.buffered() == 0 {
			if err := dst.flush(); err != nil {
				return err
			}
			if n >= spliceMin {
				moved, err, ok := spliceBody(dst.ep, src, n)
				if ok {
					n -= moved
					dst.ep.written += moved
					if err != nil {
						return err
					}
					continue
				}
			}
			if k, err := src.fill(); k == 0 {
				return eofIsUnexpected(err)
			}
		}
		d := src.in.data()
		if int64(len(d)) > n {
			d = d[:n]
		}
		if err := dst.write(d); err != nil {
			return err
		}
		src.in.consume(len(d))
		n -= int64(len(d))
	}
	return nil
}

// spliceBody moves up to n bytes from src's socket to dst's with
// splice(2), when both are TCP. ok is false when it could not be used.
func spliceBody(dst, src *endpoint, n int64) (moved int64, err error, ok bool) {
	dt, ok1 := dst.conn.(*net.TCPConn)
	st, ok2 := src.conn.(*net.TCPConn)
	if !ok1 || !ok2 {
		return 0, nil, false
	}
	lr := &io.LimitedReader{R: st}
	for n > 0 {
		chunk := min(n, spliceChunk)
		armRead(src.conn, &src.rdl, src.rto, 0)
		armWrite(dst.conn, &dst.wdl, dst.wto, 0)
		lr.N = chunk
		w, err := dt.ReadFrom(lr)
		moved += w
		n -= w
		if err != nil {
			return moved, err, true
		}
		if w < chunk {
			return moved, io.ErrUnexpectedEOF, true
		}
	}
	return moved, nil, true
}

// copyToEOF copies everything src sends until it closes.
func copyToEOF(dst sink, src *endpoint) error {
	for {
		if d := src.in.data(); len(d) > 0 {
			if err := dst.write(d); err != nil {
				return err
			}
			src.in.consume(len(d))
		}
		if err := dst.flush(); err != nil {
			return err
		}
		if k, err := src.fill(); k == 0 {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// copyChunked copies a chunked body. With raw, the body stays chunked but
// leaves normalized, as HAProxy sends it: chunk-size lines are the size's
// digits and CRLF (chunk extensions dropped), trailer fields are checked
// as header fields and end in CRLF. Without raw, only the chunk data is
// written (decoding for an HTTP/1.0 client) and the trailers are dropped.
// Every line must end in CRLF (RFC 9112 7.1: the chunked grammar has no
// bare LF, unlike the head's lines, 2.2): anything else is errBadChunk.
func copyChunked(dst sink, src *endpoint, raw bool) error {
	for {
		line, err := readLine(dst, src, maxChunkLine)
		if err != nil {
			return err
		}
		content, ok := crlfContent(line)
		if !ok {
			return errBadChunk
		}
		size, ok := parseChunkSize(content)
		if !ok {
			return errBadChunk
		}
		if raw {
			// In place: the digits, then CRLF over what followed them.
			nd := hexDigits(content)
			line[nd], line[nd+1] = '\r', '\n'
			if err := dst.write(line[:nd+2]); err != nil {
				return err
			}
		}
		src.in.consume(len(line))
		if size == 0 {
			return copyTrailers(dst, src, raw)
		}
		if err := copyLength(dst, src, size); err != nil {
			return err
		}
		if line, err = readLine(dst, src, 2); err != nil {
			return err
		}
		if string(line) != "\r\n" { // chunk data longer than its size
			return errBadChunk
		}
		if raw {
			if err := dst.write(line); err != nil {
				return err
			}
		}
		src.in.consume(len(line))
	}
}

// copyTrailers copies the trailer section up to its empty line.
func copyTrailers(dst sink, src *endpoint, raw bool) error {
	total := 0
	for {
		line, err := readLine(dst, src, maxTrailers-total)
		if err != nil {
			return err
		}
		total += len(line)
		content, ok := crlfContent(line)
		if !ok || len(content) > 0 && !validTrailer(content) {
			return errBadChunk
		}
		if raw {
			if err := dst.write(line); err != nil {
				return err
			}
		}
		src.in.consume(len(line))
		if len(content) == 0 {
			return nil
		}
	}
}

// checkChunked checks the part of a chunked body at hand (b, which may
// end anywhere in it) and reports the first error copyChunked would meet
// in it; what is missing is not an error. It lets a malformed body that
// arrived with its head be refused before anything reaches a server.
func checkChunked(b []byte) error {
	for {
		line, rest, ok := cutLine(b, maxChunkLine)
		if !ok {
			return nil
		}
		if line == nil {
			return errBadChunk
		}
		content, ok := crlfContent(line)
		if !ok {
			return errBadChunk
		}
		size, ok := parseChunkSize(content)
		if !ok {
			return errBadChunk
		}
		b = rest
		if size == 0 {
			break
		}
		if int64(len(b)) < size+2 {
			if int64(len(b)) > size && b[size] != '\r' {
				return errBadChunk
			}
			return nil
		}
		if b[size] != '\r' || b[size+1] != '\n' {
			return errBadChunk
		}
		b = b[size+2:]
	}
	total := 0
	for {
		line, rest, ok := cutLine(b, maxTrailers-total)
		if !ok {
			return nil
		}
		if line == nil {
			return errBadChunk
		}
		total += len(line)
		content, ok := crlfContent(line)
		if !ok || len(content) > 0 && !validTrailer(content) {
			return errBadChunk
		}
		if len(content) == 0 {
			return nil // what follows is the next request
		}
		b = rest
	}
}

// cutLine returns the first line of b, LF included, and the rest. ok is
// false when b holds no whole line yet (and is not over limit); line is
// nil (with ok) when the line is longer than limit.
func cutLine(b []byte, limit int) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	switch {
	case i >= limit, i < 0 && len(b) >= limit:
		return nil, nil, true
	case i < 0:
		return nil, nil, false
	}
	return b[:i+1], b[i+1:], true
}

// crlfContent returns line without its CRLF; ok is false when the line
// does not end in CRLF.
func crlfContent(line []byte) ([]byte, bool) {
	n := len(line)
	if n < 2 || line[n-2] != '\r' || line[n-1] != '\n' {
		return nil, false
	}
	return line[:n-2], true
}

// validTrailer reports whether a trailer line is a well-formed field line
// (the head's rules: a token, a colon, a value without control bytes).
func validTrailer(line []byte) bool {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 || !isToken(line[:colon]) {
		return false
	}
	for _, c := range line[colon+1:] {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// readLine returns the next line of src, LF included, reading more as
// needed (after flushing dst: nothing waits in a buffer while we block).
// A line longer than limit is an error.
func readLine(dst sink, src *endpoint, limit int) ([]byte, error) {
	for {
		d := src.in.data()
		if i := bytes.IndexByte(d, '\n'); i >= 0 {
			if i >= limit {
				return nil, errBadChunk
			}
			return d[:i+1], nil
		}
		if len(d) >= limit {
			return nil, errBadChunk
		}
		if err := dst.flush(); err != nil {
			return nil, err
		}
		if k, err := src.fill(); k == 0 {
			return nil, eofIsUnexpected(err)
		}
	}
}

// hexDigits returns the number of hex digits line starts with.
func hexDigits(line []byte) int {
	i := 0
	for i < len(line) && (isDigit(line[i]) || 'a' <= line[i]|0x20 && line[i]|0x20 <= 'f') {
		i++
	}
	return i
}

// parseChunkSize parses chunk-size [ BWS ";" chunk-ext ] (RFC 9112 7.1).
func parseChunkSize(line []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(line); i++ {
		c := line[i]
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			goto ext
		}
		if i >= 15 { // 2^60 bytes is enough; no overflow
			return 0, false
		}
		n = n<<4 | int64(d)
	}
ext:
	if i == 0 {
		return 0, false
	}
	rest := line[i:]
	for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
		rest = rest[1:]
	}
	if len(rest) > 0 && rest[0] != ';' {
		return 0, false
	}
	for _, c := range rest {
		if c < ' ' && c != '\t' || c == 0x7f {
			return 0, false
		}
	}
	return n, true
}
