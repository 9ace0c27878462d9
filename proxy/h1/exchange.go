package h1

import (
	"errors"
	"time"
)

// The access log's measurements. Only connections whose session logs
// exchanges (c.xl) read the extra clock samples: the first bytes of a
// request, the server connection taken, and the end.

// beginExchange starts measuring a request whose first bytes arrived.
func (c *clientConn) beginExchange() {
	c.reqAt = time.Now().UnixNano()
	client := c.ex.Client
	c.ex = Exchange{Client: client, TR: -1, Tc: -1, Tr: -1, Ta: -1}
	c.exOut = c.written
	c.exFwd = false
}

// exchangeRequest records the request line of the request being
// forwarded, copied (the read buffer moves on before the log is written).
func (c *clientConn) exchangeRequest(hb []byte, start int64) {
	if c.reqAt == 0 { // pipelined: its bytes came with the previous one's
		c.beginExchange()
		c.reqAt = start
	}
	req := &c.req
	b := c.exLine[:0]
	b = append(b, req.method.of(hb)...)
	m := len(b)
	b = append(b, req.target.of(hb)...)
	t := len(b)
	b = append(b, "HTTP/1."...)
	b = append(b, byte('0'+req.minor%10))
	c.exLine = b
	c.ex.Method, c.ex.Target, c.ex.Proto = b[:m], b[m:t], b[t:]
	c.ex.TR = time.Duration(start - c.reqAt)
	c.exFwd = true
}

// exchangeConnected records the server connection taken.
func (c *clientConn) exchangeConnected(up, routed *Pool, before int64) {
	c.connAt = time.Now().UnixNano()
	c.ex.Tc = time.Duration(c.connAt - before)
	c.ex.Server = up.name
	c.ex.Redispatched = up != routed
}

// exchangeBodyError records why relaying the response body failed.
func (c *clientConn) exchangeBodyError(err error) {
	var we *writeError
	switch {
	case errors.As(err, &we):
		c.ex.End, c.ex.State = 'C', 'D'
	case isTimeout(err):
		c.ex.End, c.ex.State = 's', 'D'
	default:
		c.ex.End, c.ex.State = 'S', 'D'
	}
}

// logExchange hands the exchange that ended to the session's log: one
// forwarded, or one the engine refused. A connection that closed while
// idle logs nothing (HAProxy's dontlognull).
func (c *clientConn) logExchange() {
	if c.xl == nil || c.reqAt == 0 {
		return
	}
	if c.exFwd || c.ex.Status != 0 {
		now := time.Now().UnixNano()
		c.ex.Start = time.Unix(0, c.reqAt)
		c.ex.Ta = time.Duration(now - c.reqAt)
		c.ex.BytesOut = c.written - c.exOut
		if c.ex.End == 0 {
			c.ex.End, c.ex.State = '-', '-'
		}
		c.xl.LogExchange(&c.ex)
	}
	c.reqAt, c.exFwd = 0, false
	c.ex.Method, c.ex.Target, c.ex.Proto = nil, nil, nil
}
