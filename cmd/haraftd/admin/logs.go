package admin

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/haraft/haraft/proto/adminpb"
)

// LogReopen is the outcome of reopening a node's access log.
type LogReopen struct {
	Target  string // "" when the access log is off
	Reopens uint64
}

// ReopenLogs reopens this node's access log as SIGUSR1 does (write token:
// a reopen briefly holds the log writer and a caller could repeat it at
// will).
func (s *Server) ReopenLogs(ctx context.Context, _ *adminpb.ReopenLogsRequest) (*adminpb.ReopenLogsResponse, error) {
	if s.opts.ReopenLogs == nil {
		return nil, status.Error(codes.Unimplemented, "this node cannot reopen its logs")
	}
	r, err := s.opts.ReopenLogs(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "reopening the access log %s failed: %v", r.Target, err)
	}
	s.log.Info("admin: access log reopened", "target", r.Target, "by", Caller(ctx))
	return &adminpb.ReopenLogsResponse{NodeId: s.opts.NodeID, Target: r.Target, Reopens: r.Reopens}, nil
}
