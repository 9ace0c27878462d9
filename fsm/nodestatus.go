package fsm

import (
	"google.golang.org/protobuf/proto"

	"github.com/haraft/haraft/proto/fsmpb"
)

func cloneNodeStatus(n *fsmpb.NodeStatus) *fsmpb.NodeStatus {
	return proto.Clone(n).(*fsmpb.NodeStatus)
}

// applyNodeStatus replaces the reporting node's status (role, proxy
// health, cloud identity, the VIPs it serves). The last report wins: a
// node reports from one goroutine, in order.
func (s *State) applyNodeStatus(m *fsmpb.ReportNodeStatus) *fsmpb.ApplyResult {
	if m.Status == nil || m.Status.NodeId == "" {
		return &fsmpb.ApplyResult{ErrorCode: "invalid", Error: "report_node_status: node id is required"}
	}
	s.mu.Lock()
	s.nodeStatus[m.Status.NodeId] = cloneNodeStatus(m.Status)
	s.mu.Unlock()
	return &fsmpb.ApplyResult{}
}

// NodeStatuses returns copies of the nodes' self-reported statuses.
func (s *State) NodeStatuses() []*fsmpb.NodeStatus {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*fsmpb.NodeStatus, 0, len(s.nodeStatus))
	for _, n := range s.nodeStatus {
		out = append(out, cloneNodeStatus(n))
	}
	return out
}
