package daemon

import (
	"net/http"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/haraft/haraft/proto/adminpb"
	"github.com/haraft/haraft/proto/fsmpb"
	"github.com/haraft/haraft/proxy"
)

// collector exports a node's metrics in Prometheus format. Everything is
// read at scrape time from the counters the node keeps anyway (Raft, the
// FSM, the learner, frontends and servers, the admin event hub), so the
// request path pays nothing for metrics.
type collector struct {
	d     *Daemon
	descs map[string]*prometheus.Desc
}

type metricDef struct {
	name, help string
	labels     []string
}

var metricDefs = []metricDef{
	{"haraft_raft_state", "1 for the node's current Raft state.", []string{"state"}},
	{"haraft_raft_leader", "1 while this node is the leader.", nil},
	{"haraft_raft_term", "Current Raft term.", nil},
	{"haraft_raft_commit_index", "Raft commit index.", nil},
	{"haraft_raft_applied_index", "Index applied to the FSM.", nil},
	{"haraft_raft_apply_lag", "Commit index minus applied index.", nil},
	{"haraft_raft_last_contact_seconds", "Seconds since the last contact with the leader (0 on the leader, -1 never).", nil},
	{"haraft_raft_members", "Members of the Raft configuration by suffrage.", []string{"suffrage"}},
	{"haraft_ready", "1 once the node caught up with the log and serves.", nil},
	{"haraft_sessions", "Bound sessions.", []string{"backend", "server"}},
	{"haraft_server_health", "Agreed health of a server: 0 unknown, 1 up, 2 down.", []string{"backend", "server"}},
	{"haraft_server_admin_state", "1 for the server's admin state.", []string{"backend", "server", "state"}},
	{"haraft_server_health_view", "A node's own health check result of a server: 0 unknown, 1 up, 2 down.", []string{"backend", "server", "node"}},
	{"haraft_server_requests_total", "Requests this node sent to a server.", []string{"backend", "server"}},
	{"haraft_server_failures_total", "Requests to a server that failed on this node.", []string{"backend", "server"}},
	{"haraft_server_queue_timeouts_total", "Requests that waited for a server slot in vain (maxconn).", []string{"backend", "server"}},
	{"haraft_server_connections_closed_total", "Connections to a server this node closed itself, by reason (drain_deadline: still open at the deadline of a drain).", []string{"backend", "server", "reason"}},
	{"haraft_server_active", "Requests in flight to a server from this node.", []string{"backend", "server"}},
	{"haraft_server_queued", "Requests waiting for a server slot on this node.", []string{"backend", "server"}},
	{"haraft_server_checks_total", "Health checks this node ran against a server, by result.", []string{"backend", "server", "result"}},
	{"haraft_server_response_seconds", "Response time of a server seen from this node: from taking a connection to the response head.", []string{"backend", "server"}},
	{"haraft_frontend_requests_total", "Requests a listener received.", []string{"frontend", "backend"}},
	{"haraft_frontend_errors_total", "Requests a listener answered with an error.", []string{"frontend", "backend"}},
	{"haraft_frontend_rejects_total", "Requests the HTTP/1.1 engine refused itself, by status and reason (malformed, framing, chunk, host, target, uri_too_long, fields_too_large, not_implemented, version, timeout, method, bad_gateway, no_server, server_unavailable, gateway_timeout).", []string{"frontend", "backend", "status", "reason"}},
	{"haraft_frontend_redispatches_total", "Requests redispatched to another server after a connection failure.", []string{"frontend", "backend"}},
	{"haraft_frontend_learned_total", "Session cookies a listener learned.", []string{"frontend", "backend"}},
	{"haraft_proxy_protocol_errors_total", "Connections closed for a missing, malformed, truncated or late PROXY protocol header (accept_proxy).", []string{"frontend", "reason"}},
	{"haraft_frontend_connections", "Client connections of a listener: state current (open now) and max (its maxconn, the global one when it has none).", []string{"frontend", "state"}},
	{"haraft_frontend_connections_total", "Client connections a listener accepted.", []string{"frontend"}},
	{"haraft_frontend_connections_peak", "The most client connections a listener had open at once since the start (HAProxy's smax).", []string{"frontend"}},
	{"haraft_frontend_responses_total", "Responses a listener sent, by status class (1xx..5xx, other), its own errors included.", []string{"frontend", "backend", "code"}},
	{"haraft_frontend_bytes_total", "Bytes a listener read from (in) and wrote to (out) its clients.", []string{"frontend", "direction"}},
	{"haraft_server_responses_total", "Responses a server sent to this node, by status class (1xx..5xx, other).", []string{"backend", "server", "code"}},
	{"haraft_server_check_duration_seconds", "Duration of this node's health checks of a server.", []string{"backend", "server"}},
	{"haraft_access_log_lines_total", "Access log lines by outcome: written, dropped (the writer's queue was full: never waited for), error (the write failed).", []string{"outcome"}},
	{"haraft_frontend_connection_duration_seconds", "Life of the connections of a mode tcp listener that reached a server: from accept to close.", []string{"frontend", "backend"}},
	{"haraft_connections", "Client connections of every listener: state current (open now) and max (global maxconn).", []string{"state"}},
	{"haraft_frontend_request_duration_seconds", "Time a listener took to answer a request: from its head read to the response sent.", []string{"frontend", "backend"}},
	{"haraft_proposals_total", "Learned bindings by outcome of their batched proposal.", []string{"outcome"}},
	{"haraft_proposal_batches_total", "Learn proposals (log entries) sent.", nil},
	{"haraft_session_catchups_total", "Unknown session cookies looked up again after catching up with the leader, by outcome (refused: the node could not catch up and answered 503).", []string{"outcome"}},
	{"haraft_eips", "1 for the desired holder of each EIP.", []string{"eip", "node"}},
	{"haraft_eip_moves_total", "EIP placement changes this node observed since it started.", nil},
	{"haraft_eip_controller_total", "What this node's EIP controller did while it led, by outcome: decision (placement committed), move (cloud association changed), drift_repair (an address moved outside haraft put back), error (a failed cloud call, retried), stale (a decision refused as stale).", []string{"outcome"}},
	{"haraft_eip_agent_total", "What this node's EIP agent did with its own addresses, by action: hold, release, fence (its lease ran out), extend (its lease ran out during an election and it kept its addresses), error (a failed local move, retried), report.", []string{"action"}},
	{"haraft_dns_changes_total", "Route 53 record changes this node made while it led (ChangeResourceRecordSets accepted).", nil},
	{"haraft_dns_conflicts_total", "Route 53 record changes refused because the record changed since it was read (a newer leader, or someone else): read again and retried.", nil},
	{"haraft_dns_errors_total", "Failed Route 53 calls of this node's record reconciler, by kind: throttled, auth, zone (no such zone, or the name is outside it), unavailable, other.", []string{"kind"}},
	{"haraft_dns_in_sync", "1 when Route 53's record equals the committed values as this node (the leader) last read it.", nil},
	{"haraft_config_reloads_total", "Config reloads (SIGHUP, haraftctl reload) by result: ok, refused.", []string{"result"}},
	{"haraft_config_last_reload_timestamp_seconds", "When the last config reload ran (0: none since the start).", nil},
	{"haraft_config_last_reload_success", "1 when the last config reload was applied (or none ran), 0 when it was refused.", nil},
	{"haraft_config_info", "1, labelled with the hash of the config the node runs.", []string{"hash"}},
	{"haraft_discovery_targets", "Targets in the last answer of a backend's server discovery (polled on the leader).", []string{"backend", "source"}},
	{"haraft_discovery_last_success_timestamp_seconds", "When a backend's server discovery last had a usable answer (0: never on this node).", []string{"backend", "source"}},
	{"haraft_discovery_polls_total", "Polls of a backend's server discovery source.", []string{"backend", "source"}},
	{"haraft_discovery_errors_total", "Failed discovery polls by kind: throttled, auth, timeout, empty (no target: nothing changed), other.", []string{"backend", "source", "kind"}},
	{"haraft_discovery_changes_total", "Servers discovery committed, by change: added, deregistered, restored, removed.", []string{"backend", "source", "change"}},
	{"haraft_events_total", "Cluster events this node observed since it started.", []string{"type"}},
}

func newCollector(d *Daemon) *collector {
	c := &collector{d: d, descs: map[string]*prometheus.Desc{}}
	for _, m := range metricDefs {
		c.descs[m.name] = prometheus.NewDesc(m.name, m.help, m.labels, prometheus.Labels{"node_id": d.cfg.Node.ID})
	}
	return c
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	d := c.d
	gauge := func(name string, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.GaugeValue, v, labels...)
	}
	counter := func(name string, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.CounterValue, float64(v), labels...)
	}
	histogram := func(name string, h proxy.LatencySnapshot, labels ...string) {
		ch <- prometheus.MustNewConstHistogram(c.descs[name], h.Count, h.Sum, h.Buckets, labels...)
	}
	r := d.node.Raft()
	state := r.State()
	for _, s := range []raft.RaftState{raft.Follower, raft.Candidate, raft.Leader, raft.Shutdown} {
		gauge("haraft_raft_state", b2f(s == state), s.String())
	}
	gauge("haraft_raft_leader", b2f(state == raft.Leader))
	gauge("haraft_raft_term", float64(r.CurrentTerm()))
	commit, applied := r.CommitIndex(), r.AppliedIndex()
	gauge("haraft_raft_commit_index", float64(commit))
	gauge("haraft_raft_applied_index", float64(applied))
	gauge("haraft_raft_apply_lag", float64(commit-min(applied, commit)))
	switch lc := r.LastContact(); {
	case state == raft.Leader:
		gauge("haraft_raft_last_contact_seconds", 0)
	case lc.IsZero():
		gauge("haraft_raft_last_contact_seconds", -1)
	default:
		gauge("haraft_raft_last_contact_seconds", time.Since(lc).Seconds())
	}
	if f := r.GetConfiguration(); f.Error() == nil {
		n := map[raft.ServerSuffrage]int{}
		for _, s := range f.Configuration().Servers {
			n[s.Suffrage]++
		}
		for _, s := range []raft.ServerSuffrage{raft.Voter, raft.Nonvoter, raft.Staging} {
			gauge("haraft_raft_members", float64(n[s]), s.String())
		}
	}
	gauge("haraft_ready", b2f(d.isServing()))
	rs := d.ReloadStatus()
	counter("haraft_config_reloads_total", rs.Reloads-rs.Failures, "ok")
	counter("haraft_config_reloads_total", rs.Failures, "refused")
	if rs.Last.IsZero() {
		gauge("haraft_config_last_reload_timestamp_seconds", 0)
	} else {
		gauge("haraft_config_last_reload_timestamp_seconds", float64(rs.Last.UnixNano())/1e9)
	}
	gauge("haraft_config_last_reload_success", b2f(rs.Last.IsZero() || rs.LastOK))
	gauge("haraft_config_info", 1, rs.ConfigHash)

	for k, n := range d.fsm.SessionsPerServer() {
		gauge("haraft_sessions", float64(n), k.Backend, k.Name)
	}
	table := d.fsm.Servers()
	live := d.live()
	for _, bc := range live.cfg.Backends {
		b := live.backends[bc.Name]
		for _, s := range b.ServersFor(table) { // configured and added at run time, not removed
			st := table.Get(bc.Name, s.Name)
			gauge("haraft_server_health", float64(st.Health), bc.Name, s.Name)
			for v, name := range fsmpb.AdminState_name {
				gauge("haraft_server_admin_state", b2f(st.Admin == fsmpb.AdminState(v)), bc.Name, s.Name, adminStateWord(name))
			}
			for node, view := range d.fsm.HealthViews(bc.Name, s.Name) {
				gauge("haraft_server_health_view", float64(view.Health), bc.Name, s.Name, node)
			}
			ss := s.Stats()
			counter("haraft_server_requests_total", ss.Requests, bc.Name, s.Name)
			counter("haraft_server_failures_total", ss.Failures, bc.Name, s.Name)
			counter("haraft_server_queue_timeouts_total", ss.Timeouts, bc.Name, s.Name)
			counter("haraft_server_connections_closed_total", ss.DrainClosed, bc.Name, s.Name, "drain_deadline")
			gauge("haraft_server_active", float64(ss.Active), bc.Name, s.Name)
			gauge("haraft_server_queued", float64(ss.Queued), bc.Name, s.Name)
			histogram("haraft_server_response_seconds", s.ResponseLatency(), bc.Name, s.Name)
			counter("haraft_server_checks_total", ss.ChecksOK, bc.Name, s.Name, "ok")
			counter("haraft_server_checks_total", ss.ChecksFailed, bc.Name, s.Name, "failed")
			histogram("haraft_server_check_duration_seconds", s.CheckLatency(), bc.Name, s.Name)
			for i, n := range s.Responses() {
				counter("haraft_server_responses_total", n, bc.Name, s.Name, proxy.StatusClasses[i])
			}
		}
	}
	for _, lf := range live.frontends {
		f, fc := lf.f, lf.fc
		st := f.Stats()
		counter("haraft_frontend_requests_total", st.Requests, fc.Name, fc.Backend)
		counter("haraft_frontend_errors_total", st.Errors, fc.Name, fc.Backend)
		for _, r := range f.Rejects() {
			counter("haraft_frontend_rejects_total", r.N, fc.Name, fc.Backend, strconv.Itoa(r.Status), r.Reason)
		}
		counter("haraft_frontend_redispatches_total", st.Redispatches, fc.Name, fc.Backend)
		counter("haraft_frontend_learned_total", st.Learned, fc.Name, fc.Backend)
		for i, n := range f.ProxyProtocolErrors() {
			counter("haraft_proxy_protocol_errors_total", n, fc.Name, proxy.ProxyProtocolReasons[i])
		}
		if _, ok := f.(*proxy.TCPFrontend); ok {
			// Requests are its connections routed; Latency their lives.
			histogram("haraft_frontend_connection_duration_seconds", f.Latency(), fc.Name, fc.Backend)
		} else {
			histogram("haraft_frontend_request_duration_seconds", f.Latency(), fc.Name, fc.Backend)
		}
		cs := f.Connections()
		gauge("haraft_frontend_connections", float64(cs.Current), fc.Name, "current")
		gauge("haraft_frontend_connections", float64(cs.Max), fc.Name, "max")
		counter("haraft_frontend_connections_total", cs.Total, fc.Name)
		gauge("haraft_frontend_connections_peak", float64(cs.Peak), fc.Name)
		tr := f.Traffic()
		for i, n := range tr.Responses {
			counter("haraft_frontend_responses_total", n, fc.Name, fc.Backend, proxy.StatusClasses[i])
		}
		counter("haraft_frontend_bytes_total", tr.BytesIn, fc.Name, "in")
		counter("haraft_frontend_bytes_total", tr.BytesOut, fc.Name, "out")
	}
	if d.conns != nil {
		gs := d.conns.Stats()
		gauge("haraft_connections", float64(gs.Current), "current")
		gauge("haraft_connections", float64(gs.Max), "max")
	}
	if as, ok := d.AccessLogStats(); ok {
		counter("haraft_access_log_lines_total", as.Lines, "written")
		counter("haraft_access_log_lines_total", as.Dropped, "dropped")
		counter("haraft_access_log_lines_total", as.Errors, "error")
	}
	ls := d.learner.Stats()
	for outcome, v := range map[string]uint64{"queued": ls.Queued, "dropped": ls.Dropped, "proposed": ls.Proposed,
		"committed": ls.Committed, "conflict": ls.Conflicts, "failed": ls.Failed} {
		counter("haraft_proposals_total", v, outcome)
	}
	counter("haraft_proposal_batches_total", ls.Batches)
	counter("haraft_session_catchups_total", ls.CatchUps-min(ls.CatchUpFailures, ls.CatchUps), "looked_up")
	counter("haraft_session_catchups_total", ls.CatchUpFailures, "refused")
	for _, e := range d.fsm.EIPs() {
		gauge("haraft_eips", 1, e.Id, e.Holder)
	}
	if ctrl, agent := d.EIP(); ctrl != nil {
		k := ctrl.Counters()
		for outcome, v := range map[string]uint64{"decision": k.Decisions.Load(), "move": k.Moves.Load(),
			"drift_repair": k.DriftRepairs.Load(), "error": k.MoveErrors.Load(), "stale": k.StaleTerm.Load()} {
			counter("haraft_eip_controller_total", v, outcome)
		}
		if agent != nil {
			a := agent.Counters()
			for action, v := range map[string]uint64{"hold": a.Holds.Load(), "release": a.Releases.Load(),
				"fence": a.Fences.Load(), "extend": a.Extensions.Load(), "error": a.Errors.Load(), "report": a.Reports.Load()} {
				counter("haraft_eip_agent_total", v, action)
			}
		}
	}
	d.collectDiscovery(gauge, counter)
	if d.dns != nil {
		k := d.dns.Counters()
		counter("haraft_dns_changes_total", k.Changes.Load())
		counter("haraft_dns_conflicts_total", k.Conflicts.Load())
		for kind, v := range k.ErrorsByKind() {
			counter("haraft_dns_errors_total", v, kind)
		}
		inSync := 0.0
		if st := d.dns.Status(); st.Read && st.InSync {
			inSync = 1
		}
		gauge("haraft_dns_in_sync", inSync)
	}
	if srv := d.Admin(); srv != nil {
		h := srv.Events()
		counter("haraft_eip_moves_total", h.Count(adminpb.EventType_EVENT_EIP_MOVED))
		for v, name := range adminpb.EventType_name {
			if v != 0 {
				counter("haraft_events_total", h.Count(adminpb.EventType(v)), eventWord(name))
			}
		}
	}
}

func adminStateWord(enum string) string { return lowerTrim(enum, "ADMIN_") }
func eventWord(enum string) string      { return lowerTrim(enum, "EVENT_") }

func lowerTrim(s, prefix string) string {
	if len(s) >= len(prefix) && s[:len(prefix)] == prefix {
		s = s[len(prefix):]
	}
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// metricsHandler serves /metrics: haraft's metrics plus the Go runtime's
// and the process's, from a registry of this daemon's own (several
// daemons share a process in tests).
func (d *Daemon) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(d), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slogPrinter{d}})
}

type slogPrinter struct{ d *Daemon }

func (p slogPrinter) Println(v ...any) { p.d.log.Warn("metrics", "err", v) }
