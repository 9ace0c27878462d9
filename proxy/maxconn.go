package proxy

import (
	"net"
	"sync"
	"sync/atomic"
)

// ConnLimit is HAProxy's maxconn: at most Max client connections open at
// once. A listener at its limit stops accepting: new connections wait in
// the kernel's accept queue (the listen backlog) until one closes; none
// is accepted and closed. One ConnLimit is the process-wide (global)
// maxconn, shared by every frontend; each frontend has one of its own.
type ConnLimit struct {
	max int
	// slots holds one token per connection accepted, or about to be: a
	// listener takes one before it calls accept. A channel of empty
	// structs allocates nothing for its buffer, and waiting senders are
	// served in order. nil: no limit, only counting.
	slots chan struct{}
	cur   atomic.Int64  // connections accepted and not yet closed
	peak  atomic.Int64  // the most open at once since the start (HAProxy's smax)
	total atomic.Uint64 // connections accepted since the start
}

// NewConnLimit returns a limit of n connections; n <= 0 only counts.
func NewConnLimit(n int) *ConnLimit {
	l := &ConnLimit{max: max(n, 0)}
	if n > 0 {
		l.slots = make(chan struct{}, n)
	}
	return l
}

// ConnStats are a limit's figures: HAProxy's scur, slim and stot.
type ConnStats struct {
	Current int64  // connections open now
	Peak    int64  // the most open at once since the start (HAProxy's smax)
	Max     int    // the limit; 0: none
	Total   uint64 // connections accepted since the start
}

// Stats returns the limit's figures.
func (l *ConnLimit) Stats() ConnStats {
	return ConnStats{Current: l.cur.Load(), Peak: l.peak.Load(), Max: l.max, Total: l.total.Load()}
}

// acquire takes a slot, waiting for one while the limit is reached; it
// gives up (false) when done closes.
func (l *ConnLimit) acquire(done <-chan struct{}) bool {
	if l == nil || l.slots == nil {
		return true
	}
	select {
	case l.slots <- struct{}{}:
		return true
	default:
	}
	select {
	case l.slots <- struct{}{}:
		return true
	case <-done:
		return false
	}
}

// giveBack returns a slot taken by acquire.
func (l *ConnLimit) giveBack() {
	if l != nil && l.slots != nil {
		<-l.slots
	}
}

func (l *ConnLimit) opened() {
	if l != nil {
		n := l.cur.Add(1)
		l.total.Add(1)
		for p := l.peak.Load(); n > p && !l.peak.CompareAndSwap(p, n); p = l.peak.Load() {
		}
	}
}

func (l *ConnLimit) closed() {
	if l != nil {
		l.cur.Add(-1)
		l.giveBack()
	}
}

// limitListener accepts a connection only when its frontend's limit and
// the global one both have room. While it waits for room it holds no
// connection: clients wait in the kernel's accept queue, as with HAProxy.
//
// The limits are never exceeded. A listener takes a slot of its own limit
// before it waits in accept (it is the only one to take them), but a slot
// of the global limit only once a connection waits in its accept queue
// (on Linux; elsewhere before it waits in accept): an idle frontend holds
// none of the slots the others share.
type limitListener struct {
	net.Listener
	own, global *ConnLimit
	pending     *pendingWaiter // sees a connection waiting to be accepted; nil: none
	done        chan struct{}
	closeOnce   sync.Once
}

// newLimitListener limits ln to maxconn connections of its own (0: no
// limit of its own) and to the shared global limit (nil: none).
func newLimitListener(ln net.Listener, maxconn int, global *ConnLimit) *limitListener {
	l := &limitListener{Listener: ln, own: NewConnLimit(maxconn), global: global, done: make(chan struct{})}
	if global != nil && global.slots != nil {
		l.pending = newPendingWaiter(ln)
	}
	return l
}

// Accept waits for room, accepts a connection and counts it; closing the
// connection returns its slots.
func (l *limitListener) Accept() (net.Conn, error) {
	c, err := l.acceptCounted()
	if err != nil {
		return nil, err
	}
	return &limitedConn{Conn: c, l: l}, nil
}

// acceptCounted is Accept without the wrapper: the caller calls release
// once the connection is closed. The HTTP/1.1 engine uses it so that its
// connections stay *net.TCPConn (splice, raw system calls, CloseWrite).
func (l *limitListener) acceptCounted() (net.Conn, error) {
	if !l.own.acquire(l.done) {
		return nil, net.ErrClosed
	}
	if l.pending != nil {
		if err := l.pending.wait(); err != nil {
			l.own.giveBack()
			select {
			case <-l.done:
				return nil, net.ErrClosed
			default:
				return nil, err
			}
		}
	}
	if !l.global.acquire(l.done) {
		l.own.giveBack()
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		l.own.giveBack()
		l.global.giveBack()
		return nil, err
	}
	l.own.opened()
	l.global.opened()
	return c, nil
}

// release counts a connection of acceptCounted closed.
func (l *limitListener) release() {
	l.own.closed()
	l.global.closed()
}

// Close stops accepting, also an Accept waiting for room.
func (l *limitListener) Close() error {
	l.closeOnce.Do(func() {
		close(l.done)
		if l.pending != nil {
			l.pending.close()
		}
	})
	return l.Listener.Close()
}

// Stats returns the listener's connection figures; Max is the frontend's
// own maxconn, or the global one when it has none (HAProxy: a frontend's
// maxconn defaults to the global maxconn).
func (l *limitListener) Stats() ConnStats {
	s := l.own.Stats()
	if s.Max == 0 && l.global != nil {
		s.Max = l.global.max
	}
	return s
}

// limitedConn returns its slots when it is first closed.
type limitedConn struct {
	net.Conn
	l      *limitListener
	closed atomic.Bool
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.l.release()
	}
	return err
}

// connStats returns the connection figures of a frontend's listener.
func connStats(ln net.Listener) ConnStats {
	if l, ok := ln.(*limitListener); ok {
		return l.Stats()
	}
	return ConnStats{}
}

// Connections returns the frontend's connection figures (maxconn).
func (f *Frontend) Connections() ConnStats { return connStats(f.ln) }

// Connections returns the frontend's connection figures (maxconn).
func (f *TLSFrontend) Connections() ConnStats { return connStats(f.ln) }

// DefaultMaxConn is the global maxconn when the configuration sets none,
// derived as HAProxy derives it: from the file descriptor limit (nofile,
// RLIMIT_NOFILE; capped at 2^20), less a reserve for listeners, Raft,
// health checks and files, halved because a proxied connection holds two
// descriptors (the client's and the server's); at least 100 (HAProxy's
// DEFAULT_MAXCONN).
func DefaultMaxConn(nofile uint64) int {
	const reserve = 100
	nofile = min(nofile, 1<<20)
	if nofile < reserve+200 {
		return 100
	}
	return int(nofile-reserve) / 2
}
