package daemon

import (
	"bytes"
	"context"
	_ "embed"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/haraft/haraft/proto/adminpb"
)

// The status page: one self-contained HTML page per node (no external
// assets; it reloads itself every few seconds), like HAProxy's stats page
// with Consul's members view: the nodes with their AZ and role, the leader,
// each backend's servers with their agreed health and every node's own
// view, sessions per server, the EIP holders and this node's recent events.

//go:embed statuspage.html
var statusPageHTML string

var statusPage = template.Must(template.New("status").Funcs(template.FuncMap{
	"health": func(h adminpb.Health) string { return lowerTrim(h.String(), "HEALTH_") },
	"admin":  func(a adminpb.AdminState) string { return lowerTrim(a.String(), "ADMIN_") },
	"event":  func(t adminpb.EventType) string { return strings.ReplaceAll(lowerTrim(t.String(), "EVENT_"), "_", " ") },
	"ms": func(v int64) string {
		switch {
		case v < 0:
			return "–"
		case v < 1000:
			return (time.Duration(v) * time.Millisecond).String()
		}
		return (time.Duration(v) * time.Millisecond).Round(100 * time.Millisecond).String()
	},
	"clock": func(v int64) string {
		if v == 0 {
			return "–"
		}
		return time.UnixMilli(v).UTC().Format("15:04:05.000")
	},
	"join": strings.Join,
	"list": func(v ...string) []string { return v },
	"rate": func(v float64) string {
		if v < 0 {
			return "–"
		}
		return strconv.FormatFloat(v, 'f', 1, 64)
	},
	"bytes": func(v uint64) string {
		switch {
		case v >= 1<<30:
			return strconv.FormatFloat(float64(v)/(1<<30), 'f', 1, 64) + " GiB"
		case v >= 1<<20:
			return strconv.FormatFloat(float64(v)/(1<<20), 'f', 1, 64) + " MiB"
		case v >= 1<<10:
			return strconv.FormatFloat(float64(v)/(1<<10), 'f', 1, 64) + " KiB"
		}
		return strconv.FormatUint(v, 10) + " B"
	},
}).Parse(statusPageHTML))

// statusData is what the page shows.
type statusData struct {
	Status   *adminpb.StatusResponse
	Members  []*adminpb.Member
	Backends []*adminpb.Backend
	EIPs     []*adminpb.EIP
	Events   []*adminpb.Event
	// This node's traffic (statustraffic.go).
	Frontends []frontendRow
	Servers   []serverRow
	// The members' traffic and the totals (statuscluster.go).
	Cluster ClusterTraffic
	Errors  []string
	Now     string
	Refresh int
	// Buttons: a write token is configured, so the page offers drain,
	// ready and maint per server (statusadmin.go).
	Buttons bool
}

// statusPageRefresh is how often the page reloads itself, in seconds.
const statusPageRefresh = 2

func (d *Daemon) statusData(ctx context.Context) statusData {
	data := statusData{Now: time.Now().UTC().Format(time.RFC3339), Refresh: statusPageRefresh}
	srv := d.Admin()
	if srv == nil {
		data.Errors = append(data.Errors, "starting: the admin server is not up yet")
		return data
	}
	note := func(what string, err error) {
		if err != nil {
			data.Errors = append(data.Errors, what+": "+err.Error())
		}
	}
	var err error
	writes, _ := d.opsWrites()
	data.Buttons = writes && srv.HasWriteToken()
	data.Status, err = srv.Status(ctx, &adminpb.StatusRequest{})
	note("status", err)
	if m, err := srv.Members(ctx, &adminpb.MembersRequest{}); err == nil {
		data.Members = m.Members
	} else {
		note("members", err)
	}
	if b, err := srv.ListBackends(ctx, &adminpb.ListBackendsRequest{}); err == nil {
		data.Backends = b.Backends
	} else {
		note("backends", err)
	}
	if e, err := srv.ListEIPs(ctx, &adminpb.ListEIPsRequest{}); err == nil {
		data.EIPs = e.Eips
	} else {
		note("eips", err)
	}
	data.Frontends, data.Servers = d.trafficRows()
	data.Cluster = d.clusterTrafficNow(ctx)
	data.Events = srv.Events().Recent(30)
	slices.Reverse(data.Events)
	return data
}

// statusPageHandler serves the page at /.
func (d *Daemon) statusPageHandler(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	if err := statusPage.Execute(&buf, d.statusData(r.Context())); err != nil {
		d.log.Error("status page", "err", err)
		http.Error(w, "status page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

// opsExtras adds the status page and /metrics to the ops listener.
func (d *Daemon) opsExtras(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", d.statusPageHandler)
	mux.Handle("GET /metrics", d.metricsHandler())
	mux.HandleFunc("POST /servers/{backend}/{server}/admin", d.opsSetServerAdmin) // statusadmin.go
}
