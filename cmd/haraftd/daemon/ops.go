package daemon

import (
	"encoding/json"
	"net/http"

	"github.com/haraft/haraft/proxy"
)

// opsHandler serves the node's operational endpoints:
//
//	/ready    200 once the node has caught up with the log and serves; 503 before
//	/healthz  200 while the process and its Raft member run
//	/status   JSON: node, leader, term, indexes, sessions, learner counters
//	          (every key snake_case), from this node's memory alone: it
//	          answers at once on a node cut off from its peers, which is
//	          when a monitor polling it with a short timeout needs it;
//	          ?cluster=1 adds cluster_traffic, asked of every member
//	          (statuscluster.go, up to 700 ms)
//	/         the HTML status page (statuspage.go)
//	/metrics  Prometheus metrics (metrics.go)
//	/debug/pprof/  Go's profiler, only with http.debug (debug.go)
func (d *Daemon) opsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		select {
		case <-d.serving:
			_, _ = w.Write([]byte("ready\n"))
		default:
			http.Error(w, "not ready: catching up with the cluster's log", http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if st := d.node.Raft().State().String(); st == "Shutdown" {
			http.Error(w, "raft is shut down", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		st := d.Status()
		if r.URL.Query().Get("cluster") == "1" {
			ct := d.clusterTrafficNow(r.Context()) // statuscluster.go
			st.ClusterTraffic = &ct
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(st)
	})
	d.opsExtras(mux)     // statuspage.go: / and /metrics
	d.debugHandlers(mux) // debug.go: /debug/pprof/ with http.debug
	return mux
}

// Status is a node's summary, as /status serves it.
type Status struct {
	Node         string             `json:"node"`
	AZ           string             `json:"az"`
	State        string             `json:"state"`
	Leader       string             `json:"leader"`
	Term         uint64             `json:"term"`
	CommitIndex  uint64             `json:"commit_index"`
	AppliedIndex uint64             `json:"applied_index"`
	Ready        bool               `json:"ready"`
	Sessions     int                `json:"sessions"`
	Learner      proxy.LearnerStats `json:"learner"`
	// ClusterInsecure: the cluster port speaks plain TCP (no raft.tls):
	// whoever reaches it can speak Raft to this node.
	ClusterInsecure bool `json:"cluster_insecure"`
	// Config: the running config's hash and the last live reload.
	Config ReloadStatus `json:"config"`
	// Discovery: each servers_from source's last poll (polled on the leader).
	Discovery []DiscoveryStatus `json:"discovery,omitempty"`
	// DNS: the Route 53 record (route53 section), absent without one.
	DNS *DNSStatus `json:"dns,omitempty"`
	// ClusterTraffic: every member's traffic and the totals, asked over
	// the cluster port (statuscluster.go); only /status?cluster=1 fills it.
	ClusterTraffic *ClusterTraffic `json:"cluster_traffic,omitempty"`
}

// Status returns the node's summary.
func (d *Daemon) Status() Status {
	r := d.node.Raft()
	leader, _ := d.node.Leader()
	ready := false
	select {
	case <-d.serving:
		ready = true
	default:
	}
	return Status{
		Node: d.cfg.Node.ID, AZ: d.cfg.Node.AZ, State: r.State().String(), Leader: leader, Term: r.CurrentTerm(),
		CommitIndex: r.CommitIndex(), AppliedIndex: r.AppliedIndex(), Ready: ready,
		Sessions: d.fsm.SessionCount(), Learner: d.learner.Stats(), ClusterInsecure: d.node.Insecure(),
		Config: d.ReloadStatus(), Discovery: d.Discovery(), DNS: d.dnsStatus(),
	}
}
