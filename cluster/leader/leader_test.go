package leader_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/haraft/haraft/cluster/leader"
	"github.com/haraft/haraft/internal/testcluster"
)

// recorder is a leader loop that records whether it runs.
type recorder struct {
	name    string
	running atomic.Bool
	starts  atomic.Int64
	fail    atomic.Int64 // how many more runs return an error at once
}

func (r *recorder) Name() string { return r.name }

func (r *recorder) Run(ctx context.Context) error {
	r.starts.Add(1)
	if r.fail.Add(-1) >= 0 {
		return errors.New("failing on purpose")
	}
	r.running.Store(true)
	defer r.running.Store(false)
	<-ctx.Done()
	return nil
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// runners starts a Runner with two recorders on each node of c.
func runners(t *testing.T, c *testcluster.Cluster) [][2]*recorder {
	t.Helper()
	recs := make([][2]*recorder, len(c.Nodes))
	for i, n := range c.Nodes {
		recs[i] = [2]*recorder{{name: "a"}, {name: "b"}}
		r := leader.NewRunner(n, quiet())
		r.Add(recs[i][0], recs[i][1])
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); r.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	return recs
}

func TestLoopsRunOnTheLeaderOnlyAndMoveWithIt(t *testing.T) {
	c := testcluster.Start(t, 3)
	recs := runners(t, c)
	old := c.Leader()
	running := func(i int) bool { return recs[i][0].running.Load() && recs[i][1].running.Load() }
	testcluster.WaitFor(t, "the leader's loops to run", func() bool { return running(old) })
	for i := range recs {
		if i != old && (recs[i][0].starts.Load() != 0 || recs[i][1].starts.Load() != 0) {
			t.Fatalf("a follower (%s) started its leader loops", testcluster.ID(i))
		}
	}

	if err := c.Nodes[old].Raft().LeadershipTransfer().Error(); err != nil {
		t.Fatal(err)
	}
	next := -1
	testcluster.WaitFor(t, "another leader", func() bool {
		for i, n := range c.Nodes {
			if i != old && n.IsLeader() {
				next = i
				return true
			}
		}
		return false
	})
	testcluster.WaitFor(t, "the old leader's loops to stop, together", func() bool {
		return !recs[old][0].running.Load() && !recs[old][1].running.Load()
	})
	testcluster.WaitFor(t, "the new leader's loops to run", func() bool { return running(next) })
	for i := range recs {
		if i != old && i != next && recs[i][0].starts.Load() != 0 {
			t.Fatalf("%s, never the leader, started its leader loops", testcluster.ID(i))
		}
	}
}

func TestFailedLoopStartsAgainWhileLeading(t *testing.T) {
	c := testcluster.Start(t, 1)
	rec := &recorder{name: "flaky"}
	rec.fail.Store(1)
	r := leader.NewRunner(c.Nodes[0], quiet())
	r.Add(rec)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	testcluster.WaitFor(t, "the loop to run after its failure", func() bool { return rec.running.Load() })
	if got := rec.starts.Load(); got != 2 {
		t.Fatalf("started %d times, want 2 (a failure, then a run)", got)
	}
	if st := r.Status(); len(st) != 1 || st[0].Name != "flaky" || !st[0].Running || st[0].Starts != 2 {
		t.Fatalf("status %+v", st)
	}
	cancel()
	<-done
	if rec.running.Load() {
		t.Fatal("the loop still runs after the runner returned")
	}
}
