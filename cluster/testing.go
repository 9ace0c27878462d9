package cluster

import (
	"time"
)

// FastTimeouts sets the 50 ms Raft timeouts that in-process test clusters
// use, so elections and failovers finish within a test's patience.
func FastTimeouts(c *Config) {
	c.HeartbeatTimeout = 50 * time.Millisecond
	c.ElectionTimeout = 50 * time.Millisecond
	c.LeaderLeaseTimeout = 50 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
}
