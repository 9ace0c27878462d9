package proxy

import (
	"testing"

	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
)

func TestAgreementNeedsLiveMajority(t *testing.T) {
	up, down := fsmpb.Health_HEALTH_UP, fsmpb.Health_HEALTH_DOWN
	tests := []struct {
		name      string
		views     map[string]fsmpb.Health // node → view of server A
		dead      []string
		agreed    fsmpb.Health // current agreed health
		agreeDown int
		want      fsmpb.Health // HEALTH_UNKNOWN: no change
	}{
		{"one of three sees down", map[string]fsmpb.Health{"n1": down, "n2": up, "n3": up}, nil, up, 0, fsmpb.Health_HEALTH_UNKNOWN},
		{"two of three see down", map[string]fsmpb.Health{"n1": down, "n2": down, "n3": up}, nil, up, 0, down},
		{"dead node's stale view is not counted", map[string]fsmpb.Health{"n1": down, "n2": up, "n3": up}, []string{"n3"}, up, 0, fsmpb.Health_HEALTH_UNKNOWN},
		{"both live nodes see down", map[string]fsmpb.Health{"n1": down, "n2": down, "n3": up}, []string{"n3"}, up, 0, down},
		{"already down: no new commit", map[string]fsmpb.Health{"n1": down, "n2": down}, nil, down, 0, fsmpb.Health_HEALTH_UNKNOWN},
		{"majority up brings it back", map[string]fsmpb.Health{"n1": up, "n2": up, "n3": down}, nil, down, 0, up},
		{"unknown becomes up", map[string]fsmpb.Health{"n1": up, "n2": up}, nil, fsmpb.Health_HEALTH_UNKNOWN, 0, up},
		{"agree_down 3 needs all three", map[string]fsmpb.Health{"n1": down, "n2": down, "n3": up}, nil, up, 3, fsmpb.Health_HEALTH_UNKNOWN},
		{"no views at all", nil, nil, fsmpb.Health_HEALTH_UNKNOWN, 0, fsmpb.Health_HEALTH_UNKNOWN},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := fsm.New(nil)
			var views []*fsmpb.HealthView
			for n, h := range tc.views {
				views = append(views, &fsmpb.HealthView{Backend: "app", Server: "A", Node: n, Health: h})
			}
			if len(views) > 0 {
				b, _ := fsm.Encode(fsm.ReportHealthViewsType, &fsmpb.ReportHealthViews{Views: views})
				f.ApplyCommand(b)
			}
			if tc.agreed != fsmpb.Health_HEALTH_UNKNOWN {
				b, _ := fsm.Encode(fsm.SetServerHealthType, &fsmpb.SetServerHealth{Backend: "app", Name: "A", Health: tc.agreed})
				f.ApplyCommand(b)
			}
			be, err := NewBackend(BackendOptions{Name: "app", Servers: []ServerOptions{{Name: "A", Addr: "127.0.0.1:1", Weight: 1}},
				Check: &HealthCheck{AgreeDown: tc.agreeDown}})
			if err != nil {
				t.Fatal(err)
			}
			dead := map[string]bool{}
			for _, n := range tc.dead {
				dead[n] = true
			}
			a := NewHealthAgreement(AgreementOptions{Backends: func() []*Backend { return []*Backend{be} }, State: f,
				Cluster: &fakeCluster{voters: []string{"n1", "n2", "n3"}, dead: dead}})
			if d := a.Decide(be, be.Servers[0]); d.Health != tc.want {
				t.Fatalf("decision %+v, want %v", d, tc.want)
			}
		})
	}
}
