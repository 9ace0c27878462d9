package fsm

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/haraft/haraft/proto/fsmpb"
)

func TestExpiryUsesOnlyStampedTimes(t *testing.T) {
	f := New(nil)
	leaderNow := time.UnixMilli(1_000_000)
	stampApply := func(data []byte, at time.Time) *fsmpb.ApplyResult {
		t.Helper()
		stamped, err := StampLeaderTime(data, at)
		if err != nil {
			t.Fatal(err)
		}
		return f.ApplyCommand(stamped)
	}
	// Proposer clocks are ignored: the leader stamps creation time.
	stampApply(mustEncode(t, LearnSessionsType, learn(
		&fsmpb.Binding{Backend: "app", Key: "busy", Server: "A", CreatedUnixMs: 42},
		&fsmpb.Binding{Backend: "app", Key: "idle", Server: "A", CreatedUnixMs: 9e15},
		&fsmpb.Binding{Backend: "other", Key: "idle", Server: "A"},
	)), leaderNow)
	if b, _ := f.Binding("app", "idle"); b.CreatedUnixMs != leaderNow.UnixMilli() {
		t.Fatalf("created %d, want the leader's %d", b.CreatedUnixMs, leaderNow.UnixMilli())
	}
	stampApply(mustEncode(t, TouchSessionsType, &fsmpb.TouchSessions{Backend: "app", Keys: []string{"busy", "absent"}}), leaderNow.Add(50*time.Second))
	// A touch stamped earlier never moves last-seen back.
	stampApply(mustEncode(t, TouchSessionsType, &fsmpb.TouchSessions{Backend: "app", Keys: []string{"busy"}}), leaderNow)
	res := stampApply(mustEncode(t, ExpireSessionsType, &fsmpb.ExpireSessions{Backend: "app", NowUnixMs: 1, MaxIdleMs: 30_000}), leaderNow.Add(60*time.Second))
	if res.Count != 1 {
		t.Fatalf("expired %d sessions, want 1", res.Count)
	}
	if _, ok := f.Lookup("app", "idle"); ok {
		t.Fatal("idle session kept")
	}
	if _, ok := f.Lookup("app", "busy"); !ok {
		t.Fatal("busy session expired")
	}
	if _, ok := f.Lookup("other", "idle"); !ok {
		t.Fatal("another backend's session expired")
	}
	res = stampApply(mustEncode(t, ExpireSessionsType, &fsmpb.ExpireSessions{Backend: "app", MaxLifeMs: 10_000}), leaderNow.Add(61*time.Second))
	if res.Count != 1 {
		t.Fatalf("maxlife expired %d, want 1", res.Count)
	}
	if r := f.ApplyCommand(mustEncode(t, ExpireSessionsType, &fsmpb.ExpireSessions{Backend: "app"})); r.ErrorCode != "invalid" {
		t.Fatalf("expiry without limits: %+v", r)
	}
}

// A leader counts no session idle from before it took over (led_for_ms):
// the touches proposed during the election reach it only afterwards.
// Entries without the field expire as they always did.
func TestExpiryCountsIdleFromTheLeadersTakeover(t *testing.T) {
	const maxIdle = 30_000
	for _, tc := range []struct {
		name    string
		ledFor  *int64
		expired int64
	}{
		{"no led_for_ms (older entry): idle since last seen", nil, 1},
		{"led for less than maxidle: kept", proto.Int64(10_000), 0},
		{"led for exactly maxidle: kept", proto.Int64(maxIdle), 0},
		{"led for longer than maxidle: idle since last seen", proto.Int64(maxIdle + 1), 1},
		{"negative led_for_ms: as if it had just taken over", proto.Int64(-5), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := New(nil)
			learned := time.UnixMilli(1_000_000)
			stamped, err := StampLeaderTime(mustEncode(t, LearnSessionsType, learn(&fsmpb.Binding{Backend: "app", Key: "s", Server: "A"})), learned)
			if err != nil {
				t.Fatal(err)
			}
			f.ApplyCommand(stamped)
			// Last seen 100 s before the expiry, far beyond maxidle.
			res := f.ApplyCommand(mustEncode(t, ExpireSessionsType, &fsmpb.ExpireSessions{Backend: "app", MaxIdleMs: maxIdle,
				NowUnixMs: learned.UnixMilli() + 100_000, LedForMs: tc.ledFor}))
			if res.Count != tc.expired {
				t.Fatalf("expired %d, want %d", res.Count, tc.expired)
			}
		})
	}
}
