// Command tcpbench measures a proxy in mode tcp; bench/tcp/run.sh runs it
// against haraft and HAProxy 2.6 side by side.
//
//	tcpbench server -addr A          the server behind the proxies
//	tcpbench bulk -addr P -bytes N -conns K
//	                                 K connections push N bytes in all through P; MB/s
//	tcpbench rate -addr P -n N -c C  N short connections (C at once): connect, one
//	                                 byte each way, close; connections/s
//	tcpbench idle -addr P -pid PID -n N
//	                                 N connections made (one byte each way) and left
//	                                 idle; the RSS growth of PID per connection
//
// A connection's first byte tells the server what it is: 'B' bulk (read
// to the end, then answer the count as 8 bytes), 'C' short (answer one
// byte and close), 'I' idle (answer one byte and wait for the end).
package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/haraft/haraft/bench/internal/idlemem"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: tcpbench server|bulk|rate|idle [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	addr := fs.String("addr", "", "server or proxy address host:port")
	name := fs.String("name", "proxy", "name printed with the result")
	total := fs.Int64("bytes", 1<<30, "bulk: bytes to push in all")
	conns := fs.Int("conns", 1, "bulk: connections at once")
	n := fs.Int("n", 10000, "rate, idle: connections")
	conc := fs.Int("c", 16, "rate, idle: connections made at once")
	pid := fs.Int("pid", 0, "idle: the proxy's process id")
	settle := fs.Duration("settle", 3*time.Second, "idle: wait before each RSS reading")
	_ = fs.Parse(os.Args[2:])
	var err error
	switch os.Args[1] {
	case "server":
		err = serve(*addr)
	case "bulk":
		err = bulk(*name, *addr, *total, *conns)
	case "rate":
		err = rate(*name, *addr, *n, *conc)
	case "idle":
		err = idle(*name, *addr, *pid, *n, *conc, *settle)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tcpbench:", err)
		os.Exit(1)
	}
}

func serve(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			var kind [1]byte
			if _, err := io.ReadFull(c, kind[:]); err != nil {
				return
			}
			switch kind[0] {
			case 'B':
				n, _ := io.Copy(io.Discard, c)
				_, _ = c.Write(binary.BigEndian.AppendUint64(nil, uint64(n)))
			case 'C':
				_, _ = c.Write([]byte{'c'})
			case 'I':
				_, _ = c.Write([]byte{'i'})
				_, _ = io.Copy(io.Discard, c)
			}
		}()
	}
}

func bulk(name, addr string, total int64, conns int) error {
	per := total / int64(conns)
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	errs := make([]error, conns)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs[i] = err
				return
			}
			defer c.Close()
			if _, err := c.Write([]byte{'B'}); err != nil {
				errs[i] = err
				return
			}
			for sent := int64(0); sent < per; {
				m := min(int64(len(chunk)), per-sent)
				if _, err := c.Write(chunk[:m]); err != nil {
					errs[i] = err
					return
				}
				sent += m
			}
			_ = c.(*net.TCPConn).CloseWrite()
			var got [8]byte
			if _, err := io.ReadFull(c, got[:]); err != nil {
				errs[i] = fmt.Errorf("the server's count: %w", err)
				return
			}
			if g := int64(binary.BigEndian.Uint64(got[:])); g != per {
				errs[i] = fmt.Errorf("the server read %d bytes, %d were sent", g, per)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	d := time.Since(start)
	mb := float64(per*int64(conns)) / 1e6
	fmt.Printf("%s: bulk %d MB over %d connection(s) in %.2fs: %.0f MB/s\n", name, int64(mb), conns, d.Seconds(), mb/d.Seconds())
	return nil
}

// once makes one connection that moves one byte each way: kind 'C'
// closes it, 'I' returns it open.
func once(addr string, kind byte) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	var b [1]byte
	if _, err = c.Write([]byte{kind}); err == nil {
		_, err = io.ReadFull(c, b[:])
	}
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

func rate(name, addr string, n, conc int) error {
	var next atomic.Int64
	errs := make([]error, conc)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				c, err := once(addr, 'C')
				if err != nil {
					errs[w] = err
					return
				}
				_ = c.Close()
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	d := time.Since(start)
	fmt.Printf("%s: %d short connections (%d at once) in %.2fs: %.0f connections/s\n", name, n, conc, d.Seconds(), float64(n)/d.Seconds())
	return nil
}

func idle(name, addr string, pid, n, conc int, settle time.Duration) error {
	if pid == 0 {
		return errors.New("idle: -pid is required")
	}
	for range 64 { // warm-up
		c, err := once(addr, 'C')
		if err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
		_ = c.Close()
	}
	r, err := idlemem.Measure(pid, n, conc, settle, func() (net.Conn, error) { return once(addr, 'I') })
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	fmt.Printf("%s: %d idle connections: RSS %d -> %d KB, %.1f KB per connection\n", name, n, r.RSS0, r.RSS1, r.PerConn())
	return nil
}
