package admin

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/adminpb"
	"github.com/haraft/haraft/proto/fsmpb"
)

// stateAfter applies commands to a fresh FSM and returns its view.
func stateAfter(t *testing.T, members []string, cmds ...any) *view {
	t.Helper()
	f := fsm.New(nil)
	for i := 0; i+1 < len(cmds); i += 2 {
		b, err := fsm.Encode(cmds[i].(fsm.MessageType), cmds[i+1].(proto.Message))
		if err != nil {
			t.Fatal(err)
		}
		if res := f.ApplyCommand(b); res.ErrorCode != "" {
			t.Fatal(res.Error)
		}
	}
	v := &view{servers: f.Servers(), nodes: map[string]*fsmpb.Node{}, eips: map[string]*fsmpb.EIP{}, members: map[string]raft.Server{}}
	for _, n := range f.Nodes() {
		v.nodes[n.Id] = n
	}
	for _, e := range f.EIPs() {
		v.eips[e.Id] = e
	}
	for _, m := range members {
		v.members[m] = raft.Server{ID: raft.ServerID(m), Address: raft.ServerAddress(m + ":7000"), Suffrage: raft.Voter}
	}
	return v
}

func TestDiff(t *testing.T) {
	base := []any{
		fsm.SetServerHealthType, &fsmpb.SetServerHealth{Backend: "app", Name: "A", Health: fsmpb.Health_HEALTH_UP},
		fsm.RegisterNodeType, &fsmpb.RegisterNode{Node: &fsmpb.Node{Id: "n1", Az: "a", RegisteredUnixMs: 1}},
		fsm.AssignEIPType, &fsmpb.AssignEIP{Eip: &fsmpb.EIP{Id: "e1", Holder: "n1", Term: 2}},
	}
	plus := func(more ...any) []any { return append(append([]any{}, base...), more...) }
	for _, tc := range []struct {
		name    string
		members []string
		cmds    []any
		want    []string // "TYPE message" substrings, in order
	}{
		{"nothing changed", []string{"n1"}, base, nil},
		{"health down", []string{"n1"}, plus(fsm.SetServerHealthType, &fsmpb.SetServerHealth{Backend: "app", Name: "A", Health: fsmpb.Health_HEALTH_DOWN}),
			[]string{"EVENT_SERVER_HEALTH app/A is down (was up)"}},
		{"drain", []string{"n1"}, plus(fsm.SetServerAdminType, &fsmpb.SetServerAdmin{Backend: "app", Name: "A", Admin: fsmpb.AdminState_ADMIN_DRAIN}),
			[]string{"EVENT_SERVER_CHANGED app/A set drain (was ready)"}},
		{"weight", []string{"n1"}, plus(fsm.SetServerWeightType, &fsmpb.SetServerWeight{Backend: "app", Name: "A", Weight: 3}),
			[]string{"EVENT_SERVER_CHANGED app/A weight set to 3"}},
		{"added", []string{"n1"}, plus(fsm.AddServerType, &fsmpb.AddServer{Backend: "app", Name: "C", Addr: "h:1", Weight: 1}),
			[]string{"EVENT_SERVER_CHANGED app/C added at h:1"}},
		{"removed", []string{"n1"}, plus(fsm.RemoveServerType, &fsmpb.RemoveServer{Backend: "app", Name: "A"}),
			[]string{"EVENT_SERVER_CHANGED app/A removed"}},
		{"eip moved", []string{"n1"}, plus(fsm.AssignEIPType, &fsmpb.AssignEIP{Eip: &fsmpb.EIP{Id: "e1", Holder: "n2", Term: 3, Reason: "n1 down"}}),
			[]string{"EVENT_EIP_MOVED EIP e1 moved n1 → n2 (n1 down, term 3)"}},
		{"eip pinned", []string{"n1"}, plus(fsm.AssignEIPType, &fsmpb.AssignEIP{Eip: &fsmpb.EIP{Id: "e1", Holder: "n1", Term: 3, Pinned: true}}),
			[]string{"EVENT_EIP_MOVED EIP e1 pinned on n1"}},
		{"member joined and registered", []string{"n1", "n2"}, plus(fsm.RegisterNodeType, &fsmpb.RegisterNode{Node: &fsmpb.Node{Id: "n2", Az: "b", RegisteredUnixMs: 2}}),
			[]string{"EVENT_NODE_JOINED n2 joined the cluster as voter", "EVENT_NODE_REGISTERED n2 registered (az b"}},
		{"member left", nil, base, []string{"EVENT_NODE_LEFT n1 left the cluster"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := stateAfter(t, []string{"n1"}, base...)
			after := stateAfter(t, tc.members, tc.cmds...)
			// Identical tables from two FSMs are distinct pointers: compare
			// them as the hub does after an entry that changed nothing.
			if len(tc.want) == 0 {
				after.servers = before.servers
			}
			var got []string
			for _, e := range diff(before, after) {
				got = append(got, e.Type.String()+" "+e.Message)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("events %q, want %q", got, tc.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("event %d = %q, want prefix %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestHubSubscribers(t *testing.T) {
	h := &Hub{nodeID: "n1", subs: map[*subscriber]struct{}{}, counts: map[adminpb.EventType]uint64{}, log: discard()}
	h.publish(&adminpb.Event{Type: adminpb.EventType_EVENT_LEADER_CHANGED, Message: "old"})
	all, cancelAll := h.Subscribe(nil, true)
	defer cancelAll()
	eips, cancelEIPs := h.Subscribe([]adminpb.EventType{adminpb.EventType_EVENT_EIP_MOVED}, false)
	defer cancelEIPs()
	h.publish(&adminpb.Event{Type: adminpb.EventType_EVENT_EIP_MOVED, Message: "moved"})
	if e := <-all.ch; e.Message != "old" || e.Seq != 1 || e.ObservedBy != "n1" {
		t.Fatalf("replayed %v", e)
	}
	if e := <-all.ch; e.Message != "moved" {
		t.Fatalf("got %v", e)
	}
	if e := <-eips.ch; e.Message != "moved" {
		t.Fatalf("filtered subscriber got %v", e)
	}
	if h.Count(adminpb.EventType_EVENT_EIP_MOVED) != 1 || len(h.Recent(10)) != 2 {
		t.Fatalf("count %d recent %d", h.Count(adminpb.EventType_EVENT_EIP_MOVED), len(h.Recent(10)))
	}
	// A subscriber that stops reading is cut off, not waited for.
	slow, cancelSlow := h.Subscribe(nil, false)
	defer cancelSlow()
	for i := 0; i < 300; i++ {
		h.publish(&adminpb.Event{Type: adminpb.EventType_EVENT_SERVER_HEALTH})
	}
	n := 0
	for range slow.ch {
		n++
	}
	if !slow.lost || n != 256 {
		t.Fatalf("slow subscriber: lost=%v after %d events", slow.lost, n)
	}
	if len(h.Recent(1000)) != recentEvents {
		t.Fatalf("recent keeps %d, want %d", len(h.Recent(1000)), recentEvents)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
