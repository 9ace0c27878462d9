package h1

import (
	"sync"
	"syscall"
	"time"
)

// parker holds kept-alive client connections that have waited
// Options.IdlePark for their next request without one: they wait in an
// epoll set of the server's own, with no goroutine (a parked goroutine
// keeps its stack, 4–8 KB once it has served a request; a parked
// connection keeps about 1 KB). One goroutine waits on the set; when a
// connection becomes readable (a request, or the client closing) it starts
// a goroutine that serves it from where it stopped. Every sweepEvery it
// closes the connections whose http_keep_alive ran out.
//
// The descriptors are also in Go's own poller, edge-triggered: a second
// epoll set beside it is allowed, and Go's poller keeps no goroutine
// waiting on them while they are here.
type parker struct {
	epfd   int
	wakeR  int // the read end of a pipe whose write end (wakeW) ends the loop
	wakeW  int
	mu     sync.Mutex
	conns  map[int32]*clientConn // by descriptor
	closed bool
	done   chan struct{}
}

// sweepEvery is how often the parker looks for connections whose
// keep-alive timeout passed: the precision of http_keep_alive for parked
// connections.
const sweepEvery = 100 * time.Millisecond

func newParker() (*parker, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		_ = syscall.Close(epfd)
		return nil, err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(p[0])}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p[0], &ev); err != nil {
		_ = syscall.Close(epfd)
		_ = syscall.Close(p[0])
		_ = syscall.Close(p[1])
		return nil, err
	}
	pk := &parker{epfd: epfd, wakeR: p[0], wakeW: p[1], conns: map[int32]*clientConn{}, done: make(chan struct{})}
	go pk.loop()
	return pk, nil
}

// add parks c, which is idle (connIdle) and has given its buffers back,
// until its socket is readable or until (unix ns) passed. It reports
// whether c left its goroutine's hands: parked, or taken by Shutdown in
// the meantime; either way the caller must not touch c again. On false c
// is still idle and the caller's.
func (pk *parker) add(c *clientConn, until int64) bool {
	r := c.rio
	if r == nil {
		return false
	}
	var fd int32 = -1
	if err := r.rc.Control(func(s uintptr) { fd = int32(s) }); err != nil {
		return false
	}
	// Every move out of connParked happens under pk.mu (the loop, the
	// sweep, Shutdown's take): c is in conns exactly while it is parked.
	pk.mu.Lock()
	if pk.closed || !c.state.CompareAndSwap(connIdle, connParked) {
		pk.mu.Unlock()
		return false
	}
	c.parkUntil, c.parkFD = until, fd
	pk.conns[fd] = c
	// A one-shot registration stays in the set, disabled, after it fired:
	// a connection parked before is modified, a new one added.
	op, other := syscall.EPOLL_CTL_ADD, syscall.EPOLL_CTL_MOD
	if r.parkedBefore {
		op, other = other, op
	}
	r.parkedBefore = true
	pk.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: fd}
	err := syscall.EpollCtl(pk.epfd, op, int(fd), &ev)
	if err == syscall.EEXIST || err == syscall.ENOENT {
		err = syscall.EpollCtl(pk.epfd, other, int(fd), &ev)
	}
	if err == nil {
		return true
	}
	pk.mu.Lock()
	defer pk.mu.Unlock()
	if pk.conns[fd] == c && c.state.CompareAndSwap(connParked, connIdle) {
		delete(pk.conns, fd)
		return false
	}
	return true // Shutdown took it
}

// take moves a parked c to connClosing and forgets it, for Shutdown to
// end it; false when c is not parked.
func (pk *parker) take(c *clientConn) bool {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	if !c.state.CompareAndSwap(connParked, connClosing) {
		return false
	}
	if pk.conns[c.parkFD] == c {
		delete(pk.conns, c.parkFD)
	}
	return true
}

// parked returns how many connections are parked.
func (pk *parker) parked() int {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	return len(pk.conns)
}

func (pk *parker) loop() {
	defer close(pk.done)
	events := make([]syscall.EpollEvent, 256)
	var expired []*clientConn
	nextSweep := time.Now().Add(sweepEvery)
	for {
		n, err := syscall.EpollWait(pk.epfd, events, int(sweepEvery/time.Millisecond))
		if err != nil && err != syscall.EINTR {
			return
		}
		for _, ev := range events[:max(n, 0)] {
			if int(ev.Fd) == pk.wakeR {
				return
			}
			pk.mu.Lock()
			c := pk.conns[ev.Fd]
			// A descriptor closed and reused since it fired wakes
			// another parked connection for nothing: it reads nothing
			// and parks again.
			woke := c != nil && c.state.CompareAndSwap(connParked, connIdle)
			if woke {
				delete(pk.conns, ev.Fd)
			}
			pk.mu.Unlock()
			if woke {
				go c.resume()
			}
		}
		if now := time.Now(); now.After(nextSweep) {
			nextSweep = now.Add(sweepEvery)
			t := now.UnixNano()
			pk.mu.Lock()
			for fd, c := range pk.conns {
				if t >= c.parkUntil && c.state.CompareAndSwap(connParked, connClosing) {
					delete(pk.conns, fd)
					expired = append(expired, c)
				}
			}
			pk.mu.Unlock()
			for i, c := range expired {
				go c.endParked()
				expired[i] = nil
			}
			expired = expired[:0]
		}
	}
}

// close ends the loop; the server's connections are all gone by then.
func (pk *parker) close() {
	pk.mu.Lock()
	if pk.closed {
		pk.mu.Unlock()
		return
	}
	pk.closed = true
	pk.mu.Unlock()
	_, _ = syscall.Write(pk.wakeW, []byte{0})
	<-pk.done
	_ = syscall.Close(pk.epfd)
	_ = syscall.Close(pk.wakeR)
	_ = syscall.Close(pk.wakeW)
}
