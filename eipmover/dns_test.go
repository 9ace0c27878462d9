package eipmover

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/haraft/haraft/eipmover/r53emu"
)

// recordWatch remembers every value set the emulator's record took (the
// emulator reports each change as it makes it), to prove the record was
// never emptied and to see states that lasted only between two changes.
type recordWatch struct {
	mu    sync.Mutex
	seen  []string
	empty bool
}

func watchRecord(t *testing.T, f *r53Fixture) *recordWatch {
	w := &recordWatch{}
	f.emu.Watch(func(zone string, rs r53emu.RecordSet, deleted bool) {
		if zone != f.zone || rs.Name != "lb.example.com." || rs.Type != "A" {
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if deleted {
			w.empty = true
			return
		}
		if v := (Record{TTL: rs.TTL, Values: rs.Values}).String(); len(w.seen) == 0 || w.seen[len(w.seen)-1] != v {
			w.seen = append(w.seen, v)
		}
	})
	t.Cleanup(func() { f.emu.Watch(nil) })
	return w
}

func (h *harness) record() Record {
	rs, _ := h.r53.emu.LookupRecordSet(h.r53.zone, "lb.example.com", "A")
	return Record{TTL: rs.TTL, Values: sortedValues(rs.Values)}
}

// waitRecord waits until Route 53 shows want and every running node has
// committed it.
func (h *harness) waitRecord(want ...string) {
	h.t.Helper()
	w := Record{TTL: 60, Values: want}
	h.waitFor("record "+w.String(), 15*time.Second, func() bool {
		if !h.record().Equal(w) {
			return false
		}
		for _, tn := range h.nodes {
			if tn.cancel == nil {
				continue
			}
			recs := tn.node.FSM().State.DNSRecords()
			if len(recs) != 1 || !slices.Equal(recs[0].Values, sortedValues(want)) {
				return false
			}
		}
		return true
	})
}

// The record carries the addresses with a live, ready holder; it follows a
// holder's death (the standby takes the address and the record keeps it),
// a node's removal from the cluster (its address leaves the record until
// another node holds it), and drift is repaired. It is never emptied.
func TestDNSRecordFollowsHolders(t *testing.T) {
	fourNodes := append(slices.Clone(threeNodes), nodeSpec{id: "n4", az: "us-east-1b", standby: true})
	h := settledHarness(t, harnessOpts{nodes: fourNodes, eips: []EIP{eipWeb, eipAPI}, kind: "ec2", dns: true,
		deadAfter: 300 * time.Millisecond, reconcile: 200 * time.Millisecond}, map[string]string{eipWeb.ID: "n1", eipAPI.ID: "n3"})
	w := watchRecord(t, h.r53)
	h.waitRecord(eipWeb.Address, eipAPI.Address)

	if h.leader() == h.index("n1") {
		h.transferLeadership(h.index("n3"))
	}
	h.kill(h.index("n1"))
	h.waitPlaced(map[string]string{eipWeb.ID: "n2", eipAPI.ID: "n3"})
	h.waitRecord(eipWeb.Address, eipAPI.Address)

	// Drift: someone rewrites the record; the leader puts it back.
	if err := h.r53.emu.SetRecordSet(h.r53.zone, r53emu.RecordSet{Name: "lb.example.com", Type: "A", TTL: 300, Values: []string{"192.0.2.66"}}); err != nil {
		t.Fatal(err)
	}
	h.waitRecord(eipWeb.Address, eipAPI.Address)

	// Remove n3 from the cluster: its address leaves the record (n3 is no
	// member any more) and comes back once n4, the standby of its AZ,
	// holds it.
	h.waitFor("n3 removed from the configuration", 15*time.Second, func() bool {
		if h.leader() == h.index("n3") {
			h.transferLeadership(h.index("n4"))
		}
		l := h.nodes[h.leader()].node
		if err := l.Raft().RemoveServer(raft.ServerID("n3"), 0, 0).Error(); err != nil {
			t.Logf("remove n3 (retrying): %v", err)
			return false
		}
		return true
	})
	h.stopControl(h.index("n3"))
	h.waitPlaced(map[string]string{eipWeb.ID: "n2", eipAPI.ID: "n4"})
	h.waitRecord(eipWeb.Address, eipAPI.Address)

	w.mu.Lock()
	defer w.mu.Unlock()
	t.Logf("record history: %v", w.seen)
	if w.empty {
		t.Fatal("the record was emptied")
	}
	if !slices.Contains(w.seen, Record{TTL: 60, Values: []string{eipWeb.Address}}.String()) {
		t.Errorf("the removed node's address never left the record: %v", w.seen)
	}
	c := h.nodes[h.leader()].dns.Counters()
	t.Logf("leader dns counters: decisions %d changes %d conflicts %d errors %d", c.Decisions.Load(), c.Changes.Load(), c.Conflicts.Load(), c.Errors.Load())
}

// Throttling and an access-denied key change nothing: the record keeps its
// values, the errors are counted and reported, and it converges once the
// faults clear.
func TestDNSErrorsChangeNothing(t *testing.T) {
	h := settledHarness(t, harnessOpts{nodes: threeNodes, eips: []EIP{eipWeb, eipAPI}, kind: "ec2", dns: true,
		reconcile: 100 * time.Millisecond}, map[string]string{eipWeb.ID: "n1", eipAPI.ID: "n3"})
	h.waitRecord(eipWeb.Address, eipAPI.Address)
	drift := r53emu.RecordSet{Name: "lb.example.com", Type: "A", TTL: 60, Values: []string{"192.0.2.66"}}
	h.r53.emu.SetFault("ChangeResourceRecordSets", r53emu.Fault{Throttle: 1 << 30})
	if err := h.r53.emu.SetRecordSet(h.r53.zone, drift); err != nil {
		t.Fatal(err)
	}
	lead := h.nodes[h.leader()].dns
	h.waitFor("errors counted and reported", 10*time.Second, func() bool {
		return lead.Counters().Errors.Load() >= 2 && lead.Status().LastError != ""
	})
	if got := h.record(); !got.Equal(Record{TTL: 60, Values: drift.Values}) {
		t.Fatalf("record changed to %v while throttled", got)
	}
	t.Logf("reported: %s", lead.Status().LastError)
	if k := lead.Status().ErrorKind; k != "throttled" || lead.Counters().ErrorsByKind()["throttled"] < 2 {
		t.Errorf("throttling counted as %q: %v", k, lead.Counters().ErrorsByKind())
	}
	h.r53.emu.SetFault("ChangeResourceRecordSets", r53emu.Fault{})
	h.waitRecord(eipWeb.Address, eipAPI.Address)

	// A key Route 53 no longer accepts: counted as auth, nothing changes.
	h.r53.emu.RemoveCredentials("AKIDR53")
	if err := h.r53.emu.SetRecordSet(h.r53.zone, drift); err != nil {
		t.Fatal(err)
	}
	h.waitFor("auth errors counted", 10*time.Second, func() bool {
		return lead.Counters().ErrorsByKind()["auth"] >= 2 && lead.Status().ErrorKind == "auth"
	})
	if got := h.record(); !got.Equal(Record{TTL: 60, Values: drift.Values}) {
		t.Fatalf("record changed to %v without valid credentials", got)
	}
	t.Logf("reported: %s", lead.Status().LastError)
	h.r53.emu.AddCredentials(r53emu.Credentials{AccessKeyID: "AKIDR53", SecretAccessKey: "r53secret"})
	h.waitRecord(eipWeb.Address, eipAPI.Address)
}

// Withdraw takes a leaving node's address out of the record, and Route 53
// has accepted that change, while the node still holds the address; the
// address comes back once another node holds it. Withdrawing the only
// addresses with a ready holder keeps them (the record is never emptied).
func TestDNSWithdrawBeforeRemoval(t *testing.T) {
	fourNodes := append(slices.Clone(threeNodes), nodeSpec{id: "n4", az: "us-east-1b", standby: true})
	h := settledHarness(t, harnessOpts{nodes: fourNodes, eips: []EIP{eipWeb, eipAPI}, kind: "ec2", dns: true,
		deadAfter: 300 * time.Millisecond, reconcile: 200 * time.Millisecond}, map[string]string{eipWeb.ID: "n1", eipAPI.ID: "n3"})
	w := watchRecord(t, h.r53)
	h.waitRecord(eipWeb.Address, eipAPI.Address)
	// On a loaded machine leadership may move between the steps: then
	// the whole sequence runs again on the new leader.
	h.waitFor("n3 withdrawn, then removed", 60*time.Second, func() bool {
		if h.leader() == h.index("n3") {
			h.transferLeadership(h.index("n1"))
		}
		lead := h.nodes[h.leader()]
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		release, err := lead.dns.Withdraw(ctx, "n3")
		defer release()
		if err != nil {
			t.Logf("withdraw n3 (retrying): %v", err)
			return false
		}
		// Route 53 has the record without n3's address, and n3 still
		// holds it.
		if !lead.node.IsLeader() {
			return false
		}
		if got := h.record(); !got.Equal(Record{TTL: 60, Values: []string{eipWeb.Address}}) {
			t.Fatalf("record after withdraw: %v", got)
		}
		if e := h.holder(h.leader(), eipAPI.ID); e == nil || e.Holder != "n3" || h.emuHolder(eipAPI.ID) != "i-n3" {
			t.Fatalf("n3 no longer holds %s at withdraw: %v / %s", eipAPI.ID, e, h.emuHolder(eipAPI.ID))
		}
		// With n3 leaving, withdrawing n1 too would empty the record:
		// it keeps n1's address.
		keep, err := lead.dns.Withdraw(ctx, "n1")
		keep()
		if errors.Is(err, ErrNotLeader) {
			return false
		}
		if !errors.Is(err, ErrRecordKept) {
			t.Fatalf("withdraw of the last address: %v, want ErrRecordKept", err)
		}
		if got := h.record(); !got.Equal(Record{TTL: 60, Values: []string{eipWeb.Address}}) {
			t.Fatalf("record after a refused withdraw: %v", got)
		}
		if err := lead.node.Raft().RemoveServer(raft.ServerID("n3"), 0, 0).Error(); err != nil {
			t.Logf("remove n3 (retrying): %v", err)
			return false
		}
		return true
	})
	h.stopControl(h.index("n3"))
	h.waitPlaced(map[string]string{eipWeb.ID: "n1", eipAPI.ID: "n4"})
	h.waitRecord(eipWeb.Address, eipAPI.Address)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.empty {
		t.Fatal("the record was emptied")
	}
	t.Logf("record history: %v", w.seen)
}

// A zone that does not exist, or a name outside the zone, is reported as
// a zone error in the status and counted as such; no change is tried.
func TestDNSBadZone(t *testing.T) {
	for _, tc := range []struct{ name, zone, record, want string }{
		{"no such zone", "ZNOSUCHZONE", "", "hosted zone ZNOSUCHZONE does not exist"},
		{"name outside the zone", "", "lb.example.org", "record lb.example.org. is outside hosted zone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := settledHarness(t, harnessOpts{nodes: threeNodes, eips: []EIP{eipWeb, eipAPI}, kind: "ec2", dns: true,
				dnsZone: tc.zone, dnsName: tc.record, reconcile: 100 * time.Millisecond}, map[string]string{eipWeb.ID: "n1", eipAPI.ID: "n3"})
			lead := h.nodes[h.leader()].dns
			h.waitFor("the zone error reported", 10*time.Second, func() bool {
				return strings.Contains(lead.Status().ZoneError, tc.want) && lead.Counters().ErrorsByKind()["zone"] >= 2
			})
			st := lead.Status()
			if st.ErrorKind != "zone" || !strings.Contains(st.LastError, tc.want) {
				t.Errorf("status: kind %q, last error %q", st.ErrorKind, st.LastError)
			}
			if n := h.r53.emu.Calls("ChangeResourceRecordSets"); n != 0 {
				t.Errorf("%d changes tried with a bad zone", n)
			}
			if !st.Desired.Exists() {
				t.Errorf("no decision committed: %+v", st)
			}
			t.Logf("status: %s", st.ZoneError)
		})
	}
}
