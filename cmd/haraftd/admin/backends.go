package admin

import (
	"context"
	"net"
	"slices"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/adminpb"
	"github.com/haraft/haraft/proto/fsmpb"
)

// serverInfo merges a server's configuration (if any) with its agreed
// state.
func (s *Server) serverInfo(backend string, cfg *ServerConfig, name string, st fsm.ServerState, sessions int) *adminpb.Server {
	out := &adminpb.Server{Backend: backend, Name: name, Health: adminpb.Health(st.Health), HealthChangedUnixMs: st.HealthChanged,
		Admin: adminpb.AdminState(st.Admin), WeightOverridden: st.WeightSet, Dynamic: st.Dynamic, Removed: st.Removed,
		Usable: st.Usable(), Sessions: uint64(sessions), DrainDeadlineUnixMs: st.DrainDeadline}
	if cfg != nil {
		out.Addr, out.Cookie, out.ConfiguredWeight = cfg.Addr, cfg.Cookie, int32(cfg.Weight)
	}
	if st.Dynamic {
		out.Addr, out.Cookie = st.Addr, st.Cookie
	}
	out.Weight = out.ConfiguredWeight
	if cfg == nil && st.Dynamic {
		out.Weight = 1 // no configured weight: the proxy balances it at the default
	}
	if st.WeightSet {
		out.Weight = st.Weight
	}
	if out.Weight == 0 {
		out.Usable = false
	}
	if s.opts.Counters != nil {
		if c, ok := s.opts.Counters(backend, name); ok {
			out.Requests, out.Failures, out.Active, out.Queued = c.Requests, c.Failures, c.Active, c.Queued
		}
	}
	for node, v := range s.opts.FSM.HealthViews(backend, name) {
		out.Views = append(out.Views, &adminpb.NodeView{Node: node, Health: adminpb.Health(v.Health), Detail: v.Reason})
	}
	slices.SortFunc(out.Views, func(a, b *adminpb.NodeView) int { return compareStr(a.Node, b.Node) })
	return out
}

// backendInfo lists one backend: its configured servers in config order,
// then the servers added at run time by name.
func (s *Server) backendInfo(b BackendConfig, table *fsm.ServerTable, counts map[fsm.ServerKey]int) *adminpb.Backend {
	out := &adminpb.Backend{Name: b.Name}
	seen := map[string]bool{}
	for i := range b.Servers {
		sc := &b.Servers[i]
		seen[sc.Name] = true
		out.Servers = append(out.Servers, s.serverInfo(b.Name, sc, sc.Name, table.Get(b.Name, sc.Name), counts[fsm.ServerKey{Backend: b.Name, Name: sc.Name}]))
	}
	all := table.All()
	var dyn []string
	for k, st := range all {
		if k.Backend == b.Name && !seen[k.Name] && st.Dynamic {
			dyn = append(dyn, k.Name)
		}
	}
	slices.Sort(dyn)
	for _, name := range dyn {
		k := fsm.ServerKey{Backend: b.Name, Name: name}
		out.Servers = append(out.Servers, s.serverInfo(b.Name, nil, name, all[k], counts[k]))
	}
	for _, sv := range out.Servers {
		out.Sessions += sv.Sessions
	}
	return out
}

// ListBackends lists the configured backends with their servers.
func (s *Server) ListBackends(_ context.Context, req *adminpb.ListBackendsRequest) (*adminpb.ListBackendsResponse, error) {
	if req.Backend != "" {
		if _, ok := s.backend(req.Backend); !ok {
			return nil, notFound("backend %q (backends: %s)", req.Backend, knownList(s.backendNames()))
		}
	}
	table, counts := s.opts.FSM.Servers(), s.opts.FSM.SessionsPerServer()
	resp := &adminpb.ListBackendsResponse{}
	for _, b := range s.backends() {
		if req.Backend == "" || req.Backend == b.Name {
			resp.Backends = append(resp.Backends, s.backendInfo(b, table, counts))
		}
	}
	return resp, nil
}

// server finds a server (configured or added at run time) and whether it
// is in the config file.
func (s *Server) server(backend, name string) (cfg *ServerConfig, st fsm.ServerState, err error) {
	if err := required("backend", backend, "server", name); err != nil {
		return nil, st, err
	}
	b, ok := s.backend(backend)
	if !ok {
		return nil, st, notFound("backend %q (backends: %s)", backend, knownList(s.backendNames()))
	}
	st = s.opts.FSM.Servers().Get(backend, name)
	var names []string
	for i := range b.Servers {
		names = append(names, b.Servers[i].Name)
		if b.Servers[i].Name == name {
			return &b.Servers[i], st, nil
		}
	}
	if st.Dynamic {
		return nil, st, nil
	}
	return nil, st, notFound("server %q in backend %s (servers: %s)", name, backend, knownList(names))
}

// reread returns a server's state after a write.
func (s *Server) reread(backend, name string) (*adminpb.Server, error) {
	cfg, st, err := s.server(backend, name)
	if err != nil {
		return nil, err
	}
	return s.serverInfo(backend, cfg, name, st, s.opts.FSM.SessionsPerServer()[fsm.ServerKey{Backend: backend, Name: name}]), nil
}

// maxDrainDeadline bounds a drain deadline.
const maxDrainDeadline = 7 * 24 * time.Hour

// SetServerAdmin sets ready, drain or maint, as HAProxy's
// "set server <b>/<s> state".
func (s *Server) SetServerAdmin(ctx context.Context, req *adminpb.SetServerAdminRequest) (*adminpb.Server, error) {
	if _, _, err := s.server(req.Backend, req.Server); err != nil {
		return nil, err
	}
	if _, ok := adminpb.AdminState_name[int32(req.Admin)]; !ok {
		return nil, status.Errorf(codes.InvalidArgument, "admin state %d: use ready, drain or maint", req.Admin)
	}
	var deadline int64
	switch {
	case req.DrainDeadlineMs < 0:
		return nil, status.Errorf(codes.InvalidArgument, "drain deadline %d ms is negative", req.DrainDeadlineMs)
	case req.DrainDeadlineMs > 0 && req.Admin != adminpb.AdminState_ADMIN_DRAIN:
		return nil, status.Error(codes.InvalidArgument, "a deadline goes only with drain")
	case req.DrainDeadlineMs > maxDrainDeadline.Milliseconds():
		return nil, status.Errorf(codes.InvalidArgument, "drain deadline %v is more than %v", time.Duration(req.DrainDeadlineMs)*time.Millisecond, maxDrainDeadline)
	case req.DrainDeadlineMs > 0:
		// Stamped here: every node closes the server's connections at the
		// same instant of its own clock.
		deadline = time.Now().Add(time.Duration(req.DrainDeadlineMs) * time.Millisecond).UnixMilli()
	}
	if err := s.apply(ctx, fsm.SetServerAdminType, &fsmpb.SetServerAdmin{Backend: req.Backend, Name: req.Server, Admin: fsmpb.AdminState(req.Admin), DrainDeadlineUnixMs: deadline}); err != nil {
		return nil, err
	}
	s.await(ctx, func() bool {
		st := s.opts.FSM.Servers().Get(req.Backend, req.Server)
		return st.Admin == fsmpb.AdminState(req.Admin) && st.DrainDeadline == deadline
	})
	s.log.Info("admin: server state set", "backend", req.Backend, "server", req.Server, "admin", req.Admin, "drain_deadline_ms", req.DrainDeadlineMs, "by", Caller(ctx))
	return s.reread(req.Backend, req.Server)
}

// SetServerWeight sets a server's weight, as HAProxy's "set weight".
func (s *Server) SetServerWeight(ctx context.Context, req *adminpb.SetServerWeightRequest) (*adminpb.Server, error) {
	cfg, _, err := s.server(req.Backend, req.Server)
	if err != nil {
		return nil, err
	}
	if cfg == nil && req.UseConfigured {
		return nil, status.Errorf(codes.InvalidArgument, "server %s/%s was added at run time: it has no configured weight (give one, 0..%d)", req.Backend, req.Server, fsm.MaxWeight)
	}
	if !req.UseConfigured && (req.Weight < 0 || req.Weight > fsm.MaxWeight) {
		return nil, status.Errorf(codes.InvalidArgument, "weight %d is out of range 0..%d", req.Weight, fsm.MaxWeight)
	}
	if err := s.apply(ctx, fsm.SetServerWeightType, &fsmpb.SetServerWeight{Backend: req.Backend, Name: req.Server, Weight: req.Weight, UseConfigured: req.UseConfigured}); err != nil {
		return nil, err
	}
	s.await(ctx, func() bool {
		st := s.opts.FSM.Servers().Get(req.Backend, req.Server)
		return st.WeightSet != req.UseConfigured && (req.UseConfigured || st.Weight == req.Weight)
	})
	s.log.Info("admin: server weight set", "backend", req.Backend, "server", req.Server, "weight", req.Weight, "configured", req.UseConfigured, "by", Caller(ctx))
	return s.reread(req.Backend, req.Server)
}

// AddServer adds a server at run time; every node agrees on it once
// committed.
func (s *Server) AddServer(ctx context.Context, req *adminpb.AddServerRequest) (*adminpb.Server, error) {
	if err := required("backend", req.Backend, "server", req.Server, "addr", req.Addr); err != nil {
		return nil, err
	}
	b, ok := s.backend(req.Backend)
	if !ok {
		return nil, notFound("backend %q (backends: %s)", req.Backend, knownList(s.backendNames()))
	}
	host, port, err := net.SplitHostPort(req.Addr)
	if p, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || p <= 0 || p > 65535 {
		return nil, status.Errorf(codes.InvalidArgument, "addr %q: want host:port with a port in 1..65535", req.Addr)
	}
	cookie := req.Cookie
	if cookie != "" && b.DynamicCookies {
		return nil, status.Errorf(codes.InvalidArgument, "--cookie %q would be ignored: backend %s's cookie has a dynamic_key, so every server's cookie value is an HMAC of its name (leave --cookie out)", cookie, req.Backend)
	}
	// Whether the name or the cookie value is taken is decided by Apply,
	// against the replicated table, so that two adds at once cannot both
	// take one (see fsmpb.AddServer); the entry names the backend's
	// configured servers, which only this node's config knows.
	configured := make([]*fsmpb.ConfiguredServer, 0, len(b.Servers))
	for _, sc := range b.Servers {
		configured = append(configured, &fsmpb.ConfiguredServer{Name: sc.Name, Cookie: sc.Cookie})
		if sc.Name == req.Server && cookie == "" {
			cookie = sc.Cookie // back with the cookie value clients may still hold
		}
	}
	if cookie == "" {
		cookie = req.Server
	}
	weight := req.Weight
	if weight == 0 {
		weight = 1
	}
	if weight < 0 || weight > fsm.MaxWeight {
		return nil, status.Errorf(codes.InvalidArgument, "weight %d is out of range 1..%d", weight, fsm.MaxWeight)
	}
	if err := s.apply(ctx, fsm.AddServerType, &fsmpb.AddServer{Backend: req.Backend, Name: req.Server, Addr: req.Addr, Cookie: cookie, Weight: weight,
		Configured: configured, Checked: true}); err != nil {
		return nil, err
	}
	s.await(ctx, func() bool {
		st := s.opts.FSM.Servers().Get(req.Backend, req.Server)
		return st.Dynamic && !st.Removed && st.Addr == req.Addr
	})
	s.log.Info("admin: server added", "backend", req.Backend, "server", req.Server, "addr", req.Addr, "by", Caller(ctx))
	return s.reread(req.Backend, req.Server)
}

// RemoveServer removes a server at run time; its sessions move as if it
// were down.
func (s *Server) RemoveServer(ctx context.Context, req *adminpb.RemoveServerRequest) (*adminpb.Server, error) {
	if _, _, err := s.server(req.Backend, req.Server); err != nil {
		return nil, err
	}
	if err := s.apply(ctx, fsm.RemoveServerType, &fsmpb.RemoveServer{Backend: req.Backend, Name: req.Server}); err != nil {
		return nil, err
	}
	s.await(ctx, func() bool { return s.opts.FSM.Servers().Get(req.Backend, req.Server).Removed })
	s.log.Info("admin: server removed", "backend", req.Backend, "server", req.Server, "by", Caller(ctx))
	return s.reread(req.Backend, req.Server)
}
