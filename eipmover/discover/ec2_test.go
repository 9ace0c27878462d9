package discover

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/haraft/haraft/eipmover/ec2emu"
	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
)

func app(id, ip string) ec2emu.Instance {
	return ec2emu.Instance{ID: id, PrivateIP: ip, Tags: map[string]string{"role": "app"}}
}

var (
	isActive = func(s fsm.ServerState) bool {
		return s.Source == "ec2" && !s.Removed && s.Deregistering == 0 && s.Usable()
	}
	isDraining = func(s fsm.ServerState) bool {
		return s.Deregistering != 0 && !s.Removed && !s.Usable() && s.KeepsSessions()
	}
	isRemoved = func(s fsm.ServerState) bool { return s.Removed }
)

// Instances tagged role=app and running become servers of backend app on
// every node at one log index; one started later is added at a later
// index; one terminated drains for the deregistration delay (by the
// leader's stamp, across a leadership change) and is then removed; a
// retagged one leaves as well; throttling, a rejected key and an empty
// answer change nothing.
func TestEC2DiscoveryAddsDrainsRemoves(t *testing.T) {
	f := newEC2Fixture(t, app("i-app1", "10.0.3.1"), app("i-app2", "10.0.3.2"), app("i-app5", "10.0.3.5"),
		ec2emu.Instance{ID: "i-db", PrivateIP: "10.0.3.9", Tags: map[string]string{"role": "db"}},
		ec2emu.Instance{ID: "i-stopped", PrivateIP: "10.0.3.8", Tags: map[string]string{"role": "app"}, State: "stopped"})
	const delay = 1500 * time.Millisecond
	c := newTestCluster(t, clusterOpts{delay: delay, share: 0.5, source: func(t *testing.T) Source {
		return f.source(t, map[string]string{"role": "app"}, 8080)
	}})

	// Start: the three running role=app instances, by private address, in
	// one entry applied at the same index everywhere.
	first := c.everywhere("i-app1 added", "i-app1", isActive)
	for _, id := range []string{"i-app2", "i-app5"} {
		if st := c.everywhere(id+" added", id, isActive); st.AddedIndex != first.AddedIndex {
			t.Fatalf("%s added at index %d, i-app1 at %d: one answer, one step", id, st.AddedIndex, first.AddedIndex)
		}
	}
	if first.Addr != "10.0.3.1:8080" || first.Cookie != "i-app1" || first.AddedIndex == 0 {
		t.Fatalf("i-app1: %+v", first)
	}
	for _, id := range []string{"i-db", "i-stopped"} {
		if st := c.nodes[0].FSM().Servers().Get("app", id); st.Dynamic {
			t.Fatalf("%s is not a target but was added: %+v", id, st)
		}
	}

	// A started instance: added at a later index, on every node.
	if err := f.emu.AddInstance(app("i-app3", "10.0.3.3")); err != nil {
		t.Fatal(err)
	}
	if st := c.everywhere("i-app3 added", "i-app3", isActive); st.AddedIndex <= first.AddedIndex {
		t.Fatalf("i-app3 added at %d, not after %d", st.AddedIndex, first.AddedIndex)
	}

	// Terminated: drained at once, removed only after the delay, counted
	// from the stamp the first leader committed, even after a leadership
	// change in between.
	if err := f.emu.SetInstanceState("i-app1", "terminated"); err != nil {
		t.Fatal(err)
	}
	dr := c.everywhere("i-app1 draining", "i-app1", isDraining)
	old := c.leader()
	to := c.nodes[(old+1)%3]
	if err := c.nodes[old].Raft().LeadershipTransferToServer(raft.ServerID(to.ID()), raft.ServerAddress(to.Addr())).Error(); err != nil {
		t.Logf("leadership transfer: %v (the test goes on with whichever leader)", err)
	}
	c.everywhere("i-app1 removed", "i-app1", isRemoved)
	if since := time.Since(time.UnixMilli(dr.Deregistering)); since < delay {
		t.Fatalf("i-app1 removed %v after its deregistration started, before the %v delay", since, delay)
	}

	// Retagged: leaves as a terminated one does.
	if err := f.emu.SetInstanceTags("i-app2", map[string]string{"role": "old"}); err != nil {
		t.Fatal(err)
	}
	c.everywhere("i-app2 draining", "i-app2", isDraining)
	c.everywhere("i-app2 removed", "i-app2", isRemoved)

	// Faults: while DescribeInstances is throttled, then while the key is
	// rejected, a terminated instance stays; it leaves once they end.
	for _, fault := range []struct {
		kind       string
		start, end func()
	}{
		{"throttled", func() {
			f.emu.SetFaults(ec2emu.Faults{ThrottleEvery: 1, Actions: []string{"DescribeInstances"}})
		}, func() { f.emu.SetFaults(ec2emu.Faults{}) }},
		{"auth", func() {
			_ = f.emu.AddCredentials(ec2emu.Credentials{AccessKey: testAK, Secret: "rotated"})
		}, func() { _ = f.emu.AddCredentials(ec2emu.Credentials{AccessKey: testAK, Secret: testSecret}) }},
	} {
		t.Run(fault.kind, func(t *testing.T) {
			before := c.leaderStatus().Errors[fault.kind]
			fault.start()
			if err := f.emu.SetInstanceState("i-app5", "terminated"); err != nil {
				t.Fatal(err)
			}
			c.waitFor("three "+fault.kind+" polls", func() bool { return c.leaderStatus().Errors[fault.kind] >= before+3 })
			st := c.leaderStatus()
			if !strings.Contains(st.LastError, "keeping the last known servers") || st.LastErrorKind != fault.kind {
				t.Fatalf("status: %+v", st)
			}
			for i, n := range c.nodes {
				if s := n.FSM().Servers().Get("app", "i-app5"); !isActive(s) {
					t.Fatalf("node %d: i-app5 changed during %s errors: %+v", i, fault.kind, s)
				}
			}
			fault.end()
			c.everywhere("i-app5 draining once "+fault.kind+" ended", "i-app5", isDraining)
			c.waitFor("a clean poll", func() bool { return c.leaderStatus().LastError == "" })
			// Back for the next fault.
			if err := f.emu.SetInstanceState("i-app5", "running"); err != nil {
				t.Fatal(err)
			}
			c.everywhere("i-app5 restored", "i-app5", isActive)
		})
	}

	// An empty answer while servers are up: nothing leaves.
	for _, id := range []string{"i-app3", "i-app5"} {
		if err := f.emu.SetInstanceState(id, "stopped"); err != nil {
			t.Fatal(err)
		}
	}
	c.waitFor("an empty answer reported", func() bool { return c.leaderStatus().LastErrorKind == "empty" })
	empties := c.leaderStatus().Errors["empty"]
	c.waitFor("three more empty answers", func() bool { return c.leaderStatus().Errors["empty"] >= empties+3 }) // none may act
	if st := c.leaderStatus(); !strings.Contains(st.LastError, "while 2 servers are up") {
		t.Fatalf("status: %+v", st)
	}
	for _, id := range []string{"i-app3", "i-app5"} {
		for i, n := range c.nodes {
			if s := n.FSM().Servers().Get("app", id); !isActive(s) {
				t.Fatalf("node %d: %s left on an empty answer: %+v", i, id, s)
			}
		}
	}
}

// No step deregisters more than max_remove_share of the servers.
func TestEC2DiscoveryMaxRemoveShare(t *testing.T) {
	var ins []ec2emu.Instance
	for i, id := range []string{"i-a", "i-b", "i-c", "i-d", "i-e", "i-f"} {
		ins = append(ins, app(id, fmt.Sprintf("10.0.5.%d", i+1)))
	}
	f := newEC2Fixture(t, ins...)
	c := newTestCluster(t, clusterOpts{delay: time.Hour, share: 0.5, source: func(t *testing.T) Source {
		return f.source(t, map[string]string{"role": "app"}, 80)
	}})
	for _, in := range ins {
		c.everywhere(in.ID+" added", in.ID, isActive)
	}
	// Five of six go at once; the answer keeps i-f.
	for _, in := range ins[:5] {
		if err := f.emu.SetInstanceState(in.ID, "terminated"); err != nil {
			t.Fatal(err)
		}
	}
	for _, in := range ins[:5] {
		c.everywhere(in.ID+" draining", in.ID, isDraining)
	}
	// Steps: 6 up → at most 3; 3 up → 1; 2 up → 1.
	var got []int
	up := 6
	for _, s := range c.stepLog() {
		if len(s.Deregister) == 0 {
			continue
		}
		got = append(got, len(s.Deregister))
		if limit := up / 2; len(s.Deregister) > limit {
			t.Fatalf("a step deregistered %d of %d servers (max_remove_share 0.5): %v", len(s.Deregister), up, s.Deregister)
		}
		up -= len(s.Deregister)
	}
	t.Logf("deregistrations per step: %v", got)
	if len(got) < 3 {
		t.Fatalf("5 of 6 servers left in %d steps (%v); max_remove_share 0.5 needs at least 3", len(got), got)
	}
	if st := c.nodes[0].FSM().Servers().Get("app", "i-f"); !isActive(st) {
		t.Fatalf("i-f: %+v", st)
	}
}

// A tag filter that matches nothing at start is an error in the status,
// and the backend gets no server.
func TestEC2DiscoveryMatchesNothing(t *testing.T) {
	f := newEC2Fixture(t, app("i-app1", "10.0.3.1"))
	src := f.source(t, map[string]string{"role": "web"}, 80)
	table := fsm.New(nil)
	l, err := NewLoop(Options{Backend: "app", Source: src, Servers: table.Servers,
		Commit: func(context.Context, *fsmpb.DiscoverServers) (*fsmpb.ApplyResult, error) {
			t.Fatal("a step was committed for an answer with no target")
			return nil, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	err = l.Poll(context.Background())
	if err == nil || !strings.Contains(err.Error(), "ec2 running instances tagged role=web, port 80 matches nothing: backend app has no discovered server") {
		t.Fatalf("poll: %v", err)
	}
	if st := l.Status(); st.LastErrorKind != "empty" || st.Errors["empty"] != 1 || !st.LastSuccess.IsZero() {
		t.Fatalf("status %+v", st)
	}
}

// A DescribeInstances that does not answer within the call timeout is a
// timeout error kept in the status, and nothing is committed: a backend's
// servers stay as they were.
func TestEC2DiscoveryTimeoutChangesNothing(t *testing.T) {
	f := newEC2Fixture(t, app("i-app1", "10.0.3.1"))
	f.emu.SetFaults(ec2emu.Faults{Latency: 5 * time.Second, Actions: []string{"DescribeInstances"}})
	src := f.sourceTimeout(t, map[string]string{"role": "app"}, 80, 200*time.Millisecond)
	table := fsm.New(nil)
	l, err := NewLoop(Options{Backend: "app", Source: src, Servers: table.Servers,
		Commit: func(context.Context, *fsmpb.DiscoverServers) (*fsmpb.ApplyResult, error) {
			t.Fatal("a step was committed for a poll that timed out")
			return nil, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	err = l.Poll(context.Background())
	if err == nil || !strings.Contains(err.Error(), "keeping the last known servers") || ErrorKind(err) != "timeout" {
		t.Fatalf("poll: %v (kind %q)", err, ErrorKind(err))
	}
	if st := l.Status(); st.LastErrorKind != "timeout" || st.Errors["timeout"] != 1 || !st.LastSuccess.IsZero() {
		t.Fatalf("status %+v", st)
	}
}
