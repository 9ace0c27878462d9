package daemon

import (
	"context"

	"github.com/haraft/haraft/cmd/haraftd/config"
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
	// The config was validated, which parses every step the same way.
	h.TCP, _ = c.TCPCheckSteps()
	return h
}

// restartChecks (re)starts this node's health checks of the running
// backends; a reload that replaced backends calls it again. The agreed
// health stays in the replicated state meanwhile, and the leader's health
// agreement and session expiry read the running backends at each round
// (leaderloops.go).
func (d *Daemon) restartChecks() {
	d.mu.Lock()
	if d.checks != nil {
		d.checks()
	}
	d.mu.Unlock()
	d.checksWG.Wait()
	ctx, cancel := context.WithCancel(d.ctx)
	h := proxy.NewHealthMonitor(d.cfg.Node.ID, d.live().orderedBackends(), d.node, d.log)
	// Servers added or removed at run time are checked or no longer, on
	// every node, as soon as the table that has them is applied here.
	h.FollowServers(d.fsm.Servers, 0)
	d.buildDiscovery(ctx, d.live().cfg)
	d.mu.Lock()
	d.health = h
	d.checks = cancel
	d.mu.Unlock()
	d.checksWG.Add(1)
	go func() { defer d.checksWG.Done(); h.Run(ctx) }()
}

// Health returns this node's health monitor (nil before it starts); a
// reload that replaces backends replaces it.
func (d *Daemon) Health() *proxy.HealthMonitor {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.health
}
