package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
	"github.com/haraft/haraft/proxy/accesslog"
	"google.golang.org/protobuf/proto"
)

// tcpNamed is a TCP server that says "NAME\n" and then echoes; at the
// client's end of stream it says "bye NAME\n" and closes.
func tcpNamed(t testing.TB, name string) string {
	return rawBackend(t, func(c net.Conn) {
		defer c.Close()
		_, _ = io.WriteString(c, name+"\n")
		_, _ = io.Copy(c, c)
		_, _ = io.WriteString(c, "bye "+name+"\n")
	})
}

// fsmState is a State backed by a real FSM, changed by applying commands.
type fsmState struct{ *fsm.FSM }

func newFSMState(t testing.TB) fsmState { return fsmState{fsm.New(nil)} }

func (s fsmState) apply(t testing.TB, mt fsm.MessageType, m proto.Message) {
	t.Helper()
	b, err := fsm.Encode(mt, m)
	if err != nil {
		t.Fatal(err)
	}
	if r := s.ApplyCommand(b); r.GetError() != "" {
		t.Fatalf("apply: %s", r.GetError())
	}
}

type tcpOpts struct {
	balance  string
	maxconn  []int
	timeouts Timeouts
	redisp   bool
	state    State
	// PROXY protocol: accepted on the bind, sent to the servers (1, 2)
	acceptProxy *AcceptProxy
	sendProxy   int
	accessLog   accesslog.Logger
}

// startTCP serves a mode tcp frontend over servers at addrs, named A, B, …
func startTCP(t testing.TB, o tcpOpts, addrs ...string) *TCPFrontend {
	t.Helper()
	bo := BackendOptions{Name: "app", Balance: o.balance, Timeouts: o.timeouts}
	for i, a := range addrs {
		so := ServerOptions{Name: string(rune('A' + i)), Addr: a, Weight: 1, SendProxy: o.sendProxy}
		if i < len(o.maxconn) {
			so.MaxConn = o.maxconn[i]
		}
		bo.Servers = append(bo.Servers, so)
	}
	b, err := NewBackend(bo)
	if err != nil {
		t.Fatal(err)
	}
	st := o.state
	if st == nil {
		st = &stubState{}
	}
	f, err := NewTCPFrontend(FrontendOptions{Name: "tcp", Bind: "127.0.0.1:0", Backend: b, Timeouts: o.timeouts, Redispatch: o.redisp,
		AcceptProxy: o.acceptProxy, AccessLog: o.accessLog}, st, nil, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	serveUntilCleanup(t, f, b)
	return f
}

// tcpDial connects through f and returns the connection and the name of
// the server that answered.
func tcpDial(t testing.TB, f *TCPFrontend) (net.Conn, *bufio.Reader, string) {
	t.Helper()
	c, err := net.Dial("tcp", f.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("reading the server's name: %v", err)
	}
	return c, br, strings.TrimSpace(line)
}

func TestTCPBalancesAndRelays(t *testing.T) {
	for _, bal := range []string{"roundrobin", "leastconn"} {
		t.Run(bal, func(t *testing.T) {
			f := startTCP(t, tcpOpts{balance: bal}, tcpNamed(t, "A"), tcpNamed(t, "B"))
			// All four stay open while the next is balanced: leastconn
			// spreads them too.
			type open struct {
				c    net.Conn
				br   *bufio.Reader
				name string
			}
			var conns []open
			seen := map[string]int{}
			for i := 0; i < 4; i++ {
				c, br, name := tcpDial(t, f)
				seen[name]++
				conns = append(conns, open{c, br, name})
			}
			for _, o := range conns {
				c, br, name := o.c, o.br, o.name
				if _, err := io.WriteString(c, "ping\n"); err != nil {
					t.Fatal(err)
				}
				if l, err := br.ReadString('\n'); err != nil || l != "ping\n" {
					t.Fatalf("echo: %q %v", l, err)
				}
				// A half-close reaches the server, whose answer still
				// comes back.
				if err := c.(*net.TCPConn).CloseWrite(); err != nil {
					t.Fatal(err)
				}
				if l, err := br.ReadString('\n'); err != nil || l != "bye "+name+"\n" {
					t.Fatalf("after half-close: %q %v", l, err)
				}
				if _, err := br.ReadByte(); err != io.EOF {
					t.Fatalf("want EOF after the server closed, got %v", err)
				}
			}
			if seen["A"] != 2 || seen["B"] != 2 {
				t.Fatalf("connections per server: %v", seen)
			}
			waitFor(t, func() bool { return f.Stats().Requests == 4 })
			tr := f.Traffic()
			in, out := tr.BytesIn, tr.BytesOut
			if in != uint64(4*len("ping\n")) || out == 0 {
				t.Fatalf("bytes in %d out %d", in, out)
			}
			if n := f.Latency().Count; n != 4 {
				t.Fatalf("connection durations observed: %d, want 4", n)
			}
		})
	}
}

// waitFor polls cond for up to 10 s.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTCPAgreedStates(t *testing.T) {
	st := newFSMState(t)
	f := startTCP(t, tcpOpts{state: st}, tcpNamed(t, "A"), tcpNamed(t, "B"), tcpNamed(t, "C"))
	// A is drained (existing connections stay, no new ones), B is agreed
	// down: every new connection goes to C.
	held, _, heldOn := tcpDial(t, f)
	st.apply(t, fsm.SetServerAdminType, &fsmpb.SetServerAdmin{Backend: "app", Name: heldOn, Admin: fsmpb.AdminState_ADMIN_DRAIN})
	other := map[string]string{"A": "B", "B": "A", "C": "A"}[heldOn]
	st.apply(t, fsm.SetServerHealthType, &fsmpb.SetServerHealth{Backend: "app", Name: other, Health: fsmpb.Health_HEALTH_DOWN, StampUnixMs: 1})
	want := map[string]bool{"A": true, "B": true, "C": true}
	delete(want, heldOn)
	delete(want, other)
	for i := 0; i < 6; i++ {
		c, _, name := tcpDial(t, f)
		if !want[name] {
			t.Fatalf("connection %d went to %s (drained: %s, down: %s)", i, name, heldOn, other)
		}
		c.Close()
	}
	// The drained server's connection still works; closing it by name
	// (the drain deadline) ends it.
	if _, err := io.WriteString(held, "still\n"); err != nil {
		t.Fatal(err)
	}
	if n := f.CloseServer(heldOn); n != 1 {
		t.Fatalf("CloseServer closed %d connections, want 1", n)
	}
	br := bufio.NewReader(held)
	if _, err := io.ReadAll(br); err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("held connection after CloseServer: %v", err)
	}
}

func TestTCPServerMaxConn(t *testing.T) {
	f := startTCP(t, tcpOpts{maxconn: []int{1}, balance: "roundrobin"}, tcpNamed(t, "A"), tcpNamed(t, "B"))
	var onA net.Conn
	for onA == nil {
		c, _, name := tcpDial(t, f)
		if name == "A" {
			onA = c
		} else {
			c.Close()
		}
	}
	// While A's one slot is held, every connection goes to B.
	for i := 0; i < 4; i++ {
		c, _, name := tcpDial(t, f)
		if name != "B" {
			t.Fatalf("connection %d went to %s while A is at its maxconn", i, name)
		}
		c.Close()
	}
	if a := f.backend.Server("A").Active(); a != 1 {
		t.Fatalf("A active %d, want 1", a)
	}
	onA.Close()
	waitFor(t, func() bool { return f.backend.Server("A").Active() == 0 })
}

func TestTCPRedispatch(t *testing.T) {
	dead := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a := ln.Addr().String()
		ln.Close()
		return a
	}()
	f := startTCP(t, tcpOpts{redisp: true}, dead, tcpNamed(t, "B"))
	for i := 0; i < 4; i++ {
		c, _, name := tcpDial(t, f)
		if name != "B" {
			t.Fatalf("got %s", name)
		}
		c.Close()
	}
	if f.Stats().Redispatches == 0 {
		t.Fatal("no redispatch counted")
	}
}

func TestTCPTimeouts(t *testing.T) {
	// A server that streams a byte every 20 ms for 600 ms: the client
	// sends nothing, but the connection is not idle.
	streamer := rawBackend(t, func(c net.Conn) {
		defer c.Close()
		_, _ = io.WriteString(c, "S\n")
		for i := 0; i < 30; i++ {
			time.Sleep(20 * time.Millisecond)
			if _, err := c.Write([]byte{'x'}); err != nil {
				return
			}
		}
		_, _ = io.WriteString(c, "\n")
		_, _ = io.Copy(io.Discard, c)
	})
	to := Timeouts{Client: 150 * time.Millisecond, Server: 150 * time.Millisecond}
	f := startTCP(t, tcpOpts{timeouts: to}, streamer)
	_, br, _ := tcpDial(t, f)
	line, err := br.ReadString('\n')
	if err != nil || len(line) != 31 {
		t.Fatalf("stream cut: %q %v", line, err)
	}
	// Then both sides are silent: the connection is closed.
	start := time.Now()
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("idle connection not closed")
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("idle connection closed late")
	}

	// timeout tunnel replaces client/server once connected.
	idleEcho := tcpNamed(t, "E")
	f2 := startTCP(t, tcpOpts{timeouts: Timeouts{Client: 50 * time.Millisecond, Server: 50 * time.Millisecond, Tunnel: time.Minute}}, idleEcho)
	c, br2, _ := tcpDial(t, f2)
	time.Sleep(300 * time.Millisecond)
	if _, err := io.WriteString(c, "late\n"); err != nil {
		t.Fatal(err)
	}
	if l, err := br2.ReadString('\n'); err != nil || l != "late\n" {
		t.Fatalf("tunnel connection: %q %v", l, err)
	}
}

func TestTCPShutdownClosesAtDeadline(t *testing.T) {
	b, err := NewBackend(BackendOptions{Name: "app", Servers: []ServerOptions{{Name: "A", Addr: tcpNamed(t, "A"), Weight: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewTCPFrontend(FrontendOptions{Name: "tcp", Bind: "127.0.0.1:0", Backend: b}, &stubState{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- f.Serve() }()
	c, br, _ := tcpDial(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := f.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("shutdown with a live connection: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(c, "x\n")
	if _, err := br.ReadString('\n'); err == nil {
		t.Fatal("connection alive after shutdown")
	}
	b.Close()
}

// An address the balancer cannot parse is balanced like any other.
func TestTCPUnparsableSource(t *testing.T) {
	f := startTCP(t, tcpOpts{balance: "source"}, tcpNamed(t, "A"), tcpNamed(t, "B"))
	for _, ip := range []string{"", "not an address", "::ffff:zz", strings.Repeat("9", 4096), "\x00\xff"} {
		s := f.Open(rawAddr(ip), rawAddr(""))
		addr, err := s.Route()
		if err != nil || addr == "" {
			t.Fatalf("%q: %q %v", ip, addr, err)
		}
		s.(*tcpSession).slot.release(false)
	}
}

// rawAddr is a client address of any form.
type rawAddr string

func (a rawAddr) Network() string { return "tcp" }
func (a rawAddr) String() string  { return string(a) }
