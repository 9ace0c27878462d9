package proxy

import (
	"context"
	"log/slog"
	"time"

	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
)

// SessionExpiry runs on every node and acts on the leader: it periodically
// commits ExpireSessions for each backend with maxidle/maxlife. The leader
// stamps the time as the command enters the log, so every node removes
// exactly the same sessions, whatever its own clock says.
type SessionExpiry struct {
	backends []*Backend
	isLeader func() bool
	apply    func(ctx context.Context, t fsm.MessageType, m *fsmpb.ExpireSessions) (*fsmpb.ApplyResult, error)
	log      *slog.Logger
}

// NewSessionExpiry returns the expiry loop for the backends that expire sessions.
func NewSessionExpiry(backends []*Backend, isLeader func() bool,
	apply func(ctx context.Context, t fsm.MessageType, m *fsmpb.ExpireSessions) (*fsmpb.ApplyResult, error), log *slog.Logger) *SessionExpiry {
	return &SessionExpiry{backends: backends, isLeader: isLeader, apply: apply, log: log}
}

// Interval is how often expiry runs for a backend: a tenth of its
// shortest limit, between 100 ms and one minute.
func expiryInterval(o *CookieOptions) time.Duration {
	d := o.MaxIdle
	if d == 0 || (o.MaxLife > 0 && o.MaxLife < d) {
		d = o.MaxLife
	}
	return min(max(d/10, 100*time.Millisecond), time.Minute)
}

// Run expires sessions until ctx ends.
func (e *SessionExpiry) Run(ctx context.Context) {
	type job struct {
		b    *Backend
		next time.Time
	}
	var jobs []*job
	for _, b := range e.backends {
		if o := b.Cookie; b.mode != nil && b.mode.learns() && (o.MaxIdle > 0 || o.MaxLife > 0) {
			jobs = append(jobs, &job{b: b, next: time.Now().Add(expiryInterval(o))})
		}
	}
	if len(jobs) == 0 {
		return
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if !e.isLeader() {
				continue
			}
			for _, j := range jobs {
				if now.Before(j.next) {
					continue
				}
				o := j.b.Cookie
				j.next = now.Add(expiryInterval(o))
				actx, cancel := context.WithTimeout(ctx, 5*time.Second)
				res, err := e.apply(actx, fsm.ExpireSessionsType, &fsmpb.ExpireSessions{Backend: j.b.Name, MaxIdleMs: o.MaxIdle.Milliseconds(), MaxLifeMs: o.MaxLife.Milliseconds()})
				cancel()
				switch {
				case err != nil:
					e.log.Warn("session expiry not committed", "backend", j.b.Name, "err", err)
				case res.Count > 0:
					e.log.Info("sessions expired", "backend", j.b.Name, "count", res.Count)
				}
			}
		}
	}
}
