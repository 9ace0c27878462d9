package proxy

import (
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// pendingWaiter waits for a connection in a listening socket's accept
// queue without accepting it. A listener's own syscall.RawConn cannot
// wait (its Read is refused), so it waits on a duplicate of the socket,
// registered with the runtime's poller as a file.
type pendingWaiter struct {
	f  *os.File
	rc syscall.RawConn
}

// newPendingWaiter returns nil when ln is not a socket.
func newPendingWaiter(ln net.Listener) *pendingWaiter {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return nil
	}
	lrc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	dup := -1
	if err := lrc.Control(func(fd uintptr) { dup, _ = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil || dup < 0 {
		return nil
	}
	f := os.NewFile(uintptr(dup), "listener") // non-blocking like the socket: polled
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil
	}
	return &pendingWaiter{f: f, rc: rc}
}

// wait returns once a connection waits to be accepted, or with an error
// once close was called. The runtime's poller is edge-triggered: poll(2)
// first looks at the queue as it is, and the poller's wait only runs while
// it is empty.
func (w *pendingWaiter) wait() error {
	return w.rc.Read(func(fd uintptr) bool {
		for {
			fds := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, err := unix.Poll(fds[:], 0)
			if err == unix.EINTR {
				continue
			}
			return err != nil || n > 0 // an error: let accept report it
		}
	})
}

func (w *pendingWaiter) close() { _ = w.f.Close() }
