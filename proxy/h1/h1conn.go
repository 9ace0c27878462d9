package h1

import (
	"bytes"
	"errors"
	"math"
	"net"
	"strconv"
	"sync/atomic"
	"time"
)

// aLongTimeAgo is a deadline in the past: it wakes a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// Cookie and Set-Cookie lines the engine hands to the router without
// allocating; every line is handed (more grow a slice on the heap), up to
// the head's field limit.
const (
	maxCookieLines    = 16
	maxSetCookieLines = 32
)

// clientConn is one client connection and everything its requests need:
// buffers, parsed heads and scratch space, all reused request after
// request.
type clientConn struct {
	endpoint
	s        *Server
	sess     Session // the policy's, for this connection
	state    atomic.Int32
	clientIP string
	served   int // requests completed on this connection
	// head: the request being answered is a HEAD; an error answer to it
	// has no body (RFC 9110 9.3.2), or a client would read the body as
	// the next answer.
	head bool
	// inflight is the server connection of the request being forwarded,
	// for Shutdown to close when its deadline passes.
	inflight atomic.Pointer[backendConn]

	out  []byte // output scratch: request heads to servers, responses to the client
	pout *[]byte

	// The access log (exchange.go); xl nil when the session keeps none.
	xl     ExchangeLogger
	ex     Exchange
	exLine []byte // the request line, copied: the read buffer moves on
	exFwd  bool   // forward began: the exchange is logged however it ends
	reqAt  int64  // unix ns of the request's first bytes; 0 none yet
	connAt int64  // unix ns the server connection was taken
	exOut  int64  // c.written when the exchange began

	// status is the status of the response sent for the exchange under
	// way (0 none yet); acctIn and acctOut the byte counts already added
	// to the server's Counters.
	status          int
	acctIn, acctOut int64

	// Parking (park_linux.go): kaUntil is when the keep-alive wait under
	// way ends (unix ns; 0: this wait does not park), parkNow that
	// readRequest stopped to park, parkUntil and parkFD the parker's.
	kaUntil   int64
	parkNow   bool
	parkUntil int64
	parkFD    int32

	// The parsed heads and cookie lines: pooled with the buffers, and
	// given back with them while the connection is idle (idle.go).
	*scratch
}

func newClientConn(s *Server, c net.Conn) *clientConn {
	cc := &clientConn{s: s}
	cc.conn = c
	cc.rto, cc.wto = s.timeouts.Client, s.timeouts.Client
	// New until its first request head: a Shutdown that begins before
	// the connection's goroutine reads gives it FirstRequestGrace too
	// (as connIdle, the zero state, it would be closed unread).
	cc.state.Store(connFirst)
	cc.initRawIO()
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		cc.clientIP = a.IP.String()
	} else if host, _, err := net.SplitHostPort(c.RemoteAddr().String()); err == nil {
		cc.clientIP = host
	}
	return cc
}

// serve reads and forwards requests until the connection ends or parks.
func (c *clientConn) serve() {
	c.takeBuffers()
	c.run()
}

// resume serves a parked connection that became readable.
func (c *clientConn) resume() {
	c.takeBuffers()
	c.run()
}

func (c *clientConn) run() {
	for {
		if !c.readRequest() {
			if c.parkNow {
				c.parkNow = false
				if c.park() {
					return // the parker has it now
				}
				continue
			}
			c.finish()
			return
		}
		if !c.state.CompareAndSwap(connIdle, connActive) && !c.state.CompareAndSwap(connFirst, connActive) {
			c.release()
			c.s.forget(c)
			return // Shutdown closed this idle connection
		}
		keep := c.forward()
		c.logExchange()
		c.account()
		if !keep {
			c.release()
			c.s.forget(c)
			return
		}
		c.served++
	}
}

// finish ends a connection whose last request was read or refused.
func (c *clientConn) finish() {
	c.logExchange()
	c.account()
	c.release()
	c.s.forget(c)
}

// park hands an idle kept-alive connection to the server's parker: its
// goroutine ends, and the parker starts another when bytes come. It
// reports false when the connection stays in this goroutine (it cannot
// be parked): it then holds its buffers again.
func (c *clientConn) park() bool {
	pk := c.s.parkerFor()
	if pk == nil {
		c.kaUntil = 0
		return false
	}
	until := c.kaUntil
	c.kaUntil = 0
	c.dropBuffers()
	// The park deadline passed: a read after the wake would fail at once.
	c.rdl = 0
	_ = c.conn.SetReadDeadline(time.Time{})
	if pk.add(c, until) {
		return true
	}
	c.takeBuffers()
	return false
}

// endParked ends a parked connection (its keep-alive timeout passed, or
// Shutdown): as an idle one whose wait ended.
func (c *clientConn) endParked() {
	c.account()
	c.release()
	c.s.forget(c)
}

func (c *clientConn) release() {
	_ = c.conn.Close()
	c.dropBuffers()
}

// wakeIfIdle makes an idle connection give up waiting for a request; it is
// how Shutdown closes keep-alive connections (and, with first, new ones
// that have not sent their first request). It reports whether it did.
func (c *clientConn) wakeIfIdle(first bool) bool {
	if c.state.Load() == connParked {
		if pk := c.s.parkerIfAny(); pk != nil && pk.take(c) {
			go c.endParked()
			return true
		}
	}
	if c.state.CompareAndSwap(connIdle, connClosing) || first && c.state.CompareAndSwap(connFirst, connClosing) {
		_ = c.conn.SetReadDeadline(aLongTimeAgo)
		return true
	}
	return c.state.Load() == connClosing
}

// kill closes the connection and the server connection in flight.
func (c *clientConn) kill() {
	_ = c.conn.Close()
	if bc := c.inflight.Load(); bc != nil {
		_ = bc.conn.Close()
	}
}

// readRequest reads and parses the next request head. On failure it
// answers what the client should see (400, 408, 431, ...) and returns
// false. Timeouts: http_request from the connection's start or the first
// byte of a later request, http_keep_alive while a kept-alive connection
// waits for its next request (HAProxy's timeouts of the same names).
func (c *clientConn) readRequest() bool {
	t := &c.s.timeouts
	started := c.in.buffered() > 0
	c.head = false
	c.kaUntil = 0
	switch {
	case c.served == 0 || started:
		armRead(c.conn, &c.rdl, t.HTTPRequest, c.rat)
	case c.rio != nil && t.IdlePark > 0 && (t.HTTPKeepAlive <= 0 || t.IdlePark < t.HTTPKeepAlive):
		// Wait IdlePark here, then park (run) for the rest of
		// http_keep_alive.
		now := c.rat
		if now == 0 {
			now = time.Now().UnixNano()
		}
		c.kaUntil = math.MaxInt64
		if t.HTTPKeepAlive > 0 {
			c.kaUntil = now + int64(t.HTTPKeepAlive)
		}
		armRead(c.conn, &c.rdl, t.IdlePark, now)
	default:
		armRead(c.conn, &c.rdl, t.HTTPKeepAlive, c.rat)
	}
	c.rat = 0
	if c.served == 0 {
		c.state.Store(connFirst)
	} else {
		c.state.Store(connIdle)
	}
	if c.s.draining() && c.served > 0 && !started {
		return false
	}
	scan := 0
	for {
		// RFC 9112 2.2: ignore empty lines before a request line.
		for d := c.in.data(); len(d) > 0 && (d[0] == '\r' || d[0] == '\n'); d = c.in.data() {
			c.in.consume(1)
		}
		if d := c.in.data(); len(d) > 0 {
			if c.xl != nil && c.reqAt == 0 {
				c.beginExchange()
			}
			// Most heads arrive whole: the first look parses at once. A
			// head arriving in pieces is parsed once findHeadEnd saw all
			// of it (which resumes where it stopped: no quadratic work).
			end, err := -1, error(nil)
			if scan == 0 {
				if err = parseRequestHead(d, &c.req); err == nil {
					end = c.req.size
				} else if err == errIncomplete {
					err = nil
				}
			} else if end = findHeadEnd(d, scan); end > 0 {
				err = parseRequestHead(d[:end], &c.req)
			}
			if end > c.s.maxHeader || end < 0 && len(d) >= c.s.maxHeader {
				c.head = bytes.HasPrefix(d, []byte("HEAD "))
				// The request line alone over the limit: the URI is too
				// long (414); otherwise the fields are (431).
				if bytes.IndexByte(d[:c.s.maxHeader], '\n') < 0 {
					c.reject(rejURITooLong, "request target too long")
				} else {
					c.reject(rejFieldsTooLarge, "request header fields too large")
				}
				return false
			}
			if err != nil {
				// A HEAD refused for its head still gets no body.
				c.head = bytes.HasPrefix(d, []byte("HEAD "))
				var he *headError
				if errors.As(err, &he) {
					c.reject(he.reason, he.msg)
				} else {
					c.reject(rejMalformed, "malformed request")
				}
				return false
			}
			if end > 0 {
				return true
			}
			scan = len(d)
			if !started {
				// The head is incomplete: from its first byte on, it has
				// http_request to arrive (most heads arrive whole, and
				// this costs nothing).
				started = true
				if c.served > 0 {
					armRead(c.conn, &c.rdl, t.HTTPRequest, 0)
					if c.state.Load() == connClosing {
						return false
					}
				}
			}
		}
		if c.in.full() {
			c.in.grow(c.s.maxHeader + 1)
		}
		var n int
		var err error
		if !started {
			if c.served > 0 {
				yieldBeforeRead()
			}
			n, err = c.readIdle() // idle.go: no buffers held while idle
			if n == 0 && c.kaUntil != 0 && c.state.Load() == connIdle && isTimeout(err) && time.Now().UnixNano() < c.kaUntil {
				c.parkNow = true
				return false
			}
		} else {
			n, err = c.readIn()
		}
		if n > 0 {
			continue
		}
		var ne net.Error
		if started && c.state.Load() != connClosing && errors.As(err, &ne) && ne.Timeout() {
			c.reject(rejTimeout, "request head not received in time (timeout http_request)")
		}
		return false
	}
}

// account adds the exchange that ended to the server's counters: its
// response by status class and the bytes each way.
func (c *clientConn) account() {
	ctr := c.s.counters
	if c.status != 0 {
		ctr.Responses[StatusClass(c.status)].Add(1)
		c.status = 0
	}
	if d := c.nread - c.acctIn; d > 0 {
		ctr.BytesIn.Add(uint64(d))
		c.acctIn = c.nread
	}
	if d := c.written - c.acctOut; d > 0 {
		ctr.BytesOut.Add(uint64(d))
		c.acctOut = c.written
	}
}

// reject answers a request that cannot be forwarded with the reason's
// status and msg, counts it by reason, and the connection closes.
func (c *clientConn) reject(reason rejectReason, msg string) {
	c.s.counters.Errors.Add(1)
	c.s.counters.Refused[reason].Add(1)
	c.status = reason.status()
	if c.xl != nil {
		c.ex.Status = reason.status()
		if c.ex.End == 0 {
			c.ex.End, c.ex.State = reason.term()
		}
	}
	c.out = appendErrorResponse(c.out[:0], reason.status(), msg, c.head)
	_ = c.write(c.out)
	c.out = c.out[:0]
	// Let the client read the answer before the close resets the
	// connection (unread request bytes would make the kernel send RST).
	// (A TLS connection's CloseWrite sends close_notify.)
	if cw, ok := c.conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

// appendErrorResponse appends a short plain-text error response, as
// HAProxy's default error pages, closing the connection; to a HEAD
// (head), the same head without the body.
func appendErrorResponse(b []byte, status int, msg string, head bool) []byte {
	text := statusText(status)
	body := len(text) + len(msg) + 6 // "%d %s\n%s\n"
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, text...)
	b = append(b, "\r\nContent-Type: text/plain; charset=utf-8\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(body), 10)
	b = append(b, "\r\n\r\n"...)
	if head {
		return b
	}
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, text...)
	b = append(b, '\n')
	b = append(b, msg...)
	return append(b, '\n')
}

func statusText(code int) string {
	switch code {
	case 400:
		return "Bad Request"
	case 405:
		return "Method Not Allowed"
	case 408:
		return "Request Timeout"
	case 413:
		return "Content Too Large"
	case 414:
		return "URI Too Long"
	case 431:
		return "Request Header Fields Too Large"
	case 501:
		return "Not Implemented"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Gateway Timeout"
	case 505:
		return "HTTP Version Not Supported"
	}
	return "Error"
}
