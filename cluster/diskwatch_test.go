package cluster

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/haraft/haraft/fsm"
)

// stallStore is a log store whose writes block while stalled, as on a
// disk that stopped answering.
type stallStore struct {
	raft.LogStore
	mu   sync.Mutex
	gate chan struct{} // nil: writes pass
}

func (s *stallStore) wait() {
	s.mu.Lock()
	g := s.gate
	s.mu.Unlock()
	if g != nil {
		<-g
	}
}

func (s *stallStore) StoreLog(l *raft.Log) error     { s.wait(); return s.LogStore.StoreLog(l) }
func (s *stallStore) StoreLogs(ls []*raft.Log) error { s.wait(); return s.LogStore.StoreLogs(ls) }

func (s *stallStore) stall() {
	s.mu.Lock()
	s.gate = make(chan struct{})
	s.mu.Unlock()
}

func (s *stallStore) release() {
	s.mu.Lock()
	if s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
	s.mu.Unlock()
}

// newStallCluster starts three nodes whose log stores can be stalled.
func newStallCluster(t *testing.T, stallTimeout time.Duration) (*testCluster, []*stallStore) {
	t.Helper()
	tc, lns := reserveCluster(t, 3, func(int) string { return t.TempDir() })
	stores := make([]*stallStore, 3)
	for i, ln := range lns {
		cfg := tc.config(i, ln)
		cfg.DiskStallTimeout = stallTimeout
		cfg.WrapLogStore = func(s raft.LogStore) raft.LogStore { stores[i] = &stallStore{LogStore: s}; return stores[i] }
		n, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		tc.nodes[i] = n
	}
	t.Cleanup(func() {
		for _, s := range stores {
			s.release()
		}
		tc.shutdownAll()
	})
	tc.waitReady()
	return tc, stores
}

// applyVia proposes through node i and reports how long the commit took.
func applyVia(t *testing.T, n *Node, key string, timeout time.Duration) (time.Duration, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	_, err := n.Apply(ctx, fsm.LearnSessionsType, learnOne(key, "A", n.ID()))
	return time.Since(start), err
}

// A leader whose log writes stall hands leadership over within the stall
// timeout plus an election, and the cluster takes writes again; when the
// disk comes back the old leader follows the new one and has every entry.
func TestLeaderWithStalledDiskStepsDown(t *testing.T) {
	const stallTimeout = 300 * time.Millisecond
	tc, stores := newStallCluster(t, stallTimeout)
	l := tc.leader()
	old := tc.nodes[l]
	f := tc.nodes[(l+1)%3]
	if _, err := applyVia(t, f, "before", 5*time.Second); err != nil {
		t.Fatal(err)
	}

	stores[l].stall()
	stalled := time.Now()
	// A write reaches the leader and blocks its main loop in the log
	// store; the proposer keeps retrying (through the next leader).
	took, err := applyVia(t, f, "during", 10*time.Second)
	if err != nil {
		t.Fatalf("no write committed while the leader's disk stalled: %v", err)
	}
	newLeader := -1
	for i, n := range tc.nodes {
		if n.IsLeader() && i != l {
			newLeader = i
		}
	}
	t.Logf("leader n%d's disk stalled: a write through n%d committed %v later (new leader n%d); stalls detected %d, fenced %v",
		l+1, (l+1)%3+1, took.Round(time.Millisecond), newLeader+1, old.DiskStalls(), old.RaftFenced())
	if old.DiskStalls() == 0 {
		t.Fatal("the stall was not detected")
	}
	if took > stallTimeout+3*time.Second {
		t.Fatalf("write took %v", took)
	}
	for i := 0; i < 20; i++ {
		if _, err := applyVia(t, tc.nodes[(l+1+i%2)%3], fmt.Sprintf("after-%d", i), 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}

	stores[l].release()
	released := time.Now()
	waitFor(t, "old leader to follow", func() bool { return !old.IsLeader() && !old.RaftFenced() })
	waitFor(t, "old leader to apply everything", func() bool { return old.FSM().SessionCount() == tc.nodes[(l+1)%3].FSM().SessionCount() })
	t.Logf("disk back after %v: n%d follows again and has all %d sessions %v later", released.Sub(stalled).Round(time.Millisecond), l+1, old.FSM().SessionCount(), time.Since(released).Round(time.Millisecond))
	if got := old.FSM().SessionCount(); got != 22 {
		t.Fatalf("%d sessions, want 22", got)
	}
	if _, err := applyVia(t, old, "through-old", 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

// Without the watchdog the stalled leader keeps its leadership and the
// cluster takes no write for as long as the stall lasts (hashicorp/raft#503)
// — the behaviour diskwatch.go exists for.
func TestStalledLeaderWithoutWatchdogKeepsLeadership(t *testing.T) {
	tc, stores := newStallCluster(t, -1)
	l := tc.leader()
	stores[l].stall()
	took, err := applyVia(t, tc.nodes[(l+1)%3], "during", 1500*time.Millisecond)
	if err == nil {
		t.Skipf("a write committed %v into the stall without the watchdog: raft stepped down by itself", took)
	}
	if !tc.nodes[l].IsLeader() {
		t.Fatal("the stalled leader stepped down by itself")
	}
	t.Logf("without the watchdog: still leader and no write committed after %v: %v", took.Round(time.Millisecond), err)
	stores[l].release()
}

// A stall seen only by the canary (the main loop is free) is handed over
// by a leadership transfer, without fencing.
func TestCanaryStallTransfersLeadership(t *testing.T) {
	tc, _ := newStallCluster(t, 200*time.Millisecond)
	l := tc.leader()
	old := tc.nodes[l]
	gate := make(chan struct{})
	old.watch.mu.Lock()
	old.watch.canary = func() error { <-gate; return nil }
	old.watch.mu.Unlock()
	defer close(gate)
	waitFor(t, "a new leader", func() bool {
		for i, n := range tc.nodes {
			if i != l && n.IsLeader() {
				return true
			}
		}
		return false
	})
	if old.DiskStalls() == 0 {
		t.Fatal("stall not counted")
	}
	if old.RaftFenced() {
		t.Fatal("fenced although a transfer was possible")
	}
}
