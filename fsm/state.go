package fsm

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/haraft/haraft/proto/fsmpb"
)

// SessionKey names one session: a cookie value within a backend.
type SessionKey struct {
	Backend string
	Key     string
}

// binding is the in-memory form of a committed fsmpb.Binding; its strings
// are interned so a million sessions over a few servers share them.
type binding struct {
	server    string
	learnedBy string
	created   int64
	lastSeen  int64
}

// ServerKey names one server of one backend.
type ServerKey struct {
	Backend string
	Name    string
}

// ServerState is the agreed state of one server.
type ServerState struct {
	Admin         fsmpb.AdminState
	Health        fsmpb.Health
	HealthChanged int64
	Weight        int32 // the operator's weight when WeightSet
	WeightSet     bool

	// Set for servers added or removed at run time (fsm/serverops.go).
	Addr    string
	Cookie  string
	Dynamic bool
	Removed bool
}

// Usable reports whether new sessions may go to the server.
func (s ServerState) Usable() bool {
	return s.Admin == fsmpb.AdminState_ADMIN_READY && s.Health != fsmpb.Health_HEALTH_DOWN && !s.Removed
}

// KeepsSessions reports whether sessions already bound to the server stay
// there (ready or draining, and not agreed down).
func (s ServerState) KeepsSessions() bool {
	return s.Admin != fsmpb.AdminState_ADMIN_MAINT && s.Health != fsmpb.Health_HEALTH_DOWN && !s.Removed
}

// ServerTable is an immutable view of every server's agreed state; a server
// absent from it is ready with unknown health. The proxy reads it without a
// lock on every request; Apply replaces it on every change.
type ServerTable struct {
	servers map[ServerKey]ServerState
}

// Get returns the agreed state of a server.
func (t *ServerTable) Get(backend, name string) ServerState {
	if t == nil {
		return ServerState{}
	}
	return t.servers[ServerKey{backend, name}]
}

// All returns a copy of the table's entries.
func (t *ServerTable) All() map[ServerKey]ServerState {
	out := make(map[ServerKey]ServerState, len(t.servers))
	for k, v := range t.servers {
		out[k] = v
	}
	return out
}

// State is the replicated state. Apply mutates it; everything else reads it.
type State struct {
	mu       sync.RWMutex
	sessions map[SessionKey]binding
	intern   map[string]string
	nodes    map[string]*fsmpb.Node
	eips     map[string]*fsmpb.EIP
	// nodeStatus holds each node's self-reported status (fsm/nodestatus.go).
	nodeStatus map[string]*fsmpb.NodeStatus
	// views holds every node's view of every server's health (fsm/health.go).
	views map[ServerKey]map[string]*fsmpb.HealthView

	servers atomic.Pointer[ServerTable]

	applied   atomic.Uint64
	appliedMu sync.Mutex
	appliedCh chan struct{} // closed and replaced at every applied index
}

// NewState returns an empty state.
func NewState() *State {
	s := &State{
		sessions:   make(map[SessionKey]binding),
		intern:     make(map[string]string),
		nodes:      make(map[string]*fsmpb.Node),
		eips:       make(map[string]*fsmpb.EIP),
		nodeStatus: make(map[string]*fsmpb.NodeStatus),
		views:      make(map[ServerKey]map[string]*fsmpb.HealthView),
		appliedCh:  make(chan struct{}),
	}
	s.servers.Store(&ServerTable{servers: map[ServerKey]ServerState{}})
	return s
}

func (s *State) internString(v string) string {
	if v == "" {
		return ""
	}
	if iv, ok := s.intern[v]; ok {
		return iv
	}
	s.intern[v] = v
	return v
}

// Lookup returns the server a session is bound to.
func (s *State) Lookup(backend, key string) (server string, ok bool) {
	s.mu.RLock()
	b, ok := s.sessions[SessionKey{backend, key}]
	s.mu.RUnlock()
	return b.server, ok
}

// Binding returns the committed binding of a session.
func (s *State) Binding(backend, key string) (*fsmpb.Binding, bool) {
	s.mu.RLock()
	b, ok := s.sessions[SessionKey{backend, key}]
	s.mu.RUnlock()
	if !ok {
		return nil, false
	}
	return &fsmpb.Binding{Backend: backend, Key: key, Server: b.server, CreatedUnixMs: b.created, LearnedBy: b.learnedBy, LastSeenUnixMs: b.lastSeen}, true
}

// SessionCount returns the number of bound sessions.
func (s *State) SessionCount() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.sessions)
}

// SessionsPerServer counts bound sessions by server.
func (s *State) SessionsPerServer() map[ServerKey]int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[ServerKey]int)
	for k, b := range s.sessions {
		out[ServerKey{k.Backend, b.server}]++
	}
	return out
}

// Servers returns the current immutable server table.
func (s *State) Servers() *ServerTable { return s.servers.Load() }

// Nodes returns copies of the registered nodes.
func (s *State) Nodes() []*fsmpb.Node {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*fsmpb.Node, 0, len(s.nodes))
	for _, n := range s.nodes {
		out = append(out, cloneNode(n))
	}
	return out
}

// EIPs returns copies of the EIP placements.
func (s *State) EIPs() []*fsmpb.EIP {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*fsmpb.EIP, 0, len(s.eips))
	for _, e := range s.eips {
		out = append(out, cloneEIP(e))
	}
	return out
}

// AppliedIndex returns the index of the last applied log entry.
func (s *State) AppliedIndex() uint64 { return s.applied.Load() }

func (s *State) setApplied(idx uint64) {
	s.appliedMu.Lock()
	s.applied.Store(idx)
	close(s.appliedCh)
	s.appliedCh = make(chan struct{})
	s.appliedMu.Unlock()
}

// WaitApplied blocks until the state has applied index idx or ctx ends.
func (s *State) WaitApplied(ctx context.Context, idx uint64) error {
	for {
		s.appliedMu.Lock()
		ch := s.appliedCh
		done := s.applied.Load() >= idx
		s.appliedMu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
