package h1

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// The pool reuses the most recently used connection, drops one the server
// closed, and closes connections left idle too long.
func TestConnPool(t *testing.T) {
	var open atomic.Int32
	addr := rawBackend(t, func(c net.Conn) {
		open.Add(1)
		_, _ = io.Copy(io.Discard, c)
		// Closed before it is counted closed: the test then probes a
		// connection whose FIN was sent (the helper's own Close runs
		// after this returns, later on a busy machine).
		_ = c.Close()
		open.Add(-1)
	})
	p := NewPool("s", addr, PoolOptions{Connect: 5 * time.Second, Server: 30 * time.Second})
	p.idleTimeout = 100 * time.Millisecond
	defer p.CloseIdle(true)

	a, err := p.get(time.Now().UnixNano())
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.get(time.Now().UnixNano())
	if err != nil {
		t.Fatal(err)
	}
	p.put(a, time.Now().UnixNano())
	p.put(b, time.Now().UnixNano())
	if got, _ := p.get(time.Now().UnixNano()); got != b || !got.reused {
		t.Fatal("not the most recently used connection")
	}
	p.put(b, time.Now().UnixNano())
	waitUntil(t, "two server connections", func() bool { return open.Load() == 2 })
	waitUntil(t, "idle connections expired", func() bool { return p.IdleCount() == 0 && open.Load() == 0 })

	// A connection the server closed while idle is not handed out.
	c, err := p.get(time.Now().UnixNano())
	if err != nil {
		t.Fatal(err)
	}
	p.put(c, time.Now().UnixNano())
	c.idleSince -= int64(2 * probeIdleAfter) // old enough to be probed
	p.idleTimeout = time.Hour
	closedAddr := c.conn.LocalAddr()
	// Make the server close it: kill every server connection.
	waitUntil(t, "server side open", func() bool { return open.Load() == 1 })
	c.conn.(*net.TCPConn).CloseWrite() // the server's io.Copy returns and it closes
	waitUntil(t, "server side closed", func() bool { return open.Load() == 0 })
	d, err := p.get(time.Now().UnixNano())
	if err != nil {
		t.Fatal(err)
	}
	if d.conn.LocalAddr().String() == closedAddr.String() {
		t.Fatal("a connection closed by the server was reused")
	}
	d.close()
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
