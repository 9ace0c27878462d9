package l4

import (
	"context"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// fixed routes every connection to one address.
type fixed string

func (f fixed) Open(net.Addr, net.Addr) Session { return f }
func (f fixed) Route() (string, error)          { return string(f), nil }
func (f fixed) Redispatch(error) string         { return "" }
func (f fixed) Preamble() []byte                { return nil }
func (f fixed) Done(Result)                     {}

func keepAliveOn(t *testing.T, c net.Conn) (on bool, idle int) {
	t.Helper()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	_ = rc.Control(func(fd uintptr) {
		v, _ := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
		idle, _ = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE)
		on = v != 0
	})
	return on, idle
}

// TCP keep-alive probes run on both sockets of a relayed connection (the
// client's and the server's, HAProxy's option clitcpka and srvtcpka):
// every 15 s by default, at the period asked, and off when negative.
func TestKeepAliveBothSides(t *testing.T) {
	for _, tc := range []struct {
		name     string
		period   time.Duration
		wantOn   bool
		wantIdle int
	}{
		{"default 15s", 0, true, 15},
		{"7s", 7 * time.Second, true, 7},
		{"off", -1, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			echo, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer echo.Close()
			go func() {
				for {
					c, err := echo.Accept()
					if err != nil {
						return
					}
					go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
				}
			}()
			s := NewServer(fixed(echo.Addr().String()), Options{KeepAlive: tc.period})
			ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				for {
					c, err := ln.AcceptTCP()
					if err != nil {
						return
					}
					s.ServeConn(c)
				}
			}()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(c, "x"); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
				t.Fatal(err)
			}
			s.mu.Lock()
			var r *relay
			for x := range s.conns {
				r = x
			}
			s.mu.Unlock()
			r.mu.Lock()
			client, server := r.client, r.server
			r.mu.Unlock()
			for side, conn := range map[string]net.Conn{"client": client, "server": server} {
				on, idle := keepAliveOn(t, conn)
				if on != tc.wantOn || (on && idle != tc.wantIdle) {
					t.Errorf("%s socket: keep-alive %v idle %ds, want %v %ds", side, on, idle, tc.wantOn, tc.wantIdle)
				}
			}
			c.Close()
			ctx, cancel := contextWithTimeout(10 * time.Second)
			defer cancel()
			_ = s.Shutdown(ctx)
		})
	}
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
