package h1

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// forward forwards the request in c.req to the server the policy picks
// and relays the response. It reports whether the client connection may
// carry another request.
func (c *clientConn) forward() bool {
	s := c.s
	s.counters.Requests.Add(1)
	start := time.Now().UnixNano()
	req := &c.req
	hb := c.in.data()[:req.size] // the request head; valid until the body is read
	method := req.method.of(hb)
	if c.xl != nil {
		c.exchangeRequest(hb, start)
	}
	if string(method) == "CONNECT" {
		c.reject(rejMethod, "CONNECT is not supported")
		return false
	}
	isHEAD := string(method) == "HEAD"
	c.head = isHEAD
	idempotent := isHEAD || isIdempotent(method)
	upgrade := req.minor == 1 && req.connUpgrade && req.upgrade.end > 0 && req.framing == bodyNone
	keep := !req.connClose && (req.minor == 1 || req.connKeepAlive) && !req.teAndCL
	clientMinor := req.minor

	// Every Cookie line counts (the head's field limit bounds them); past
	// the inline array's few, the slice grows on the heap.
	cookies := c.cookies[:0]
	for i := 0; i < req.nfields; i++ {
		if fl := &req.fields[i]; fl.id == hdrCookie {
			cookies = append(cookies, bstr(fl.value.of(hb)))
		}
	}
	// A chunked body already here is checked before anything is sent: a
	// malformed one is refused whole, and the server sees nothing of it.
	if req.framing == bodyChunked {
		if err := checkChunked(c.in.data()[req.size:]); err != nil {
			c.reject(rejChunk, "malformed chunked request body")
			return false
		}
	}
	rv := &c.reqView
	rv.h, rv.b, rv.Cookies = req, hb, cookies
	up, err := c.sess.Route(rv)
	if err != nil {
		c.reject(rejNoServer, err.Error())
		return false
	}
	failed := true // until the response is complete
	took := time.Duration(-1)
	defer func() { c.sess.Done(!failed, took) }()
	now := time.Now().UnixNano() // for the pool and the deadlines of the next few I/Os
	routed := up
	if c.xl != nil {
		c.ex.Server = up.name
	}
	bc, err := c.connect(&up, now)
	if c.xl != nil && err == nil {
		c.exchangeConnected(up, routed, now)
	}
	if err != nil {
		s.log.Debug("connect failed", "server", up.name, "err", err)
		c.reject(rejServerUnavailable, fmt.Sprintf("server %s is unavailable", up.name))
		return false
	}
	c.inflight.Store(bc)
	defer c.inflight.Store(nil)

	// The head, and a Content-Length body already read if it fits, leave
	// in one write.
	c.out = c.appendRequestHead(c.out[:0], hb, up, upgrade)
	var sent int64
	if req.framing == bodyLength {
		avail := min(int64(c.in.buffered()-req.size), req.contentLength)
		if len(c.out)+int(avail) <= cap(c.out) {
			c.out = append(c.out, c.in.data()[req.size:req.size+int(avail)]...)
			sent = avail
		}
	}
	bc.wat = now
	if bc, err = c.send(bc, &up); err != nil {
		c.rejectUpstream(up, err)
		return false
	}
	c.inflight.Store(bc)
	c.in.consume(req.size + int(sent))
	// From here on hb and the policy's views of it are stale.
	rv.h, rv.b, rv.Cookies = nil, nil, nil

	var body chan error
	if req.framing == bodyChunked || req.framing == bodyLength && req.contentLength > sent {
		body = c.streamBody(bc, req.framing, req.contentLength-sent)
	}

	resp := &c.resp
	bc.rat = now
	interim := false // a 1xx came: the server has the request, and c.out holds the 1xx
	for attempt := 0; ; {
		err := c.readResponseHead(bc, isHEAD)
		if err == nil && resp.status >= 200 {
			break
		}
		if err == nil && resp.status == 101 {
			if !upgrade {
				bc.close()
				c.reject(rejBadGateway, fmt.Sprintf("server %s switched protocols unasked", up.name))
				return false
			}
			failed = false
			c.status = 101
			if c.xl != nil {
				c.ex.Status, c.ex.Tr = 101, time.Duration(time.Now().UnixNano()-c.connAt)
			}
			c.tunnel(bc, up)
			return false
		}
		if err == nil { // 1xx: 100 Continue, 103 Early Hints
			if clientMinor == 1 {
				c.out = c.appendInterim(c.out[:0], bc.in.data()[:resp.size])
				if werr := c.write(c.out); werr != nil {
					if c.xl != nil {
						c.ex.End, c.ex.State = 'C', 'H'
					}
					c.abortBody(body, bc)
					bc.close()
					return false
				}
			}
			bc.in.consume(resp.size)
			interim = true
			continue
		}
		// A reused connection the server had closed: try a new one, when
		// the request can be sent again (and went unanswered: after a 1xx
		// the server had it).
		if attempt == 0 && bc.reused && bc.in.buffered() == 0 && body == nil && idempotent && !interim && isConnClosed(err) {
			attempt++
			bc.close()
			if bc, err = c.redial(&up); err == nil {
				c.inflight.Store(bc)
				if err = bc.write(c.out); err == nil {
					continue
				}
				bc.close()
			}
			c.rejectUpstream(up, err)
			return false
		}
		berr := c.abortBody(body, bc)
		bc.close()
		switch {
		case errors.Is(berr, errBadChunk):
			c.reject(rejChunk, "malformed chunked request body")
		case isTimeout(err):
			c.reject(rejGatewayTimeout, fmt.Sprintf("server %s did not answer in time", up.name))
		default:
			c.reject(rejBadGateway, fmt.Sprintf("server %s: %v", up.name, err))
		}
		s.log.Debug("bad response", "server", up.name, "err", err)
		return false
	}

	// The server's response time: from taking a connection to its head.
	headAt := time.Now().UnixNano()
	c.status = resp.status
	if c.xl != nil {
		c.ex.Status, c.ex.Tr = resp.status, time.Duration(headAt-c.connAt)
	}
	rb := bc.in.data()[:resp.size]
	setCookies := c.setCookies[:0]
	for i := 0; i < resp.nfields; i++ {
		if fl := &resp.fields[i]; fl.id == hdrSetCookie {
			setCookies = append(setCookies, bstr(fl.value.of(rb)))
		}
	}
	pv := &c.respView
	pv.h, pv.b, pv.SetCookies = resp, rb, setCookies
	setCookies, noCache, err := c.sess.Response(pv, time.Duration(headAt-now))
	pv.h, pv.b, pv.SetCookies = nil, nil, nil
	if err != nil {
		c.abortBody(body, bc)
		bc.close()
		c.reject(rejBadGateway, err.Error())
		return false
	}
	dechunk := resp.framing == bodyChunked && clientMinor == 0
	keep = keep && resp.framing != bodyClose && !dechunk && !s.draining() && !up.close
	// Any doubt on the response's framing and the server connection is
	// not reused: both framings at once, or a body announced on a response
	// that has none by status (a server confused about it may send one).
	serverKeep := resp.framing != bodyClose && !resp.connClose && !resp.teAndCL && !resp.bodyless() &&
		(resp.minor == 1 || resp.connKeepAlive) && !up.close
	c.out = c.appendResponseHead(c.out[:0], rb, setCookies, noCache, keep, clientMinor, dechunk)
	bc.in.consume(resp.size)

	dst := sink{ep: &c.endpoint, buf: &c.out}
	now = time.Now().UnixNano() // the server may have taken its time
	c.wat = now
	switch resp.framing {
	case bodyLength:
		err = copyLength(dst, &bc.endpoint, resp.contentLength)
	case bodyChunked:
		err = copyChunked(dst, &bc.endpoint, !dechunk)
	case bodyClose:
		err = copyToEOF(dst, &bc.endpoint)
	}
	if err == nil {
		err = dst.flush()
	}
	c.out = c.out[:0]
	if body != nil {
		if berr := c.finishBody(body, bc); berr != nil {
			keep, serverKeep = false, false
		}
	}
	if err != nil {
		s.log.Debug("response body", "server", up.name, "err", err)
		if c.xl != nil {
			c.exchangeBodyError(err)
		}
		bc.close()
		if c.wat != 0 {
			// Nothing reached the client yet (a write clears wat): the
			// head and what came of the body are dropped, and the client
			// gets an answer of the proxy's own, as from HAProxy.
			c.out = c.out[:0]
			if isTimeout(err) {
				c.reject(rejGatewayTimeout, fmt.Sprintf("server %s did not answer in time", up.name))
			} else {
				c.reject(rejBadGateway, fmt.Sprintf("server %s: malformed response body", up.name))
			}
		}
		return false
	}
	if bc.in.buffered() > 0 {
		// The server sent more than its response: bytes no request asked
		// for. The connection is not reused (pool.put would refuse it
		// too; this keeps the rule where the framing is decided).
		serverKeep = false
	}
	failed = false
	c.wat, bc.rat = 0, 0
	c.rat = now // arms the wait for the next request
	took = time.Duration(time.Now().UnixNano() - start)
	if serverKeep {
		bc.pool.put(bc, now)
	} else {
		bc.close()
	}
	return keep
}

// connect returns a connection to the routed server *up; when that
// server cannot be reached, the policy may name one other (nothing was
// sent, so it is safe for any request), and *up becomes it.
func (c *clientConn) connect(up **Pool, now int64) (*backendConn, error) {
	bc, err := (*up).get(now)
	if err == nil {
		return bc, err
	}
	next := c.sess.Redispatch(err)
	if next == nil {
		return nil, err
	}
	*up = next
	return next.get(now)
}

// redial opens a new connection to the routed server after a reused one
// turned out closed; when the server cannot be reached any more (it died
// since the connection was pooled), the policy may name one other
// instead. Nothing of the request reached a server.
func (c *clientConn) redial(up **Pool) (*backendConn, error) {
	bc, err := (*up).dial()
	if err == nil || !isDialError(err) {
		return bc, err
	}
	next := c.sess.Redispatch(err)
	if next == nil {
		return nil, err
	}
	*up = next
	return next.dial()
}

// rejectUpstream answers a request that reached no server's answer: 503
// when no connection could be made (as HAProxy), 502 otherwise.
func (c *clientConn) rejectUpstream(up *Pool, err error) {
	if isDialError(err) {
		c.reject(rejServerUnavailable, fmt.Sprintf("server %s is unavailable", up.name))
		return
	}
	c.reject(rejBadGateway, fmt.Sprintf("server %s: %v", up.name, err))
}

// send writes c.out to the server; a reused connection the server closed
// meanwhile is replaced by a new one once (nothing reached the server).
func (c *clientConn) send(bc *backendConn, up **Pool) (*backendConn, error) {
	err := bc.write(c.out)
	if err == nil {
		return bc, nil
	}
	bc.close()
	if !bc.reused {
		return nil, err
	}
	if bc, err = c.redial(up); err != nil {
		return nil, err
	}
	if err = bc.write(c.out); err != nil {
		bc.close()
		return nil, err
	}
	return bc, nil
}

// readResponseHead reads and parses the server's next response head into
// c.resp (its bytes stay at the front of bc.in until consumed).
func (c *clientConn) readResponseHead(bc *backendConn, reqHEAD bool) error {
	scan := 0
	for {
		if d := bc.in.data(); len(d) > 0 {
			// As readRequest: parse at once, or once the head is all in.
			if scan == 0 {
				if err := parseResponseHead(d, &c.resp, reqHEAD); err != errIncomplete {
					return err
				}
			} else if end := findHeadEnd(d, scan); end > 0 {
				return parseResponseHead(d[:end], &c.resp, reqHEAD)
			}
			if len(d) >= c.s.maxHeader {
				return errors.New("response head too large")
			}
			scan = len(d)
		}
		if bc.in.full() {
			bc.in.grow(c.s.maxHeader + 1)
		}
		if scan == 0 {
			yieldBeforeRead()
		}
		if k, err := bc.fill(); k == 0 {
			if err == nil {
				err = io.ErrNoProgress
			}
			return err
		}
	}
}

// streamBody copies the rest of the request body (n bytes, or chunked) to
// the server in its own goroutine, so the response can be read meanwhile:
// a server may answer 100 Continue, or answer early. A failure on the
// client's side closes the server connection, which ends the wait for the
// response.
func (c *clientConn) streamBody(bc *backendConn, fr framing, n int64) chan error {
	done := make(chan error, 1)
	go func() {
		var err error
		if fr == bodyChunked {
			err = copyChunked(sink{ep: &bc.endpoint}, &c.endpoint, true)
		} else {
			err = copyLength(sink{ep: &bc.endpoint}, &c.endpoint, n)
		}
		if err != nil && !isWriteError(err) {
			_ = bc.conn.Close()
		}
		done <- err
	}()
	return done
}

// finishBody waits for the request body once the response is complete. A
// server that answered before reading the whole body gets its upload cut
// short: the connections then close.
func (c *clientConn) finishBody(body chan error, bc *backendConn) error {
	t := time.NewTimer(20 * time.Millisecond)
	defer t.Stop()
	select {
	case err := <-body:
		return err
	case <-t.C:
		return c.abortBody(body, bc)
	}
}

// abortBody stops a request body still streaming and returns its error.
func (c *clientConn) abortBody(body chan error, bc *backendConn) error {
	if body == nil {
		return nil
	}
	select {
	case err := <-body:
		return err
	default:
	}
	_ = c.conn.SetReadDeadline(aLongTimeAgo)
	_ = bc.conn.SetWriteDeadline(aLongTimeAgo)
	err := <-body // the copy's own failure, if it had one before ours
	c.rdl, bc.wdl = 0, 0
	if err == nil {
		err = errors.New("request body cut short")
	}
	return err
}

// tunnel relays bytes both ways after a 101 Switching Protocols (WebSocket
// and other upgrades) until both sides are done.
func (c *clientConn) tunnel(bc *backendConn, up *Pool) {
	resp := &c.resp
	c.out = c.appendResponseHead(c.out[:0], bc.in.data()[:resp.size], nil, false, true, 1, false)
	bc.in.consume(resp.size)
	if err := c.write(c.out); err != nil {
		bc.close()
		return
	}
	c.out = c.out[:0]
	up.addTunnel(bc)
	defer up.removeTunnel(bc)
	var last *atomic.Int64 // with timeout tunnel: the last byte moved either way
	if t := c.s.timeouts.Tunnel; t > 0 {
		last = new(atomic.Int64)
		last.Store(time.Now().UnixNano())
		c.rto, c.wto, bc.rto, bc.wto = t, t, t, t
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := tunnelCopy(sink{ep: &bc.endpoint}, &c.endpoint, last); err != nil {
			_ = bc.conn.Close()
			return
		}
		closeWrite(bc.conn)
	}()
	if err := tunnelCopy(sink{ep: &c.endpoint}, &bc.endpoint, last); err != nil {
		_ = c.conn.Close()
	} else {
		closeWrite(c.conn)
	}
	<-done
	_ = bc.conn.Close()
	bc.in.release()
	c.s.log.Debug("tunnel closed", "server", up.name)
}

// tunnelCopy copies src to dst until src's end of stream. With last (timeout
// tunnel, src.rto) a read that waited src.rto is not the end while the
// other direction moved a byte within src.rto: last is the time of the
// last byte moved either way, and the tunnel is idle only when both
// directions are. Without last it is copyToEOF.
func tunnelCopy(dst sink, src *endpoint, last *atomic.Int64) error {
	if last == nil {
		return copyToEOF(dst, src)
	}
	idle := src.rto
	for {
		if d := src.in.data(); len(d) > 0 {
			if err := dst.write(d); err != nil {
				return err
			}
			src.in.consume(len(d))
			last.Store(time.Now().UnixNano())
		}
		if err := dst.flush(); err != nil {
			return err
		}
		at := last.Load() + int64(idle)
		if at != src.rdl {
			src.rdl = at
			_ = src.conn.SetReadDeadline(time.Unix(0, at))
		}
		k, err := src.readIn()
		if k > 0 {
			last.Store(time.Now().UnixNano())
			continue
		}
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, os.ErrDeadlineExceeded) && time.Now().UnixNano()-last.Load() < int64(idle):
			continue // the other direction moved bytes: wait on
		}
		return err
	}
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

// appendRequestHead appends the head sent to the server: the request line
// in HTTP/1.1, the client's fields minus the hop-by-hop ones (RFC 9110
// 7.6.1: Connection, the fields it names, Keep-Alive, Proxy-Connection,
// TE, Upgrade unless upgrading), the Cookie and X-Forwarded-Host/-Proto
// lines as the policy rewrites them, then the policy's own fields.
func (c *clientConn) appendRequestHead(dst, hb []byte, up *Pool, upgrade bool) []byte {
	req := &c.req
	clSent := false
	dst = append(dst, req.method.of(hb)...)
	dst = append(dst, ' ')
	dst = append(dst, req.target.of(hb)...)
	dst = append(dst, " HTTP/1.1\r\n"...)
	for i := 0; i < req.nfields; i++ {
		fl := &req.fields[i]
		switch fl.id {
		case hdrConnection, hdrKeepAlive, hdrProxyConnection, hdrTE:
			continue
		case hdrUpgrade:
			if !upgrade {
				continue
			}
		case hdrContentLength:
			// Transfer-Encoding wins (RFC 9112 6.3); otherwise one field
			// with the length decided (a list "3, 3" or a repeated line
			// become one value, as HAProxy sends it).
			if req.framing != bodyChunked && !clSent {
				clSent = true
				dst = appendContentLength(dst, fl.name.of(hb), req.contentLength)
			}
			continue
		case hdrCookie, hdrXForwardedHost, hdrXForwardedProto:
			kind := FieldCookie
			switch fl.id {
			case hdrXForwardedHost:
				kind = FieldXForwardedHost
			case hdrXForwardedProto:
				kind = FieldXForwardedProto
			}
			var done bool
			if dst, done = c.sess.RequestField(dst, kind, fl.name.of(hb), fl.value.of(hb)); done {
				continue
			}
		}
		if fl.hop {
			continue
		}
		dst = appendField(dst, fl.name.of(hb), fl.value.of(hb))
	}
	switch {
	case upgrade:
		dst = append(dst, "Connection: Upgrade\r\n"...)
	case up.close:
		dst = append(dst, "Connection: close\r\n"...) // option httpclose
	}
	// An HTTP/1.0 request without Host leaves as HTTP/1.1 with an empty
	// Host (RFC 9112 3.2: a client MUST send Host, empty when the target
	// URI has no authority): the proxy does not invent an authority the
	// client did not name (before, the server's address was sent).
	if req.hosts == 0 {
		dst = append(dst, "Host: \r\n"...)
	}
	dst = c.sess.AppendFields(dst, &c.reqView)
	return append(dst, "\r\n"...)
}

// appendResponseHead appends the head sent to the client: the server's
// status and fields minus the hop-by-hop ones, the Set-Cookie lines the
// cookie mode produced, Cache-Control: private for nocache, and the
// client's connection management.
func (c *clientConn) appendResponseHead(dst, rb []byte, setCookies []string, noCache, keep bool, clientMinor int, dechunk bool) []byte {
	resp := &c.resp
	clSent := false
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(resp.status), 10)
	dst = append(dst, ' ')
	dst = append(dst, resp.reason.of(rb)...)
	dst = append(dst, "\r\n"...)
	for i := 0; i < resp.nfields; i++ {
		fl := &resp.fields[i]
		switch fl.id {
		case hdrConnection, hdrKeepAlive, hdrProxyConnection, hdrTE:
			continue
		case hdrUpgrade:
			if resp.status != 101 {
				continue
			}
		case hdrTransferEncoding:
			if dechunk {
				continue
			}
		case hdrContentLength:
			if !resp.teAndCL && !clSent {
				clSent = true
				dst = appendContentLength(dst, fl.name.of(rb), resp.contentLength)
			}
			continue
		case hdrSetCookie:
			// Written below, as the cookie mode has them; a 101's pass
			// through.
			if resp.status != 101 {
				continue
			}
		}
		if fl.hop {
			continue
		}
		dst = appendField(dst, fl.name.of(rb), fl.value.of(rb))
	}
	for _, line := range setCookies {
		dst = append(dst, "Set-Cookie: "...)
		dst = append(dst, line...)
		dst = append(dst, "\r\n"...)
	}
	if noCache {
		dst = append(dst, "Cache-Control: private\r\n"...)
	}
	switch {
	case resp.status == 101:
		dst = append(dst, "Connection: Upgrade\r\n"...)
	case !keep:
		dst = append(dst, "Connection: close\r\n"...)
	case clientMinor == 0:
		dst = append(dst, "Connection: keep-alive\r\n"...)
	}
	return append(dst, "\r\n"...)
}

// appendInterim appends a 1xx response relayed to the client.
func (c *clientConn) appendInterim(dst, rb []byte) []byte {
	resp := &c.resp
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(resp.status), 10)
	dst = append(dst, ' ')
	dst = append(dst, resp.reason.of(rb)...)
	dst = append(dst, "\r\n"...)
	for i := 0; i < resp.nfields; i++ {
		fl := &resp.fields[i]
		switch fl.id {
		case hdrConnection, hdrKeepAlive, hdrProxyConnection, hdrTE, hdrUpgrade,
			hdrContentLength, hdrTransferEncoding: // a 1xx has no body
			continue
		}
		if !fl.hop {
			dst = appendField(dst, fl.name.of(rb), fl.value.of(rb))
		}
	}
	return append(dst, "\r\n"...)
}

// appendContentLength appends a Content-Length field with the length the
// engine framed the message with.
func appendContentLength(dst, name []byte, n int64) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = strconv.AppendInt(dst, n, 10)
	return append(dst, "\r\n"...)
}

func appendField(dst, name, value []byte) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}

// isIdempotent reports RFC 9110's idempotent methods other than HEAD.
func isIdempotent(m []byte) bool {
	switch string(m) {
	case "GET", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}

// writeError marks an error writing to the destination of a copy.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

func isWriteError(err error) bool {
	var we *writeError
	return errors.As(err, &we)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isConnClosed reports a connection the peer closed or reset.
// isDialError reports a failure to open a connection: nothing was sent.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func isConnClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrNoProgress) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
