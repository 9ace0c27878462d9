package admin

import (
	"context"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/adminpb"
	"github.com/haraft/haraft/proto/fsmpb"
)

// The EIP calls are thin: they read the placements the leader committed
// and the holdings the nodes report, and record an operator's decision as
// an AssignEIP stamped with this node's current term; the movers (eipmover)
// carry decisions out.

func (s *Server) eipInfo(e *fsmpb.EIP, holders map[string][]string) *adminpb.EIP {
	return &adminpb.EIP{Id: e.Id, Address: e.Address, HomeAz: e.HomeAz, DesiredHolder: e.Holder, ActualHolders: holders[e.Id],
		Term: e.Term, MovedUnixMs: e.MovedUnixMs, Reason: e.Reason, Pinned: e.Pinned}
}

// holders maps EIP ids to the nodes that report serving them.
func (s *Server) holders() map[string][]string {
	out := map[string][]string{}
	for _, st := range s.opts.FSM.NodeStatuses() {
		for _, id := range st.Holding {
			out[id] = append(out[id], st.NodeId)
		}
	}
	for _, v := range out {
		slices.Sort(v)
	}
	return out
}

// ListEIPs lists the EIP placements.
func (s *Server) ListEIPs(_ context.Context, _ *adminpb.ListEIPsRequest) (*adminpb.ListEIPsResponse, error) {
	eips := s.opts.FSM.EIPs()
	slices.SortFunc(eips, func(a, b *fsmpb.EIP) int { return compareStr(a.Id, b.Id) })
	h := s.holders()
	resp := &adminpb.ListEIPsResponse{}
	for _, e := range eips {
		resp.Eips = append(resp.Eips, s.eipInfo(e, h))
	}
	return resp, nil
}

func (s *Server) eip(id string) (*fsmpb.EIP, error) {
	if err := required("id", id); err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range s.opts.FSM.EIPs() {
		if e.Id == id || e.Address == id {
			return e, nil
		}
		ids = append(ids, e.Id)
	}
	slices.Sort(ids)
	return nil, notFound("EIP %q (EIPs: %s)", id, knownList(ids))
}

// assign commits an operator's placement and returns it as applied here.
func (s *Server) assign(ctx context.Context, e *fsmpb.EIP) (*adminpb.EIP, error) {
	e.Term = max(e.Term, s.opts.Node.Raft().CurrentTerm())
	e.MovedUnixMs = time.Now().UnixMilli()
	if err := s.apply(ctx, fsm.AssignEIPType, &fsmpb.AssignEIP{Eip: e}); err != nil {
		return nil, err
	}
	s.await(ctx, func() bool {
		cur, err := s.eip(e.Id)
		return err == nil && proto.Equal(cur, e)
	})
	return s.eipInfo(e, s.holders()), nil
}

// MoveEIP decides that node holds the EIP.
func (s *Server) MoveEIP(ctx context.Context, req *adminpb.MoveEIPRequest) (*adminpb.EIP, error) {
	e, err := s.eip(req.Id)
	if err != nil {
		return nil, err
	}
	if err := required("node", req.Node); err != nil {
		return nil, err
	}
	known := false
	var ids []string
	for _, n := range s.opts.FSM.Nodes() {
		ids = append(ids, n.Id)
		known = known || n.Id == req.Node
	}
	if !known {
		slices.Sort(ids)
		return nil, notFound("node %q is not registered (nodes: %s)", req.Node, knownList(ids))
	}
	if e.Pinned && e.Holder != req.Node && !req.Pin {
		return nil, status.Errorf(codes.FailedPrecondition, "EIP %s is pinned to %s: unpin it first (haraftctl eip unpin %s), or move it with --pin", e.Id, e.Holder, e.Id)
	}
	e.Holder = req.Node
	e.Reason = req.Reason
	if e.Reason == "" {
		e.Reason = "moved by an operator"
	}
	if c := Caller(ctx); c != "" {
		e.Reason += " (" + c + ")"
	}
	e.Pinned = e.Pinned || req.Pin
	out, err := s.assign(ctx, e)
	if err == nil {
		s.log.Info("admin: EIP moved", "eip", e.Id, "to", req.Node, "by", Caller(ctx))
	}
	return out, err
}

// PinEIP pins an EIP to its current holder, or unpins it.
func (s *Server) PinEIP(ctx context.Context, req *adminpb.PinEIPRequest) (*adminpb.EIP, error) {
	e, err := s.eip(req.Id)
	if err != nil {
		return nil, err
	}
	if e.Pinned == req.Pinned {
		return s.eipInfo(e, s.holders()), nil
	}
	e.Pinned = req.Pinned
	out, err := s.assign(ctx, e)
	if err == nil {
		s.log.Info("admin: EIP pin changed", "eip", e.Id, "pinned", req.Pinned, "by", Caller(ctx))
	}
	return out, err
}

// Watch streams events until the client goes away or falls behind.
func (s *Server) Watch(req *adminpb.WatchRequest, stream adminpb.Admin_WatchServer) error {
	sub, cancel := s.events.Subscribe(req.Types, req.Replay)
	defer cancel()
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case e, ok := <-sub.ch:
			if !ok {
				if sub.lost {
					return status.Error(codes.ResourceExhausted, "watch fell behind (more than 256 events unread): reconnect, with replay to catch up")
				}
				return status.Error(codes.Unavailable, "node is shutting down")
			}
			if err := stream.Send(e); err != nil {
				return err
			}
		}
	}
}
