package h1

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// wsBackend answers an upgrade with 101, then echoes what it reads; with
// push, it also writes "p" every push until the client sent "stop".
func wsBackend(t *testing.T, push time.Duration) string {
	return rawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		if _, err := io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"); err != nil {
			return
		}
		stop := make(chan struct{})
		if push > 0 {
			go func() {
				tk := time.NewTicker(push)
				defer tk.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tk.C:
						if _, err := io.WriteString(c, "p"); err != nil {
							return
						}
					}
				}
			}()
		}
		defer close(stop)
		buf := make([]byte, 64)
		for {
			n, err := br.Read(buf)
			if err != nil {
				return
			}
			if string(buf[:n]) == "stop" {
				return
			}
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
	})
}

// upgrade opens a tunnel through the engine at addr.
func upgrade(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_, _ = io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	return c, br
}

// echo sends msg and reads it back.
func echo(c net.Conn, br *bufio.Reader, msg string) error {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(br, got); err != nil {
		return err
	}
	if string(got) != msg {
		return errors.New("echo " + string(got))
	}
	return nil
}

// closedBy waits (up to a minute) for the proxy to close c.
func closedBy(c net.Conn, br *bufio.Reader) bool {
	_ = c.SetReadDeadline(time.Now().Add(time.Minute))
	for {
		if _, err := br.ReadByte(); err != nil {
			var ne net.Error
			return !(errors.As(err, &ne) && ne.Timeout())
		}
	}
}

// An upgraded (101) connection: without timeout tunnel, idleness ends it
// at timeout client as before; with timeout tunnel it outlives timeout
// client and the server's timeout, counts bytes in either direction as
// activity, and ends after timeout tunnel with none.
func TestTunnelTimeout(t *testing.T) {
	const client = 300 * time.Millisecond // the pool's timeout server is 1s (startEngine)
	t.Run("no tunnel timeout: cut at timeout client", func(t *testing.T) {
		addr := startEngine(t, wsBackend(t, 0), Options{Client: client})
		c, br := upgrade(t, addr)
		if err := echo(c, br, "hi"); err != nil {
			t.Fatal(err)
		}
		if !closedBy(c, br) {
			t.Fatal("an idle tunnel without timeout tunnel outlived timeout client")
		}
	})
	t.Run("tunnel 1h outlives client and server timeouts", func(t *testing.T) {
		addr := startEngine(t, wsBackend(t, 0), Options{Client: client, Tunnel: time.Hour})
		c, br := upgrade(t, addr)
		time.Sleep(3 * time.Second) // idle: 10x timeout client, 3x timeout server
		if err := echo(c, br, "still open"); err != nil {
			t.Fatalf("an idle tunnel was cut inside timeout tunnel: %v", err)
		}
	})
	t.Run("server pushes, client silent: alive", func(t *testing.T) {
		addr := startEngine(t, wsBackend(t, 100*time.Millisecond), Options{Client: client, Tunnel: 1500 * time.Millisecond})
		c, br := upgrade(t, addr)
		_ = c.SetReadDeadline(time.Now().Add(time.Minute))
		for end := time.Now().Add(4 * time.Second); time.Now().Before(end); {
			if b, err := br.ReadByte(); err != nil || b != 'p' {
				t.Fatalf("the tunnel ended while the server was sending: %q %v", b, err)
			}
		}
		if err := echo(c, br, "x"); err != nil && !strings.Contains(err.Error(), "echo") {
			t.Fatal(err)
		}
		_, _ = io.WriteString(c, "stop") // the server stops pushing and closes; the tunnel ends
		if !closedBy(c, br) {
			t.Fatal("the tunnel did not end")
		}
	})
	t.Run("tunnel idle past timeout tunnel: closed", func(t *testing.T) {
		addr := startEngine(t, wsBackend(t, 0), Options{Client: time.Hour, Tunnel: 500 * time.Millisecond})
		c, br := upgrade(t, addr)
		if err := echo(c, br, "hi"); err != nil {
			t.Fatal(err)
		}
		if !closedBy(c, br) {
			t.Fatal("an idle tunnel outlived timeout tunnel")
		}
	})
}
