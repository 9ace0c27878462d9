package admin

import (
	"context"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/adminpb"
	"github.com/haraft/haraft/proto/fsmpb"
)

const (
	defaultPageSize = 100
	maxPageSize     = 10000
)

func sessionOf(b *fsmpb.Binding) *adminpb.Session {
	return &adminpb.Session{Backend: b.Backend, Key: b.Key, Server: b.Server, CreatedUnixMs: b.CreatedUnixMs, LearnedBy: b.LearnedBy}
}

// listedSession is a session as a list shows it to the caller: its key in
// full for a write token, masked (mask.go) for anyone else.
func (s *Server) listedSession(ctx context.Context, b *fsmpb.Binding) *adminpb.Session {
	out := sessionOf(b)
	if !seesKeys(ctx) {
		out.Key = s.mask.mask(b.Key)
	}
	return out
}

// CountSessions counts bound sessions per server.
func (s *Server) CountSessions(_ context.Context, req *adminpb.CountSessionsRequest) (*adminpb.CountSessionsResponse, error) {
	if req.Backend != "" {
		if _, ok := s.backend(req.Backend); !ok {
			return nil, notFound("backend %q (backends: %s)", req.Backend, knownList(s.backendNames()))
		}
	}
	resp := &adminpb.CountSessionsResponse{}
	for k, n := range s.opts.FSM.SessionsPerServer() {
		if req.Backend != "" && k.Backend != req.Backend {
			continue
		}
		resp.Total += uint64(n)
		resp.ByServer = append(resp.ByServer, &adminpb.ServerCount{Backend: k.Backend, Server: k.Name, Sessions: uint64(n)})
	}
	slices.SortFunc(resp.ByServer, func(a, b *adminpb.ServerCount) int {
		if c := compareStr(a.Backend, b.Backend); c != 0 {
			return c
		}
		return compareStr(a.Server, b.Server)
	})
	return resp, nil
}

// lookup finds a session by cookie value, in one backend or in whichever
// single backend binds it.
func (s *Server) lookup(backend, key string) (*fsmpb.Binding, error) {
	if key == "" {
		return nil, status.Error(codes.InvalidArgument, "key (the cookie value) is required")
	}
	if backend != "" {
		if _, ok := s.backend(backend); !ok {
			return nil, notFound("backend %q (backends: %s)", backend, knownList(s.backendNames()))
		}
		if b, ok := s.opts.FSM.Binding(backend, key); ok {
			return b, nil
		}
		return nil, notFound("session %q in backend %s: no binding (never learned, deleted, or not committed yet)", key, backend)
	}
	var found []*fsmpb.Binding
	for _, name := range s.backendNames() {
		if b, ok := s.opts.FSM.Binding(name, key); ok {
			found = append(found, b)
		}
	}
	switch len(found) {
	case 0:
		return nil, notFound("session %q: no binding in any backend (never learned, deleted, or not committed yet)", key)
	case 1:
		return found[0], nil
	}
	var in []string
	for _, b := range found {
		in = append(in, b.Backend)
	}
	return nil, status.Errorf(codes.FailedPrecondition, "session %q is bound in several backends (%s): name the backend", key, strings.Join(in, ", "))
}

// GetSession looks a session up by its cookie value. Any token may: the
// answer carries the key the caller gave, so it tells a read token which
// server a session it already holds is bound to, and nothing more.
func (s *Server) GetSession(_ context.Context, req *adminpb.GetSessionRequest) (*adminpb.Session, error) {
	b, err := s.lookup(req.Backend, req.Key)
	if err != nil {
		return nil, err
	}
	return sessionOf(b), nil
}

// ListSessions pages through sessions in (backend, key) order. Only a
// write token sees the keys; others see them masked. The page token is
// sealed, so it does not show the last key of a page either (and it is
// good on this node only).
func (s *Server) ListSessions(ctx context.Context, req *adminpb.ListSessionsRequest) (*adminpb.ListSessionsResponse, error) {
	if req.Backend != "" {
		if _, ok := s.backend(req.Backend); !ok {
			return nil, notFound("backend %q (backends: %s)", req.Backend, knownList(s.backendNames()))
		}
	}
	size := int(req.PageSize)
	switch {
	case size == 0:
		size = defaultPageSize
	case size < 0 || size > maxPageSize:
		return nil, status.Errorf(codes.InvalidArgument, "page_size %d is out of range 1..%d", size, maxPageSize)
	}
	after, err := s.mask.openPageToken(req.PageToken)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error()+" (page tokens are good on the node that made them)")
	}
	page, more := s.opts.FSM.SessionsPage(fsm.SessionFilter{Backend: req.Backend, Server: req.Server}, after, size)
	resp := &adminpb.ListSessionsResponse{Sessions: make([]*adminpb.Session, len(page))}
	for i, b := range page {
		resp.Sessions[i] = s.listedSession(ctx, b)
	}
	if more && len(page) > 0 {
		last := page[len(page)-1]
		resp.NextPageToken = s.mask.sealPageToken(fsm.SessionKey{Backend: last.Backend, Key: last.Key})
	}
	return resp, nil
}

// DeleteSession forgets a binding; the next request with the cookie is
// balanced and learned again.
func (s *Server) DeleteSession(ctx context.Context, req *adminpb.DeleteSessionRequest) (*adminpb.DeleteSessionResponse, error) {
	b, err := s.lookup(req.Backend, req.Key)
	if err != nil {
		return nil, err
	}
	if err := s.apply(ctx, fsm.DeleteSessionsType, &fsmpb.DeleteSessions{Sessions: []*fsmpb.SessionRef{{Backend: b.Backend, Key: b.Key}}}); err != nil {
		return nil, err
	}
	s.await(ctx, func() bool { _, ok := s.opts.FSM.Binding(b.Backend, b.Key); return !ok })
	s.log.Info("admin: session deleted", "backend", b.Backend, "key", b.Key, "by", Caller(ctx))
	return &adminpb.DeleteSessionResponse{}, nil
}

// RebindSession binds a session to another server of its backend.
func (s *Server) RebindSession(ctx context.Context, req *adminpb.RebindSessionRequest) (*adminpb.Session, error) {
	if err := required("server", req.Server); err != nil {
		return nil, err
	}
	b, err := s.lookup(req.Backend, req.Key)
	if err != nil {
		return nil, err
	}
	_, st, err := s.server(b.Backend, req.Server)
	if err != nil {
		return nil, err
	}
	if st.Removed {
		return nil, status.Errorf(codes.FailedPrecondition, "server %s/%s was removed: add it back or pick another", b.Backend, req.Server)
	}
	nb := &fsmpb.Binding{Backend: b.Backend, Key: b.Key, Server: req.Server, CreatedUnixMs: time.Now().UnixMilli(), LearnedBy: "admin:" + Caller(ctx)}
	if err := s.apply(ctx, fsm.RebindSessionsType, &fsmpb.RebindSessions{Bindings: []*fsmpb.Binding{nb}}); err != nil {
		return nil, err
	}
	s.await(ctx, func() bool { srv, _ := s.opts.FSM.Lookup(b.Backend, b.Key); return srv == req.Server })
	s.log.Info("admin: session rebound", "backend", b.Backend, "key", b.Key, "from", b.Server, "to", req.Server, "by", Caller(ctx))
	return sessionOf(nb), nil
}
