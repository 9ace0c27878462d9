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
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/haraft/haraft/bench/internal/idlemem"
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
	r, err := idlemem.Measure(pid, n, conc, settle, func() (net.Conn, error) { return request(addr, req) })
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	fmt.Printf("%s: %d idle keep-alive connections: RSS %d -> %d KB, %.1f KB per connection\n",
		name, n, r.RSS0, r.RSS1, r.PerConn())
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
