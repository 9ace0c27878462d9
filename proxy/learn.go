package proxy

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
)

// ErrLearnQueueFull is returned (sync mode) or counted (async mode) when
// the proposal queue is full: the binding is dropped rather than blocking
// the request path.
var ErrLearnQueueFull = errors.New("learn queue full: binding dropped")

// LearnerOptions configures batching of learned bindings.
type LearnerOptions struct {
	NodeID        string
	BatchSize     int           // bindings per log entry
	FlushInterval time.Duration // longest a binding waits for its batch
	QueueSize     int           // bounded queue; full = count and drop
	InFlight      int           // concurrent proposals (default 4)
	TouchInterval time.Duration // how often used sessions are reported for maxidle (default 1s)
	// CatchUpWait bounds how long the router waits for this node to catch
	// up with the leader (Cluster.CatchUp) when a well-formed session
	// cookie is not in its table; past it the request is refused with 503
	// (ErrSessionUnknown: the session may live on another server) rather
	// than balanced. Default 500 ms.
	CatchUpWait time.Duration
	Now         func() time.Time
	Logger      *slog.Logger
}

// LearnerStats are the learner's counters (the learner object of the
// ops listener's /status, whose keys are snake_case).
type LearnerStats struct {
	Queued          uint64 `json:"queued"`
	Dropped         uint64 `json:"dropped"`
	Proposed        uint64 `json:"proposed"`
	Committed       uint64 `json:"committed"`
	Conflicts       uint64 `json:"conflicts"`
	Failed          uint64 `json:"failed"`
	Batches         uint64 `json:"batches"`
	CatchUps        uint64 `json:"catch_ups"`         // unknown cookies looked up again after catching up
	CatchUpFailures uint64 `json:"catch_up_failures"` // of which: the node could not catch up (the request was refused)
}

// pendingBinding is a binding this node learned and serves before the FSM
// has it. After its commit it stays a little longer (until expires), so a
// follower whose FSM lags the leader by a few entries stays sticky.
type pendingBinding struct {
	server  string
	expires time.Time // zero while the proposal is in flight
}

// pendingGrace is how long a committed binding stays in the pending table.
const pendingGrace = 2 * time.Second

type learnItem struct {
	b    *fsmpb.Binding
	done chan string // sync mode: receives the committed server ("" on failure)
}

// Learner batches learned session bindings into LearnSessions proposals.
// Requests never wait for it unless they ask to (learn_commit: sync). Until
// a binding is committed it is served from a local pending table, so the
// learning node stays sticky from the first response.
type Learner struct {
	opts   LearnerOptions
	c      Cluster
	queue  chan learnItem
	pendMu sync.RWMutex
	pend   map[fsm.SessionKey]pendingBinding
	stats  struct {
		queued, dropped, proposed, committed, conflicts, failed, batches, catchUps, catchUpFailures atomic.Uint64
	}
	log     *slog.Logger
	stopped chan struct{}

	touchMu sync.Mutex
	touched map[string]map[string]struct{} // backend → session keys used since the last flush
}

// NewLearner returns a learner proposing through c. A nil c makes a
// learner that is never run (tests): nothing is proposed and unknown
// sessions are not looked up again.
func NewLearner(c Cluster, o LearnerOptions) *Learner {
	if o.BatchSize <= 0 {
		o.BatchSize = 512
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 2 * time.Millisecond
	}
	if o.QueueSize < o.BatchSize {
		o.QueueSize = max(65536, o.BatchSize)
	}
	if o.InFlight <= 0 {
		o.InFlight = 4
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TouchInterval <= 0 {
		o.TouchInterval = time.Second
	}
	if o.CatchUpWait <= 0 {
		o.CatchUpWait = 500 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Learner{opts: o, c: c, queue: make(chan learnItem, o.QueueSize), pend: map[fsm.SessionKey]pendingBinding{}, log: o.Logger, stopped: make(chan struct{}), touched: map[string]map[string]struct{}{}}
}

// Stats returns a snapshot of the counters.
func (l *Learner) Stats() LearnerStats {
	s := &l.stats
	return LearnerStats{s.queued.Load(), s.dropped.Load(), s.proposed.Load(), s.committed.Load(), s.conflicts.Load(), s.failed.Load(), s.batches.Load(), s.catchUps.Load(), s.catchUpFailures.Load()}
}

func (l *Learner) pending(backend, key string) (string, bool) {
	l.pendMu.RLock()
	p, ok := l.pend[fsm.SessionKey{Backend: backend, Key: key}]
	l.pendMu.RUnlock()
	return p.server, ok
}

// Learn records that server set the session cookie key. With wait, it
// returns once the binding is committed, with the committed server.
func (l *Learner) Learn(ctx context.Context, backend, key, server string, wait bool) (string, error) {
	key = strings.Clone(key) // the proxy passes views of its connection buffers
	b := &fsmpb.Binding{Backend: backend, Key: key, Server: server, CreatedUnixMs: l.opts.Now().UnixMilli(), LearnedBy: l.opts.NodeID}
	it := learnItem{b: b}
	if wait {
		it.done = make(chan string, 1)
	}
	k := fsm.SessionKey{Backend: backend, Key: key}
	l.pendMu.Lock()
	l.pend[k] = pendingBinding{server: server}
	l.pendMu.Unlock()
	select {
	case l.queue <- it:
		l.stats.queued.Add(1)
	default:
		l.stats.dropped.Add(1)
		l.pendMu.Lock()
		delete(l.pend, k)
		l.pendMu.Unlock()
		return "", ErrLearnQueueFull
	}
	if !wait {
		return server, nil
	}
	select {
	case s := <-it.done:
		if s == "" {
			return "", errors.New("learn: proposal failed")
		}
		return s, nil
	case <-ctx.Done():
		return "", ctx.Err()
	case <-l.stopped: // Run has ended: nothing will answer a binding queued after its last drain
		select {
		case s := <-it.done:
			if s != "" {
				return s, nil
			}
		default:
		}
		return "", errors.New("learn: learner stopped")
	}
}

// rebind proposes moving a session whose server is down or in maintenance
// to the server rendezvous hashing chose. First-binding-wins in Apply lets
// it through because the old server no longer keeps sessions.
func (l *Learner) rebind(backend, key, server string) {
	_, _ = l.Learn(context.Background(), backend, key, server, false)
}

// Run batches and proposes until ctx ends, then flushes what is queued.
func (l *Learner) Run(ctx context.Context) {
	defer close(l.stopped)
	batches := make(chan []learnItem)
	var wg sync.WaitGroup
	for i := 0; i < l.opts.InFlight; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range batches {
				l.propose(batch)
			}
		}()
	}
	defer func() {
		close(batches)
		wg.Wait()
	}()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	sweep := time.NewTicker(pendingGrace / 4)
	defer sweep.Stop()
	touches := time.NewTicker(l.opts.TouchInterval)
	defer touches.Stop()
	var batch []learnItem
	flush := func() {
		if len(batch) > 0 {
			batches <- batch
			batch = nil
		}
	}
	for {
		select {
		case it := <-l.queue:
			if len(batch) == 0 {
				timer.Reset(l.opts.FlushInterval)
			}
			batch = append(batch, it)
			if len(batch) >= l.opts.BatchSize {
				timer.Stop()
				flush()
			}
		case <-timer.C:
			flush()
		case <-sweep.C:
			l.sweep()
		case <-touches.C:
			l.flushTouches()
		case <-ctx.Done():
			for {
				select {
				case it := <-l.queue:
					batch = append(batch, it)
					if len(batch) >= l.opts.BatchSize {
						flush()
					}
				default:
					flush()
					return
				}
			}
		}
	}
}

func (l *Learner) propose(batch []learnItem) {
	msg := &fsmpb.LearnSessions{Bindings: make([]*fsmpb.Binding, len(batch))}
	for i, it := range batch {
		msg.Bindings[i] = it.b
	}
	l.stats.batches.Add(1)
	l.stats.proposed.Add(uint64(len(batch)))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	res, err := l.c.Apply(ctx, fsm.LearnSessionsType, msg)
	cancel()
	if err == nil && (res.Learn == nil || len(res.Learn.Committed) != len(batch)) {
		err = errors.New("learn result does not match the batch")
	}
	expires := l.opts.Now().Add(pendingGrace)
	l.pendMu.Lock()
	for i, it := range batch {
		k := fsm.SessionKey{Backend: it.b.Backend, Key: it.b.Key}
		committed := ""
		if err == nil {
			committed = res.Learn.Committed[i].Server
			if committed != it.b.Server {
				l.stats.conflicts.Add(1) // another node's binding won: adopt it
			}
			l.pend[k] = pendingBinding{server: committed, expires: expires}
		} else if cur, ok := l.pend[k]; ok && cur.server == it.b.Server {
			l.pend[k] = pendingBinding{server: cur.server, expires: expires}
		}
		if it.done != nil {
			it.done <- committed
		}
	}
	l.pendMu.Unlock()
	if err != nil {
		l.stats.failed.Add(uint64(len(batch)))
		l.log.Warn("learned bindings not committed", "count", len(batch), "err", err)
		return
	}
	l.stats.committed.Add(uint64(len(batch)))
}

// sweep drops committed bindings whose grace period is over.
func (l *Learner) sweep() {
	now := l.opts.Now()
	l.pendMu.Lock()
	for k, p := range l.pend {
		if !p.expires.IsZero() && now.After(p.expires) {
			delete(l.pend, k)
		}
	}
	l.pendMu.Unlock()
}

// PendingCount returns the number of bindings served from the pending table.
func (l *Learner) PendingCount() int {
	l.pendMu.RLock()
	defer l.pendMu.RUnlock()
	return len(l.pend)
}

// maxTouchBatch bounds the keys of one TouchSessions entry.
const maxTouchBatch = 4096

// touch records that a learned session was used, for maxidle.
func (l *Learner) touch(backend, key string) {
	l.touchMu.Lock()
	set := l.touched[backend]
	if set == nil {
		set = map[string]struct{}{}
		l.touched[backend] = set
	}
	if _, ok := set[key]; !ok {
		set[strings.Clone(key)] = struct{}{} // key may be a view of a connection buffer
	}
	l.touchMu.Unlock()
}

// flushTouches proposes the sessions used since the last flush; the leader
// stamps the time. A failed flush is kept for the next one (proposeTouch).
func (l *Learner) flushTouches() {
	l.touchMu.Lock()
	touched := l.touched
	l.touched = map[string]map[string]struct{}{}
	l.touchMu.Unlock()
	for backend, set := range touched {
		keys := make([]string, 0, min(len(set), maxTouchBatch))
		for k := range set {
			keys = append(keys, k)
			if len(keys) == maxTouchBatch {
				l.proposeTouch(backend, keys)
				keys = keys[:0:0]
			}
		}
		if len(keys) > 0 {
			l.proposeTouch(backend, keys)
		}
	}
}

func (l *Learner) proposeTouch(backend string, keys []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := l.c.Apply(ctx, fsm.TouchSessionsType, &fsmpb.TouchSessions{Backend: backend, Keys: keys}); err != nil {
		// Kept for the next flush (a session used during an election
		// must not look idle to the new leader), merged with the uses
		// since; a touch committed twice is harmless.
		l.touchMu.Lock()
		set := l.touched[backend]
		if set == nil {
			set = map[string]struct{}{}
			l.touched[backend] = set
		}
		for _, k := range keys {
			set[k] = struct{}{}
		}
		l.touchMu.Unlock()
		l.log.Warn("session touches not committed; kept for the next flush", "backend", backend, "count", len(keys), "err", err)
	}
}

// catchUpLookup looks a session up again after this node has caught up
// with the leader's commit index: the binding may have been committed by
// another node a moment ago (learn_commit: sync answers as soon as it is).
// An error means this node could not catch up within CatchUpWait, so it
// cannot tell whether the session exists.
func (l *Learner) catchUpLookup(st State, backend, key string) (string, bool, error) {
	if l.c == nil {
		return "", false, nil
	}
	l.stats.catchUps.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.CatchUpWait)
	defer cancel()
	if err := l.c.CatchUp(ctx); err != nil {
		l.stats.catchUpFailures.Add(1)
		return "", false, err
	}
	name, ok := st.Lookup(backend, key)
	return name, ok, nil
}
