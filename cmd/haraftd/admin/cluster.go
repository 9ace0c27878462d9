package admin

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/haraft/haraft/proto/adminpb"
)

// Status answers from this node alone, so it works without a leader.
func (s *Server) Status(_ context.Context, _ *adminpb.StatusRequest) (*adminpb.StatusResponse, error) {
	r := s.opts.Node.Raft()
	leaderID, leaderAddr := s.opts.Node.Leader()
	st := &adminpb.StatusResponse{
		NodeId: s.opts.NodeID, Az: s.opts.AZ, State: r.State().String(), LeaderId: leaderID, LeaderAddr: leaderAddr,
		Term: r.CurrentTerm(), CommitIndex: r.CommitIndex(), AppliedIndex: r.AppliedIndex(), LastLogIndex: r.LastIndex(),
		Ready: s.opts.Ready(), Sessions: uint64(s.opts.FSM.SessionCount()), RaftAddr: s.opts.Node.Addr(),
		LastLeaderContactMs: -1,
	}
	if s.ln != nil {
		st.AdminAddr = s.ln.Addr().String()
	}
	switch {
	case s.opts.Node.IsLeader():
		st.LastLeaderContactMs = 0
	case !r.LastContact().IsZero():
		st.LastLeaderContactMs = time.Since(r.LastContact()).Milliseconds()
	}
	if s.opts.Frontends != nil {
		st.Frontends = s.opts.Frontends()
	}
	if s.opts.Learner != nil {
		st.Learner = s.opts.Learner()
	}
	return st, nil
}

// Members lists the Raft configuration as this node knows it, with what
// the replicated state says of each member. Last contact is known for
// every member on the leader (with liveness tracking), and for the leader
// on a follower.
func (s *Server) Members(_ context.Context, _ *adminpb.MembersRequest) (*adminpb.MembersResponse, error) {
	f := s.opts.Node.Raft().GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, clusterStatus(err)
	}
	leaderID, _ := s.opts.Node.Leader()
	nodes := map[string]struct{ az, admin string }{}
	for _, n := range s.opts.FSM.Nodes() {
		nodes[n.Id] = struct{ az, admin string }{n.Az, n.AdminAddr}
	}
	contact := map[string]int64{}
	if s.opts.Node.IsLeader() {
		contact[s.opts.NodeID] = 0
		if s.opts.Liveness != nil {
			for _, p := range s.opts.Liveness() {
				if !p.LastContact.IsZero() {
					contact[p.ID] = time.Since(p.LastContact).Milliseconds()
				}
			}
		}
	} else if lc := s.opts.Node.Raft().LastContact(); !lc.IsZero() && leaderID != "" {
		contact[leaderID] = time.Since(lc).Milliseconds()
	}
	resp := &adminpb.MembersResponse{AnsweredBy: s.opts.NodeID}
	for _, m := range f.Configuration().Servers {
		id := string(m.ID)
		n, registered := nodes[id]
		lc, ok := contact[id]
		if !ok {
			lc = -1
		}
		resp.Members = append(resp.Members, &adminpb.Member{Id: id, Address: string(m.Address), Suffrage: suffrage(m.Suffrage),
			Leader: id == leaderID, Az: n.az, AdminAddr: n.admin, LastContactMs: lc, Registered: registered})
	}
	return resp, nil
}

// leaderOnly refuses a call on a follower with the leader's address.
func (s *Server) leaderOnly(method string) error {
	if s.opts.Node.IsLeader() {
		return nil
	}
	return s.notLeader(method)
}

func raftTimeout(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return time.Until(dl)
	}
	return writeTimeout
}

// Join adds a voter (or nonvoter) to the Raft configuration.
func (s *Server) Join(ctx context.Context, req *adminpb.JoinRequest) (*adminpb.JoinResponse, error) {
	if err := required("id", req.Id, "address", req.Address); err != nil {
		return nil, err
	}
	if err := s.leaderOnly("Join"); err != nil {
		return nil, err
	}
	r := s.opts.Node.Raft()
	if f := r.GetConfiguration(); f.Error() == nil {
		for _, m := range f.Configuration().Servers {
			if string(m.ID) == req.Id && string(m.Address) == req.Address {
				return &adminpb.JoinResponse{Index: f.Index()}, nil // already a member: idempotent
			}
			if string(m.ID) != req.Id && string(m.Address) == req.Address {
				return nil, status.Errorf(codes.AlreadyExists, "address %s belongs to member %s: remove it first (haraftctl members remove %s)", req.Address, m.ID, m.ID)
			}
		}
	}
	if !req.Force {
		// A member that does not answer counts against the quorum at
		// once: refuse an address where node id does not answer.
		if err := s.opts.Node.ProbeNode(ctx, req.Id, req.Address); err != nil {
			s.log.Warn("admin: join refused", "id", req.Id, "addr", req.Address, "err", err, "by", Caller(ctx))
			return nil, status.Errorf(codes.FailedPrecondition, "join %s at %s refused, nothing proposed: %v; start node %s there first (or, to add a node that is not up yet, join with --force)",
				req.Id, req.Address, err, req.Id)
		}
	}
	var fut raft.IndexFuture
	if req.Nonvoter {
		fut = r.AddNonvoter(raft.ServerID(req.Id), raft.ServerAddress(req.Address), 0, raftTimeout(ctx))
	} else {
		fut = r.AddVoter(raft.ServerID(req.Id), raft.ServerAddress(req.Address), 0, raftTimeout(ctx))
	}
	if err := fut.Error(); err != nil {
		return nil, clusterStatus(fmt.Errorf("join %s at %s: %w", req.Id, req.Address, err))
	}
	s.log.Info("admin: member joined", "id", req.Id, "addr", req.Address, "forced", req.Force, "by", Caller(ctx))
	return &adminpb.JoinResponse{Index: fut.Index()}, nil
}

// Remove removes a member from the Raft configuration.
func (s *Server) Remove(ctx context.Context, req *adminpb.RemoveRequest) (*adminpb.RemoveResponse, error) {
	if err := required("id", req.Id); err != nil {
		return nil, err
	}
	if err := s.leaderOnly("Remove"); err != nil {
		return nil, err
	}
	r := s.opts.Node.Raft()
	f := r.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, clusterStatus(err)
	}
	found := false
	var ids []string
	for _, m := range f.Configuration().Servers {
		ids = append(ids, string(m.ID))
		found = found || string(m.ID) == req.Id
	}
	if !found {
		return nil, notFound("member %q is not in the configuration (members: %s)", req.Id, knownList(ids))
	}
	if s.opts.BeforeRemove != nil {
		wctx, cancel := withWriteTimeout(ctx)
		release, err := s.opts.BeforeRemove(wctx, req.Id)
		cancel()
		if err != nil {
			return nil, status.Errorf(codes.Unavailable, "member %s not removed: %v", req.Id, err)
		}
		defer release()
	}
	fut := r.RemoveServer(raft.ServerID(req.Id), 0, raftTimeout(ctx))
	if err := fut.Error(); err != nil {
		return nil, clusterStatus(fmt.Errorf("remove %s: %w", req.Id, err))
	}
	s.log.Info("admin: member removed", "id", req.Id, "by", Caller(ctx))
	return &adminpb.RemoveResponse{Index: fut.Index()}, nil
}

// TransferLeadership hands leadership to a voter and waits for the new
// leader to be known here.
func (s *Server) TransferLeadership(ctx context.Context, req *adminpb.TransferLeadershipRequest) (*adminpb.TransferLeadershipResponse, error) {
	if err := s.leaderOnly("TransferLeadership"); err != nil {
		return nil, err
	}
	r := s.opts.Node.Raft()
	var transfer func() raft.Future
	if req.ToId == "" {
		transfer = r.LeadershipTransfer
	} else {
		f := r.GetConfiguration()
		if err := f.Error(); err != nil {
			return nil, clusterStatus(err)
		}
		var addr raft.ServerAddress
		var voters []string
		for _, m := range f.Configuration().Servers {
			if m.Suffrage == raft.Voter {
				voters = append(voters, string(m.ID))
				if string(m.ID) == req.ToId {
					addr = m.Address
				}
			}
		}
		if req.ToId == s.opts.NodeID {
			return &adminpb.TransferLeadershipResponse{LeaderId: s.opts.NodeID}, nil
		}
		if addr == "" {
			return nil, notFound("voter %q is not in the configuration (voters: %s)", req.ToId, knownList(voters))
		}
		transfer = func() raft.Future { return r.LeadershipTransferToServer(raft.ServerID(req.ToId), addr) }
	}
	// A transfer times out after one election timeout when the target is
	// slow to catch up; try a few times while this node still leads.
	var err error
	for try := 0; try < 3; try++ {
		if err = transfer().Error(); err == nil || !s.opts.Node.IsLeader() {
			break
		}
	}
	if err != nil {
		if id, _ := s.opts.Node.Leader(); id != "" && id != s.opts.NodeID {
			return &adminpb.TransferLeadershipResponse{LeaderId: id}, nil // it moved anyway
		}
		return nil, status.Errorf(codes.Aborted, "leadership transfer failed: %v; the target may be behind, retry", err)
	}
	ctx, cancel := withWriteTimeout(ctx)
	defer cancel()
	for {
		if id, _ := s.opts.Node.Leader(); id != "" && id != s.opts.NodeID {
			s.log.Info("admin: leadership transferred", "to", id, "by", Caller(ctx))
			return &adminpb.TransferLeadershipResponse{LeaderId: id}, nil
		}
		select {
		case <-ctx.Done():
			return nil, status.Error(codes.DeadlineExceeded, "leadership left this node but no new leader is known yet; check `haraftctl status`")
		case <-time.After(10 * time.Millisecond):
		}
	}
}
