package daemon

import (
	"context"
	"time"

	"github.com/haraft/haraft/cmd/haraftd/config"
	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
	"github.com/haraft/haraft/proxy"
)

// startExpiry runs the leader's session expiry for backends with
// maxidle/maxlife.
func (d *Daemon) startExpiry(ctx context.Context, backends []*proxy.Backend) {
	e := proxy.NewSessionExpiry(backends, d.node.IsLeader,
		func(ctx context.Context, t fsm.MessageType, m *fsmpb.ExpireSessions) (*fsmpb.ApplyResult, error) {
			return d.node.ApplyAsLeader(ctx, t, m)
		}, d.log)
	d.checksWG.Add(1)
	go func() { defer d.checksWG.Done(); e.Run(ctx) }()
}

// touchInterval reports used sessions often enough for the shortest
// maxidle: a quarter of it, between 50 ms and 1 s.
func touchInterval(cfg *config.Config) time.Duration {
	d := time.Second
	for _, b := range cfg.Backends {
		if b.Cookie != nil && b.Cookie.MaxIdle.Duration > 0 {
			d = min(d, max(b.Cookie.MaxIdle.Duration/4, 50*time.Millisecond))
		}
		if b.Stick != nil && b.Stick.Expire.Duration > 0 {
			d = min(d, max(b.Stick.Expire.Duration/4, 50*time.Millisecond))
		}
	}
	return d
}
