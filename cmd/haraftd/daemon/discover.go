package daemon

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/haraft/haraft/cmd/haraftd/config"
	"github.com/haraft/haraft/eipmover/discover"
	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
)

// DiscoveryStatus is one backend's server discovery in /status. Only the
// leader polls; a follower's loops show no polls (ask the leader's
// /status). A new leader starts from zero counters.
type DiscoveryStatus struct {
	discover.Status
	// Setup is why the loop could not start (no region, ...), "" when it
	// runs.
	Setup string `json:"setup_error,omitempty"`
}

// discoveryParts are the running discovery loops, replaced with the
// backends at each reload.
type discoveryParts struct {
	loops  []*discover.Loop
	failed []DiscoveryStatus
}

// buildDiscovery builds, for every backend with servers_from, one loop
// per source; the leader polls them (discover.Group among the leader
// loops, leaderloops.go). A reload builds them again for the new
// backends.
func (d *Daemon) buildDiscovery(ctx context.Context, cfg *config.Config) {
	parts := &discoveryParts{}
	for _, b := range cfg.DiscoveredBackends() {
		for _, src := range discoverySources(ctx, b) {
			if src.err != nil {
				d.log.Error("discovery: cannot start", "backend", b.Name, "err", src.err)
				parts.failed = append(parts.failed, DiscoveryStatus{Status: discover.Status{Backend: b.Name, Kind: src.kind}, Setup: src.err.Error()})
				continue
			}
			l, err := discover.NewLoop(d.discoveryOptions(b, src.src))
			if err != nil {
				d.log.Error("discovery: cannot start", "backend", b.Name, "err", err)
				continue
			}
			parts.loops = append(parts.loops, l)
		}
	}
	d.mu.Lock()
	d.discovery = parts
	d.mu.Unlock()
}

// discoveryLoops returns the running backends' discovery loops.
func (d *Daemon) discoveryLoops() []*discover.Loop {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.discovery == nil {
		return nil
	}
	return d.discovery.loops
}

type discoverySource struct {
	kind string
	src  discover.Source
	err  error
}

// discoverySources builds a backend's sources from its servers_from (the
// running node's and -check's).
func discoverySources(ctx context.Context, b config.Backend) []discoverySource {
	sf := b.ServersFrom
	var out []discoverySource
	if e := sf.EC2; e != nil {
		s, err := discover.NewEC2(ctx, discover.EC2Config{Tags: e.Tags, Port: e.Port, Region: e.Region, Endpoint: e.Endpoint})
		out = append(out, discoverySource{kind: "ec2", src: s, err: err})
	}
	if n := sf.DNS; n != nil {
		s, err := discover.NewDNS(discover.DNSConfig{Name: n.Name, Type: n.Type, Port: n.Port, Resolver: n.Resolver})
		out = append(out, discoverySource{kind: "dns", src: s, err: err})
	}
	return out
}

func (d *Daemon) discoveryOptions(b config.Backend, src discover.Source) discover.Options {
	sf := b.ServersFrom
	delay := sf.DeregistrationDelay.Duration
	if delay == 0 {
		delay = -time.Nanosecond // 0 in the file: remove at once
	}
	configured := make([]*fsmpb.ConfiguredServer, 0, len(b.Servers))
	for _, s := range b.Servers {
		configured = append(configured, &fsmpb.ConfiguredServer{Name: s.Name, Cookie: s.Cookie})
	}
	return discover.Options{
		Backend: b.Name, Source: src, Interval: sf.Interval.Duration, DeregistrationDelay: delay,
		MaxRemoveShare: sf.MaxRemoveShare, Weight: int32(sf.Weight),
		Configured: func() []*fsmpb.ConfiguredServer { return configured },
		Servers:    d.fsm.Servers,
		Commit: func(ctx context.Context, m *fsmpb.DiscoverServers) (*fsmpb.ApplyResult, error) {
			return d.node.ApplyAsLeader(ctx, fsm.DiscoverServersType, m)
		},
		Logger: d.log,
	}
}

// Discovery returns the status of every backend's discovery, by backend.
func (d *Daemon) Discovery() []DiscoveryStatus {
	d.mu.RLock()
	parts := d.discovery
	d.mu.RUnlock()
	if parts == nil {
		return nil
	}
	out := slices.Clone(parts.failed)
	for _, l := range parts.loops {
		out = append(out, DiscoveryStatus{Status: l.Status()})
	}
	slices.SortStableFunc(out, func(a, b DiscoveryStatus) int {
		return cmp.Or(cmp.Compare(a.Backend, b.Backend), cmp.Compare(a.Kind, b.Kind))
	})
	return out
}

// collectDiscovery adds the discovery metrics.
func (d *Daemon) collectDiscovery(gauge func(string, float64, ...string), counter func(string, uint64, ...string)) {
	for _, s := range d.Discovery() {
		kind := s.Kind
		gauge("haraft_discovery_targets", float64(len(s.Targets)), s.Backend, kind)
		gauge("haraft_discovery_last_success_timestamp_seconds", unixOrZero(s.LastSuccess), s.Backend, kind)
		counter("haraft_discovery_polls_total", s.Polls, s.Backend, kind)
		for errKind, n := range s.Errors {
			counter("haraft_discovery_errors_total", n, s.Backend, kind, errKind)
		}
		for change, n := range map[string]uint64{"added": s.Added, "deregistered": s.Deregistered, "restored": s.Restored, "removed": s.Removed} {
			counter("haraft_discovery_changes_total", n, s.Backend, kind, change)
		}
	}
}

func unixOrZero(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}
