package daemon

import (
	"sync"
	"time"
)

// The status page's traffic tables: this node's frontends and servers,
// with request and 5xx rates since the page was last rendered.

// frontendRow is one frontend on the status page.
type frontendRow struct {
	Name, Backend          string
	Current, Peak          int64
	Max                    int
	Requests               uint64
	ReqRate, ErrRate       float64 // per second since the last render; -1 unknown
	R2xx, R3xx, R4xx, R5xx uint64
	BytesIn, BytesOut      uint64
}

// serverRow is one server's traffic from this node on the status page.
type serverRow struct {
	Backend, Name  string
	Active, Queued int64
	R2xx, R5xx     uint64
	Failures       uint64
	CheckMs        float64 // mean health check duration; -1 none ran
}

// trafficRates keeps the last counts seen, for the rates.
type trafficRates struct {
	mu   sync.Mutex
	at   time.Time
	reqs map[string][2]uint64 // frontend -> requests, 5xx
}

func (d *Daemon) trafficRows() ([]frontendRow, []serverRow) {
	now := time.Now()
	r := &d.rates
	r.mu.Lock()
	defer r.mu.Unlock()
	dt := now.Sub(r.at).Seconds()
	prev := r.reqs
	r.reqs, r.at = map[string][2]uint64{}, now
	live := d.live()
	var fs []frontendRow
	for _, lf := range live.frontends {
		f, fc := lf.f, lf.fc
		st, tr, cs := f.Stats(), f.Traffic(), f.Connections()
		row := frontendRow{Name: fc.Name, Backend: fc.Backend, Current: cs.Current, Peak: cs.Peak, Max: cs.Max,
			Requests: st.Requests, ReqRate: -1, ErrRate: -1,
			R2xx: tr.Responses[1], R3xx: tr.Responses[2], R4xx: tr.Responses[3], R5xx: tr.Responses[4],
			BytesIn: tr.BytesIn, BytesOut: tr.BytesOut}
		if p, ok := prev[fc.Name]; ok && dt > 0 {
			row.ReqRate = float64(st.Requests-min(p[0], st.Requests)) / dt
			row.ErrRate = float64(tr.Responses[4]-min(p[1], tr.Responses[4])) / dt
		}
		r.reqs[fc.Name] = [2]uint64{st.Requests, tr.Responses[4]}
		fs = append(fs, row)
	}
	var ss []serverRow
	table := d.fsm.Servers()
	for _, bc := range live.cfg.Backends {
		for _, s := range live.backends[bc.Name].ServersFor(table) {
			st, resp, ck := s.Stats(), s.Responses(), s.CheckLatency()
			row := serverRow{Backend: bc.Name, Name: s.Name, Active: st.Active, Queued: st.Queued,
				R2xx: resp[1], R5xx: resp[4], Failures: st.Failures, CheckMs: -1}
			if ck.Count > 0 {
				row.CheckMs = ck.Sum / float64(ck.Count) * 1000
			}
			ss = append(ss, row)
		}
	}
	return fs, ss
}
