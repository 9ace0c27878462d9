package h1

import (
	"io"
	"runtime"
	"syscall"
	"unsafe"
)

// rawIO does an endpoint's reads and writes with raw system calls on the
// non-blocking socket (recvfrom and sendto: the socket calls skip the VFS
// layer read and write go through), through syscall.RawConn: Go's poller still does the
// waiting (and the deadlines), but the calls themselves skip the runtime's
// entersyscall/exitsyscall. A loopback read or write never blocks, and
// announcing it as a blocking call only let the runtime's monitor hand the
// one P (GOMAXPROCS=1) to another thread in the middle of it, a context
// switch each time. The functions are made once per connection: an I/O
// allocates nothing.
type rawIO struct {
	rc syscall.RawConn
	// A read and a write may run at once (a request body streams while
	// the response is read): each has its own state.
	rd, wr rawOp
	// idle is the read of a connection waiting for a request (readIdle):
	// before it waits it gives the connection's buffers back (release),
	// and takes them again (acquire, which returns where to read) once
	// the poller woke it.
	idle     func(fd uintptr) bool
	release  func()
	acquire  func() []byte
	released bool
	// parkedBefore: the descriptor is in the parker's epoll set (park_linux.go).
	parkedBefore bool
}

type rawOp struct {
	fn    func(fd uintptr) bool
	buf   []byte
	n     int
	errno syscall.Errno
}

func (e *endpoint) initRawIO() {
	sc, ok := e.conn.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	r := &rawIO{rc: rc}
	rd, wr := &r.rd, &r.wr
	rd.fn = func(fd uintptr) bool {
		for {
			n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(unsafe.SliceData(rd.buf))), uintptr(len(rd.buf)), 0, 0, 0)
			switch errno {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false
			case 0:
				rd.n = int(n)
			}
			rd.errno = errno
			return true
		}
	}
	wr.fn = func(fd uintptr) bool {
		for wr.n < len(wr.buf) {
			n, _, errno := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&wr.buf[wr.n])), uintptr(len(wr.buf)-wr.n), syscall.MSG_NOSIGNAL, 0, 0)
			switch errno {
			case 0:
				wr.n += int(n)
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false
			default:
				wr.errno = errno
				return true
			}
		}
		return true
	}
	// One RawConn.Read from the first attempt to the last: a
	// RawConn.Read first clears the poller's readiness, so waiting in a
	// second one could miss bytes that came after the first found none.
	r.idle = func(fd uintptr) bool {
		if r.released {
			rd.buf = r.acquire()
			r.released = false
		}
		if rd.fn(fd) {
			return true
		}
		r.release()
		r.released = true
		rd.buf = nil
		return false
	}
	e.rio = r
}

// setIdleBuffers sets how readIdle gives the connection's buffers back
// and takes them again; acquire returns where to read.
func (e *endpoint) setIdleBuffers(release func(), acquire func() []byte) {
	if e.rio != nil {
		e.rio.release, e.rio.acquire = release, acquire
	}
}

// idleBuffersSet reports whether setIdleBuffers was called (or is of no
// use: no raw I/O).
func (e *endpoint) idleBuffersSet() bool { return e.rio == nil || e.rio.release != nil }

// readIdle reads into p as read does; but while nothing is there to read
// the connection's buffers are given back (setIdleBuffers), and p is
// replaced by where acquire says once the poller woke it. The buffers are
// held again when it returns, whatever the outcome. Without buffer hooks
// it is read.
func (e *endpoint) readIdle(p []byte) (int, error) {
	r := e.rio
	if r == nil || r.release == nil || len(p) == 0 {
		return e.read(p)
	}
	op := &r.rd
	op.buf, op.n, op.errno = p, 0, 0
	err := r.rc.Read(r.idle)
	op.buf = nil
	if r.released { // the wait ended without a read: deadline, close
		r.acquire()
		r.released = false
	}
	switch {
	case err != nil:
		return 0, err
	case op.errno != 0:
		return 0, op.errno
	case op.n == 0:
		return 0, io.EOF
	}
	return op.n, nil
}

// read reads into p, as e.conn.Read.
func (e *endpoint) read(p []byte) (int, error) {
	if e.rio == nil || len(p) == 0 {
		return e.conn.Read(p)
	}
	op := &e.rio.rd
	op.buf, op.n, op.errno = p, 0, 0
	err := e.rio.rc.Read(op.fn)
	op.buf = nil
	switch {
	case err != nil: // deadline, closed
		return 0, err
	case op.errno != 0:
		return 0, op.errno
	case op.n == 0:
		return 0, io.EOF
	}
	return op.n, nil
}

// writeAll writes p, as e.conn.Write.
func (e *endpoint) writeAll(p []byte) error {
	if e.rio == nil || len(p) == 0 {
		_, err := e.conn.Write(p)
		return err
	}
	op := &e.rio.wr
	op.buf, op.n, op.errno = p, 0, 0
	err := e.rio.rc.Write(op.fn)
	op.buf = nil
	if err != nil {
		return err
	}
	if op.errno != 0 {
		return op.errno
	}
	return nil
}

// yieldBeforeRead lets the other runnable goroutines go first when a read
// would come right after a write to the same peer: the peer cannot have
// answered yet, and the read would fail with EAGAIN (a wasted system call)
// before the goroutine parks. Yielding costs a goroutine switch instead;
// with other connections busy, their work gives the peer the time to
// answer.
func yieldBeforeRead() { runtime.Gosched() }
