package h1

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// bufSize is the size of the pooled I/O buffers, HAProxy's default
// tune.bufsize. A head that does not fit grows its buffer up to the
// frontend's MaxHeaderBytes.
const bufSize = 16 << 10

// bufPool holds the buffers of connections that are being served; a
// backend connection gives its buffer back while it sits idle in its pool.
var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

var errLineTooLong = errors.New("line too long")

// rbuf is a connection's read buffer: b[r:w] is read but not consumed.
type rbuf struct {
	b      []byte
	r, w   int
	pooled *[]byte // the pooled buffer b came from, nil once grown
}

func (b *rbuf) acquire() {
	if b.b == nil {
		b.pooled = bufPool.Get().(*[]byte)
		b.b = (*b.pooled)[:cap(*b.pooled)] // output buffers come back empty
	}
}

func (b *rbuf) release() {
	if b.pooled != nil {
		bufPool.Put(b.pooled)
	}
	*b = rbuf{}
}

func (b *rbuf) data() []byte  { return b.b[b.r:b.w] }
func (b *rbuf) buffered() int { return b.w - b.r }
func (b *rbuf) full() bool    { return b.r == 0 && b.w == len(b.b) }

// consume drops n bytes from the front.
func (b *rbuf) consume(n int) {
	b.r += n
	if b.r == b.w {
		b.r, b.w = 0, 0
	}
}

// grow makes room for size bytes of unconsumed data (heads larger than
// bufSize).
func (b *rbuf) grow(size int) {
	nb := make([]byte, size)
	b.w = copy(nb, b.b[b.r:b.w])
	b.r = 0
	if b.pooled != nil {
		bufPool.Put(b.pooled)
		b.pooled = nil
	}
	b.b = nb
}

// endpoint is one side of a proxied exchange: a connection, its read
// buffer and its inactivity timeouts (HAProxy's timeout client / server),
// armed lazily (see armRead).
type endpoint struct {
	conn     net.Conn
	in       rbuf
	rto, wto time.Duration
	rdl, wdl int64 // armed read and write deadlines, unix ns; 0 none
	// rat, wat: a clock reading (unix ns) the next read or write may arm
	// its deadline from instead of reading the clock again; used once.
	// The hot path reads the clock once per request.
	rat, wat int64
	rio      *rawIO // raw system calls (sysio_linux.go); nil: e.conn's methods
	// written counts the bytes written (and spliced) to the peer, for the
	// access log's byte counts.
	written int64
	nread   int64 // bytes read from the peer
}

// fill reads more into the buffer under the read timeout.
func (e *endpoint) fill() (int, error) {
	armRead(e.conn, &e.rdl, e.rto, e.rat)
	e.rat = 0
	return e.readIn()
}

// readIn reads once into the buffer's free tail, moving unconsumed bytes
// to the front first when the tail is full.
func (e *endpoint) readIn() (int, error) {
	b := &e.in
	if b.w == len(b.b) {
		if b.r == 0 {
			return 0, errLineTooLong
		}
		b.w = copy(b.b, b.b[b.r:b.w])
		b.r = 0
	}
	n, err := e.read(b.b[b.w:])
	b.w += n
	e.nread += int64(n)
	return n, err
}

// write writes p under the write timeout.
func (e *endpoint) write(p []byte) error {
	armWrite(e.conn, &e.wdl, e.wto, e.wat)
	e.wat = 0
	if err := e.writeAll(p); err != nil {
		return err
	}
	e.written += int64(len(p))
	return nil
}

// armRead sets c's read deadline to now+d, unless the deadline already
// armed is at most d/16 earlier than that: keep-alive connections then
// touch the runtime's timers about once per d/16 instead of on every
// request, and a timeout fires between 15/16·d and d after the last
// activity. now is a recent clock reading in unix ns, 0 to read the clock.
func armRead(c net.Conn, armed *int64, d time.Duration, now int64) {
	if d <= 0 {
		return
	}
	if now == 0 {
		now = time.Now().UnixNano()
	}
	want := now + int64(d)
	if cur := *armed; cur <= want && want-cur <= int64(d)>>4 {
		return
	}
	*armed = want
	_ = c.SetReadDeadline(time.Unix(0, want))
}

// armWrite is armRead for the write deadline.
func armWrite(c net.Conn, armed *int64, d time.Duration, now int64) {
	if d <= 0 {
		return
	}
	if now == 0 {
		now = time.Now().UnixNano()
	}
	want := now + int64(d)
	if cur := *armed; cur <= want && want-cur <= int64(d)>>4 {
		return
	}
	*armed = want
	_ = c.SetWriteDeadline(time.Unix(0, want))
}

// backendConn is a connection to a server, pooled between requests.
type backendConn struct {
	endpoint
	pool      *Pool
	idleSince int64 // unix ns it was put back
	reused    bool  // it served a request before this one
}

func (bc *backendConn) close() {
	_ = bc.conn.Close()
	bc.in.release()
}

// Pool sizing: idle connections kept per server, and how long one may
// stay idle (below the 5 s keep-alive timeout of Apache and HAProxy's
// pool-purge-delay, so the server rarely closes one we are about to use).
const (
	maxIdlePerServer = 1024
	poolIdleTimeout  = 4 * time.Second
	// probeIdleAfter: a connection idle longer than this is checked for a
	// close by the server before it is reused.
	probeIdleAfter = time.Second
)

// PoolOptions configure a Pool. Timeouts are HAProxy's of the same names.
type PoolOptions struct {
	Connect time.Duration // timeout connect
	Server  time.Duration // timeout server: inactivity of the server connection
	// Close is HAProxy's option httpclose: both connections close after
	// each response (Connection: close to the server and to the client),
	// and no server connection is kept.
	Close bool
}

// Pool is one upstream server: its address and its idle keep-alive
// connections, most recently used first (the one least likely to have
// been closed by the server). A Session's Route names one.
type Pool struct {
	name   string
	addr   string
	dialer net.Dialer
	rto    time.Duration // timeout server
	close  bool          // option httpclose
	// idleTimeout is how long a connection may stay idle (poolIdleTimeout).
	idleTimeout time.Duration
	mu          sync.Mutex
	idle        []*backendConn // oldest first
	closed      bool
	janitor     *time.Timer // closes connections idle too long; nil when none is pending
	// tunnels are the connections to the server carrying an upgraded
	// (101) connection, for CloseTunnels.
	tunnels map[*backendConn]struct{}
}

// NewPool returns the pool of the server name (for logs and error
// answers) at addr.
func NewPool(name, addr string, o PoolOptions) *Pool {
	return &Pool{name: name, addr: addr, rto: o.Server, close: o.Close, idleTimeout: poolIdleTimeout,
		dialer: net.Dialer{Timeout: o.Connect, KeepAlive: 30 * time.Second}}
}

// Name returns the server's name.
func (p *Pool) Name() string { return p.name }

// Addr returns the server's address.
func (p *Pool) Addr() string { return p.addr }

// get returns an idle connection or dials a new one; now is the time in
// unix ns.
func (p *Pool) get(now int64) (*backendConn, error) {
	p.mu.Lock()
	for n := len(p.idle); n > 0; n = len(p.idle) {
		bc := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		idle := time.Duration(now - bc.idleSince)
		if idle > p.idleTimeout {
			bc.close()
			continue
		}
		if idle > probeIdleAfter && !connAlive(bc.conn) {
			bc.close()
			continue
		}
		p.mu.Unlock()
		bc.reused = true
		bc.in.acquire()
		return bc, nil
	}
	p.mu.Unlock()
	return p.dial()
}

// dial opens a new connection to the server.
func (p *Pool) dial() (*backendConn, error) {
	c, err := p.dialer.Dial("tcp", p.addr)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", p.addr, err)
	}
	bc := &backendConn{endpoint: endpoint{conn: c, rto: p.rto, wto: p.rto}, pool: p}
	bc.initRawIO()
	bc.in.acquire()
	return bc, nil
}

// put returns a connection whose exchange completed cleanly, at now (unix
// ns).
func (p *Pool) put(bc *backendConn, now int64) {
	if bc.in.buffered() > 0 { // the server sent more than its response
		bc.close()
		return
	}
	// An idle connection keeps its read buffer: a pool Get and Put less per
	// request; the pool holds its connections at most idleTimeout.
	bc.idleSince = now
	p.mu.Lock()
	if p.closed || len(p.idle) >= maxIdlePerServer {
		p.mu.Unlock()
		bc.close()
		return
	}
	p.idle = append(p.idle, bc)
	if p.janitor == nil {
		p.janitor = time.AfterFunc(p.idleTimeout, p.expire)
	}
	p.mu.Unlock()
}

// expire closes the connections idle longer than idleTimeout, so a quiet
// pool does not keep sockets the server has long closed; it runs again
// while connections are left.
func (p *Pool) expire() {
	cutoff := time.Now().Add(-p.idleTimeout).UnixNano()
	p.mu.Lock()
	n := 0
	for n < len(p.idle) && p.idle[n].idleSince <= cutoff {
		n++
	}
	old := make([]*backendConn, n)
	copy(old, p.idle[:n])
	p.idle = append(p.idle[:0], p.idle[n:]...)
	clear(p.idle[len(p.idle):cap(p.idle)])
	p.janitor = nil
	if len(p.idle) > 0 && !p.closed {
		p.janitor = time.AfterFunc(time.Duration(p.idle[0].idleSince-cutoff), p.expire)
	}
	p.mu.Unlock()
	for _, bc := range old {
		bc.close()
	}
}

func (p *Pool) addTunnel(bc *backendConn) {
	p.mu.Lock()
	if p.tunnels == nil {
		p.tunnels = map[*backendConn]struct{}{}
	}
	p.tunnels[bc] = struct{}{}
	p.mu.Unlock()
}

func (p *Pool) removeTunnel(bc *backendConn) {
	p.mu.Lock()
	delete(p.tunnels, bc)
	p.mu.Unlock()
}

// CloseTunnels closes the upgraded (WebSocket) connections to the server,
// which ends them on the client's side too, and returns how many (a
// drained server's, at its deadline).
func (p *Pool) CloseTunnels() int {
	p.mu.Lock()
	conns := make([]net.Conn, 0, len(p.tunnels))
	for bc := range p.tunnels {
		conns = append(conns, bc.conn)
	}
	p.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
	return len(conns)
}

// Tunnels returns the number of upgraded connections to the server.
func (p *Pool) Tunnels() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.tunnels)
}

// CloseIdle closes the idle connections and returns how many; with stop,
// the pool keeps none from now on.
func (p *Pool) CloseIdle(stop bool) int {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	if stop {
		p.closed = true
		if p.janitor != nil {
			p.janitor.Stop()
			p.janitor = nil
		}
	}
	p.mu.Unlock()
	for _, bc := range idle {
		bc.close()
	}
	return len(idle)
}

// IdleCount returns the number of idle connections.
func (p *Pool) IdleCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}
