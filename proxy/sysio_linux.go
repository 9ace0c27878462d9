package proxy

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
	// park waits once for the socket to become readable (waitReadable).
	park   func(fd uintptr) bool
	parked bool    // park found nothing and waits
	peek   [1]byte // park's MSG_PEEK buffer
}

type rawOp struct {
	fn     func(fd uintptr) bool
	buf    []byte
	n      int
	errno  syscall.Errno
	nowait bool // a read returns EAGAIN instead of waiting (tryRead)
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
				if !rd.nowait {
					return false
				}
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
	// RawConn.Read first clears the poller's readiness (a notification
	// that came since the EAGAIN of the tryRead before would be lost), so
	// park first looks for bytes itself, without taking them (MSG_PEEK),
	// and waits only when there are none: bytes that came between the
	// tryRead and this wait end it at once, not at the read deadline.
	// Once the poller woke it, the socket is readable.
	r.park = func(fd uintptr) bool {
		if r.parked {
			return true
		}
		for {
			_, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&r.peek[0])), 1, syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
			switch errno {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				r.parked = true
				return false
			}
			return true
		}
	}
	e.rio = r
}

// tryRead reads into p without waiting: errWouldBlock when nothing is
// there to read. Without raw I/O it is read, which waits.
func (e *endpoint) tryRead(p []byte) (int, error) {
	if e.rio == nil || len(p) == 0 {
		return e.read(p)
	}
	e.rio.rd.nowait = true
	n, err := e.read(p)
	e.rio.rd.nowait = false
	if err == syscall.EAGAIN {
		return 0, errWouldBlock
	}
	return n, err
}

// waitReadable waits, after tryRead found nothing, until the connection
// is readable (bytes, end of stream or an error), its read deadline
// passes or it is closed; it reads nothing.
func (e *endpoint) waitReadable() error {
	if e.rio == nil {
		return nil
	}
	e.rio.parked = false
	return e.rio.rc.Read(e.rio.park)
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
