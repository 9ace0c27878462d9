package proxy

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/haraft/haraft/proto/fsmpb"
)

// Each check a node runs is counted per server and result (the metrics'
// haraft_server_checks_total).
func TestHealthChecksCounted(t *testing.T) {
	up := rawBackend(t, func(c net.Conn) { c.Close() })
	b, err := NewBackend(BackendOptions{Name: "app", Servers: []ServerOptions{{Name: "A", Addr: up, Weight: 1}, {Name: "B", Addr: "127.0.0.1:1", Weight: 1}},
		Check: &HealthCheck{Inter: 10 * time.Millisecond, FastInter: 10 * time.Millisecond, DownInter: 10 * time.Millisecond,
			Timeout: time.Second, Rise: 1, Fall: 1}})
	if err != nil {
		t.Fatal(err)
	}
	m := NewHealthMonitor("n1", []*Backend{b}, &fakeCluster{views: func([]*fsmpb.HealthView) {}}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	defer func() { cancel(); <-done }()
	a, bs := b.Server("A"), b.Server("B")
	for deadline := time.Now().Add(10 * time.Second); a.Stats().ChecksOK < 3 || bs.Stats().ChecksFailed < 3; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("checks not counted: A %+v, B %+v", a.Stats(), bs.Stats())
		}
	}
	if a.Stats().ChecksFailed != 0 || bs.Stats().ChecksOK != 0 {
		t.Fatalf("results counted on the wrong side: A %+v, B %+v", a.Stats(), bs.Stats())
	}
}

// A starting node counts its servers up: a server not yet listening at the
// first check is not reported down unless it fails `fall` checks in a row
// (a majority of such views would move its sessions for good); a server
// that never answers is reported down after exactly `fall` failures.
func TestHealthStartCountsServersUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	late := ln.Addr().String()
	ln.Close() // nothing listens there until the first check failed
	const fall = 3
	b, err := NewBackend(BackendOptions{Name: "app", Servers: []ServerOptions{{Name: "late", Addr: late, Weight: 1}, {Name: "dead", Addr: "127.0.0.1:1", Weight: 1}},
		Check: &HealthCheck{Inter: 50 * time.Millisecond, FastInter: 200 * time.Millisecond, DownInter: 50 * time.Millisecond,
			Timeout: time.Second, Rise: 2, Fall: fall}})
	if err != nil {
		t.Fatal(err)
	}
	type report struct {
		health fsmpb.Health
		failed uint64 // the server's failed checks when it was reported
	}
	reports := make(chan map[string]report, 100)
	m := NewHealthMonitor("n1", []*Backend{b}, &fakeCluster{views: func(vs []*fsmpb.HealthView) {
		r := map[string]report{}
		for _, v := range vs {
			r[v.Server] = report{v.Health, b.Server(v.Server).Stats().ChecksFailed}
		}
		reports <- r
	}}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	defer func() { cancel(); <-done }()

	for deadline := time.Now().Add(5 * time.Second); b.Server("late").Stats().ChecksFailed == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no first check of the late server")
		}
	}
	ln, err = net.Listen("tcp", late)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	seen := map[string]report{}
	for deadline := time.After(10 * time.Second); seen["late"].health == fsmpb.Health_HEALTH_UNKNOWN || seen["dead"].health == fsmpb.Health_HEALTH_UNKNOWN; {
		select {
		case r := <-reports:
			for name, rep := range r {
				if name == "late" && rep.health != fsmpb.Health_HEALTH_UP {
					t.Fatalf("the late server was reported %v after %d failed checks", rep.health, rep.failed)
				}
				seen[name] = rep
			}
		case <-deadline:
			t.Fatalf("reports so far: %+v", seen)
		}
	}
	if d := seen["dead"]; d.health != fsmpb.Health_HEALTH_DOWN || d.failed != fall {
		t.Fatalf("the dead server was reported %v after %d failed checks, want down after %d", d.health, d.failed, fall)
	}
}
