package cluster_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/haraft/haraft/cluster"
	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/clusterpb"
	"github.com/haraft/haraft/proto/fsmpb"
)

// TestForwardingRPCWithPeerIdentity: over mutual TLS, a peer holding a
// valid node certificate (n2's, as a compromised node would) may forward
// what n2 itself reports, but no administrative command and no report in
// another node's name; a node certificate of the cluster CA whose node is
// not a member is refused everything.
func TestForwardingRPCWithPeerIdentity(t *testing.T) {
	p := newPKI(t, "n1", "n2", "n3", "n9")
	nodes := startCluster(t, &p)
	var leader *cluster.Node
	for _, n := range nodes {
		if n.IsLeader() {
			leader = n
		}
	}
	if leader == nil {
		t.Skip("leadership moved during start; the in-process tests cover the rest")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	asN2 := cluster.PeerClient(t, leader.Addr(), attackerTLS(t, p.nodes["n2"]))
	asN9 := cluster.PeerClient(t, leader.Addr(), attackerTLS(t, p.nodes["n9"]))
	view := func(node string) []byte {
		return cluster.EncodeCommand(t, fsm.ReportHealthViewsType, &fsmpb.ReportHealthViews{Views: []*fsmpb.HealthView{
			{Backend: "app", Server: "A", Node: node, Health: fsmpb.Health_HEALTH_DOWN}}})
	}
	for _, tc := range []struct {
		name   string
		client clusterpb.InternalClient
		cmd    []byte
		want   codes.Code
	}{
		{"n2 reports its own view", asN2, view("n2"), codes.OK},
		{"n2 learns a binding", asN2, cluster.EncodeCommand(t, fsm.LearnSessionsType, &fsmpb.LearnSessions{Bindings: []*fsmpb.Binding{{Backend: "app", Key: "k", Server: "A", LearnedBy: "n2"}}}), codes.OK},
		{"n2 reports n3's view", asN2, view("n3"), codes.PermissionDenied},
		{"n2 says n3's proxy is down", asN2, cluster.EncodeCommand(t, fsm.ReportNodeStatusType, &fsmpb.ReportNodeStatus{Status: &fsmpb.NodeStatus{NodeId: "n3"}}), codes.PermissionDenied},
		{"n2 registers as n1", asN2, cluster.EncodeCommand(t, fsm.RegisterNodeType, &fsmpb.RegisterNode{Node: &fsmpb.Node{Id: "n1", AdminAddr: "203.0.113.9:9201"}}), codes.PermissionDenied},
		{"n2 sets a server to maint", asN2, cluster.EncodeCommand(t, fsm.SetServerAdminType, &fsmpb.SetServerAdmin{Backend: "app", Name: "A", Admin: fsmpb.AdminState_ADMIN_MAINT}), codes.PermissionDenied},
		{"n2 moves an EIP", asN2, cluster.EncodeCommand(t, fsm.AssignEIPType, &fsmpb.AssignEIP{Eip: &fsmpb.EIP{Id: "e", Holder: "n2", Term: 1 << 40}}), codes.PermissionDenied},
		{"n9, not a member, reports its view", asN9, view("n9"), codes.PermissionDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.client.Apply(ctx, &clusterpb.ApplyRequest{Command: tc.cmd, FromNode: "n2"})
			if status.Code(err) != tc.want {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	// A ping counts as contact with the node it names: only its own.
	for _, tc := range []struct {
		name   string
		client clusterpb.InternalClient
		from   string
		want   codes.Code
	}{
		{"n2 pings as itself", asN2, "n2", codes.OK},
		{"n2 pings as n3", asN2, "n3", codes.PermissionDenied},
		{"n9, not a member, pings as itself", asN9, "n9", codes.PermissionDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.client.Ping(ctx, &clusterpb.PingRequest{FromNode: tc.from, Holdable: true, Term: leader.Raft().CurrentTerm()})
			if status.Code(err) != tc.want {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := asN9.ReadIndex(ctx, &clusterpb.ReadIndexRequest{CommitOnly: true}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("read index for a non-member: %v", err)
	}
	if _, err := asN2.ReadIndex(ctx, &clusterpb.ReadIndexRequest{CommitOnly: true}); err != nil && status.Code(err) != codes.FailedPrecondition {
		t.Errorf("read index for a member: %v", err)
	}
	st := leader.FSM()
	if a := st.Servers().Get("app", "A").Admin; a != fsmpb.AdminState_ADMIN_READY {
		t.Errorf("server A is %v", a)
	}
	if len(st.EIPs()) != 0 {
		t.Errorf("EIPs %v", st.EIPs())
	}
	for _, n := range st.Nodes() {
		if n.Id == "n1" && n.AdminAddr == "203.0.113.9:9201" {
			t.Errorf("n2 registered as n1: %v", n)
		}
	}
}
