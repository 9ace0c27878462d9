package eipmover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	Errors    atomic.Uint64 // other failed Route 53 calls
	StaleTerm atomic.Uint64 // decisions refused as stale
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
}

// DNSController keeps one Route 53 A record equal to the addresses that
// have a live, ready holder. The leader commits the value set through
// Raft, stamped with its term, then — after VerifyLeader — makes Route 53
// follow with a fenced replace (see Route53.Replace). Run it on every
// node: it acts only while its node leads.
type DNSController struct {
	cfg      DNSConfig
	id       string
	node     *cluster.Node
	lv       *cluster.Liveness
	log      *slog.Logger
	counters DNSCounters
	kick     chan struct{}

	mu     sync.Mutex
	status DNSStatus
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
		log: cfg.Logger, kick: make(chan struct{}, 1),
	}
	c.status.Name = cfg.Writer.Name()
	return c, nil
}

// Counters returns the live counters.
func (c *DNSController) Counters() *DNSCounters { return &c.counters }

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
		c.setStatus(func(s *DNSStatus) {
			s.LastError = ""
			if err != nil {
				s.LastError = err.Error()
			}
		})
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
				c.counters.Errors.Add(1)
				c.log.Warn("dns: reconcile failed; retrying", "record", c.cfg.Writer.Name(), "attempt", fails, "retry_in", delay.Round(time.Millisecond), "err", err)
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

func (c *DNSController) leaderTerm() (uint64, bool) {
	leading, term := c.lv.Leading()
	if !leading || !c.node.IsLeader() || c.node.Raft().CurrentTerm() != term {
		return 0, false
	}
	return term, true
}

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
	var values, left []string
	for _, e := range c.cfg.EIPs {
		h := holders[e.ID]
		switch {
		case h == "":
			left = append(left, e.Address+": no holder")
		case !members[h]:
			left = append(left, e.Address+": holder "+h+" is not a cluster member")
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
	c.setStatus(func(s *DNSStatus) { s.Actual, s.InSync = desired, true })
	c.log.Info("dns: record changed", "record", c.cfg.Writer.Name(), "from", actual.String(), "to", desired.String(), "term", term, "change", changeID)
	return nil
}
