package proxy

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func servers(names ...string) []*Server {
	var out []*Server
	for _, n := range names {
		out = append(out, &Server{Name: n, Weight: 1, serverRuntime: &serverRuntime{}})
	}
	return out
}

func TestRoundRobinWeights(t *testing.T) {
	ss := servers("A", "B", "C")
	ss[0].Weight, ss[1].Weight, ss[2].Weight = 1, 2, 0
	rr := &roundRobin{}
	count := map[string]int{}
	for i := 0; i < 300; i++ {
		count[rr.Pick(ss, "").Name]++
	}
	if count["A"] != 100 || count["B"] != 200 || count["C"] != 0 {
		t.Fatalf("weighted picks %v, want A=100 B=200 C=0", count)
	}
	if rr.Pick(nil, "") != nil {
		t.Fatal("pick from no servers")
	}
}

func TestRendezvousStableAndMinimal(t *testing.T) {
	all := servers("A", "B", "C", "D")
	moved, onRemoved := 0, 0
	for i := 0; i < 10000; i++ {
		key := fmt.Sprintf("session-%d", i)
		before := Rendezvous(key, all)
		if again := Rendezvous(key, servers("D", "C", "B", "A")); again.Name != before.Name {
			t.Fatalf("order of candidates changed the answer for %s", key)
		}
		after := Rendezvous(key, []*Server{all[0], all[1], all[3]}) // C removed
		if before.Name == "C" {
			onRemoved++
			continue
		}
		if after.Name != before.Name {
			moved++
		}
	}
	if moved != 0 {
		t.Fatalf("%d sessions not on the removed server moved", moved)
	}
	if onRemoved < 2000 || onRemoved > 3000 {
		t.Fatalf("C held %d of 10000 sessions: hash is not spreading", onRemoved)
	}
	if Rendezvous("k", nil) != nil {
		t.Fatal("rendezvous over no servers")
	}
}

func TestLeastConnSourceRandom(t *testing.T) {
	ss := servers("A", "B", "C")
	ss[0].active.Store(5)
	ss[1].active.Store(1)
	ss[2].active.Store(3)
	if got := (leastConn{}).Pick(ss, ""); got.Name != "B" {
		t.Fatalf("leastconn picked %s", got.Name)
	}
	ss[1].Weight = 0
	if got := (leastConn{}).Pick(ss, ""); got.Name != "C" {
		t.Fatalf("leastconn picked weight-0 server %s", got.Name)
	}
	ss[1].Weight = 1
	first := (source{}).Pick(ss, "198.18.0.7")
	for i := 0; i < 10; i++ {
		if got := (source{}).Pick(ss, "198.18.0.7"); got != first {
			t.Fatal("source hashing is not stable")
		}
	}
	seen := map[string]int{}
	for i := 0; i < 300; i++ {
		seen[(source{}).Pick(ss, fmt.Sprintf("198.18.1.%d", i)).Name]++
	}
	if len(seen) != 3 {
		t.Fatalf("source spread %v", seen)
	}
	// random(2): the most loaded server is never chosen when two distinct
	// servers are drawn, and it is drawn twice in a row only rarely.
	counts := map[string]int{}
	for i := 0; i < 3000; i++ {
		counts[(randomTwo{}).Pick(ss, "").Name]++
	}
	if counts["A"] > 600 || counts["B"] < counts["C"] {
		t.Fatalf("random(2) picks %v with loads A=5 B=1 C=3", counts)
	}
	if _, err := NewBalancer("uri"); err == nil {
		t.Fatal("unknown balance accepted")
	}
}

func TestMaxConnQueue(t *testing.T) {
	s := servers("A")[0]
	s.serverCounters.init(1)
	ctx := context.Background()
	if err := s.acquire(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	if !s.full() {
		t.Fatal("server at maxconn not full")
	}
	if err := s.acquire(ctx, 20*time.Millisecond); !errors.Is(err, errQueueTimeout) {
		t.Fatalf("second request: %v, want queue timeout", err)
	}
	done := make(chan error)
	go func() { done <- s.acquire(ctx, time.Second) }()
	time.Sleep(20 * time.Millisecond)
	if s.Queued() != 1 {
		t.Fatalf("queued = %d", s.Queued())
	}
	s.release(false)
	if err := <-done; err != nil {
		t.Fatalf("queued request not admitted on release: %v", err)
	}
	s.release(false)
	if st := s.Stats(); st.Requests != 2 || st.Timeouts != 1 || st.Active != 0 {
		t.Fatalf("stats %+v", st)
	}
}
