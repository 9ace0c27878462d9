package fsm

import (
	"google.golang.org/protobuf/proto"

	"github.com/haraft/haraft/proto/fsmpb"
)

func cloneNode(n *fsmpb.Node) *fsmpb.Node { return proto.Clone(n).(*fsmpb.Node) }

func (s *State) applyRegisterNode(m *fsmpb.RegisterNode) *fsmpb.ApplyResult {
	if m.Node == nil || m.Node.Id == "" {
		return &fsmpb.ApplyResult{ErrorCode: "invalid", Error: "register_node: node id is required"}
	}
	s.mu.Lock()
	s.nodes[m.Node.Id] = cloneNode(m.Node)
	s.mu.Unlock()
	return &fsmpb.ApplyResult{}
}
