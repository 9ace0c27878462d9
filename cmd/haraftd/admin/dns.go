package admin

import (
	"context"

	"github.com/haraft/haraft/proto/adminpb"
)

// DNS answers on the leader, whose reconciler has read Route 53; a
// follower refuses with the leader's address, which haraftctl follows.
func (s *Server) DNS(_ context.Context, _ *adminpb.DNSRequest) (*adminpb.DNSResponse, error) {
	if s.opts.DNS == nil {
		return &adminpb.DNSResponse{AnsweredBy: s.opts.NodeID}, nil
	}
	if err := s.leaderOnly("DNS"); err != nil {
		return nil, err
	}
	r := s.opts.DNS()
	r.AnsweredBy, r.Configured = s.opts.NodeID, true
	return r, nil
}
