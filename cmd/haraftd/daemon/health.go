package daemon

import (
	"context"

	"github.com/haraft/haraft/cmd/haraftd/config"
	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
	"github.com/haraft/haraft/proxy"
)

// healthCheck maps a backend's check section onto proxy.HealthCheck.
func healthCheck(c *config.Check) *proxy.HealthCheck {
	if c == nil {
		return nil
	}
	h := &proxy.HealthCheck{Inter: c.Inter.Duration, FastInter: c.FastInter.Duration, DownInter: c.DownInter.Duration,
		Timeout: c.Timeout.Duration, Rise: c.Rise, Fall: c.Fall, AgreeDown: c.AgreeDown, AgreeUp: c.AgreeUp}
	if c.HTTPChk != nil {
		h.HTTP = &proxy.HTTPCheck{Method: c.HTTPChk.Method, URI: c.HTTPChk.URI, Host: c.HTTPChk.Host, ExpectStatus: c.HTTPChk.ExpectStatus}
	}
	return h
}

// restartChecks (re)starts, for the running backends, this node's health
// checks and the leader's health agreement and session expiry; a reload
// that replaced backends calls it again. The agreed health stays in the
// replicated state meanwhile.
func (d *Daemon) restartChecks() {
	d.mu.Lock()
	if d.checks != nil {
		d.checks()
	}
	d.mu.Unlock()
	d.checksWG.Wait()
	ctx, cancel := context.WithCancel(d.ctx)
	backends := d.live().orderedBackends()
	d.startHealth(ctx, backends)
	d.startExpiry(ctx, backends)
	d.mu.Lock()
	d.checks = cancel
	d.mu.Unlock()
}

// startHealth runs this node's checks (reporting its views through the
// leader) and the agreement loop that, on the leader, commits the agreed
// health of every server.
func (d *Daemon) startHealth(ctx context.Context, backends []*proxy.Backend) {
	h := proxy.NewHealthMonitor(d.cfg.Node.ID, backends, func(ctx context.Context, views []*fsmpb.HealthView) error {
		res, err := d.node.Apply(ctx, fsm.ReportHealthViewsType, &fsmpb.ReportHealthViews{Views: views})
		if err == nil && res.ErrorCode != "" {
			return &applyError{res}
		}
		return err
	}, d.log)
	// Servers added or removed at run time are checked or no longer, on
	// every node, as soon as the table that has them is applied here.
	h.FollowServers(d.fsm.Servers, 0)
	d.mu.Lock()
	d.health = h
	d.mu.Unlock()
	agree := proxy.NewHealthAgreement(proxy.AgreementOptions{
		Backends: backends,
		State:    d.fsm,
		IsLeader: d.node.IsLeader,
		Members:  d.voters,
		Alive:    d.alive,
		Commit: func(ctx context.Context, m *fsmpb.SetServerHealth) error {
			_, err := d.node.ApplyAsLeader(ctx, fsm.SetServerHealthType, m)
			return err
		},
		Logger: d.log,
	})
	d.checksWG.Add(2)
	go func() { defer d.checksWG.Done(); h.Run(ctx) }()
	go func() { defer d.checksWG.Done(); agree.Run(ctx) }()
}

// Health returns this node's health monitor (nil before it starts); a
// reload that replaces backends replaces it.
func (d *Daemon) Health() *proxy.HealthMonitor {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.health
}

// voters returns the ids of the voting members of the Raft configuration.
func (d *Daemon) voters() []string {
	f := d.node.Raft().GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	var ids []string
	for _, s := range f.Configuration().Servers {
		if s.Suffrage.String() == "Voter" {
			ids = append(ids, string(s.ID))
		}
	}
	return ids
}

// alive reports whether the leader counts a member alive. Until a liveness
// tracker is attached every member counts (dead members' stale views then
// need a majority of all members to move a server).
func (d *Daemon) alive(id string) bool {
	if d.liveness == nil {
		return true
	}
	return d.liveness.Alive(id)
}

type applyError struct{ res *fsmpb.ApplyResult }

func (e *applyError) Error() string { return e.res.ErrorCode + ": " + e.res.Error }
