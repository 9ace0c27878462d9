package proxy

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/haraft/haraft/cluster"
	"github.com/haraft/haraft/cluster/leader"
	"github.com/haraft/haraft/internal/testcluster"
)

// A session kept busy through an election is not expired by the new
// leader: the touches its node could not commit while there was no leader
// are committed afterwards, and the new leader counts no session idle for
// longer than it has led, so it cannot expire one whose touches it has
// not seen yet (issue 14, 6b). Three real Raft nodes; there is no leader
// for longer than maxidle (two of three nodes are down) while a follower
// uses the session.
func TestBusySessionSurvivesLeaderChange(t *testing.T) {
	const maxIdle = 2 * time.Second
	// Raft at 300 ms, not the tests' 50 ms: with two of three nodes up, a
	// 50 ms lease let the leader step down at every pause of a busy
	// machine, and no expiry was committed in 30 s (CI).
	c := testcluster.StartTuned(t, 3, func(cfg *cluster.Config) { cluster.TestTimeouts(cfg, 300*time.Millisecond) })
	b, err := NewBackend(BackendOptions{Name: "app", Cookie: &CookieOptions{Name: "JSESSIONID", Mode: ModeLearn, MaxIdle: maxIdle},
		Servers: []ServerOptions{{Name: "A", Addr: "127.0.0.1:1", Weight: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	exps := make([]*SessionExpiry, 3)
	lead := func(i int) { // node i runs the expiry as a leader loop
		exps[i] = NewSessionExpiry(c.Nodes[i], func() []*Backend { return []*Backend{b} }, log)
		r := leader.NewRunner(c.Nodes[i], log)
		r.Add(exps[i])
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); r.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	for i := range c.Nodes {
		lead(i)
	}
	old := c.Leader()
	f, other := (old+1)%3, (old+2)%3
	l := NewLearner(c.Nodes[f], LearnerOptions{NodeID: testcluster.ID(f), TouchInterval: maxIdle / 4, Logger: log})
	lctx, stopLearner := context.WithCancel(context.Background())
	learnerDone := make(chan struct{})
	go func() { defer close(learnerDone); l.Run(lctx) }()
	if got, err := l.Learn(context.Background(), "app", "s1", "A", true); err != nil || got != "A" {
		t.Fatalf("learn: %q, %v", got, err)
	}
	// From here the test flushes the learner's touches itself, at the
	// moments the scenario needs.
	stopLearner()
	<-learnerDone

	// No leader: the follower serves the session; its touch cannot be
	// committed (the proposal gives up after its timeout).
	c.Stop(old)
	c.Stop(other)
	lastUse := time.Now()
	l.touch("app", "s1")
	l.flushTouches()

	// The stopped follower comes back: the new leader has not seen the
	// touch and runs the expiry more than maxidle after the last
	// committed touch.
	fBefore, _ := exps[f].Stats()
	c.Restart(other)
	lead(other)
	// Either live node may lead, and on a busy machine the lead may pass
	// between them: whichever commits the first expiry after the restart
	// is the leader under test.
	var by int
	testcluster.WaitFor(t, "a new leader to commit an expiry", func() bool {
		if n, _ := exps[other].Stats(); n > 0 {
			by = other
			return true
		}
		if n, _ := exps[f].Stats(); n > fBefore {
			by = f
			return true
		}
		return false
	})
	if _, ok := c.Nodes[by].FSM().State.Lookup("app", "s1"); !ok {
		t.Fatalf("the new leader %s expired a session used %v ago, whose touch it had not seen (maxidle %v)", testcluster.ID(by), time.Since(lastUse).Round(time.Millisecond), maxIdle)
	}
	// The touch was kept, and the next flush commits it.
	// (A flush that fails again, the leadership still settling, keeps
	// it once more: flush until it is committed.)
	testcluster.WaitFor(t, "the touch made during the election committed", func() bool {
		l.flushTouches()
		r, ok := c.Nodes[f].FSM().State.Binding("app", "s1") // applied there when the flush returned
		return ok && r.LastSeenUnixMs >= lastUse.UnixMilli()
	})
}
