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
	m := NewHealthMonitor("n1", []*Backend{b}, func(context.Context, []*fsmpb.HealthView) error { return nil }, slog.New(slog.DiscardHandler))
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
