package fsm

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/haraft/haraft/proto/fsmpb"
)

// Operator changes to the server table: weight, and servers added or
// removed at run time. Removal keeps a tombstone (Removed) so that a server
// from the config file stays removed on every node; re-adding clears it.

// serverRecord is the snapshot/list form of one server table entry.
func serverRecord(k ServerKey, v ServerState) *fsmpb.Server {
	return &fsmpb.Server{Backend: k.Backend, Name: k.Name, Admin: v.Admin, Health: v.Health, HealthChanged: v.HealthChanged,
		Weight: v.Weight, WeightSet: v.WeightSet, Addr: v.Addr, Cookie: v.Cookie, Dynamic: v.Dynamic, Removed: v.Removed,
		Source: v.Source, DeregisteringUnixMs: v.Deregistering, AddedIndex: v.AddedIndex, DrainDeadlineUnixMs: v.DrainDeadline}
}

// serverState is the inverse of serverRecord.
func serverState(s *fsmpb.Server) ServerState {
	return ServerState{Admin: s.Admin, Health: s.Health, HealthChanged: s.HealthChanged, Weight: s.Weight, WeightSet: s.WeightSet,
		Addr: s.Addr, Cookie: s.Cookie, Dynamic: s.Dynamic, Removed: s.Removed,
		Source: s.Source, Deregistering: s.DeregisteringUnixMs, AddedIndex: s.AddedIndex, DrainDeadline: s.DrainDeadlineUnixMs}
}

// MaxWeight is the largest server weight, as in the config file.
const MaxWeight = 256

func (s *State) applyServerWeight(m *fsmpb.SetServerWeight) *fsmpb.ApplyResult {
	if m.Backend == "" || m.Name == "" {
		return &fsmpb.ApplyResult{ErrorCode: "invalid", Error: "set_server_weight: backend and server name are required"}
	}
	if !m.UseConfigured && (m.Weight < 0 || m.Weight > MaxWeight) {
		return &fsmpb.ApplyResult{ErrorCode: "invalid", Error: fmt.Sprintf("set_server_weight: weight %d is out of range 0..%d", m.Weight, MaxWeight)}
	}
	s.updateServer(m.Backend, m.Name, func(st *ServerState) {
		if m.UseConfigured {
			st.Weight, st.WeightSet = 0, false
			return
		}
		st.Weight, st.WeightSet = m.Weight, true
	})
	return &fsmpb.ApplyResult{}
}

func (s *State) applyAddServer(m *fsmpb.AddServer) *fsmpb.ApplyResult {
	if m.Backend == "" || m.Name == "" || m.Addr == "" {
		return &fsmpb.ApplyResult{ErrorCode: "invalid", Error: "add_server: backend, server name and addr are required"}
	}
	if m.Weight < 0 || m.Weight > MaxWeight {
		return &fsmpb.ApplyResult{ErrorCode: "invalid", Error: fmt.Sprintf("add_server: weight %d is out of range 0..%d", m.Weight, MaxWeight)}
	}
	if m.Checked {
		if res := s.checkAddServer(m); res != nil {
			return res
		}
	}
	reborn := s.servers.Load().Get(m.Backend, m.Name).Removed
	s.updateServer(m.Backend, m.Name, func(st *ServerState) {
		// Back from removal, or moved to another address: it is a new
		// server, and the health agreed in its earlier life says nothing
		// about it. The nodes' views stay: each node's check of the new
		// server reports afresh (a new check loop reports its first
		// result), and the leader agrees again from the views as they
		// come; deleting them would leave a node whose loop never stopped
		// (removed and re-added between two of its polls) silent.
		if st.Removed || st.Addr != m.Addr {
			st.Health = fsmpb.Health_HEALTH_UNKNOWN
		}
		st.Addr, st.Cookie, st.Dynamic, st.Removed = m.Addr, m.Cookie, true, false
		if st.Cookie == "" {
			st.Cookie = m.Name
		}
		st.Weight, st.WeightSet = m.Weight, true
	})
	if !reborn {
		return &fsmpb.ApplyResult{}
	}
	// Sessions still bound to the name in its earlier life (the nodes
	// rebind a removed server's sessions only as they are used) belong to
	// a server that is gone: they must not stick to the new one. Their
	// next request is a new session. Count says how many were dropped.
	return &fsmpb.ApplyResult{Count: int64(s.dropSessionsOf(m.Backend, m.Name))}
}

// checkAddServer enforces the server table's invariants for one add,
// against the replicated table and the configured servers the entry
// carries (see fsmpb.AddServer): nil if the add may go ahead. Every node
// applies the same entries in the same order, so of two adds racing for
// one name or one cookie value the same one wins everywhere, and the other
// is refused as a value ("exists"), not a divergence.
//
// Configured servers live in each node's YAML, not in the log; rather than
// copy them into the replicated table (every node would have to propose
// its file's servers at start and at each reload, and nodes with different
// files would fight over them), the proposer names them in the entry.
// Apply is then deterministic from the log alone, and a node whose config
// differs only changes what its own proposals are checked against.
func (s *State) checkAddServer(m *fsmpb.AddServer) *fsmpb.ApplyResult {
	table := s.servers.Load()
	exists := func(format string, a ...any) *fsmpb.ApplyResult {
		return &fsmpb.ApplyResult{ErrorCode: "exists", Error: fmt.Sprintf(format, a...)}
	}
	cur := table.Get(m.Backend, m.Name)
	for _, c := range m.Configured {
		// A server of the config file can be added back once removed
		// (at its address or another one); until then it exists.
		if c.Name == m.Name && !cur.Removed {
			return exists("server %s/%s is in the config file and not removed: it exists (change its state with `haraftctl drain|ready|maint %s/%s`)", m.Backend, m.Name, m.Backend, m.Name)
		}
	}
	if cur.Dynamic && !cur.Removed && cur.Addr != m.Addr {
		return exists("server %s/%s already exists at %s: remove it first", m.Backend, m.Name, cur.Addr)
	}
	// The cookie value names the server in insert, prefix and rewrite
	// modes: two live servers cannot share one.
	cookie := cmp.Or(m.Cookie, m.Name)
	taken := func(other string) *fsmpb.ApplyResult {
		return exists("cookie value %q already names server %s/%s: give another with --cookie", cookie, m.Backend, other)
	}
	for _, c := range m.Configured {
		if c.Name != m.Name && cmp.Or(c.Cookie, c.Name) == cookie && !table.Get(m.Backend, c.Name).Removed {
			return taken(c.Name)
		}
	}
	var holders []string
	for k, st := range table.servers {
		if k.Backend == m.Backend && k.Name != m.Name && st.Dynamic && !st.Removed && st.Cookie == cookie {
			holders = append(holders, k.Name)
		}
	}
	if len(holders) > 0 {
		return taken(slices.Min(holders)) // the same message on every node
	}
	return nil
}

// dropSessionsOf deletes the backend's sessions bound to server name.
func (s *State) dropSessionsOf(backend, name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.sessions[backend]
	id, ok := s.nameIDs[name]
	if t == nil || !ok {
		return 0
	}
	return t.deleteWhere(func(_ string, b binding) bool { return b.server == id })
}

func (s *State) applyRemoveServer(m *fsmpb.RemoveServer) *fsmpb.ApplyResult {
	if m.Backend == "" || m.Name == "" {
		return &fsmpb.ApplyResult{ErrorCode: "invalid", Error: "remove_server: backend and server name are required"}
	}
	s.updateServer(m.Backend, m.Name, func(st *ServerState) { st.Removed = true })
	return &fsmpb.ApplyResult{}
}
