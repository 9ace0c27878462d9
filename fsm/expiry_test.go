package fsm

import (
	"testing"
	"time"

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
