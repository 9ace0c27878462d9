// Package idlemem measures a proxy's memory per idle connection: how much
// its resident set (VmRSS, Linux) grows while n connections are open and
// idle. bench/proxy/idle (HTTP keep-alive) and bench/tcp (mode tcp) use
// it.
package idlemem

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"
)

// Result is one measurement.
type Result struct {
	N          int
	RSS0, RSS1 int // KB, before and with the connections open
}

// PerConn is the growth per connection in KB.
func (r Result) PerConn() float64 { return float64(r.RSS1-r.RSS0) / float64(r.N) }

// Measure opens n connections with open (conc at once) to the proxy of
// process pid, each left open and idle, and reads its RSS before and
// after (settle after each). It fails when a connection could not be made
// or the proxy closed any of them (a proxy that closes them would look
// cheap). Warm the proxy up before.
func Measure(pid, n, conc int, settle time.Duration, open func() (net.Conn, error)) (Result, error) {
	time.Sleep(settle)
	rss0, err := RSS(pid)
	if err != nil {
		return Result{}, err
	}
	conns := make([]net.Conn, n)
	errs := make([]error, conc)
	var wg sync.WaitGroup
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += conc {
				c, err := open()
				if err != nil {
					errs[w] = fmt.Errorf("connection %d: %w", i, err)
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Close()
			}
		}
	}()
	if err := errors.Join(errs...); err != nil {
		return Result{}, err
	}
	time.Sleep(settle)
	rss1, err := RSS(pid)
	if err != nil {
		return Result{}, err
	}
	alive := 0
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
		var b [1]byte
		if _, err := c.Read(b[:]); errors.Is(err, os.ErrDeadlineExceeded) {
			alive++
		}
	}
	if alive != n {
		return Result{}, fmt.Errorf("only %d of %d connections still open after %s", alive, n, settle)
	}
	return Result{N: n, RSS0: rss0, RSS1: rss1}, nil
}

// RSS returns the VmRSS of process pid in KB.
func RSS(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			return strconv.Atoi(string(bytes.Fields(v)[0]))
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}
