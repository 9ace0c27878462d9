package discover

import (
	"context"
	"time"
)

// Group runs the discovery loops of every backend as one leader-only loop
// (cluster/leader: Name and Run; it runs only while this node leads, and
// its context ends with the leadership). It polls each loop every
// Interval, one after the other. The loops are read again at every round,
// so a config reload that replaces them takes effect without restarting
// the group.
type Group struct {
	loops func() []*Loop
}

// NewGroup returns a group over the loops loops returns.
func NewGroup(loops func() []*Loop) *Group { return &Group{loops: loops} }

// Name implements cluster/leader.Loop.
func (g *Group) Name() string { return "discovery" }

// maxIdle bounds a round's wait, so that new loops (a reload) start
// polling soon.
const maxIdle = time.Second

// Run polls the loops that are due until ctx ends. The first round of a
// leadership polls every loop at once: a new leader starts from the
// replicated table, and the deregistration stamps there keep counting.
func (g *Group) Run(ctx context.Context) error {
	for _, l := range g.loops() {
		l.next = time.Time{}
	}
	for {
		wait := maxIdle
		for _, l := range g.loops() {
			if ctx.Err() != nil {
				return nil
			}
			now := time.Now()
			if !now.Before(l.next) {
				_ = l.Poll(ctx) // kept in its Status, logged
				l.next = now.Add(l.o.Interval)
			}
			wait = min(wait, time.Until(l.next))
		}
		t := time.NewTimer(max(wait, time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}
