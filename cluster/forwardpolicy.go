package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"

	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/proto"

	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
)

// ErrNotForwarded is returned by Apply on a follower for a command that
// only the leader proposes: the leader's forwarding RPC refuses it.
var ErrNotForwarded = errors.New("not forwarded to the leader: only the leader proposes this command (administrative commands enter through the leader's admin API with a write token)")

// The forwarding RPC (internalServer.Apply) serves only what a follower
// itself observes and must report to the leader. Every command type of
// fsm/ is in one of three groups; the group decides who may propose it.
//
// Forwarded by any node (forwardRule), from:
//   - learn_sessions: proxy.Learner — cookies (and source addresses) a
//     node's proxy learned, and the rebinding of a session whose server is
//     down (the rendezvous reassignment is proposed as a learned binding);
//   - touch_sessions: proxy.Learner — sessions used, for maxidle;
//   - report_health_views: the daemon's health monitor — this node's checks;
//   - report_node_status: eipmover's agent — this node's proxy health, its
//     EC2 identity and the addresses it holds;
//   - register_node: the daemon at start — this node's addresses.
//
// The three reports about a node carry its id; once the cluster port says
// which node a peer is (its certificate), a peer may report only about
// itself: node2 cannot mark a server down in node3's name, nor say node3's
// proxy is dead to move node3's addresses.
//
// Leader decisions, proposed only with ApplyAsLeader and never forwarded
// (a decision a deposed leader made must not be committed on its behalf):
// set_server_health (agreed health), assign_eip (placement, stamped with the
// leader's term), expire_sessions (by the leader's clock).
//
// Administrative commands, proposed only by the admin API of the leader
// after it checked a write token (cmd/haraftd/admin; on a follower the API
// answers NOT_LEADER with the leader's admin address, which haraftctl
// follows): set_server_admin, set_server_weight, add_server,
// remove_server, delete_sessions, rebind_sessions, and assign_eip (eip
// move and pin).
//
// So a stranger who reaches the cluster port, or even a peer, cannot drain
// a server, move an address or delete sessions through it: those need the
// admin API and its write token. Anything not forwardable — and any type
// this binary does not know, flagged ignorable or not — is refused with
// PermissionDenied and logged with the peer's address.
func forwardRule(t fsm.MessageType) (check func(data []byte, peerID string) error, ok bool) {
	switch t {
	case fsm.LearnSessionsType:
		return decodes(func() proto.Message { return &fsmpb.LearnSessions{} }), true
	case fsm.TouchSessionsType:
		return decodes(func() proto.Message { return &fsmpb.TouchSessions{} }), true
	case fsm.RegisterNodeType:
		return aboutPeer(func() proto.Message { return &fsmpb.RegisterNode{} },
			func(m proto.Message) []string { return []string{m.(*fsmpb.RegisterNode).GetNode().GetId()} }), true
	case fsm.ReportNodeStatusType:
		return aboutPeer(func() proto.Message { return &fsmpb.ReportNodeStatus{} },
			func(m proto.Message) []string { return []string{m.(*fsmpb.ReportNodeStatus).GetStatus().GetNodeId()} }), true
	case fsm.ReportHealthViewsType:
		return aboutPeer(func() proto.Message { return &fsmpb.ReportHealthViews{} }, healthViewNodes), true
	}
	return nil, false
}

// Forwardable reports whether a follower may forward a command of type t
// to the leader.
func Forwardable(t fsm.MessageType) bool {
	_, ok := forwardRule(t)
	return ok
}

func decodes(newMsg func() proto.Message) func([]byte, string) error {
	return func(data []byte, _ string) error { return proto.Unmarshal(data[1:], newMsg()) }
}

// aboutPeer checks that every node id the command speaks for is the
// peer's own, when the peer's identity is known.
func aboutPeer(newMsg func() proto.Message, nodes func(proto.Message) []string) func([]byte, string) error {
	return func(data []byte, peerID string) error {
		m := newMsg()
		if err := proto.Unmarshal(data[1:], m); err != nil {
			return err
		}
		if peerID == "" {
			return nil
		}
		for _, id := range nodes(m) {
			if id != peerID {
				return fmt.Errorf("node %s may report only about itself, not about %q", peerID, id)
			}
		}
		return nil
	}
}

func healthViewNodes(m proto.Message) []string {
	views := m.(*fsmpb.ReportHealthViews).GetViews()
	out := make([]string, len(views))
	for i, v := range views {
		out[i] = v.GetNode()
	}
	return out
}

// errRefused is why a forwarded command was refused.
type errRefused struct{ reason string }

func (e errRefused) Error() string { return e.reason }

// checkForwarded decides whether the leader takes a command forwarded by a
// peer whose verified node id is peerID ("" when the cluster port has no
// identities: raft.insecure) and whose membership is member.
func checkForwarded(data []byte, peerID string, member bool) error {
	if len(data) == 0 {
		return errRefused{"empty command"}
	}
	if peerID != "" && !member {
		return errRefused{fmt.Sprintf("node %s is not a member of the cluster", peerID)}
	}
	t := fsm.MessageType(data[0])
	rule, ok := forwardRule(t)
	if !ok {
		return errRefused{fmt.Sprintf("%s is not a command a follower forwards (only the leader proposes it; administrative commands enter through the admin API)", t)}
	}
	if err := rule(data, peerID); err != nil {
		return errRefused{fmt.Sprintf("%s: %v", t, err)}
	}
	return nil
}

// peerAddr is the network address of a gRPC call's peer, "" if unknown.
func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

// peerHost is the host part of a peer address, the key of rate-limited
// logs (a stranger changes ports at will).
func peerHost(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// verifiedPeer returns the node id that the cluster port verified for a
// call's peer (its certificate's identity, identity.go), and false when
// the port has no identities (raft.insecure).
func verifiedPeer(ctx context.Context) (string, bool) { return PeerNodeID(ctx) }

// isMember reports whether id is in the latest Raft configuration.
func (n *Node) isMember(id string) bool {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, s := range f.Configuration().Servers {
		if string(s.ID) == id {
			return true
		}
	}
	return false
}
