package proxy

import (
	"context"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
)

// SessionExpiry is a leader loop (package cluster/leader): it periodically
// commits ExpireSessions for each backend with maxidle/maxlife. The leader
// stamps the time as the command enters the log, so every node removes
// exactly the same sessions, whatever its own clock says.
type SessionExpiry struct {
	c        Cluster
	backends func() []*Backend
	log      *slog.Logger
	commits  atomic.Uint64 // ExpireSessions committed
	expired  atomic.Uint64 // sessions they removed
}

// Stats returns how many ExpireSessions this node committed as the leader
// and how many sessions they removed.
func (e *SessionExpiry) Stats() (commits, expired uint64) { return e.commits.Load(), e.expired.Load() }

// NewSessionExpiry returns the expiry loop of the running backends
// (backends returns them; a reload replaces them) that expire sessions.
func NewSessionExpiry(c Cluster, backends func() []*Backend, log *slog.Logger) *SessionExpiry {
	if log == nil {
		log = slog.Default()
	}
	return &SessionExpiry{c: c, backends: backends, log: log}
}

// Name names the leader loop: "expiry".
func (e *SessionExpiry) Name() string { return "expiry" }

// Interval is how often expiry runs for a backend: a tenth of its
// shortest limit, between 100 ms and one minute.
func expiryInterval(o *CookieOptions) time.Duration {
	d := o.MaxIdle
	if d == 0 || (o.MaxLife > 0 && o.MaxLife < d) {
		d = o.MaxLife
	}
	return min(max(d/10, 100*time.Millisecond), time.Minute)
}

// expires reports whether b's sessions expire.
func expires(b *Backend) bool {
	o := b.Cookie
	return b.mode != nil && b.mode.learns() && (o.MaxIdle > 0 || o.MaxLife > 0)
}

// Run expires sessions until ctx ends (the leadership it was started for
// is over). Each backend is first expired at the first tick.
func (e *SessionExpiry) Run(ctx context.Context) error {
	since := time.Now()              // this leadership began about now (monotonic clock)
	next := map[*Backend]time.Time{} // when each backend is expired next
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			bs := e.backends()
			for b := range next {
				if !slices.Contains(bs, b) { // replaced by a reload
					delete(next, b)
				}
			}
			for _, b := range bs {
				if !expires(b) {
					continue
				}
				if at, ok := next[b]; ok && now.Before(at) {
					continue
				}
				next[b] = now.Add(expiryInterval(b.Cookie))
				e.expire(ctx, b, time.Since(since))
			}
		}
	}
}

// expire commits one backend's expiry. // ledFor is how long this node has led: Apply counts no session idle
// from before the leadership began, since touches proposed during the
// election reach this leader only after it (fsm.leaderSince).
func (e *SessionExpiry) expire(ctx context.Context, b *Backend, ledFor time.Duration) {
	o := b.Cookie
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	res, err := e.c.ApplyAsLeader(actx, fsm.ExpireSessionsType, &fsmpb.ExpireSessions{Backend: b.Name, MaxIdleMs: o.MaxIdle.Milliseconds(),
		MaxLifeMs: o.MaxLife.Milliseconds(), LedForMs: proto.Int64(ledFor.Milliseconds())})
	cancel()
	if err == nil {
		e.commits.Add(1)
		e.expired.Add(uint64(max(res.Count, 0)))
	}
	switch {
	case err != nil:
		e.log.Warn("session expiry not committed", "backend", b.Name, "err", err)
	case res.Count > 0:
		e.log.Info("sessions expired", "backend", b.Name, "count", res.Count)
	}
}
