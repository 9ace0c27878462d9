package proxy

import (
	"context"
	"log/slog"
	"time"

	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
)

// ViewState is what the agreement reads: the agreed server table and every
// node's views.
type ViewState interface {
	Servers() *fsm.ServerTable
	HealthViews(backend, server string) map[string]*fsmpb.HealthView
}

// AgreementOptions configures a HealthAgreement.
type AgreementOptions struct {
	// Backends returns the running backends (a reload replaces them).
	Backends func() []*Backend
	State    ViewState
	// Cluster gives the voting members and their liveness, and commits
	// the agreed health as the leader.
	Cluster  Cluster
	Interval time.Duration    // default 100 ms
	Now      func() time.Time // stamps commits (leader time)
	Logger   *slog.Logger
}

// HealthAgreement is a leader loop (package cluster/leader): it commits a
// server DOWN when enough live nodes (a majority by default, or the
// backend's agree_down) see it down, and UP when enough see it up
// (agree_up). A single node's view never moves a server, so one node with
// a broken network path cannot take a server out for everyone, and every
// node reassigns sessions from the same agreed view.
type HealthAgreement struct{ o AgreementOptions }

// NewHealthAgreement returns an agreement loop.
func NewHealthAgreement(o AgreementOptions) *HealthAgreement {
	if o.Interval <= 0 {
		o.Interval = 100 * time.Millisecond
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &HealthAgreement{o: o}
}

// Name names the leader loop: "health".
func (a *HealthAgreement) Name() string { return "health" }

// Run evaluates the views every interval until ctx ends (the leadership
// it was started for is over).
func (a *HealthAgreement) Run(ctx context.Context) error {
	t := time.NewTicker(a.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		a.evaluate(ctx)
	}
}

// Decision is the agreement's verdict for one server.
type Decision struct {
	Live, Down, Up, NeedDown, NeedUp int
	Health                           fsmpb.Health // HEALTH_UNKNOWN: no change
}

// Decide counts the live nodes' views of one server.
func (a *HealthAgreement) Decide(b *Backend, s *Server) Decision {
	var d Decision
	views := a.o.State.HealthViews(b.Name, s.Name)
	for _, id := range a.o.Cluster.Voters() {
		if !a.o.Cluster.Alive(id) {
			continue
		}
		d.Live++
		switch views[id].GetHealth() {
		case fsmpb.Health_HEALTH_DOWN:
			d.Down++
		case fsmpb.Health_HEALTH_UP:
			d.Up++
		}
	}
	majority := d.Live/2 + 1
	d.NeedDown, d.NeedUp = majority, majority
	if b.check.AgreeDown > 0 {
		d.NeedDown = b.check.AgreeDown
	}
	if b.check.AgreeUp > 0 {
		d.NeedUp = b.check.AgreeUp
	}
	cur := a.o.State.Servers().Get(b.Name, s.Name).Health
	switch {
	case d.Live == 0:
	case d.Down >= d.NeedDown && cur != fsmpb.Health_HEALTH_DOWN:
		d.Health = fsmpb.Health_HEALTH_DOWN
	case d.Up >= d.NeedUp && d.Down < d.NeedDown && cur != fsmpb.Health_HEALTH_UP:
		d.Health = fsmpb.Health_HEALTH_UP
	}
	return d
}

func (a *HealthAgreement) evaluate(ctx context.Context) {
	for _, b := range a.o.Backends() {
		if b.check == nil {
			continue
		}
		for _, s := range b.ServersFor(a.o.State.Servers()) { // removed servers are not decided on
			d := a.Decide(b, s)
			if d.Health == fsmpb.Health_HEALTH_UNKNOWN {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := a.o.Cluster.ApplyAsLeader(cctx, fsm.SetServerHealthType,
				&fsmpb.SetServerHealth{Backend: b.Name, Name: s.Name, Health: d.Health, StampUnixMs: a.o.Now().UnixMilli()})
			cancel()
			if err != nil {
				a.o.Logger.Warn("could not commit agreed health", "backend", b.Name, "server", s.Name, "health", d.Health.String(), "err", err)
				continue
			}
			a.o.Logger.Info("agreed health committed", "backend", b.Name, "server", s.Name, "health", d.Health.String(),
				"down_views", d.Down, "up_views", d.Up, "live_nodes", d.Live)
		}
	}
}
