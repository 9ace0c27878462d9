package daemon

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/haraft/haraft/proto/clusterpb"
)

// The cluster's traffic on every node's status page and /status: each
// member's counters, asked over the cluster port's internal service
// (cluster/traffic.go: mutual TLS, members only), never over the ops port,
// which authenticates nobody. The answers are kept clusterTrafficTTL, so
// pages refreshed by many browsers do not make one round of calls each;
// every member is asked in parallel with clusterTrafficTimeout. A member
// that does not answer is listed as unreachable, and the totals say they
// are partial: it never counts as zero.

const (
	clusterTrafficTTL     = time.Second
	clusterTrafficTimeout = 700 * time.Millisecond
)

// TrafficTotals are counters summed over frontends (and nodes). The rates
// are per second since the previous fetch, -1 when unknown (first fetch,
// or a node that was not reached last time).
type TrafficTotals struct {
	Requests    uint64  `json:"requests"`
	Errors5xx   uint64  `json:"responses_5xx"`
	ReqRate     float64 `json:"requests_per_s"`
	ErrRate     float64 `json:"responses_5xx_per_s"`
	Connections int64   `json:"current_connections"`
	BytesIn     uint64  `json:"bytes_in"`
	BytesOut    uint64  `json:"bytes_out"`
}

// NodeTraffic is one member's totals.
type NodeTraffic struct {
	Node string `json:"node"`
	TrafficTotals
}

// FrontendTraffic is one frontend's totals over the reached members.
type FrontendTraffic struct {
	Frontend string `json:"frontend"`
	TrafficTotals
}

// UnreachableNode is a member whose counters did not arrive.
type UnreachableNode struct {
	Node  string `json:"node"`
	Addr  string `json:"addr"`
	Error string `json:"error"`
}

// ClusterTraffic is the cluster's traffic as one node saw it.
type ClusterTraffic struct {
	// Complete: every member answered; otherwise the totals cover only
	// Nodes, and Unreachable names the others.
	Complete    bool              `json:"complete"`
	Total       TrafficTotals     `json:"total"`
	Frontends   []FrontendTraffic `json:"frontends"`
	Nodes       []NodeTraffic     `json:"nodes"`
	Unreachable []UnreachableNode `json:"unreachable,omitempty"`
	FetchedAt   string            `json:"fetched_at"`
}

// clusterTraffic caches the last fetch and keeps each node's previous
// counters, for the rates.
type clusterTraffic struct {
	mu    sync.Mutex // held through a fetch: concurrent pages share it
	at    time.Time
	last  ClusterTraffic
	prev  map[string]trafficSample // node -> its previous answer
	fetch int                      // fetches made (tests)
}

type trafficSample struct {
	at     time.Time
	fronts map[string]*clusterpb.FrontendTraffic
}

// localTraffic is this node's counters, as it answers a peer's Traffic
// call.
func (d *Daemon) localTraffic() []*clusterpb.FrontendTraffic {
	var out []*clusterpb.FrontendTraffic
	for _, lf := range d.live().frontends {
		st, tr, cs := lf.f.Stats(), lf.f.Traffic(), lf.f.Connections()
		out = append(out, &clusterpb.FrontendTraffic{Name: lf.fc.Name, Requests: st.Requests, Responses_5Xx: tr.Responses[4],
			CurrentConnections: cs.Current, BytesIn: tr.BytesIn, BytesOut: tr.BytesOut})
	}
	return out
}

// clusterTrafficNow returns the cluster's traffic, fetched at most once
// per clusterTrafficTTL.
func (d *Daemon) clusterTrafficNow(ctx context.Context) ClusterTraffic {
	c := &d.clusterTraffic
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < clusterTrafficTTL {
		return c.last
	}
	type answer struct {
		id, addr string
		fronts   []*clusterpb.FrontendTraffic
		err      error
		at       time.Time
	}
	members := d.node.Members()
	answers := make([]answer, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		answers[i] = answer{id: m.ID, addr: m.Addr}
		if m.ID == d.cfg.Node.ID {
			answers[i].fronts, answers[i].at = d.localTraffic(), time.Now()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, clusterTrafficTimeout)
			defer cancel()
			resp, err := d.node.PeerTraffic(cctx, m.ID, m.Addr)
			answers[i].at, answers[i].err = time.Now(), err
			if err == nil {
				answers[i].fronts = resp.Frontends
			}
		}()
	}
	wg.Wait()
	c.fetch++

	now := time.Now()
	out := ClusterTraffic{Complete: len(members) > 0, FetchedAt: now.UTC().Format(time.RFC3339)}
	prev := c.prev
	c.prev = map[string]trafficSample{}
	fronts := map[string]*FrontendTraffic{}
	totalRates := true
	for _, a := range answers {
		if a.err != nil {
			out.Complete = false
			out.Unreachable = append(out.Unreachable, UnreachableNode{Node: a.id, Addr: a.addr, Error: a.err.Error()})
			continue
		}
		p, hadPrev := prev[a.id]
		sample := trafficSample{at: a.at, fronts: map[string]*clusterpb.FrontendTraffic{}}
		nt := NodeTraffic{Node: a.id}
		nodeRates := hadPrev && a.at.After(p.at)
		for _, f := range a.fronts {
			sample.fronts[f.Name] = f
			t := totalsOf(f)
			if pf, ok := p.fronts[f.Name]; nodeRates && ok {
				dt := a.at.Sub(p.at).Seconds()
				t.ReqRate = float64(f.Requests-min(pf.Requests, f.Requests)) / dt
				t.ErrRate = float64(f.Responses_5Xx-min(pf.Responses_5Xx, f.Responses_5Xx)) / dt
			} else if nodeRates {
				t.ReqRate, t.ErrRate = 0, 0 // a frontend new since the last fetch: counted from zero
				if dt := a.at.Sub(p.at).Seconds(); dt > 0 {
					t.ReqRate, t.ErrRate = float64(f.Requests)/dt, float64(f.Responses_5Xx)/dt
				}
			}
			nt.add(t)
			ft := fronts[f.Name]
			if ft == nil {
				ft = &FrontendTraffic{Frontend: f.Name}
				fronts[f.Name] = ft
			}
			ft.add(t)
		}
		if !nodeRates {
			nt.ReqRate, nt.ErrRate = -1, -1
			totalRates = false
		}
		c.prev[a.id] = sample
		out.Nodes = append(out.Nodes, nt)
		out.Total.add(nt.TrafficTotals)
	}
	if !totalRates {
		out.Total.ReqRate, out.Total.ErrRate = -1, -1
		for _, f := range fronts {
			f.ReqRate, f.ErrRate = -1, -1
		}
	}
	for _, f := range fronts {
		out.Frontends = append(out.Frontends, *f)
	}
	sort.Slice(out.Frontends, func(i, j int) bool { return out.Frontends[i].Frontend < out.Frontends[j].Frontend })
	sort.Slice(out.Nodes, func(i, j int) bool { return out.Nodes[i].Node < out.Nodes[j].Node })
	sort.Slice(out.Unreachable, func(i, j int) bool { return out.Unreachable[i].Node < out.Unreachable[j].Node })
	c.at, c.last = now, out
	return out
}

func totalsOf(f *clusterpb.FrontendTraffic) TrafficTotals {
	return TrafficTotals{Requests: f.Requests, Errors5xx: f.Responses_5Xx, Connections: f.CurrentConnections, BytesIn: f.BytesIn, BytesOut: f.BytesOut}
}

// add sums o into t; a rate unknown on either side stays unknown.
func (t *TrafficTotals) add(o TrafficTotals) {
	t.Requests += o.Requests
	t.Errors5xx += o.Errors5xx
	t.Connections += o.Connections
	t.BytesIn += o.BytesIn
	t.BytesOut += o.BytesOut
	if t.ReqRate < 0 || o.ReqRate < 0 {
		t.ReqRate, t.ErrRate = -1, -1
		return
	}
	t.ReqRate += o.ReqRate
	t.ErrRate += o.ErrRate
}

// clusterTrafficFetches is how many rounds of calls were made (tests).
func (d *Daemon) clusterTrafficFetches() int {
	d.clusterTraffic.mu.Lock()
	defer d.clusterTraffic.mu.Unlock()
	return d.clusterTraffic.fetch
}
