package l4

import (
	"net"
	"syscall"
	"unsafe"
)

// waitReadable waits, holding no buffer, until c has bytes to read, an
// end of stream or an error (or its read deadline passes). It peeks one
// byte with MSG_DONTWAIT inside the poller's wait.
func waitReadable(c net.Conn) error {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		for {
			_, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1, syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
			switch errno {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false
			case 0:
				return true
			default: // the read that follows reports it
				return true
			}
		}
	})
	return err
}
