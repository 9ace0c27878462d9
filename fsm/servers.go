package fsm

import "github.com/haraft/haraft/proto/fsmpb"

// updateServer applies fn to a copy of the server table and publishes the
// copy. Server changes are rare; readers never lock.
func (s *State) updateServer(backend, name string, fn func(*ServerState)) {
	old := s.servers.Load()
	next := make(map[ServerKey]ServerState, len(old.servers)+1)
	for k, v := range old.servers {
		next[k] = v
	}
	k := ServerKey{backend, name}
	st := next[k]
	fn(&st)
	next[k] = st
	s.servers.Store(&ServerTable{servers: next})
}

func (s *State) applyServerAdmin(m *fsmpb.SetServerAdmin) *fsmpb.ApplyResult {
	if m.Backend == "" || m.Name == "" {
		return &fsmpb.ApplyResult{ErrorCode: "invalid", Error: "set_server_admin: backend and server name are required"}
	}
	if m.DrainDeadlineUnixMs < 0 || (m.DrainDeadlineUnixMs != 0 && m.Admin != fsmpb.AdminState_ADMIN_DRAIN) {
		return &fsmpb.ApplyResult{ErrorCode: "invalid", Error: "set_server_admin: a drain deadline goes only with drain, and is not negative"}
	}
	s.updateServer(m.Backend, m.Name, func(st *ServerState) {
		st.Admin = m.Admin
		st.DrainDeadline = m.DrainDeadlineUnixMs
	})
	return &fsmpb.ApplyResult{}
}

func (s *State) applyServerHealth(m *fsmpb.SetServerHealth) *fsmpb.ApplyResult {
	if m.Backend == "" || m.Name == "" {
		return &fsmpb.ApplyResult{ErrorCode: "invalid", Error: "set_server_health: backend and server name are required"}
	}
	s.updateServer(m.Backend, m.Name, func(st *ServerState) {
		if st.Health != m.Health {
			st.Health = m.Health
			st.HealthChanged = m.StampUnixMs
		}
	})
	return &fsmpb.ApplyResult{}
}
