// Package leader runs the loops that only the Raft leader runs — the
// health agreement, session expiry, EIP placement, the Route 53 record —
// in one place: every registered loop starts when this node becomes the
// leader and all of them are cancelled together, and waited for, when it
// stops being the leader. A loop never asks whether it leads: while its
// Run is running, it does (for the term it was started in; a command it
// proposes with ApplyAsLeader is refused once that is over, so a deposed
// leader's late decision never commits).
//
// # Adding a leader loop
//
//  1. Write the loop in the package that owns its concept, one file:
//     a type with Name() string (short, lower case: it names the loop in
//     logs and metrics) and Run(ctx context.Context) error, which works
//     until ctx ends and then returns. Run is called again at each new
//     leadership, so keep what must survive a leadership change (counters,
//     status) in the value, and start each leadership afresh from the
//     replicated state. Propose decisions with ApplyAsLeader, never Apply.
//     An error returned before ctx ends is logged and the loop is started
//     again after a pause, in the same leadership.
//  2. Register it: one line in cmd/haraftd/daemon/leaderloops.go, in
//     (*Daemon).leaderLoops.
//
// The peers' liveness these loops read (cluster.Liveness) is an
// observation, not a loop of this package: it runs on every node (a
// follower needs its contact with the leader to fence itself) and its
// leader view is switched by Raft's leadership callback before the loops
// start. Decisions taken from it — moving a dead node's addresses,
// withdrawing its record, ignoring its health votes — belong here.
//
// The runner itself is started and stopped by the daemon; nothing else
// needs to change. Tests run a Runner on real Raft nodes
// (leader_test.go).
package leader

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/haraft/haraft/cluster"
)

// Loop is one leader-only loop.
type Loop interface {
	// Name names the loop in logs and metrics.
	Name() string
	// Run works until ctx ends, which happens when this node stops
	// leading or shuts down.
	Run(ctx context.Context) error
}

// Leadership is what the runner follows: *cluster.Node.
type Leadership interface {
	IsLeader() bool
	// Term returns the current Raft term.
	Term() uint64
	OnLeaderChange(fn func(cluster.LeaderChange))
}

// RestartDelay is how long the runner waits before it starts again a loop
// whose Run returned an error while this node still leads.
const RestartDelay = time.Second

// Runner starts the registered loops at each leadership and stops them
// when it ends.
type Runner struct {
	n     Leadership
	log   *slog.Logger
	kick  chan struct{}
	mu    sync.Mutex
	loops []*entry
	term  atomic.Uint64 // the term the loops run for; 0: not running
}

type entry struct {
	loop   Loop
	starts atomic.Uint64
}

// LoopStatus is one loop's state, for status pages and metrics.
type LoopStatus struct {
	Name    string
	Running bool   // started for the current leadership
	Starts  uint64 // how often Run was called
}

// NewRunner returns a runner following n's leadership; register the loops
// with Add, then call Run.
func NewRunner(n Leadership, log *slog.Logger) *Runner {
	if log == nil {
		log = slog.Default()
	}
	r := &Runner{n: n, log: log, kick: make(chan struct{}, 1)}
	// The callback runs on the node's observer goroutine and must not
	// block: it only signals the runner's own goroutine.
	n.OnLeaderChange(func(cluster.LeaderChange) { r.signal() })
	return r
}

func (r *Runner) signal() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Add registers loops. A loop added while the node leads starts at the
// next leadership.
func (r *Runner) Add(loops ...Loop) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range loops {
		r.loops = append(r.loops, &entry{loop: l})
	}
}

// Status returns every registered loop's state, in registration order.
func (r *Runner) Status() []LoopStatus {
	r.mu.Lock()
	loops := slices.Clone(r.loops)
	r.mu.Unlock()
	running := r.term.Load() != 0
	out := make([]LoopStatus, len(loops))
	for i, e := range loops {
		out[i] = LoopStatus{Name: e.loop.Name(), Running: running, Starts: e.starts.Load()}
	}
	return out
}

// Run follows the leadership until ctx ends: it starts every loop when
// this node becomes the leader and cancels them all, and waits for them,
// when it stops being the leader or a new term began meanwhile (lost and
// won again between two looks). It returns once the loops have returned.
func (r *Runner) Run(ctx context.Context) {
	var (
		stop func()
		term uint64
	)
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	for {
		leading, now := r.n.IsLeader(), r.n.Term()
		if stop != nil && (!leading || now != term) {
			r.log.Info("leader loops: stopping", "term", term)
			stop()
			stop = nil
			r.term.Store(0)
		}
		if stop == nil && leading {
			term = now
			r.term.Store(term)
			stop = r.start(ctx, term)
		}
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		}
	}
}

// start runs every loop for this leadership; the returned func cancels
// them and waits until all have returned.
func (r *Runner) start(ctx context.Context, term uint64) func() {
	r.mu.Lock()
	loops := slices.Clone(r.loops)
	r.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	names := make([]string, len(loops))
	for i, e := range loops {
		names[i] = e.loop.Name()
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.run(ctx, e, term)
		}()
	}
	r.log.Info("leader loops: started", "term", term, "loops", names)
	return func() {
		cancel()
		wg.Wait()
	}
}

// run calls one loop's Run until ctx ends, again after RestartDelay when
// it returned early.
func (r *Runner) run(ctx context.Context, e *entry, term uint64) {
	for {
		e.starts.Add(1)
		err := e.loop.Run(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			// Nothing to do in this configuration (no backend expires
			// sessions, say): it is done for this leadership.
			return
		}
		r.log.Warn("leader loop failed; starting it again", "loop", e.loop.Name(), "term", term, "retry_in", RestartDelay, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(RestartDelay):
		}
	}
}
