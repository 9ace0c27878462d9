package fsm

import (
	"google.golang.org/protobuf/proto"

	"github.com/haraft/haraft/proto/fsmpb"
)

func cloneHealthView(v *fsmpb.HealthView) *fsmpb.HealthView {
	return proto.Clone(v).(*fsmpb.HealthView)
}

func (s *State) putView(v *fsmpb.HealthView) {
	k := ServerKey{v.Backend, v.Server}
	byNode := s.views[k]
	if byNode == nil {
		byNode = map[string]*fsmpb.HealthView{}
		s.views[k] = byNode
	}
	byNode[v.Node] = v
}

// applyHealthViews records nodes' views of servers' health. It does not
// decide the agreed health: the leader does, from the views of the nodes it
// knows to be alive, and commits SetServerHealth.
func (s *State) applyHealthViews(m *fsmpb.ReportHealthViews) *fsmpb.ApplyResult {
	for _, v := range m.Views {
		if v.Backend == "" || v.Server == "" || v.Node == "" {
			return &fsmpb.ApplyResult{ErrorCode: "invalid", Error: "report_health_views: backend, server and node are required"}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range m.Views {
		s.putView(cloneHealthView(v))
	}
	return &fsmpb.ApplyResult{}
}

// HealthViews returns every node's view of one server, keyed by node id.
func (s *State) HealthViews(backend, server string) map[string]*fsmpb.HealthView {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := map[string]*fsmpb.HealthView{}
	for n, v := range s.views[ServerKey{backend, server}] {
		out[n] = cloneHealthView(v)
	}
	return out
}

// AllHealthViews returns every recorded view.
func (s *State) AllHealthViews() map[ServerKey]map[string]*fsmpb.HealthView {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[ServerKey]map[string]*fsmpb.HealthView, len(s.views))
	for k, byNode := range s.views {
		m := make(map[string]*fsmpb.HealthView, len(byNode))
		for n, v := range byNode {
			m[n] = cloneHealthView(v)
		}
		out[k] = m
	}
	return out
}
