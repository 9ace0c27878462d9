package eipmover

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/haraft/haraft/cluster"
	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
)

// ControllerConfig configures a Controller.
type ControllerConfig struct {
	Node     *cluster.Node
	Liveness *cluster.Liveness
	EIPs     []EIP
	// Mover moves the addresses through a cloud API. Nil when the nodes
	// hold the addresses themselves (VIPs, see Policy.NodeLocal) or when
	// placement is only recorded (kind none).
	Mover  Mover
	Policy Policy
	// ReconcileInterval is how often the cloud is compared with the
	// committed placement to repair drift (default 5s).
	ReconcileInterval time.Duration
	// MinBackoff and MaxBackoff bound the retry delay after a failed
	// cloud call (default 50ms and 5s); it doubles per failure, jittered.
	MinBackoff, MaxBackoff time.Duration
	// ReportGrace is how long a new leader waits for every live member to
	// report its status before it places unassigned addresses (default
	// 3s), so a cluster starting up does not place everything on the
	// first node that reported.
	ReportGrace time.Duration
	Logger      *slog.Logger
}

// Counters are the controller's event counts, for the metrics endpoint.
type Counters struct {
	Decisions    atomic.Uint64 // placement decisions committed (AssignEIP)
	Moves        atomic.Uint64 // cloud associations changed
	DriftRepairs atomic.Uint64 // of which: repairs of an address moved outside haraft
	MoveErrors   atomic.Uint64 // failed cloud calls (each retried with backoff)
	StaleTerm    atomic.Uint64 // decisions refused as stale
}

// EIPStatus is the controller's view of one address, for status pages.
type EIPStatus struct {
	EIP
	Holder    string // committed holder
	Term      uint64
	Reason    string
	Waiting   string // why a wanted move is not committed yet
	Actual    string // cloud association last seen (cloud movers only)
	InSync    bool
	LastError string
}

// Controller commits the leader's placement decisions and, with a cloud
// Mover, makes the cloud follow them. It is a leader loop (package
// cluster/leader): the runner calls Run at each leadership of its node,
// and it still acts only once the liveness tracker leads in the same term.
type Controller struct {
	cfg      ControllerConfig
	node     *cluster.Node
	lv       *cluster.Liveness
	log      *slog.Logger
	counters Counters

	kick  chan struct{}
	kicks map[string]chan struct{} // per-address actuator kicks

	// leadTerm and leadSince: the term this controller last saw itself
	// lead in, and since when (evaluate's goroutine only).
	leadTerm  uint64
	leadSince time.Time

	mu     sync.Mutex
	status map[string]*EIPStatus
	synced map[string]string // address id -> decision key last seen in sync
}

// NewController checks cfg and returns a Controller; Run starts it.
func NewController(cfg ControllerConfig) (*Controller, error) {
	if cfg.Node == nil || cfg.Liveness == nil {
		return nil, errors.New("eipmover: controller needs a Node and a Liveness")
	}
	seen := map[string]bool{}
	for _, e := range cfg.EIPs {
		if e.ID == "" {
			return nil, errors.New("eipmover: an EIP without an id")
		}
		if seen[e.ID] {
			return nil, fmt.Errorf("eipmover: EIP %s configured twice", e.ID)
		}
		seen[e.ID] = true
	}
	if cfg.ReconcileInterval <= 0 {
		cfg.ReconcileInterval = 5 * time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 50 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(5*time.Second, cfg.MinBackoff)
	}
	if cfg.ReportGrace <= 0 {
		cfg.ReportGrace = 3 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Controller{
		cfg: cfg, node: cfg.Node, lv: cfg.Liveness, log: cfg.Logger,
		kick: make(chan struct{}, 1), kicks: map[string]chan struct{}{},
		status: map[string]*EIPStatus{}, synced: map[string]string{},
	}
	for _, e := range cfg.EIPs {
		c.kicks[e.ID] = make(chan struct{}, 1)
		c.status[e.ID] = &EIPStatus{EIP: e}
	}
	return c, nil
}

// Counters returns the live counters.
func (c *Controller) Counters() *Counters { return &c.counters }

// Status returns the controller's view of every address, sorted by id.
func (c *Controller) Status() []EIPStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]EIPStatus, 0, len(c.status))
	for _, s := range c.status {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b EIPStatus) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Name names the loop: "eip".
func (c *Controller) Name() string { return "eip" }

// Run evaluates the placement whenever the replicated state or the
// liveness view changes (and every ReconcileInterval), until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Add(1)
	go func() {
		defer wg.Done()
		watchApplied(ctx, c.node.FSM().State, func() { signal(c.kick) })
	}()
	if c.cfg.Mover != nil {
		for _, e := range c.cfg.EIPs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.actuate(ctx, e)
			}()
		}
	}
	tick := time.NewTicker(c.cfg.ReconcileInterval)
	defer tick.Stop()
	var retry <-chan time.Time
	for {
		changed := c.lv.Changed()
		retry = nil
		if err := c.evaluate(ctx); err != nil && ctx.Err() == nil {
			if !errors.Is(err, errWaitReports) {
				c.log.Warn("eip: placement not committed; retrying", "err", err)
			}
			retry = time.After(c.cfg.MinBackoff)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-c.kick:
		case <-tick.C:
		case <-retry:
		}
	}
}

// leaderTerm returns the term this node leads in, or false.
func (c *Controller) leaderTerm() (uint64, bool) { return leaderTerm(c.node, c.lv) }

// leaderTerm returns the term node leads in, or false: the liveness
// tracker's leadership (which a decision is stamped with), Raft's and
// Raft's current term must agree, so a decision is never stamped with a
// term this node no longer leads.
func leaderTerm(node *cluster.Node, lv *cluster.Liveness) (uint64, bool) {
	leading, term := lv.Leading()
	if !leading || !node.IsLeader() || node.Raft().CurrentTerm() != term {
		return 0, false
	}
	return term, true
}

// evaluate places every address and commits the decisions that change
// something, stamped with this leader's term.
func (c *Controller) evaluate(ctx context.Context) error {
	term, ok := c.leaderTerm()
	if !ok {
		return nil
	}
	if term != c.leadTerm {
		// A new leadership: check every address against the cloud now,
		// since a deposed leader may have committed a move it never made.
		c.leadTerm, c.leadSince = term, time.Now()
		for _, e := range c.cfg.EIPs {
			c.kickActuator(e.ID)
		}
	}
	cands := c.candidates()
	unreported := c.unreported(cands)
	inGrace := len(unreported) > 0 && time.Since(c.leadSince) < c.cfg.ReportGrace
	st := c.node.FSM().State
	recs := map[string]*fsmpb.EIP{}
	current := map[string]Current{}
	for _, r := range st.EIPs() {
		recs[r.Id] = r
		current[r.Id] = Current{Holder: r.Holder, Pinned: r.Pinned}
	}
	var errs []error
	for _, d := range Place(c.cfg.EIPs, current, cands, c.cfg.Policy) {
		rec := recs[d.EIP.ID]
		if inGrace && d.From == "" && d.Holder != "" {
			d.Holder, d.Commit = "", false
			d.Waiting = fmt.Sprintf("waiting up to %v for %v to report", c.cfg.ReportGrace, unreported)
			errs = append(errs, errWaitReports)
		}
		c.setStatus(d.EIP.ID, func(s *EIPStatus) {
			if s.Waiting != d.Waiting && d.Waiting != "" {
				c.log.Info("eip: move waits", "eip", d.EIP.ID, "holder", d.From, "waiting", d.Waiting)
			}
			s.Waiting = d.Waiting
		})
		changedFields := rec == nil || rec.Address != d.EIP.Address || rec.HomeAz != d.EIP.HomeAZ
		if !d.Commit && !changedFields {
			continue
		}
		next := &fsmpb.EIP{Id: d.EIP.ID, Address: d.EIP.Address, HomeAz: d.EIP.HomeAZ, Holder: d.Holder, Term: term, Reason: d.Reason}
		switch {
		case rec != nil && !d.Commit:
			next.MovedUnixMs, next.Pinned, next.Reason = rec.MovedUnixMs, rec.Pinned, "configuration changed"
		case rec == nil && !d.Commit:
			next.Reason = "configured; not placed yet"
			if d.Waiting != "" {
				next.Reason += ": " + d.Waiting
			}
		default:
			next.MovedUnixMs = time.Now().UnixMilli()
		}
		res, err := c.node.ApplyAsLeader(ctx, fsm.AssignEIPType, &fsmpb.AssignEIP{Eip: next})
		if err != nil {
			errs = append(errs, fmt.Errorf("assign %s to %q: %w", d.EIP.ID, d.Holder, err))
			continue
		}
		if res.ErrorCode == "stale_term" {
			c.counters.StaleTerm.Add(1)
			c.log.Warn("eip: decision refused as stale; a newer leader decides", "eip", d.EIP.ID, "term", term, "err", res.Error)
			return nil
		}
		if res.ErrorCode != "" {
			errs = append(errs, fmt.Errorf("assign %s: %s: %s", d.EIP.ID, res.ErrorCode, res.Error))
			continue
		}
		if d.Commit {
			c.counters.Decisions.Add(1)
			c.log.Info("eip: placement committed", "eip", d.EIP.ID, "address", d.EIP.Address,
				"from", d.From, "to", d.Holder, "term", term, "reason", d.Reason)
		}
		c.kickActuator(d.EIP.ID)
	}
	return errors.Join(errs...)
}

// errWaitReports makes Run evaluate again soon while nodes have not
// reported yet.
var errWaitReports = errors.New("waiting for nodes to report their status")

// unreported lists the live Raft members that have not reported a status
// or that this leader has not heard from yet.
func (c *Controller) unreported(cands []Candidate) []string {
	f := c.node.Raft().GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	var out []string
	for _, s := range f.Configuration().Servers {
		id := string(s.ID)
		if c.lv.Alive(id) && (!c.lv.Confirmed(id) || !slices.ContainsFunc(cands, func(c Candidate) bool { return c.ID == id })) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// candidates builds placement's view of the nodes: every node that
// reported a status, with the leader's liveness view.
func (c *Controller) candidates() []Candidate {
	st := c.node.FSM().State
	azs := map[string]string{}
	for _, n := range st.Nodes() {
		azs[n.Id] = n.Az
	}
	var out []Candidate
	for _, s := range st.NodeStatuses() {
		az := s.Az
		if az == "" {
			az = azs[s.NodeId]
		}
		cand := Candidate{
			ID: s.NodeId, AZ: az, Standby: s.Role == fsmpb.NodeRole_ROLE_STANDBY,
			Alive:       c.lv.Alive(s.NodeId),
			Unconfirmed: !c.lv.Confirmed(s.NodeId),
			ProxyUp:     s.Proxy != fsmpb.ProxyHealth_PROXY_DOWN,
			Reachable:   c.cfg.Mover == nil || s.InstanceId != "" || s.NetworkInterfaceId != "",
			Holding:     s.Holding,
		}
		if c.cfg.Mover != nil {
			cand.Capacity = max(1, len(s.PrivateIps)) // one EIP per private address
		}
		out = append(out, cand)
	}
	return out
}

func (c *Controller) kickActuator(id string) {
	if ch, ok := c.kicks[id]; ok {
		signal(ch)
	}
}

// actuate keeps one address's cloud association equal to the committed
// placement: at every decision, every ReconcileInterval, and after a
// failure with jittered exponential backoff.
func (c *Controller) actuate(ctx context.Context, e EIP) {
	tick := time.NewTicker(c.cfg.ReconcileInterval)
	defer tick.Stop()
	var (
		fails int
		retry <-chan time.Time
	)
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.kicks[e.ID]:
		case <-tick.C:
		case <-retry:
		}
		retry = nil
		err := c.sync(ctx, e)
		c.setStatus(e.ID, func(s *EIPStatus) {
			s.LastError = ""
			if err != nil {
				s.LastError = err.Error()
			}
		})
		if err == nil || ctx.Err() != nil {
			fails = 0
			continue
		}
		fails++
		delay := backoff(c.cfg.MinBackoff, c.cfg.MaxBackoff, fails)
		if errors.Is(err, ErrNotLeader) {
			c.log.Info("eip: not acting, leadership lost", "eip", e.ID, "err", err)
		} else {
			c.counters.MoveErrors.Add(1)
			c.log.Warn("eip: reconcile failed; retrying", "eip", e.ID, "attempt", fails, "retry_in", delay.Round(time.Millisecond), "err", err)
		}
		retry = time.After(delay)
	}
}

// sync compares the committed holder of e with the cloud and, when they
// differ, moves the address — only after VerifyLeader, in this term, and
// from the association just seen.
func (c *Controller) sync(ctx context.Context, e EIP) error {
	term, ok := c.leaderTerm()
	if !ok {
		return nil
	}
	var rec *fsmpb.EIP
	for _, r := range c.node.FSM().State.EIPs() {
		if r.Id == e.ID {
			rec = r
		}
	}
	c.setStatus(e.ID, func(s *EIPStatus) {
		if rec != nil {
			s.Holder, s.Term, s.Reason = rec.Holder, rec.Term, rec.Reason
		}
	})
	if rec == nil || rec.Holder == "" {
		return nil
	}
	target, err := c.target(rec.Holder, e.ID)
	if err != nil {
		return fmt.Errorf("sync %s: %w", e.ID, err)
	}
	actual, err := c.cfg.Mover.Describe(ctx, e)
	if err != nil {
		return err
	}
	key := fmt.Sprintf("%s@%d", rec.Holder, rec.MovedUnixMs)
	inSync := actual.Is(target)
	c.setStatus(e.ID, func(s *EIPStatus) { s.Actual, s.InSync = actual.String(), inSync })
	c.mu.Lock()
	drift := c.synced[e.ID] == key
	if inSync {
		c.synced[e.ID] = key
	}
	c.mu.Unlock()
	if inSync {
		return nil
	}
	if err := c.node.Raft().VerifyLeader().Error(); err != nil {
		return fmt.Errorf("sync %s: verify leader: %w (%v)", e.ID, ErrNotLeader, err)
	}
	if now := c.node.Raft().CurrentTerm(); now != term {
		return fmt.Errorf("sync %s: term %d is over (now %d): %w", e.ID, term, now, ErrNotLeader)
	}
	start := time.Now()
	if err := c.cfg.Mover.Assign(ctx, e, target, actual); err != nil {
		return err
	}
	c.counters.Moves.Add(1)
	reason := rec.Reason
	if drift {
		c.counters.DriftRepairs.Add(1)
		reason = "drift repair: the address was moved outside haraft"
	}
	c.mu.Lock()
	c.synced[e.ID] = key
	c.mu.Unlock()
	c.setStatus(e.ID, func(s *EIPStatus) { s.Actual, s.InSync = target.String(), true })
	c.log.Info("eip: moved", "eip", e.ID, "address", e.Address, "from", c.nodeOf(actual), "from_association", actual.String(),
		"to", rec.Holder, "target", target.String(), "term", term, "reason", reason, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// target returns how the mover names node id for address eipID, from the
// node's reported status. A node with several private addresses gives the
// i-th of the addresses committed to it (in id order) its i-th private
// address, since EC2 allows one EIP per private address.
func (c *Controller) target(id, eipID string) (Target, error) {
	st := c.node.FSM().State
	for _, s := range st.NodeStatuses() {
		if s.NodeId != id {
			continue
		}
		t := Target{NodeID: id, InstanceID: s.InstanceId, NetworkInterfaceID: s.NetworkInterfaceId}
		if t.InstanceID == "" && t.NetworkInterfaceID == "" {
			return t, fmt.Errorf("node %s: %w", id, ErrNoTarget)
		}
		if len(s.PrivateIps) > 0 {
			var mine []string
			for _, r := range st.EIPs() {
				if r.Holder == id {
					mine = append(mine, r.Id)
				}
			}
			slices.Sort(mine)
			if i := slices.Index(mine, eipID); i >= 0 && i < len(s.PrivateIps) {
				t.PrivateIP = s.PrivateIps[i]
			}
		}
		return t, nil
	}
	return Target{}, fmt.Errorf("node %s has reported no status: %w", id, ErrNoTarget)
}

// nodeOf names the node an association points at, for logs.
func (c *Controller) nodeOf(a Association) string {
	if !a.Associated() {
		return ""
	}
	for _, s := range c.node.FSM().State.NodeStatuses() {
		t := Target{InstanceID: s.InstanceId, NetworkInterfaceID: s.NetworkInterfaceId}
		if (t.InstanceID != "" || t.NetworkInterfaceID != "") && a.Is(t) {
			return s.NodeId
		}
	}
	return "(not a haraft node)"
}

func (c *Controller) setStatus(id string, fn func(*EIPStatus)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.status[id]; ok {
		fn(s)
	}
}

func (t Target) String() string {
	switch {
	case t.NetworkInterfaceID != "" && t.PrivateIP != "":
		return t.NetworkInterfaceID + "/" + t.PrivateIP
	case t.NetworkInterfaceID != "":
		return t.NetworkInterfaceID
	}
	return t.InstanceID
}

// backoff is the delay before retry n (1-based): min·2^(n-1), capped at
// max, with ±25% jitter.
func backoff(lo, hi time.Duration, n int) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d - d/4 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// signal makes a non-blocking send on a kick channel of capacity 1.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// watchApplied calls fn after every newly applied log entry (coalesced:
// fn is cheap and kicks a loop) until ctx ends.
func watchApplied(ctx context.Context, st *fsm.State, fn func()) {
	for {
		idx := st.AppliedIndex()
		if err := st.WaitApplied(ctx, idx+1); err != nil {
			return
		}
		fn()
	}
}
