package tcpcheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// MaxRead is the most an expect step holds of the server's answer (HAProxy's
// check buffer, tune.bufsize, is 16 KiB too): past it without a match the
// step fails, so a server streaming garbage costs a check at most this.
const MaxRead = 16 << 10

// readChunk is how much one read asks for.
const readChunk = 4 << 10

// sampleLen is how many of the received bytes a reason quotes.
const sampleLen = 32

// Run runs steps in order on conn, under ctx's deadline (the check's
// timeout), and returns the first failure with a reason naming its step
// (numbered from 1, as listed). As in HAProxy 2.6, an expect looks at
// everything read since the last send (a match consumes nothing, so two
// expects in a row search the same answer), and a send drops what was
// read before it. Run neither dials nor closes conn.
func Run(ctx context.Context, conn net.Conn, steps []Step) error {
	if d, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(d); err != nil {
			return err
		}
	}
	// A cancelled check (the monitor stops) ends a blocked read or write.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	var buf []byte
	for i, s := range steps {
		n := i + 1
		if s.Kind == Send {
			buf = buf[:0]
			if _, err := conn.Write(s.Data); err != nil {
				if isTimeout(err) {
					return fmt.Errorf("timeout at step %d (%s)", n, s)
				}
				return fmt.Errorf("step %d (%s): %w", n, s, err)
			}
			continue
		}
		var err error
		if buf, err = expect(conn, buf, n, s); err != nil {
			return err
		}
	}
	return nil
}

// expect reads until s matches in buf (what earlier expects since the
// last send read, and more) and returns buf.
func expect(conn net.Conn, buf []byte, n int, s Step) ([]byte, error) {
	for {
		if s.match(buf) >= 0 {
			return buf, nil
		}
		if len(buf) >= MaxRead {
			return nil, fmt.Errorf("step %d: %s not found in %d bytes (the read limit)%s", n, s, len(buf), sample(buf))
		}
		if cap(buf)-len(buf) == 0 {
			nb := make([]byte, len(buf), min(MaxRead, max(2*cap(buf), len(buf)+readChunk)))
			copy(nb, buf)
			buf = nb
		}
		m, err := conn.Read(buf[len(buf):min(cap(buf), MaxRead)])
		buf = buf[:len(buf)+m]
		if err == nil {
			continue
		}
		if s.match(buf) >= 0 { // the last bytes came with the error
			continue
		}
		switch {
		case isTimeout(err) && len(buf) == 0:
			return nil, fmt.Errorf("timeout at step %d (%s): nothing received", n, s)
		case isTimeout(err):
			return nil, fmt.Errorf("timeout at step %d: %s not found in %d bytes%s", n, s, len(buf), sample(buf))
		case errors.Is(err, io.EOF):
			return nil, fmt.Errorf("step %d: %s not found in %d bytes: the server closed the connection%s", n, s, len(buf), sample(buf))
		}
		return nil, fmt.Errorf("step %d (%s): %w", n, s, err)
	}
}

// match returns the end of s's first match in b, or -1.
func (s Step) match(b []byte) int {
	switch s.Kind {
	case ExpectString, ExpectBinary:
		if i := bytes.Index(b, s.Data); i >= 0 {
			return i + len(s.Data)
		}
	case ExpectRString:
		if loc := s.Re.FindIndex(b); loc != nil {
			return loc[1]
		}
	}
	return -1
}

// sample quotes the first bytes received, for a reason.
func sample(b []byte) string {
	switch {
	case len(b) == 0:
		return ""
	case len(b) > sampleLen:
		return fmt.Sprintf(" (%q...)", b[:sampleLen])
	}
	return fmt.Sprintf(" (%q)", b)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
