package eipmover

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/haraft/haraft/cluster"
	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
)

// NodeInfo is what a node tells the leader about itself.
type NodeInfo struct {
	AZ                 string
	Standby            bool
	InstanceID         string // EC2 instance id (from config or IMDS)
	NetworkInterfaceID string // EC2 ENI, when addresses go to an interface
	// PrivateIPs are the private addresses (primary first) EIPs may go
	// to; EC2 allows one EIP per private address. Empty: the primary only.
	PrivateIPs []string
}

// AgentConfig configures an Agent.
type AgentConfig struct {
	Node     *cluster.Node
	Liveness *cluster.Liveness
	EIPs     []EIP
	Info     NodeInfo
	// Local, when set, is how this node serves an address itself (a
	// Linux VIP); nil when a cloud mover or nothing moves them.
	Local LocalMover
	// Lease: with Local set, the node drops every address it serves once
	// it has had no contact with a leader for this long (self-fencing).
	// Zero disables fencing.
	Lease time.Duration
	// CheckInterval is how often the lease and the placement are checked
	// (default Lease/10, at least 5 ms; 100 ms without a lease).
	CheckInterval time.Duration
	// ReconcileInterval is how often the interface itself is re-read to
	// repair drift (default 5s).
	ReconcileInterval time.Duration
	Logger            *slog.Logger
}

// AgentCounters are the agent's event counts, for the metrics endpoint.
type AgentCounters struct {
	Holds    atomic.Uint64 // addresses taken on
	Releases atomic.Uint64 // addresses dropped
	Fences   atomic.Uint64 // times the lease ran out
	// Extensions: times the lease ran out during an election and the
	// node kept its addresses (Liveness.HoldExtended).
	Extensions atomic.Uint64
	Errors     atomic.Uint64 // failed local moves (retried)
	Reports    atomic.Uint64 // status reports committed
}

// Agent is the node side of EIP placement: it reports this node's status
// into the replicated state and, for node-local addresses, serves exactly
// the addresses the committed placement gives this node — none while
// fenced.
type Agent struct {
	cfg      AgentConfig
	node     *cluster.Node
	lv       *cluster.Liveness
	log      *slog.Logger
	counters AgentCounters

	kick     chan struct{}
	reportCh chan struct{}
	recheck  atomic.Bool // re-read the interface before the next step

	mu      sync.Mutex
	proxyUp *bool
	held    map[string]bool
	fenced  bool
	status  *fsmpb.NodeStatus // latest status to report
	// extending: out of leader contact for the lease, holding on by
	// HoldExtended (used by the Run goroutine only).
	extending bool
}

// NewAgent checks cfg and returns an Agent; Run starts it.
func NewAgent(cfg AgentConfig) (*Agent, error) {
	if cfg.Node == nil || cfg.Liveness == nil {
		return nil, errors.New("eipmover: agent needs a Node and a Liveness")
	}
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = 100 * time.Millisecond
		if cfg.Lease > 0 {
			cfg.CheckInterval = max(cfg.Lease/10, 5*time.Millisecond)
		}
	}
	if cfg.ReconcileInterval <= 0 {
		cfg.ReconcileInterval = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	a := &Agent{cfg: cfg, node: cfg.Node, lv: cfg.Liveness, log: cfg.Logger,
		kick: make(chan struct{}, 1), reportCh: make(chan struct{}, 1), held: map[string]bool{}, fenced: true}
	a.status = a.buildStatusLocked()
	return a, nil
}

// Counters returns the live counters.
func (a *Agent) Counters() *AgentCounters { return &a.counters }

// Recheck tells the agent that this process did not run for about its
// lease (the VIP guard saw its heartbeat stop): the guard may have dropped
// the addresses, and what this node knows may be stale (a leader frozen
// meanwhile still believes it leads until Raft notices it was deposed). The
// agent fences itself as after a lost lease, re-reads the interface, and
// serves again only once it has caught up with the leader.
func (a *Agent) Recheck() {
	a.recheck.Store(true)
	signal(a.kick)
}

// Fenced reports whether the agent serves nothing because it has no
// current contact with a leader (or has not caught up yet).
func (a *Agent) Fenced() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.fenced
}

// Holding returns the ids of the addresses this node serves now.
func (a *Agent) Holding() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.holdingLocked()
}

func (a *Agent) holdingLocked() []string {
	var ids []string
	for id, h := range a.held {
		if h {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// SetProxyUp reports this node's own proxy health; a node whose proxy is
// down gives up its addresses (the leader moves them).
func (a *Agent) SetProxyUp(up bool) {
	a.mu.Lock()
	changed := a.proxyUp == nil || *a.proxyUp != up
	a.proxyUp = &up
	a.mu.Unlock()
	if changed {
		a.log.Info("eip agent: proxy health", "up", up)
		a.report()
	}
}

func (a *Agent) buildStatusLocked() *fsmpb.NodeStatus {
	i := a.cfg.Info
	s := &fsmpb.NodeStatus{NodeId: a.node.ID(), Az: i.AZ, InstanceId: i.InstanceID,
		NetworkInterfaceId: i.NetworkInterfaceID, PrivateIps: i.PrivateIPs, Holding: a.holdingLocked()}
	if i.Standby {
		s.Role = fsmpb.NodeRole_ROLE_STANDBY
	}
	switch {
	case a.proxyUp == nil:
	case *a.proxyUp:
		s.Proxy = fsmpb.ProxyHealth_PROXY_UP
	default:
		s.Proxy = fsmpb.ProxyHealth_PROXY_DOWN
	}
	return s
}

// report queues the current status for the reporter.
func (a *Agent) report() {
	a.mu.Lock()
	a.status = a.buildStatusLocked()
	a.mu.Unlock()
	signal(a.reportCh)
}

// Run reports the status and keeps the local addresses right until ctx
// ends; it then releases every address it serves.
func (a *Agent) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(2)
	go func() {
		defer wg.Done()
		a.reporter(ctx)
	}()
	go func() {
		defer wg.Done()
		watchApplied(ctx, a.node.FSM().State, func() { signal(a.kick) })
	}()
	signal(a.reportCh)
	if a.cfg.Local != nil {
		a.resync(ctx) // drop what a previous run left behind
	}
	tick := time.NewTicker(a.cfg.CheckInterval)
	defer tick.Stop()
	lastResync := time.Now()
	for {
		if a.cfg.Local != nil && a.recheck.Swap(false) {
			a.extending = false
			a.mu.Lock()
			was := a.fenced
			a.fenced = true
			a.mu.Unlock()
			if !was {
				a.counters.Fences.Add(1)
				a.log.Warn("eip agent: fencing: this process did not run for about its lease; catching up before serving again",
					"lease", a.cfg.Lease, "holding", a.Holding())
			}
			a.resync(ctx)
			lastResync = time.Now()
		}
		a.step(ctx)
		if a.cfg.Local != nil && time.Since(lastResync) >= a.cfg.ReconcileInterval {
			a.resync(ctx)
			lastResync = time.Now()
		}
		select {
		case <-ctx.Done():
			a.releaseAll()
			return nil
		case <-tick.C:
		case <-a.kick:
		}
	}
}

// step checks the lease and serves the wanted addresses.
func (a *Agent) step(ctx context.Context) {
	contact := a.lv.LeaderContact()
	window := a.cfg.Lease - a.cfg.CheckInterval
	lost := contact.IsZero() || a.cfg.Lease > 0 && time.Since(contact) > window
	a.mu.Lock()
	fenced := a.fenced
	a.mu.Unlock()
	extend, why := false, ""
	if lost && !fenced && a.cfg.Lease > 0 {
		extend, why = a.lv.HoldExtended(window)
	}
	switch {
	case extend:
		// No leader, but a majority in contact and none of them hears a
		// leader: an election is running. Keep serving; no other node can
		// be given the addresses meanwhile (cluster/contacts.go).
		if !a.extending {
			a.extending = true
			a.counters.Extensions.Add(1)
			a.log.Info("eip agent: no contact with a leader within the lease, but a majority in contact and no leader elsewhere: keeping the addresses",
				"last_contact_ago", time.Since(contact).Round(time.Millisecond), "lease", a.cfg.Lease)
		}
	case lost && !fenced:
		a.extending = false
		a.mu.Lock()
		a.fenced = true
		a.mu.Unlock()
		a.counters.Fences.Add(1)
		level := slog.LevelWarn
		if len(a.Holding()) == 0 {
			level = slog.LevelInfo // nothing to drop: not worth a warning
		}
		a.log.Log(ctx, level, "eip agent: fencing: no contact with a leader within the lease; dropping addresses",
			"last_contact_ago", time.Since(contact).Round(time.Millisecond), "lease", a.cfg.Lease, "holding", a.Holding(), "not_extended", why, "raft_state", a.node.Raft().State().String())
	case !lost && a.extending:
		a.extending = false
		a.log.Info("eip agent: in contact with a leader again", "leader_contact_ago", time.Since(contact).Round(time.Millisecond))
	case !lost && fenced:
		// Contact again: catch up with the log before trusting the
		// placement (a heartbeat may arrive before the entries missed).
		cctx, cancel := context.WithTimeout(ctx, max(a.cfg.Lease, time.Second))
		err := a.lv.CatchUp(cctx)
		cancel()
		if err != nil {
			a.log.Debug("eip agent: still fenced: cannot catch up", "err", err)
			break
		}
		a.mu.Lock()
		a.fenced = false
		a.mu.Unlock()
		a.lv.SetHoldable(true) // before any address is taken
		a.log.Info("eip agent: in contact with the leader and caught up")
	}
	defer a.noteHoldable()
	if a.cfg.Local == nil {
		return
	}
	want := a.wanted()
	for _, e := range a.cfg.EIPs {
		a.mu.Lock()
		have := a.held[e.ID]
		a.mu.Unlock()
		switch {
		case want[e.ID] && !have:
			a.hold(ctx, e)
		case !want[e.ID] && have:
			a.release(e)
		}
	}
}

// noteHoldable tells the liveness pings whether this node may hold
// addresses: not once it is fenced and holds none (set after the step
// dropped them, never before).
func (a *Agent) noteHoldable() {
	if a.cfg.Local == nil || a.cfg.Lease <= 0 {
		return
	}
	a.mu.Lock()
	holdable := !a.fenced
	for _, on := range a.held {
		holdable = holdable || on
	}
	a.mu.Unlock()
	a.lv.SetHoldable(holdable)
}

// wanted returns the addresses this node should serve now.
func (a *Agent) wanted() map[string]bool {
	want := map[string]bool{}
	if a.Fenced() {
		return want
	}
	self := a.node.ID()
	for _, r := range a.node.FSM().State.EIPs() {
		if r.Holder == self {
			want[r.Id] = true
		}
	}
	return want
}

func (a *Agent) hold(ctx context.Context, e EIP) {
	start := time.Now()
	if err := a.cfg.Local.Hold(ctx, e); err != nil {
		a.counters.Errors.Add(1)
		a.log.Error("eip agent: cannot take the address", "eip", e.ID, "address", e.Address, "err", err)
		return
	}
	a.mu.Lock()
	a.held[e.ID] = true
	a.mu.Unlock()
	a.counters.Holds.Add(1)
	a.log.Info("eip agent: serving address", "eip", e.ID, "address", e.Address, "took", time.Since(start).Round(time.Microsecond))
	a.report()
}

func (a *Agent) release(e EIP) {
	// Releasing must work even as ctx ends (shutdown, fencing).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.cfg.Local.Release(ctx, e); err != nil {
		a.counters.Errors.Add(1)
		a.log.Error("eip agent: cannot drop the address", "eip", e.ID, "address", e.Address, "err", err)
		return
	}
	a.mu.Lock()
	a.held[e.ID] = false
	a.mu.Unlock()
	a.counters.Releases.Add(1)
	a.log.Info("eip agent: dropped address", "eip", e.ID, "address", e.Address)
	a.report()
}

func (a *Agent) releaseAll() {
	for _, e := range a.cfg.EIPs {
		a.mu.Lock()
		have := a.held[e.ID]
		a.mu.Unlock()
		if have {
			a.release(e)
		}
	}
}

// resync re-reads the interface: an address served but not wanted (left
// by a previous run, or added by hand) is dropped, a wanted one that
// vanished is taken again at the next step.
func (a *Agent) resync(ctx context.Context) {
	want := a.wanted()
	for _, e := range a.cfg.EIPs {
		on, err := a.cfg.Local.Holding(ctx, e)
		if err != nil {
			a.counters.Errors.Add(1)
			a.log.Warn("eip agent: cannot read the interface", "eip", e.ID, "err", err)
			continue
		}
		a.mu.Lock()
		had := a.held[e.ID]
		a.held[e.ID] = on
		a.mu.Unlock()
		switch {
		case on && !want[e.ID]:
			a.log.Warn("eip agent: found an address this node must not serve", "eip", e.ID, "address", e.Address)
			a.release(e)
		case !on && had:
			a.log.Warn("eip agent: a served address vanished from the interface", "eip", e.ID, "address", e.Address)
			a.report()
		}
	}
}

// reporter commits the latest status, coalescing updates and retrying
// with backoff until it is committed.
func (a *Agent) reporter(ctx context.Context) {
	var (
		fails int
		retry <-chan time.Time
		last  *fsmpb.NodeStatus
	)
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.reportCh:
		case <-retry:
		}
		retry = nil
		a.mu.Lock()
		st := proto.Clone(a.status).(*fsmpb.NodeStatus)
		a.mu.Unlock()
		if last != nil && proto.Equal(st, last) {
			continue
		}
		st.ReportedUnixMs = time.Now().UnixMilli()
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		res, err := a.node.Apply(actx, fsm.ReportNodeStatusType, &fsmpb.ReportNodeStatus{Status: st})
		cancel()
		if err == nil && res.ErrorCode != "" {
			err = errors.New(res.ErrorCode + ": " + res.Error)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			fails++
			d := backoff(100*time.Millisecond, 2*time.Second, fails)
			a.log.Debug("eip agent: status report failed; retrying", "attempt", fails, "err", err)
			retry = time.After(d)
			continue
		}
		fails = 0
		st.ReportedUnixMs = 0
		last = st
		a.counters.Reports.Add(1)
	}
}
