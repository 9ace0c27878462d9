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

// binding is the in-memory form of a committed fsmpb.Binding. Its server
// and node names are indexes into State.names, so a million sessions over a
// few servers hold 24 bytes each besides their key (fsm/sessiontable.go).
type binding struct {
	server    uint32
	learnedBy uint32
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

	// Set for servers that server discovery added (fsm/discover.go).
	Source        string // the discovery that owns it ("ec2", "dns"); "" for the others
	Deregistering int64  // leader's unix ms since it left discovery's answer; 0 if it has not
	AddedIndex    uint64 // log index of the entry that (re)added it through discovery

	// DrainDeadline (unix ms, stamped by the proposer) is when every node
	// closes the connections still open to a draining server; 0: never.
	// Any admin state change clears it.
	DrainDeadline int64
}

// Usable reports whether new sessions may go to the server.
func (s ServerState) Usable() bool {
	return s.Admin == fsmpb.AdminState_ADMIN_READY && s.Health != fsmpb.Health_HEALTH_DOWN && !s.Removed && s.Deregistering == 0
}

// KeepsSessions reports whether sessions already bound to the server stay
// there (ready or draining, and not agreed down). A server that discovery
// is deregistering keeps them, as a draining one does, until its removal.
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
	sessions map[string]*sessionTable // by backend
	names    []string                 // server and node names of bindings; names[0] is ""
	nameIDs  map[string]uint32
	nodes    map[string]*fsmpb.Node
	eips     map[string]*fsmpb.EIP
	dns      map[string]*fsmpb.DNSRecord // Route 53 record decisions by id
	// nodeStatus holds each node's self-reported status (fsm/nodestatus.go).
	nodeStatus map[string]*fsmpb.NodeStatus
	// views holds every node's view of every server's health (fsm/health.go).
	views map[ServerKey]map[string]*fsmpb.HealthView

	servers atomic.Pointer[ServerTable]

	applied atomic.Uint64
	// applying is the index of the entry being applied (0 outside Raft,
	// in ApplyCommand); only the apply goroutine reads or writes it.
	applying  uint64
	appliedMu sync.Mutex
	appliedCh chan struct{} // closed and replaced at every applied index
}

// NewState returns an empty state.
func NewState() *State {
	s := &State{
		sessions:   make(map[string]*sessionTable),
		names:      []string{""},
		nameIDs:    map[string]uint32{"": 0},
		nodes:      make(map[string]*fsmpb.Node),
		eips:       make(map[string]*fsmpb.EIP),
		dns:        make(map[string]*fsmpb.DNSRecord),
		nodeStatus: make(map[string]*fsmpb.NodeStatus),
		views:      make(map[ServerKey]map[string]*fsmpb.HealthView),
		appliedCh:  make(chan struct{}),
	}
	s.servers.Store(&ServerTable{servers: map[ServerKey]ServerState{}})
	return s
}

// nameID returns the index of a server or node name in s.names, adding it;
// s.mu is held for writing.
func (s *State) nameID(v string) uint32 {
	if id, ok := s.nameIDs[v]; ok {
		return id
	}
	id := uint32(len(s.names))
	s.names = append(s.names, v)
	s.nameIDs[v] = id
	return id
}

// newBinding is the in-memory form of b; s.mu is held for writing.
func (s *State) newBinding(b *fsmpb.Binding) binding {
	return binding{server: s.nameID(b.Server), learnedBy: s.nameID(b.LearnedBy), created: b.CreatedUnixMs, lastSeen: max(b.LastSeenUnixMs, b.CreatedUnixMs)}
}

// record is the fsmpb form of a binding; s.mu is held.
func (s *State) record(backend, key string, b binding) *fsmpb.Binding {
	return &fsmpb.Binding{Backend: backend, Key: key, Server: s.names[b.server], CreatedUnixMs: b.created, LearnedBy: s.names[b.learnedBy], LastSeenUnixMs: b.lastSeen}
}

// getSession returns a session's binding; s.mu is held.
func (s *State) getSession(backend, key string) (binding, bool) {
	t := s.sessions[backend]
	if t == nil {
		return binding{}, false
	}
	return t.get(key)
}

// putSession sets a session's binding; s.mu is held for writing.
func (s *State) putSession(backend, key string, b binding) {
	t := s.sessions[backend]
	if t == nil {
		t = newSessionTable()
		s.sessions[backend] = t
	}
	t.put(key, b)
}

// deleteSession removes a session; s.mu is held for writing.
func (s *State) deleteSession(backend, key string) {
	if t := s.sessions[backend]; t != nil {
		t.del(key)
	}
}

// Lookup returns the server a session is bound to.
func (s *State) Lookup(backend, key string) (server string, ok bool) {
	s.mu.RLock()
	b, ok := s.getSession(backend, key)
	server = s.names[b.server]
	s.mu.RUnlock()
	return server, ok
}

// Binding returns the committed binding of a session.
func (s *State) Binding(backend, key string) (*fsmpb.Binding, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, ok := s.getSession(backend, key)
	if !ok {
		return nil, false
	}
	return s.record(backend, key, b), true
}

// SessionCount returns the number of bound sessions.
func (s *State) SessionCount() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, t := range s.sessions {
		n += t.len()
	}
	return n
}

// SessionsPerServer counts bound sessions by server.
func (s *State) SessionsPerServer() map[ServerKey]int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[ServerKey]int)
	for backend, t := range s.sessions {
		perID := map[uint32]int{}
		t.each(func(_ string, b binding) bool { perID[b.server]++; return true })
		for id, n := range perID {
			out[ServerKey{backend, s.names[id]}] += n
		}
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
