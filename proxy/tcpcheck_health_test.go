package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/haraft/haraft/proto/fsmpb"
	"github.com/haraft/haraft/proxy/internal/h1test"
	"github.com/haraft/haraft/proxy/proxyproto"
	"github.com/haraft/haraft/proxy/tcpcheck"
)

// pingSteps is a Redis check: send PING, expect +PONG.
func pingSteps(t *testing.T) []tcpcheck.Step {
	t.Helper()
	send, err := tcpcheck.ParseSend(`PING\r\n`)
	if err != nil {
		t.Fatal(err)
	}
	expect, err := tcpcheck.ParseExpect("string", "+PONG")
	if err != nil {
		t.Fatal(err)
	}
	return []tcpcheck.Step{send, expect}
}

// proxiedRedis is a server behind a PROXY protocol reader: a connection
// must begin with a header (sent on headers), then PING is answered +PONG.
func proxiedRedis(t *testing.T, headers chan<- proxyproto.Header) string {
	return rawBackend(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		r := bufio.NewReader(c)
		h, err := proxyproto.Read(r)
		if err != nil {
			return // what a PROXY-expecting server does with a bare connection
		}
		select {
		case headers <- h:
		default:
		}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if strings.TrimSpace(line) == "PING" {
				_, _ = io.WriteString(c, "+PONG\r\n")
			}
		}
	})
}

// runMonitor runs a health monitor of b and returns the views it reports.
func runMonitor(t *testing.T, b *Backend) <-chan *fsmpb.HealthView {
	t.Helper()
	views := make(chan *fsmpb.HealthView, 100)
	m := NewHealthMonitor("n1", []*Backend{b}, &fakeCluster{views: func(vs []*fsmpb.HealthView) {
		for _, v := range vs {
			select {
			case views <- v:
			default:
			}
		}
	}}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return views
}

// waitView waits for the first view of server.
func waitView(t *testing.T, views <-chan *fsmpb.HealthView, server string) *fsmpb.HealthView {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case v := <-views:
			if v.Server == server {
				return v
			}
		case <-deadline:
			t.Fatalf("no view of %s reported", server)
		}
	}
}

// A server with send_proxy expects a PROXY header on every connection, its
// health checks' too: the check's connection begins with a header (v2
// LOCAL; v1 the check's own addresses), with or without tcp-check steps. The same
// server checked without send_proxy closes the bare connection, and the
// check's reason names the step that saw it.
func TestTCPCheckSendsProxyHeader(t *testing.T) {
	check := func(steps []tcpcheck.Step) *HealthCheck {
		return &HealthCheck{Inter: 50 * time.Millisecond, FastInter: 50 * time.Millisecond, DownInter: 50 * time.Millisecond,
			Timeout: 5 * time.Second, Rise: 1, Fall: 1, TCP: steps}
	}
	for _, tc := range []struct {
		name      string
		sendProxy int
		steps     []tcpcheck.Step
		want      fsmpb.Health
		reason    string
	}{
		{"v2 with steps", 2, pingSteps(t), fsmpb.Health_HEALTH_UP, "check passed"},
		{"v1 with steps", 1, pingSteps(t), fsmpb.Health_HEALTH_UP, "check passed"},
		{"v2 connect only", 2, nil, fsmpb.Health_HEALTH_UP, "check passed"},
		{"no header", 0, pingSteps(t), fsmpb.Health_HEALTH_DOWN,
			`step 2: expect string "+PONG" not found in 0 bytes: the server closed the connection`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			headers := make(chan proxyproto.Header, 16)
			addr := proxiedRedis(t, headers)
			b, err := NewBackend(BackendOptions{Name: "redis", Servers: []ServerOptions{{Name: "R", Addr: addr, Weight: 1, SendProxy: tc.sendProxy}},
				Check: check(tc.steps)})
			if err != nil {
				t.Fatal(err)
			}
			v := waitView(t, runMonitor(t, b), "R")
			if v.Health != tc.want || !strings.Contains(v.Reason, tc.reason) {
				t.Fatalf("view %v %q, want %v %q", v.Health, v.Reason, tc.want, tc.reason)
			}
			if tc.sendProxy == 0 {
				return
			}
			select {
			case h := <-headers:
				want := map[int]proxyproto.Command{1: proxyproto.Proxy, 2: proxyproto.Local}[tc.sendProxy] // as HAProxy's (TestHAProxyCheckSendProxySameHeader)
				if h.Command != want || h.Version != proxyproto.Version(tc.sendProxy) {
					t.Fatalf("the check sent %+v, want a v%d header, command %v", h, tc.sendProxy, want)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("no header read")
			}
		})
	}
}

// A failing tcp-check step reports the server down with the step's reason
// (what /status, haraftctl and the log show); a fixed answer brings it up.
func TestTCPCheckReasonReported(t *testing.T) {
	answer := make(chan string, 1)
	answer <- "-LOADING Redis is loading the dataset in memory\r\n"
	addr := rawBackend(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
			return
		}
		a := <-answer
		answer <- a
		_, _ = io.WriteString(c, a)
	})
	b, err := NewBackend(BackendOptions{Name: "redis", Servers: []ServerOptions{{Name: "R", Addr: addr, Weight: 1}},
		Check: &HealthCheck{Inter: 100 * time.Millisecond, FastInter: 100 * time.Millisecond, DownInter: 100 * time.Millisecond,
			Timeout: 10 * time.Second, Rise: 1, Fall: 1, TCP: pingSteps(t)}})
	if err != nil {
		t.Fatal(err)
	}
	views := runMonitor(t, b)
	v := waitView(t, views, "R")
	const want = `step 2: expect string "+PONG" not found in 49 bytes: the server closed the connection ("-LOADING Redis is loading the da"...)`
	if v.Health != fsmpb.Health_HEALTH_DOWN || v.Reason != want {
		t.Fatalf("view %v %q, want down %q", v.Health, v.Reason, want)
	}
	<-answer
	answer <- "+PONG\r\n"
	if v := waitView(t, views, "R"); v.Health != fsmpb.Health_HEALTH_UP {
		t.Fatalf("view %v %q after the answer was fixed", v.Health, v.Reason)
	}
}

// headerShape reads the PROXY header a connection begins with and
// describes it relative to the connection: "v2 LOCAL", "v1 PROXY own
// addresses" (the connecting socket's own source and the server's
// address), or what else it was.
func headerShape(c net.Conn) string {
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	h, err := proxyproto.Read(c)
	switch {
	case err != nil:
		return "error: " + err.Error()
	case h.Command == proxyproto.Local:
		return fmt.Sprintf("v%d LOCAL", h.Version)
	case h.Source.String() == c.RemoteAddr().String() && h.Dest.String() == c.LocalAddr().String():
		return fmt.Sprintf("v%d PROXY own addresses", h.Version)
	}
	return fmt.Sprintf("v%d PROXY %s -> %s on a connection %s -> %s", h.Version, h.Source, h.Dest, c.RemoteAddr(), c.LocalAddr())
}

// HAProxy 2.6's health checks of a send-proxy(-v2) server and haraft's of
// a send_proxy server begin with the same header: v2 LOCAL; v1 (which has
// no LOCAL) the check connection's own addresses.
func TestHAProxyCheckSendProxySameHeader(t *testing.T) {
	for _, v := range []int{1, 2} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			shapes := make(chan string, 64)
			server := rawBackend(t, func(c net.Conn) {
				select {
				case shapes <- headerShape(c):
				default:
				}
			})
			kw := map[int]string{1: "send-proxy", 2: "send-proxy-v2"}[v]
			bind := freeLoopback(t)
			// The frontend only gives startHAProxy something to wait on;
			// its probe is relayed with the probe's own header, skipped below.
			startHAProxy(t, bind, fmt.Sprintf(`frontend tcp
    bind %s
    default_backend app
backend app
    timeout check 5s
    server A %s %s check inter 100ms
`, bind, server, kw))
			var theirs string
			for deadline := time.After(30 * time.Second); theirs == ""; {
				select {
				case s := <-shapes:
					if strings.Contains(s, "LOCAL") || strings.Contains(s, "own addresses") {
						theirs = s
					}
				case <-deadline:
					t.Fatal("no check from haproxy")
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := (TCPChecker{SendProxy: proxyproto.Version(v)}).Check(ctx, server); err != nil {
				t.Fatal(err)
			}
			for ours := range shapes {
				if strings.Contains(ours, "error") || strings.Contains(ours, "->") {
					continue // the frontend probe's, or a check cut short by the test's end
				}
				if ours != theirs {
					t.Fatalf("haraft's check sent %q, haproxy's %q", ours, theirs)
				}
				want := map[int]string{1: "v1 PROXY own addresses", 2: "v2 LOCAL"}[v]
				if ours != want {
					t.Fatalf("both sent %q, want %q", ours, want)
				}
				return
			}
		})
	}
}

// logged waits for a line of HAProxy's log containing s and returns it.
func (h *haproxyRun) logged(t *testing.T, s string) string {
	t.Helper()
	var got string
	waitUntil(t, "haproxy logging "+s, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, l := range h.lines {
			if strings.Contains(l, s) {
				got = l
				return true
			}
		}
		return false
	})
	return got
}

// HAProxy 2.6's tcp-check and haraft's reach the same verdict, at the
// same step, on the same server: the buffer semantics (expects in a row
// search the same answer, a send drops what was read) included.
func TestHAProxyTCPCheckSameVerdicts(t *testing.T) {
	pong := func(c net.Conn) {
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if strings.TrimSpace(line) == "PING" {
				_, _ = io.WriteString(c, "+PONG\r\n")
			}
		}
	}
	banner := func(c net.Conn) { // greets +PONG, answers nothing
		_, _ = io.WriteString(c, "+PONG\r\n")
		_, _ = io.Copy(io.Discard, c)
	}
	type step struct{ kind, arg string } // HAProxy's words: tcp-check KIND ARG
	for _, tc := range []struct {
		name     string
		server   func(net.Conn)
		steps    []step
		failStep int // 0: passes
	}{
		{"ping pong", pong, []step{{"send", `PING\r\n`}, {"expect string", "+PONG"}}, 0},
		{"wrong answer", pong, []step{{"send", `PING\r\n`}, {"expect string", "+PANG"}}, 2},
		{"expects in a row", pong, []step{{"send", `PING\r\n`}, {"expect string", "+PONG"}, {"expect rstring", `^\+PONG`}}, 0},
		{"a send drops what was read", banner, []step{{"expect string", "+PONG"}, {"send", `PING\r\n`}, {"expect string", "+PONG"}}, 3},
		{"binary", pong, []step{{"send-binary", "50494e470d0a"}, {"expect binary", "2b504f4e47"}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ours []tcpcheck.Step
			lines := ""
			for _, s := range tc.steps {
				var (
					st  tcpcheck.Step
					err error
				)
				switch s.kind {
				case "send":
					st, err = tcpcheck.ParseSend(s.arg)
				case "send-binary":
					st, err = tcpcheck.ParseSendBinary(s.arg)
				default:
					st, err = tcpcheck.ParseExpect(strings.TrimPrefix(s.kind, "expect "), s.arg)
				}
				if err != nil {
					t.Fatal(err)
				}
				ours = append(ours, st)
				lines += "    tcp-check " + s.kind + " " + s.arg + "\n"
			}
			addr := freeLoopback(t) // nothing listens yet
			bind := freeLoopback(t)
			cfg := fmt.Sprintf(`frontend tcp
    bind %s
    default_backend app
backend app
    timeout check 1s
    option tcp-check
%s    server A %s check inter 100ms rise 1 fall 1
`, bind, lines, addr)
			listen := func() {
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				h1test.ServeRaw(t, ln, func(c net.Conn) {
					_ = c.SetDeadline(time.Now().Add(30 * time.Second))
					tc.server(c)
				})
			}
			if tc.failStep == 0 {
				// HAProxy starts a server up: see it down first, then up.
				h := startHAProxy(t, bind, cfg)
				h.logged(t, "Server app/A is DOWN")
				listen()
				h.logged(t, "Server app/A is UP")
			} else {
				listen()
				h := startHAProxy(t, bind, cfg)
				l := h.logged(t, "Server app/A is DOWN")
				if want := fmt.Sprintf("at step %d of tcp-check", tc.failStep); !strings.Contains(l, want) {
					t.Fatalf("haproxy: %s\nwant %q", l, want)
				}
			}
			timeout := time.Second // timeout check 1s, where the check must fail
			if tc.failStep == 0 {
				timeout = 30 * time.Second // passing must not depend on the machine's load
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			err := TCPChecker{Steps: ours}.Check(ctx, addr)
			switch {
			case tc.failStep == 0 && err != nil:
				t.Fatalf("haproxy passed, haraft failed: %v", err)
			case tc.failStep != 0 && err == nil:
				t.Fatalf("haproxy failed at step %d, haraft passed", tc.failStep)
			case tc.failStep != 0 && !strings.Contains(err.Error(), fmt.Sprintf("at step %d", tc.failStep)):
				t.Fatalf("haproxy failed at step %d, haraft: %v", tc.failStep, err)
			}
		})
	}
}
