package proxy

import "errors"

// errWouldBlock: tryRead found nothing to read.
var errWouldBlock = errors.New("read would block")

// readIdle reads the first bytes of a request: on a new connection, or a
// kept-alive one between requests. While none have come the connection
// holds no buffer: its
// read buffer and its output buffer go back to the pool (32 KiB that an
// idle connection would otherwise keep; HAProxy too releases the buffers
// of an idle connection), and it takes them back when bytes arrive. A
// request already on its way is read at once, without that detour.
func (c *clientConn) readIdle() (int, error) {
	if c.in.buffered() != 0 || len(c.out) != 0 {
		return c.readIn()
	}
	n, err := c.tryReadIn()
	if err != errWouldBlock {
		return n, err
	}
	c.dropBuffers()
	err = c.waitReadable()
	c.takeBuffers()
	if err != nil {
		return 0, err
	}
	return c.readIn()
}

// tryReadIn is readIn without waiting (tryRead).
func (c *clientConn) tryReadIn() (int, error) {
	b := &c.in
	if b.w == len(b.b) {
		return c.readIn() // a full buffer is readIn's case
	}
	n, err := c.tryRead(b.b[b.w:])
	b.w += n
	return n, err
}

// dropBuffers gives an idle connection's buffers back to the pool.
func (c *clientConn) dropBuffers() {
	c.in.release()
	if cap(c.out) == bufSize {
		*c.pout = c.out[:0]
	}
	bufPool.Put(c.pout)
	c.out, c.pout = nil, nil
}

// takeBuffers takes buffers from the pool again.
func (c *clientConn) takeBuffers() {
	c.in.acquire()
	c.pout = bufPool.Get().(*[]byte)
	c.out = (*c.pout)[:0]
}
