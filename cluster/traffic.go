package cluster

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/haraft/haraft/proto/clusterpb"
)

// Traffic counters between nodes: every node's status page shows the
// cluster's totals, asked of each member over the cluster port (mutual
// TLS, each side's certificate naming its node), never over the
// unauthenticated ops port. The call is read-only and answered only to
// members of the cluster.

// TrafficSource returns this node's traffic counters, per frontend.
type TrafficSource func() []*clusterpb.FrontendTraffic

// SetTrafficSource sets what this node answers to a peer's Traffic call;
// until it is set the node answers with no frontends.
func (n *Node) SetTrafficSource(src TrafficSource) { n.traffic.Store(&src) }

// Traffic answers a member's request for this node's counters.
func (s *internalServer) Traffic(ctx context.Context, req *clusterpb.TrafficRequest) (*clusterpb.TrafficResponse, error) {
	if peerID, verified := verifiedPeer(ctx); verified && !s.n.isMember(peerID) {
		err := fmt.Errorf("node %s is not a member of the cluster", peerID)
		s.refused(ctx, "traffic", peerID, req.FromNode, err)
		return nil, status.Errorf(codes.PermissionDenied, "traffic refused: %v", err)
	}
	resp := &clusterpb.TrafficResponse{NodeId: s.n.ID()}
	if src := s.n.traffic.Load(); src != nil && *src != nil {
		resp.Frontends = (*src)()
	}
	return resp, nil
}

// PeerTraffic asks member id, at its cluster address addr, for its
// traffic counters. The connection is the cluster's (mux.go): with TLS,
// the answering node must prove with its certificate that it is the
// member the cluster knows at addr.
func (n *Node) PeerTraffic(ctx context.Context, id, addr string) (*clusterpb.TrafficResponse, error) {
	conn, err := n.peers.get(addr)
	if err != nil {
		return nil, err
	}
	resp, err := clusterpb.NewInternalClient(conn).Traffic(ctx, &clusterpb.TrafficRequest{FromNode: n.ID()})
	if err != nil {
		return nil, fmt.Errorf("traffic of %s at %s: %w", id, addr, err)
	}
	if resp.NodeId != id {
		return nil, fmt.Errorf("traffic of %s at %s: the node there is %q", id, addr, resp.NodeId)
	}
	return resp, nil
}

// Member is one server of the Raft configuration.
type Member struct {
	ID, Addr string
}

// Members returns the servers of the latest Raft configuration (nil when
// it cannot be read).
func (n *Node) Members() []Member {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	var out []Member
	for _, s := range f.Configuration().Servers {
		out = append(out, Member{ID: string(s.ID), Addr: string(s.Address)})
	}
	return out
}
