// Command idle measures a proxy's memory per idle keep-alive connection:
// it opens -n connections to -addr, sends one request on each and reads
// its response (keep-alive), leaves them all open and idle, and reports how
// much the resident set (VmRSS) of process -pid grew, per connection.
//
// The requests go out -concurrency at a time, so the proxy's pool of
// server connections stays small: what is measured is the client side of
// an idle connection. bench/proxy/idle.sh runs it against haraft and
// HAProxy side by side.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

func main() {
	addr := flag.String("addr", "", "proxy address host:port")
	pid := flag.Int("pid", 0, "proxy process id (its VmRSS is measured)")
	n := flag.Int("n", 5000, "idle connections to open")
	conc := flag.Int("concurrency", 8, "connections opened and requested at once")
	settle := flag.Duration("settle", 3*time.Second, "wait before each RSS reading")
	name := flag.String("name", "proxy", "name printed with the result")
	host := flag.String("host", "bench", "Host header")
	flag.Parse()
	if *addr == "" || *pid == 0 {
		fmt.Fprintln(os.Stderr, "idle: -addr and -pid are required")
		os.Exit(2)
	}
	if err := run(*name, *addr, *host, *pid, *n, *conc, *settle); err != nil {
		fmt.Fprintln(os.Stderr, "idle:", err)
		os.Exit(1)
	}
}

func run(name, addr, host string, pid, n, conc int, settle time.Duration) error {
	req := []byte("GET / HTTP/1.1\r\nHost: " + host + "\r\nCookie: SERVERID=A\r\n\r\n")
	// Warm the proxy up (its pools, its first buffers) before the baseline.
	for range 64 {
		c, err := request(addr, req)
		if err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
		_ = c.Close()
	}
	time.Sleep(settle)
	rss0, err := rssKB(pid)
	if err != nil {
		return err
	}
	conns := make([]net.Conn, n)
	errs := make([]error, conc)
	var wg sync.WaitGroup
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += conc {
				c, err := request(addr, req)
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
		return err
	}
	time.Sleep(settle)
	rss1, err := rssKB(pid)
	if err != nil {
		return err
	}
	// Every connection must still be open: a proxy that closed them
	// would look cheap.
	alive := 0
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
		var b [1]byte
		if _, err := c.Read(b[:]); errors.Is(err, os.ErrDeadlineExceeded) {
			alive++
		}
	}
	if alive != n {
		return fmt.Errorf("%s: only %d of %d connections still open after %s", name, alive, n, settle)
	}
	fmt.Printf("%s: %d idle keep-alive connections: RSS %d -> %d KB, %.1f KB per connection\n",
		name, n, rss0, rss1, float64(rss1-rss0)/float64(n))
	return nil
}

// request dials addr, sends req and reads one whole response, leaving the
// connection open.
func request(addr string, req []byte) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(req); err != nil {
		_ = c.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(c, 4096)
	resp, err := http.ReadResponse(br, nil)
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if err == nil && resp.StatusCode != 200 {
			err = fmt.Errorf("status %s", resp.Status)
		}
		if err == nil && (resp.Close || br.Buffered() > 0) {
			err = errors.New("the response closes the connection, or more bytes followed it")
		}
	}
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// rssKB returns the resident set of process pid in KB.
func rssKB(pid int) (int, error) {
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
