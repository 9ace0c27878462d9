package cluster

import (
	"log/slog"
	"slices"
	"sync"

	"github.com/hashicorp/raft"
)

// LeaderChange is one leadership transition seen by this node.
type LeaderChange struct {
	LeaderID   string // empty: no leader known
	LeaderAddr string
	IsSelf     bool
	Term       uint64
}

// leaderObserver turns raft observations into LeaderChange callbacks. It
// uses a raft Observer, not LeaderCh, which delivers only the latest
// transition and may drop the ones between.
type leaderObserver struct {
	r    *raft.Raft
	self raft.ServerID
	ch   chan raft.Observation
	obs  *raft.Observer
	log  *slog.Logger
	mu   sync.Mutex
	subs []func(LeaderChange)
	done chan struct{}
	wg   sync.WaitGroup
}

func newLeaderObserver(r *raft.Raft, self raft.ServerID, log *slog.Logger) *leaderObserver {
	o := &leaderObserver{r: r, self: self, ch: make(chan raft.Observation, 64), log: log, done: make(chan struct{})}
	// Blocking: raft waits for us rather than dropping a transition; the
	// loop below only hands events to callbacks, which must not block.
	o.obs = raft.NewObserver(o.ch, true, func(ob *raft.Observation) bool {
		_, ok := ob.Data.(raft.LeaderObservation)
		return ok
	})
	r.RegisterObserver(o.obs)
	o.wg.Add(1)
	go o.loop()
	return o
}

func (o *leaderObserver) subscribe(fn func(LeaderChange)) {
	o.mu.Lock()
	o.subs = append(o.subs, fn)
	o.mu.Unlock()
}

func (o *leaderObserver) loop() {
	defer o.wg.Done()
	for {
		select {
		case ob := <-o.ch:
			lo := ob.Data.(raft.LeaderObservation)
			ch := LeaderChange{LeaderID: string(lo.LeaderID), LeaderAddr: string(lo.LeaderAddr), Term: o.r.CurrentTerm()}
			ch.IsSelf = ch.LeaderID != "" && raft.ServerID(ch.LeaderID) == o.self
			o.log.Info("leader changed", "leader", ch.LeaderID, "self", ch.IsSelf, "term", ch.Term)
			o.mu.Lock()
			subs := slices.Clone(o.subs)
			o.mu.Unlock()
			for _, fn := range subs {
				fn(ch)
			}
		case <-o.done:
			return
		}
	}
}

func (o *leaderObserver) close() {
	o.r.DeregisterObserver(o.obs)
	close(o.done)
	o.wg.Wait()
}
