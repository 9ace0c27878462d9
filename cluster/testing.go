package cluster

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
)

// FastTimeouts sets the 50 ms Raft timeouts that in-process test clusters
// use, so elections and failovers finish within a test's patience.
func FastTimeouts(c *Config) { TestTimeouts(c, 50*time.Millisecond) }

// TestTimeouts sets the heartbeat, election and leader-lease timeouts to d
// and a 5 ms commit timeout: FastTimeouts' profile at another pace, for a
// test whose leader must keep its lease through a busy machine's pauses.
func TestTimeouts(c *Config, d time.Duration) {
	c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout = d, d, d
	c.CommitTimeout = 5 * time.Millisecond
}

// ApplyOnLeader proposes a command on whichever of nodes is the leader,
// as the leader's own decision or an administrative command (which are
// never forwarded, cluster/forwardpolicy.go), again after a leadership
// change, until ctx ends. For tests and tools that stand in for the admin
// API or a leader loop.
func ApplyOnLeader(ctx context.Context, nodes []*Node, t fsm.MessageType, msg proto.Message) (*fsmpb.ApplyResult, error) {
	for {
		var err error = ErrNoLeader
		for _, n := range nodes {
			if n != nil && n.IsLeader() {
				var res *fsmpb.ApplyResult
				if res, err = n.ApplyAsLeader(ctx, t, msg); err == nil {
					return res, nil
				}
				break
			}
		}
		if !retryable(err) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("apply on the leader: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
