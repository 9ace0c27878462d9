package discover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
)

// Defaults of a Loop's options (and of servers_from in the config file).
const (
	DefaultInterval            = 10 * time.Second
	DefaultDeregistrationDelay = 300 * time.Second // ALB's deregistration_delay.timeout_seconds
	// DefaultMaxRemoveShare: one poll takes out at most half of a
	// backend's discovered servers. HAProxy and ALB have no such limit;
	// it is here so that a wrong answer (a tag removed by mistake, half a
	// zone's DNS gone) cannot empty a backend in one step: the next polls
	// take out half of the rest each, which leaves time to notice.
	DefaultMaxRemoveShare = 0.5
)

// Options configures a Loop.
type Options struct {
	Backend string
	Source  Source
	// Interval between polls (default DefaultInterval).
	Interval time.Duration
	// DeregistrationDelay is how long a vanished server drains before it
	// is removed (default DefaultDeregistrationDelay; negative: at once).
	DeregistrationDelay time.Duration
	// MaxRemoveShare is the largest share of the backend's discovered
	// servers one step deregisters, in (0, 1] (default
	// DefaultMaxRemoveShare). At least one is allowed once another
	// server stays up.
	MaxRemoveShare float64
	// Weight of the servers added (default 1).
	Weight int32
	// Configured lists the backend's servers in this node's config file
	// (Apply checks names and cookie values against them).
	Configured func() []*fsmpb.ConfiguredServer
	// Servers returns the replicated server table.
	Servers func() *fsm.ServerTable
	// Commit proposes a step as the leader (cluster.Node.ApplyAsLeader).
	Commit func(ctx context.Context, m *fsmpb.DiscoverServers) (*fsmpb.ApplyResult, error)
	// Now is the leader's clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Status is what a Loop last saw and did, for /status and metrics.
type Status struct {
	Backend  string    `json:"backend"`
	Kind     string    `json:"kind"`   // ec2 | dns
	Source   string    `json:"source"` // what it queries
	Polls    uint64    `json:"polls"`
	LastPoll time.Time `json:"last_poll,omitzero"`
	// LastSuccess is the last poll whose answer was used.
	LastSuccess time.Time `json:"last_success,omitzero"`
	// LastError is the last poll's error, "" when it succeeded.
	LastError     string            `json:"last_error,omitempty"`
	LastErrorKind string            `json:"last_error_kind,omitempty"`
	LastErrorAt   time.Time         `json:"last_error_at,omitzero"`
	Errors        map[string]uint64 `json:"errors,omitempty"` // by kind: throttled, auth, timeout, empty, other
	// Targets are the last answer's server names.
	Targets []string `json:"targets"`
	// HeldBack is how many deregistrations the last step left for later
	// (MaxRemoveShare).
	HeldBack     int    `json:"held_back,omitempty"`
	Steps        uint64 `json:"steps"` // committed
	Added        uint64 `json:"added"`
	Deregistered uint64 `json:"deregistered"`
	Restored     uint64 `json:"restored"`
	Removed      uint64 `json:"removed"`
}

// Loop keeps one backend's discovered servers equal to its source's
// answer; a Group polls it on the leader.
type Loop struct {
	o   Options
	log *slog.Logger

	next time.Time // when Group polls it next; only Group's Run touches it

	mu sync.Mutex
	st Status
}

// NewLoop returns a loop; Run starts it.
func NewLoop(o Options) (*Loop, error) {
	if o.Backend == "" || o.Source == nil || o.Servers == nil || o.Commit == nil {
		return nil, errors.New("discover: backend, source, servers and commit are required")
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.DeregistrationDelay == 0 {
		o.DeregistrationDelay = DefaultDeregistrationDelay
	}
	if o.MaxRemoveShare <= 0 || o.MaxRemoveShare > 1 {
		o.MaxRemoveShare = DefaultMaxRemoveShare
	}
	if o.Weight <= 0 {
		o.Weight = 1
	}
	if o.Configured == nil {
		o.Configured = func() []*fsmpb.ConfiguredServer { return nil }
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	l := &Loop{o: o, log: o.Logger.With("backend", o.Backend, "discovery", o.Source.Kind())}
	l.st = Status{Backend: o.Backend, Kind: o.Source.Kind(), Source: o.Source.Describe(), Errors: map[string]uint64{}, Targets: []string{}}
	return l, nil
}

// Status returns a copy of the loop's status.
func (l *Loop) Status() Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.st
	s.Errors = make(map[string]uint64, len(l.st.Errors))
	for k, v := range l.st.Errors {
		s.Errors[k] = v
	}
	s.Targets = slices.Clone(l.st.Targets)
	return s
}

// Poll asks the source once and commits the step it calls for; it
// returns the poll's error (also kept in Status).
func (l *Loop) Poll(ctx context.Context) error {
	targets, err := l.o.Source.Discover(ctx)
	now := l.o.Now()
	l.mu.Lock()
	l.st.Polls++
	l.st.LastPoll = now
	l.mu.Unlock()
	if err != nil {
		return l.fail(now, fmt.Errorf("%s: keeping the last known servers: %w", l.o.Source.Describe(), err))
	}
	step, active, heldBack := l.diff(targets, now)
	l.mu.Lock()
	l.st.Targets = l.st.Targets[:0]
	for _, t := range targets {
		l.st.Targets = append(l.st.Targets, t.Name)
	}
	l.st.HeldBack = heldBack
	l.mu.Unlock()
	if len(targets) == 0 {
		// Never an empty backend from an empty answer: at start it is a
		// filter that matches nothing, later a source gone wrong.
		if active > 0 {
			return l.fail(now, fmt.Errorf("%s answered with no target while %d servers are up: keeping them: %w", l.o.Source.Describe(), active, ErrEmpty))
		}
		return l.fail(now, fmt.Errorf("%s matches nothing: backend %s has no discovered server: %w", l.o.Source.Describe(), l.o.Backend, ErrEmpty))
	}
	if heldBack > 0 {
		l.log.Warn("discovery: deregistrations held back by max_remove_share", "held_back", heldBack, "share", l.o.MaxRemoveShare)
	}
	if len(step.Add)+len(step.Deregister)+len(step.Restore)+len(step.Remove) > 0 {
		res, err := l.o.Commit(ctx, step)
		if err != nil {
			return l.fail(now, fmt.Errorf("commit discovery step: %w", err))
		}
		if res.ErrorCode != "" {
			l.log.Warn("discovery: step partly refused", "code", res.ErrorCode, "error", res.Error)
		}
		l.log.Info("discovery: step committed", "added", names(step.Add), "deregistered", step.Deregister,
			"restored", step.Restore, "removed", step.Remove, "applied", res.Count)
		l.mu.Lock()
		l.st.Steps++
		l.st.Added += uint64(len(step.Add))
		l.st.Deregistered += uint64(len(step.Deregister))
		l.st.Restored += uint64(len(step.Restore))
		l.st.Removed += uint64(len(step.Remove))
		l.mu.Unlock()
	}
	l.mu.Lock()
	l.st.LastSuccess, l.st.LastError, l.st.LastErrorKind = now, "", ""
	l.mu.Unlock()
	return nil
}

func (l *Loop) fail(now time.Time, err error) error {
	kind := ErrorKind(err)
	l.mu.Lock()
	l.st.LastError, l.st.LastErrorKind, l.st.LastErrorAt = err.Error(), kind, now
	l.st.Errors[kind]++
	l.mu.Unlock()
	l.log.Warn("discovery: poll failed", "kind", kind, "error", err)
	return err
}

// diff computes the step from the answer and the replicated table:
// active counts the discovered servers taking sessions now.
func (l *Loop) diff(targets []Target, now time.Time) (step *fsmpb.DiscoverServers, active, heldBack int) {
	src := l.o.Source.Kind()
	step = &fsmpb.DiscoverServers{Backend: l.o.Backend, Source: src, StampUnixMs: now.UnixMilli()}
	mine := map[string]fsm.ServerState{}
	for k, st := range l.o.Servers().All() {
		if k.Backend == l.o.Backend && st.Source == src && st.Dynamic && !st.Removed {
			mine[k.Name] = st
			if st.Deregistering == 0 {
				active++
			}
		}
	}
	want := map[string]bool{}
	var configured []*fsmpb.ConfiguredServer
	for _, t := range targets {
		want[t.Name] = true
		cur, ok := mine[t.Name]
		switch {
		case !ok:
			if configured == nil {
				configured = l.o.Configured()
			}
			step.Add = append(step.Add, &fsmpb.AddServer{Backend: l.o.Backend, Name: t.Name, Addr: t.Addr, Cookie: t.Cookie,
				Weight: l.o.Weight, Configured: configured, Checked: true})
		case cur.Addr != t.Addr:
			// Same name, new address: the old server leaves (below) and
			// the name comes back at the new address once removed.
			want[t.Name] = false
		case cur.Deregistering != 0:
			step.Restore = append(step.Restore, t.Name)
		}
	}
	var vanished []string
	for name, st := range mine {
		if want[name] {
			continue
		}
		if st.Deregistering == 0 {
			vanished = append(vanished, name)
		} else if now.Sub(time.UnixMilli(st.Deregistering)) >= l.o.DeregistrationDelay {
			step.Remove = append(step.Remove, name)
		}
	}
	slices.Sort(vanished)
	slices.Sort(step.Remove)
	slices.Sort(step.Restore)
	// The share counts the servers that take sessions once the step's
	// adds and restores are in.
	limit := int(math.Floor(l.o.MaxRemoveShare * float64(active+len(step.Add)+len(step.Restore))))
	if len(vanished) > limit {
		heldBack = len(vanished) - limit
		vanished = vanished[:limit]
	}
	step.Deregister = vanished
	return step, active, heldBack
}

func names(adds []*fsmpb.AddServer) []string {
	out := make([]string, 0, len(adds))
	for _, a := range adds {
		out = append(out, a.Name)
	}
	return out
}

// String is the loop's one-line summary.
func (s Status) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d targets", s.Source, len(s.Targets))
	if s.LastError != "" {
		fmt.Fprintf(&b, ", error: %s", s.LastError)
	}
	return b.String()
}
