package fsm

import (
	"fmt"
	"strings"

	"github.com/haraft/haraft/proto/fsmpb"
)

// Server discovery (servers_from: EC2 tags, DNS) commits one step per
// backend and poll: the targets that appeared are added, those that left
// the answer start their deregistration (no new sessions, sticky ones
// stay, as a drained server's), those back before their removal are
// restored, and those whose deregistration delay is over are removed (as
// RemoveServer: their sessions move by rendezvous hashing). The leader
// decides the step from its source's answer and its clock; Apply only
// checks that each part still holds against the table, so a step raced by
// an operator's change applies the rest on every node alike.
//
// A discovered server carries its source, so discovery never deregisters
// or removes a server of the config file or one an operator added, and an
// add never takes over a name someone else defined.

func (s *State) applyDiscoverServers(m *fsmpb.DiscoverServers) *fsmpb.ApplyResult {
	if m.Backend == "" || m.Source == "" {
		return &fsmpb.ApplyResult{ErrorCode: "invalid", Error: "discover_servers: backend and source are required"}
	}
	var skipped []string
	skip := func(format string, a ...any) { skipped = append(skipped, fmt.Sprintf(format, a...)) }
	applied := 0
	for _, a := range m.Add {
		if a.Backend != m.Backend {
			skip("add %s: backend %q is not the step's %q", a.Name, a.Backend, m.Backend)
			continue
		}
		cur := s.servers.Load().Get(m.Backend, a.Name)
		if cur.Dynamic && !cur.Removed && cur.Source != m.Source {
			skip("add %s/%s: defined through the admin API, not by %s discovery", m.Backend, a.Name, m.Source)
			continue
		}
		a.Checked = true
		if res := s.applyAddServer(a); res.ErrorCode != "" {
			skip("%s", res.Error)
			continue
		}
		s.updateServer(m.Backend, a.Name, func(st *ServerState) {
			st.Source, st.Deregistering, st.AddedIndex = m.Source, 0, s.applying
		})
		applied++
	}
	// owned finds a live server of this source for a part of the step.
	owned := func(part, name string) (ServerState, bool) {
		cur := s.servers.Load().Get(m.Backend, name)
		switch {
		case cur.Source != m.Source || !cur.Dynamic:
			skip("%s %s/%s: not a server of %s discovery", part, m.Backend, name, m.Source)
		case cur.Removed:
			skip("%s %s/%s: removed", part, m.Backend, name)
		default:
			return cur, true
		}
		return cur, false
	}
	for _, name := range m.Deregister {
		if cur, ok := owned("deregister", name); ok {
			if cur.Deregistering != 0 {
				skip("deregister %s/%s: already deregistering", m.Backend, name)
				continue
			}
			s.updateServer(m.Backend, name, func(st *ServerState) { st.Deregistering = max(m.StampUnixMs, 1) })
			applied++
		}
	}
	for _, name := range m.Restore {
		if cur, ok := owned("restore", name); ok {
			if cur.Deregistering == 0 {
				skip("restore %s/%s: not deregistering", m.Backend, name)
				continue
			}
			s.updateServer(m.Backend, name, func(st *ServerState) { st.Deregistering = 0 })
			applied++
		}
	}
	for _, name := range m.Remove {
		if cur, ok := owned("remove", name); ok {
			// Only a deregistered server is removed: its drain is what
			// the delay was for.
			if cur.Deregistering == 0 {
				skip("remove %s/%s: not deregistering", m.Backend, name)
				continue
			}
			s.updateServer(m.Backend, name, func(st *ServerState) { st.Removed, st.Deregistering = true, 0 })
			applied++
		}
	}
	res := &fsmpb.ApplyResult{Count: int64(applied)}
	if len(skipped) > 0 {
		res.ErrorCode, res.Error = "partial", "discover_servers: skipped: "+strings.Join(skipped, "; ")
	}
	return res
}
