package h1

import "sync"

// scratch is what a client connection needs only while it reads and
// forwards a request: the parsed heads and the cookie lines (about 6 KB).
type scratch struct {
	req, resp  head
	cookies    [maxCookieLines]string
	setCookies [maxSetCookieLines]string
	// The policy's views of req and resp (policy.go), here so that
	// handing them to the policy allocates nothing.
	reqView  Request
	respView Response
}

// scratchPool holds the scratch of connections that are idle or gone.
var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// readIdle reads the first bytes of a request: on a new connection, or a
// kept-alive one between requests. While none have come the connection
// holds no buffer: its read buffer, its output buffer and its scratch go
// back to their pools
// (38 KB that an idle connection would otherwise keep, of which the pages
// it touched are resident; HAProxy too releases the buffers of an idle
// connection), and it takes them back when bytes arrive. A
// request already on its way is read at once, without that detour.
func (c *clientConn) readIdle() (int, error) {
	b := &c.in
	if b.buffered() != 0 || b.w != 0 || len(c.out) != 0 {
		return c.readIn()
	}
	if !c.idleBuffersSet() { // once per connection
		c.setIdleBuffers(c.dropBuffers, func() []byte {
			c.takeBuffers()
			return c.in.b
		})
	}
	n, err := c.endpoint.readIdle(b.b)
	b.w += n
	c.nread += int64(n)
	return n, err
}

// dropBuffers gives a connection's buffers and scratch back to the pools
// (idle or closed).
func (c *clientConn) dropBuffers() {
	c.in.release()
	if c.pout != nil {
		if cap(c.out) == bufSize {
			*c.pout = c.out[:0]
		}
		bufPool.Put(c.pout)
		c.out, c.pout = nil, nil
	}
	if c.scratch != nil {
		scratchPool.Put(c.scratch)
		c.scratch = nil
	}
}

// takeBuffers takes buffers and scratch from the pools.
func (c *clientConn) takeBuffers() {
	c.in.acquire()
	c.pout = bufPool.Get().(*[]byte)
	c.out = (*c.pout)[:0]
	c.scratch = scratchPool.Get().(*scratch)
}
