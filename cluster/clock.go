package cluster

import "time"

// leaderClock is the time a leader stamps into log entries (session
// creation, touches, expiry). It is the wall clock read once at start plus
// the monotonic time elapsed since, so a wall-clock jump on the leader
// while it leads (NTP step, operator) neither expires sessions early nor
// makes them immortal.
type leaderClock struct{ base time.Time }

func newLeaderClock() leaderClock { return leaderClock{base: time.Now()} }

// Now returns the leader's time.
func (c leaderClock) Now() time.Time {
	return c.base.Round(0).Add(time.Since(c.base))
}
