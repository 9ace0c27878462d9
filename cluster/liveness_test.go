package cluster

import (
	"testing"
	"time"
)

func TestLivenessSeesKilledPeerAndLostLeader(t *testing.T) {
	// Raft at 300 ms: what is under test is liveness, not Raft's timing;
	// with FastTimeouts' 50 ms lease a leader left with one follower on a
	// machine slowed by -race and CPU hogs steps down now and then, and a
	// leader that does not lead has no view of its peers.
	tc, lns := reserveCluster(t, 3, func(int) string { return t.TempDir() })
	tc.tune = func(c *Config) { TestTimeouts(c, 300*time.Millisecond) }
	tc.startAll(lns)
	tc.waitReady()
	// Generous against a loaded CI machine under -race: a live peer must
	// not miss dead_after worth of probes.
	const deadAfter = time.Second
	lv := make([]*Liveness, 3)
	for i, n := range tc.nodes {
		// A peer is counted dead only with a fresh report (a ping answered
		// within 3 contact intervals of its sending) from a majority: 150 ms
		// contacts keep one arriving while -race and CPU hogs slow every
		// round trip past 150 ms (at 50 ms none did, for 5 s).
		lv[i] = NewLiveness(n, LivenessConfig{DeadAfter: deadAfter, ProbeInterval: 50 * time.Millisecond, ContactInterval: 150 * time.Millisecond, Logger: quietLogger()})
		t.Cleanup(lv[i].Close)
	}
	l := tc.leader()
	waitFor(t, "leader's liveness view", func() bool { ok, _ := lv[l].Leading(); return ok && len(lv[l].Peers()) == 2 })
	for _, p := range lv[l].Peers() {
		if !p.Alive {
			t.Fatalf("peer %s dead at start", p.ID)
		}
	}
	f, other := (l+1)%3, (l+2)%3
	if !lv[f].Alive(tc.nodes[f].ID()) {
		t.Fatal("a node must count itself alive")
	}
	if lv[f].Alive(tc.nodes[other].ID()) {
		t.Fatal("a follower has no view of its peers")
	}
	if since := time.Since(lv[f].LeaderContact()); since > 300*time.Millisecond {
		t.Fatalf("follower's last leader contact %v ago", since)
	}

	changed := lv[l].Changed()
	killed := time.Now()
	if err := tc.nodes[f].Kill(); err != nil {
		t.Fatal(err)
	}
	tc.nodes[f] = nil
	fid := "n" + string(rune('1'+f))
	for deadline := time.Now().Add(10 * time.Second); lv[l].Alive(fid); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			at, fresh := lv[l].contacts.indirect(fid, time.Now())
			t.Fatalf("killed peer %s still alive on the leader after %v: peers %+v; latest contact %v, fresh reports %d",
				fid, time.Since(killed).Round(time.Millisecond), lv[l].Peers(), at, fresh)
		}
	}
	took := time.Since(killed)
	t.Logf("kill -> dead on the leader: %v (dead_after %v)", took.Round(time.Millisecond), deadAfter)
	// The leader last heard from the peer up to a probe round (and, on a
	// loaded machine, a late answer) before the kill: dead_after runs from
	// that contact, not from the kill.
	if took < deadAfter/2 {
		t.Fatalf("declared dead after %v, before dead_after %v", took, deadAfter)
	}
	select {
	case <-changed:
	default:
		t.Fatal("Changed was not signalled")
	}
	if !lv[l].Alive(tc.nodes[other].ID()) {
		leading, term := lv[l].Leading()
		t.Fatalf("the live peer was counted dead (leading %v in term %d, raft state %v; peers %+v)", leading, term, tc.nodes[l].Raft().State(), lv[l].Peers())
	}

	// Kill the leader too: the survivor has no leader and its last
	// contact stops advancing.
	lv[l].Close()
	if err := tc.nodes[l].Kill(); err != nil {
		t.Fatal(err)
	}
	tc.nodes[l] = nil
	time.Sleep(600 * time.Millisecond)
	if since := time.Since(lv[other].LeaderContact()); since < 300*time.Millisecond {
		t.Fatalf("a node alone still reports leader contact %v ago", since)
	}
}
