package admin

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/haraft/haraft/proto/adminpb"
)

// Reload re-reads the node's config file and applies it (write token). A
// refused file is FailedPrecondition with every "file:line: field: reason".
func (s *Server) Reload(ctx context.Context, _ *adminpb.ReloadRequest) (*adminpb.ReloadResponse, error) {
	if s.opts.Reload == nil {
		return nil, status.Error(codes.Unimplemented, "this node cannot reload its config (started without a config file)")
	}
	hash, summary, err := s.opts.Reload(ctx)
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "reload refused, the running config stays:\n%v", err)
	}
	return &adminpb.ReloadResponse{ConfigHash: hash, Summary: summary}, nil
}
