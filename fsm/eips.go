package fsm

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/haraft/haraft/proto/fsmpb"
)

func cloneEIP(e *fsmpb.EIP) *fsmpb.EIP { return proto.Clone(e).(*fsmpb.EIP) }

// applyAssignEIP records a placement decision. A decision stamped with an
// older term than the recorded one comes from a deposed leader and is
// refused, so a stale leader can never move an address back.
func (s *State) applyAssignEIP(m *fsmpb.AssignEIP) *fsmpb.ApplyResult {
	if m.Eip == nil || m.Eip.Id == "" {
		return &fsmpb.ApplyResult{ErrorCode: "invalid", Error: "assign_eip: eip id is required"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.eips[m.Eip.Id]; ok && m.Eip.Term < cur.Term {
		return &fsmpb.ApplyResult{ErrorCode: "stale_term", Error: fmt.Sprintf("assign_eip %s: term %d is older than recorded term %d", m.Eip.Id, m.Eip.Term, cur.Term)}
	}
	s.eips[m.Eip.Id] = cloneEIP(m.Eip)
	return &fsmpb.ApplyResult{}
}
