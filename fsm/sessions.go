package fsm

import "github.com/haraft/haraft/proto/fsmpb"

// applyLearn commits learned bindings. First binding wins: a session already
// bound to a server that still keeps its sessions is left alone, and the
// result tells the proposer which binding won so it can adopt it.
func (s *State) applyLearn(m *fsmpb.LearnSessions) *fsmpb.ApplyResult {
	servers := s.servers.Load()
	res := &fsmpb.LearnResult{Committed: make([]*fsmpb.Binding, 0, len(m.Bindings))}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range m.Bindings {
		if cur, ok := s.getSession(b.Backend, b.Key); ok && (s.names[cur.server] == b.Server || servers.Get(b.Backend, s.names[cur.server]).KeepsSessions()) {
			res.Committed = append(res.Committed, &fsmpb.Binding{Backend: b.Backend, Key: b.Key, Server: s.names[cur.server], CreatedUnixMs: cur.created, LearnedBy: s.names[cur.learnedBy]})
			continue
		}
		s.putSession(b.Backend, b.Key, s.newBinding(b))
		res.Committed = append(res.Committed, b)
	}
	return &fsmpb.ApplyResult{Learn: res}
}

// applyDelete removes bindings; deleting an absent one is not an error, so
// a retried command is harmless.
func (s *State) applyDelete(m *fsmpb.DeleteSessions) *fsmpb.ApplyResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range m.Sessions {
		s.deleteSession(r.Backend, r.Key)
	}
	return &fsmpb.ApplyResult{}
}

// applyRebind overwrites bindings unconditionally.
func (s *State) applyRebind(m *fsmpb.RebindSessions) *fsmpb.ApplyResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range m.Bindings {
		s.putSession(b.Backend, b.Key, s.newBinding(b))
	}
	return &fsmpb.ApplyResult{}
}
