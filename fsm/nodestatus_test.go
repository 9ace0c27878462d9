package fsm

import (
	"bytes"
	"testing"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/haraft/haraft/proto/fsmpb"
)

func TestNodeStatus(t *testing.T) {
	f := New(nil)
	apply := func(i int, m *fsmpb.ReportNodeStatus) *fsmpb.ApplyResult {
		return f.Apply(&raft.Log{Index: uint64(i), Type: raft.LogCommand, Data: mustEncode(t, ReportNodeStatusType, m)}).(*fsmpb.ApplyResult)
	}
	for i, tc := range []struct {
		name string
		msg  *fsmpb.ReportNodeStatus
		code string
	}{
		{"no status", &fsmpb.ReportNodeStatus{}, "invalid"},
		{"no id", &fsmpb.ReportNodeStatus{Status: &fsmpb.NodeStatus{Az: "a"}}, "invalid"},
		{"n2", &fsmpb.ReportNodeStatus{Status: &fsmpb.NodeStatus{NodeId: "n2", Az: "b", Role: fsmpb.NodeRole_ROLE_STANDBY, InstanceId: "i-2"}}, ""},
		{"n1", &fsmpb.ReportNodeStatus{Status: &fsmpb.NodeStatus{NodeId: "n1", Az: "a", Proxy: fsmpb.ProxyHealth_PROXY_UP, Holding: []string{"eip-1"}}}, ""},
		{"n1 again, last wins", &fsmpb.ReportNodeStatus{Status: &fsmpb.NodeStatus{NodeId: "n1", Az: "a", Proxy: fsmpb.ProxyHealth_PROXY_DOWN}}, ""},
	} {
		if got := apply(i+1, tc.msg).ErrorCode; got != tc.code {
			t.Errorf("%s: error code %q, want %q", tc.name, got, tc.code)
		}
	}
	got := map[string]*fsmpb.NodeStatus{}
	for _, s := range f.NodeStatuses() {
		got[s.NodeId] = s
	}
	if len(got) != 2 || got["n1"].Proxy != fsmpb.ProxyHealth_PROXY_DOWN || len(got["n1"].Holding) != 0 || got["n2"].InstanceId != "i-2" {
		t.Fatalf("statuses: %v", got)
	}
	// Statuses survive a snapshot, byte for byte.
	snap := snapshotBytes(t, f)
	g := New(nil)
	if err := g.Restore(nopCloser{bytes.NewReader(snap)}); err != nil {
		t.Fatal(err)
	}
	if again := snapshotBytes(t, g); !bytes.Equal(snap, again) {
		t.Fatal("restore + snapshot changed the bytes")
	}
	for _, s := range g.NodeStatuses() {
		if !proto.Equal(s, got[s.NodeId]) {
			t.Fatalf("restored %v, want %v", s, got[s.NodeId])
		}
	}
	// Callers get copies.
	g.NodeStatuses()[0].Az = "changed"
	for _, s := range g.NodeStatuses() {
		if s.Az == "changed" {
			t.Fatal("NodeStatuses returned the state's own message")
		}
	}
}
