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
		k := SessionKey{b.Backend, b.Key}
		if cur, ok := s.sessions[k]; ok && (cur.server == b.Server || servers.Get(b.Backend, cur.server).KeepsSessions()) {
			res.Committed = append(res.Committed, &fsmpb.Binding{Backend: b.Backend, Key: b.Key, Server: cur.server, CreatedUnixMs: cur.created, LearnedBy: cur.learnedBy})
			continue
		}
		s.sessions[SessionKey{s.internString(b.Backend), b.Key}] = binding{server: s.internString(b.Server), learnedBy: s.internString(b.LearnedBy), created: b.CreatedUnixMs, lastSeen: max(b.LastSeenUnixMs, b.CreatedUnixMs)}
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
		delete(s.sessions, SessionKey{r.Backend, r.Key})
	}
	return &fsmpb.ApplyResult{}
}

// applyRebind overwrites bindings unconditionally.
func (s *State) applyRebind(m *fsmpb.RebindSessions) *fsmpb.ApplyResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range m.Bindings {
		s.sessions[SessionKey{s.internString(b.Backend), b.Key}] = binding{server: s.internString(b.Server), learnedBy: s.internString(b.LearnedBy), created: b.CreatedUnixMs, lastSeen: max(b.LastSeenUnixMs, b.CreatedUnixMs)}
	}
	return &fsmpb.ApplyResult{}
}
