package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haraft/haraft/internal/freeport"
)

// haproxyRun is HAProxy 2.6 in the foreground, its tcplog lines (log
// stdout) collected.
type haproxyRun struct {
	mu    sync.Mutex
	lines []string
}

// startHAProxy runs haproxy with sections (frontends, backends) after a
// global and defaults section of mode tcp with option tcplog; it skips
// the test where haproxy is not installed. It waits until bind listens.
func startHAProxy(t *testing.T, bind, sections string) *haproxyRun {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Skip("haproxy not installed (apt-get install haproxy): peer test skipped")
	}
	cfg := `global
    maxconn 1000
    nbthread 1
    log stdout format raw local0
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 5s
    timeout client 30s
    timeout server 30s
` + sections
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-db", "-f", path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	h := &haproxyRun{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			h.mu.Lock()
			h.lines = append(h.lines, sc.Text())
			h.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-done; _ = cmd.Wait() })
	waitUntil(t, "haproxy listening", func() bool {
		// The connection that succeeds is logged (the tests wait for it).
		c, err := net.DialTimeout("tcp", bind, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	return h
}

// line waits for a tcplog line from client (ip:port).
func (h *haproxyRun) line(t *testing.T, client string) string {
	t.Helper()
	var got string
	waitUntil(t, "haproxy's line for "+client, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, l := range h.lines {
			if strings.HasPrefix(l, client+" ") {
				got = l
				return true
			}
		}
		return false
	})
	return got
}

// waitLines waits until n lines were logged.
func (h *haproxyRun) waitLines(t *testing.T, n int) {
	t.Helper()
	waitUntil(t, "haproxy's log lines", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.lines) >= n
	})
}

// tcplogTimers masks the date and the Tw/Tc/Tt timers of a tcplog line.
var tcplogTimers = regexp.MustCompile(`\[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d\.\d{3}\] (\S+ \S+) (-1|\d+)/(-1|\d+)/(\d+) `)

func maskTCPLine(l string) string {
	return tcplogTimers.ReplaceAllStringFunc(l, func(m string) string {
		sm := tcplogTimers.FindStringSubmatch(m)
		mask := func(s string) string {
			if s == "-1" {
				return "-1"
			}
			return "T"
		}
		return "[DATE] " + sm[1] + " " + mask(sm[2]) + "/" + mask(sm[3]) + "/" + mask(sm[4]) + " "
	})
}

// dialFrom connects to addr from the loopback address src (any of
// 127.0.0.0/8), so that the client is told apart from the proxies.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	return c
}

// session sends "ping\n", half-closes, and reads to the end: "A\n",
// "ping\n", "bye A\n" from tcpNamed.
func pingSession(t *testing.T, c net.Conn) {
	t.Helper()
	_, _ = io.WriteString(c, "ping\n")
	_ = c.(*net.TCPConn).CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "A\nping\nbye A\n" {
		t.Fatalf("read %q %v", b, err)
	}
}

// HAProxy `server ... send-proxy-v2` in front of an accept_proxy bind:
// haraft routes and logs the client HAProxy saw, and its tcplog line is
// HAProxy's own for the same connection (date and timers masked).
func TestHAProxySendProxyToAcceptProxy(t *testing.T) {
	rec := &tcpLines{}
	f := startTCP(t, tcpOpts{acceptProxy: &AcceptProxy{}, accessLog: rec}, tcpNamed(t, "A"))
	bind := freeLoopback(t)
	h := startHAProxy(t, bind, fmt.Sprintf(`frontend tcp
    bind %s
    default_backend app
backend app
    server A %s send-proxy-v2
`, bind, f.Addr()))
	// startHAProxy's probe went through both: once both logged it, no
	// other connection is open and the counts (%ac/%fc/...) compare.
	rec.wait(t, 0)
	h.waitLines(t, 1)
	c := dialFrom(t, "127.0.0.2", bind)
	pingSession(t, c)
	client := c.LocalAddr().String()
	ours := rec.from(t, client) // the header's client, not HAProxy's address
	theirs := h.line(t, client)
	if maskTCPLine(ours) != maskTCPLine(theirs) {
		t.Fatalf("tcplog lines differ:\n haraft  %s\n haproxy %s", ours, theirs)
	}
	t.Logf("haraft  %s\nhaproxy %s", ours, theirs)
}

// haraft `send_proxy: v2` in front of HAProxy `bind ... accept-proxy`:
// HAProxy logs (%ci:%cp) the client that connected to haraft.
func TestSendProxyToHAProxyAcceptProxy(t *testing.T) {
	bind := freeLoopback(t)
	h := startHAProxy(t, bind, fmt.Sprintf(`frontend tcp
    bind %s accept-proxy
    default_backend app
backend app
    server A %s
`, bind, tcpNamed(t, "A")))
	f := startTCP(t, tcpOpts{sendProxy: 2}, bind)
	c := dialFrom(t, "127.0.0.3", f.Addr().String())
	pingSession(t, c)
	if l := h.line(t, c.LocalAddr().String()); !strings.Contains(l, " tcp app/A ") {
		t.Fatalf("haproxy's line %q", l)
	}
}

// freeLoopback returns a loopback address for HAProxy to bind by number
// (freeport: outside the ephemeral range).
func freeLoopback(t *testing.T) string { return freeport.Addr(t) }
