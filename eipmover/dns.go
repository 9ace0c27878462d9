package eipmover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/haraft/haraft/cluster"
	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
)

// DNSConfig configures a DNSController.
type DNSConfig struct {
	Node     *cluster.Node
	Liveness *cluster.Liveness
	// Writer reads and writes the record.
	Writer *Route53
	// ZoneID names the hosted zone in the committed record's id.
	ZoneID string
	// TTL of the record (default 60).
	TTL int64
	// EIPs are the addresses the record may carry.
	EIPs []EIP
	// ReconcileInterval is how often the record is compared with the
	// committed decision (default 5s).
	ReconcileInterval time.Duration
	// MinBackoff and MaxBackoff bound the retry delay after a failed
	// call (default 50ms and 5s).
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
}

// DNSCounters are the reconciler's event counts, for the metrics endpoint.
type DNSCounters struct {
	Decisions atomic.Uint64 // record decisions committed (set_dns_record)
	Changes   atomic.Uint64 // ChangeResourceRecordSets calls that succeeded
	Conflicts atomic.Uint64 // changes refused because the record changed underneath
	Errors    atomic.Uint64 // other failed Route 53 calls (by kind: ErrorsByKind)
	StaleTerm atomic.Uint64 // decisions refused as stale

	byKind [len(route53ErrorKinds)]atomic.Uint64
}

// ErrorsByKind returns the failed calls counted in Errors by
// Route53ErrorKind, every kind present.
func (c *DNSCounters) ErrorsByKind() map[string]uint64 {
	out := make(map[string]uint64, len(route53ErrorKinds))
	for i, k := range route53ErrorKinds {
		out[k] = c.byKind[i].Load()
	}
	return out
}

func (c *DNSCounters) addError(kind string) {
	c.Errors.Add(1)
	if i := slices.Index(route53ErrorKinds[:], kind); i >= 0 {
		c.byKind[i].Add(1)
	}
}

// DNSStatus is the reconciler's view of the record, for status pages and
// `haraftctl dns`.
type DNSStatus struct {
	Name      string
	Desired   Record // committed decision
	Actual    Record // as last read from Route 53
	Read      bool   // Actual has been read at least once by this leader
	InSync    bool
	Term      uint64
	Reason    string
	Waiting   string // why the wanted value set is not committed
	LastError string
	ErrorKind string // Route53ErrorKind of LastError
	// ZoneError says why the hosted zone cannot hold the record (it does
	// not exist, or the name is outside it): nothing is written until the
	// configuration is fixed.
	ZoneError string
	// LastChange is the id of the last change this leader made, and
	// LastChangeStatus its status (PENDING, then INSYNC).
	LastChange       string
	LastChangeStatus string
	// Steps counts the reconcile passes finished (Withdraw waits on it).
	Steps uint64
}

// DNSController keeps one Route 53 A record equal to the addresses that
// have a live, ready holder. The leader commits the value set through
// Raft, stamped with its term, then — after VerifyLeader — makes Route 53
// follow with a fenced replace (see Route53.Replace). It is a leader loop
// (package cluster/leader): register it in the daemon's leaderLoops, and
// the runner calls Run at each leadership of its node.
type DNSController struct {
	cfg      DNSConfig
	id       string
	node     *cluster.Node
	lv       *cluster.Liveness
	log      *slog.Logger
	counters DNSCounters
	kick     chan struct{}

	// zoneTerm: the term in which the zone was last found to hold the
	// record; pending: the last change not yet seen INSYNC (Run's
	// goroutine only).
	zoneTerm uint64
	pending  string

	mu      sync.Mutex
	status  DNSStatus
	leaving map[string]int // nodes whose addresses are being withdrawn (Withdraw)
	stepped chan struct{}  // closed and replaced after every pass
}

// NewDNSController checks cfg and returns a controller; Run starts it.
func NewDNSController(cfg DNSConfig) (*DNSController, error) {
	if cfg.Node == nil || cfg.Liveness == nil || cfg.Writer == nil {
		return nil, errors.New("eipmover: dns controller needs a Node, a Liveness and a Writer")
	}
	if len(cfg.EIPs) == 0 {
		return nil, errors.New("eipmover: dns controller has no addresses to publish")
	}
	var addrs []string
	for _, e := range cfg.EIPs {
		addrs = append(addrs, e.Address)
	}
	if err := ValidRecordValues(addrs); err != nil {
		return nil, fmt.Errorf("eipmover: dns record: %w", err)
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 60
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
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &DNSController{
		cfg: cfg, id: cfg.ZoneID + "/" + cfg.Writer.Name(), node: cfg.Node, lv: cfg.Liveness,
		log: cfg.Logger, kick: make(chan struct{}, 1), leaving: map[string]int{}, stepped: make(chan struct{}),
	}
	c.status.Name = cfg.Writer.Name()
	return c, nil
}

// Counters returns the live counters.
func (c *DNSController) Counters() *DNSCounters { return &c.counters }

// ID is the id of the record's decision in the replicated state
// (fsm State.DNSRecords).
func (c *DNSController) ID() string { return c.id }

// Status returns the reconciler's view of the record.
func (c *DNSController) Status() DNSStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.status
	s.Desired.Values = slices.Clone(s.Desired.Values)
	s.Actual.Values = slices.Clone(s.Actual.Values)
	return s
}

func (c *DNSController) setStatus(fn func(*DNSStatus)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fn(&c.status)
}

// Name names the loop: "dns".
func (c *DNSController) Name() string { return "dns" }

// Run decides and reconciles whenever the replicated state or the
// liveness view changes, every ReconcileInterval, and after a failure with
// backoff, until ctx ends.
func (c *DNSController) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		watchApplied(ctx, c.node.FSM().State, func() { signal(c.kick) })
	}()
	tick := time.NewTicker(c.cfg.ReconcileInterval)
	defer tick.Stop()
	fails := 0
	for {
		changed := c.lv.Changed()
		var retry <-chan time.Time
		err := c.step(ctx)
		kind := ""
		if err != nil && !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrRecordConflict) {
			kind = Route53ErrorKind(err)
		}
		c.mu.Lock()
		c.status.LastError, c.status.ErrorKind = "", kind
		if err != nil {
			c.status.LastError = err.Error()
		}
		c.status.Steps++
		close(c.stepped)
		c.stepped = make(chan struct{})
		c.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			fails++
			delay := backoff(c.cfg.MinBackoff, c.cfg.MaxBackoff, fails)
			switch {
			case errors.Is(err, ErrNotLeader):
				c.log.Info("dns: not acting, leadership lost", "record", c.cfg.Writer.Name(), "err", err)
			case errors.Is(err, ErrRecordConflict):
				c.counters.Conflicts.Add(1)
				c.log.Warn("dns: record changed underneath; reading it again", "record", c.cfg.Writer.Name(), "err", err)
			default:
				c.counters.addError(kind)
				c.log.Warn("dns: reconcile failed; retrying", "record", c.cfg.Writer.Name(), "kind", kind, "attempt", fails, "retry_in", delay.Round(time.Millisecond), "err", err)
			}
			retry = time.After(delay)
		} else {
			fails = 0
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

func (c *DNSController) leaderTerm() (uint64, bool) { return leaderTerm(c.node, c.lv) }

// Desired returns the addresses that have a live, ready holder: a
// committed holder that is a voter or member of the Raft configuration,
// alive in the leader's view, and whose proxy is not down. The second
// value lists why the others are left out.
func (c *DNSController) Desired() ([]string, []string) {
	st := c.node.FSM().State
	members := map[string]bool{}
	if f := c.node.Raft().GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			members[string(s.ID)] = true
		}
	}
	proxyDown := map[string]bool{}
	for _, s := range st.NodeStatuses() {
		proxyDown[s.NodeId] = s.Proxy == fsmpb.ProxyHealth_PROXY_DOWN
	}
	holders := map[string]string{}
	for _, r := range st.EIPs() {
		holders[r.Id] = r.Holder
	}
	c.mu.Lock()
	leaving := maps.Clone(c.leaving)
	c.mu.Unlock()
	var values, left []string
	for _, e := range c.cfg.EIPs {
		h := holders[e.ID]
		switch {
		case h == "":
			left = append(left, e.Address+": no holder")
		case !members[h]:
			left = append(left, e.Address+": holder "+h+" is not a cluster member")
		case leaving[h] > 0:
			left = append(left, e.Address+": holder "+h+" is leaving the cluster")
		case !c.lv.Alive(h):
			left = append(left, e.Address+": holder "+h+" is not alive")
		case proxyDown[h]:
			left = append(left, e.Address+": holder "+h+" has its proxy down")
		default:
			values = append(values, e.Address)
		}
	}
	return sortedValues(values), left
}

// step commits a new decision when the wanted value set differs from the
// committed one, then makes Route 53 follow the committed decision.
func (c *DNSController) step(ctx context.Context) error {
	term, ok := c.leaderTerm()
	if !ok {
		return nil
	}
	var rec *fsmpb.DNSRecord
	for _, r := range c.node.FSM().State.DNSRecords() {
		if r.Id == c.id {
			rec = r
		}
	}
	want, left := c.Desired()
	waiting := ""
	if len(want) == 0 {
		// Never empty the record: keep the last decision (or publish
		// nothing yet) and say why.
		waiting = fmt.Sprintf("no address has a live, ready holder (%v); the record keeps its values", left)
	}
	c.setStatus(func(s *DNSStatus) { s.Waiting = waiting })
	if len(want) > 0 && (rec == nil || rec.Ttl != c.cfg.TTL || !slices.Equal(rec.Values, want)) {
		reason := "holders changed"
		if len(left) > 0 {
			reason = fmt.Sprintf("left out: %v", left)
		}
		next := &fsmpb.DNSRecord{Id: c.id, Values: want, Ttl: c.cfg.TTL, Term: term, DecidedUnixMs: time.Now().UnixMilli(), Reason: reason}
		res, err := c.node.ApplyAsLeader(ctx, fsm.SetDNSRecordType, &fsmpb.SetDNSRecord{Record: next})
		if err != nil {
			return fmt.Errorf("dns: commit %s %v: %w", c.id, want, err)
		}
		if res.ErrorCode == "stale_term" {
			c.counters.StaleTerm.Add(1)
			return fmt.Errorf("dns: %s: %w", res.Error, ErrNotLeader)
		}
		if res.ErrorCode != "" {
			return fmt.Errorf("dns: commit %s: %s: %s", c.id, res.ErrorCode, res.Error)
		}
		c.counters.Decisions.Add(1)
		c.log.Info("dns: record decision committed", "record", c.cfg.Writer.Name(), "values", want, "term", term, "reason", reason)
		rec = next
	}
	if rec == nil {
		return nil
	}
	desired := Record{TTL: rec.Ttl, Values: rec.Values}
	c.setStatus(func(s *DNSStatus) { s.Desired, s.Term, s.Reason = desired, rec.Term, rec.Reason })
	if c.zoneTerm != term {
		// Once per leadership: a zone that does not exist or a name
		// outside it is a configuration error, reported as such; no
		// change is tried.
		if err := c.cfg.Writer.CheckZone(ctx); err != nil {
			if errors.Is(err, ErrBadZone) {
				c.setStatus(func(s *DNSStatus) { s.ZoneError = err.Error() })
			}
			return err
		}
		c.zoneTerm = term
		c.setStatus(func(s *DNSStatus) { s.ZoneError = "" })
	}
	if c.pending != "" {
		insync, err := c.cfg.Writer.InSync(ctx, c.pending)
		if err != nil {
			return err
		}
		if insync {
			c.pending = ""
			c.setStatus(func(s *DNSStatus) { s.LastChangeStatus = "INSYNC" })
		}
	}
	actual, err := c.cfg.Writer.Read(ctx)
	if err != nil {
		return err
	}
	inSync := actual.Equal(desired)
	c.setStatus(func(s *DNSStatus) { s.Actual, s.Read, s.InSync = actual, true, inSync })
	if inSync {
		return nil
	}
	if err := c.node.Raft().VerifyLeader().Error(); err != nil {
		return fmt.Errorf("dns: verify leader: %w (%v)", ErrNotLeader, err)
	}
	if now := c.node.Raft().CurrentTerm(); now != term {
		return fmt.Errorf("dns: term %d is over (now %d): %w", term, now, ErrNotLeader)
	}
	changeID, err := c.cfg.Writer.Replace(ctx, actual, desired)
	if err != nil {
		return err
	}
	c.counters.Changes.Add(1)
	c.pending = changeID
	c.setStatus(func(s *DNSStatus) {
		s.Actual, s.InSync, s.LastChange, s.LastChangeStatus = desired, true, changeID, "PENDING"
	})
	c.log.Info("dns: record changed", "record", c.cfg.Writer.Name(), "from", actual.String(), "to", desired.String(), "term", term, "change", changeID)
	return nil
}

// ErrRecordKept: the addresses being withdrawn are the only ones with a
// ready holder, so the record keeps them (it is never emptied).
var ErrRecordKept = errors.New("eipmover: the record keeps the addresses: no other address has a ready holder")

// Withdraw takes the addresses node holds out of the record before the
// node stops holding them (its removal from the cluster): this leader
// commits the record without them and Route 53 accepts the change before
// Withdraw returns. Until release is called the node's addresses stay out
// of the record; call it once the node is gone (or its removal failed).
// When they are the only addresses with a ready holder the record keeps
// them and the error wraps ErrRecordKept. Withdraw waits for Route 53
// until ctx ends; the error then says why the record did not change.
func (c *DNSController) Withdraw(ctx context.Context, node string) (release func(), err error) {
	if _, ok := c.leaderTerm(); !ok {
		return func() {}, fmt.Errorf("dns: withdraw %s: %w", node, ErrNotLeader)
	}
	c.mu.Lock()
	c.leaving[node]++
	start := c.status.Steps
	c.mu.Unlock()
	release = sync.OnceFunc(func() {
		c.mu.Lock()
		if c.leaving[node]--; c.leaving[node] <= 0 {
			delete(c.leaving, node)
		}
		c.mu.Unlock()
		signal(c.kick)
	})
	signal(c.kick)
	for {
		var held []string
		for _, r := range c.node.FSM().State.EIPs() {
			if r.Holder == node && slices.ContainsFunc(c.cfg.EIPs, func(e EIP) bool { return e.ID == r.Id }) {
				held = append(held, r.Address)
			}
		}
		c.mu.Lock()
		st, stepped := c.status, c.stepped
		c.mu.Unlock()
		if len(held) == 0 {
			return release, nil
		}
		// Only a pass that started after the mark counts.
		if st.Steps > start+1 {
			kept := slices.ContainsFunc(held, func(a string) bool { return slices.Contains(st.Actual.Values, a) })
			switch {
			case st.Read && st.InSync && !kept && !slices.ContainsFunc(held, func(a string) bool { return slices.Contains(st.Desired.Values, a) }):
				return release, nil
			case st.Waiting != "" && st.LastError == "":
				return release, fmt.Errorf("dns: withdraw %s's %v: %w", node, held, ErrRecordKept)
			}
		}
		select {
		case <-ctx.Done():
			why := st.LastError
			if why == "" {
				why = "no reconcile pass finished in time"
			}
			return release, fmt.Errorf("dns: the record still carries %s's %v: %s: %w", node, held, why, ctx.Err())
		case <-stepped:
		}
	}
}
