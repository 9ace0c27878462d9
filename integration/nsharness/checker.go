//go:build linux

package nsharness

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Session is one client session the checker follows.
type Session struct {
	Cookie  string    // JSESSIONID value
	Backend string    // the backend the session is bound to
	Via     string    // node that learned it
	Sync    bool      // learned through the learn_commit sync frontend
	Created time.Time // when the answer that set the cookie arrived
}

func (s *Session) String() string {
	mode := "async"
	if s.Sync {
		mode = "sync"
	}
	return fmt.Sprintf("learned via %s/%s at %s, bound to %s", s.Via, mode, s.Created.Format("15:04:05.000"), s.Backend)
}

// url is where the session lives on node n: the frontend it was learned
// through (each backend has its own session table).
func (s *Session) url(n *Node) string {
	if s.Sync {
		return n.SyncURL()
	}
	return n.URL()
}

// Result is one request the checker made.
type Result struct {
	At      time.Time
	Node    string
	Session string // cookie ("" for a new-session request)
	Backend string // X-Backend, "" without a response
	Status  int
	Err     error
	Latency time.Duration
}

// Checker is a client running in the client namespace throughout a test:
// it follows many sessions and checks every answer against the session's
// committed backend, and it keeps creating sessions through the sync
// frontends to see when the cluster takes writes.
type Checker struct {
	C      *Cluster
	client *http.Client

	mu          sync.Mutex
	sessions    []*Session
	dead        map[string]bool     // backends the test killed
	seenOnDead  map[string][]string // session -> backends that answered it while its backend was dead
	violations  []string
	writes      []Result // new-session requests through sync frontends
	perNode     map[string]*NodeCounts
	pending     []*Session // learned, not yet followed across nodes
	early       []string   // see Early
	earlyProbes int
	frozen      map[string]time.Time // node -> only sessions created before this go there
	nodes       []*Node              // where requests go (default every node)

	requests atomic.Uint64
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// NodeCounts counts one node's answers.
type NodeCounts struct {
	OK, Errors, Violations int
	LastOK, LastErr        time.Time
}

// NewChecker returns a checker for c; Seed and Start it.
func NewChecker(c *Cluster) *Checker {
	return &Checker{
		C:          c,
		client:     c.Client.HTTPClient(time.Second, true),
		dead:       map[string]bool{},
		seenOnDead: map[string][]string{},
		perNode:    map[string]*NodeCounts{},
		frozen:     map[string]time.Time{},
		nodes:      c.Nodes,
	}
}

func (k *Checker) do(ctx context.Context, n *Node, url, cookie string) Result {
	start := time.Now()
	r := Result{At: start, Node: n.ID, Session: cookie}
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		r.Err = err
		return r
	}
	if cookie != "" {
		req.Header.Set("Cookie", "JSESSIONID="+cookie)
	}
	resp, err := k.client.Do(req)
	r.Latency = time.Since(start)
	if err != nil {
		r.Err = err
		return r
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	r.Status = resp.StatusCode
	r.Backend = resp.Header.Get("X-Backend")
	if cookie == "" {
		for _, c := range resp.Cookies() {
			if c.Name == "JSESSIONID" {
				r.Session = c.Value
			}
		}
	}
	if resp.StatusCode != 200 {
		r.Err = fmt.Errorf("%s: %s", n.ID, resp.Status)
	}
	return r
}

// NewSession learns a new session through node n (sync: through its
// learn_commit sync frontend).
func (k *Checker) NewSession(ctx context.Context, n *Node, sync bool) (*Session, Result) {
	url := n.URL()
	if sync {
		url = n.SyncURL()
	}
	r := k.do(ctx, n, url, "")
	if r.Err != nil || r.Session == "" || r.Backend == "" {
		if r.Err == nil {
			r.Err = fmt.Errorf("%s: answer without session cookie or X-Backend", n.ID)
		}
		return nil, r
	}
	return &Session{Cookie: r.Session, Backend: r.Backend, Via: n.ID, Sync: sync, Created: r.At.Add(r.Latency)}, r
}

// Seed learns n sessions round robin through the nodes (half through the
// async frontends, half through the sync ones) and waits until every node
// has applied them.
func (k *Checker) Seed(ctx context.Context, n int) error {
	for i := 0; i < n; i++ {
		node := k.C.Nodes[i%len(k.C.Nodes)]
		s, r := k.NewSession(ctx, node, i%2 == 1)
		for try := 1; s == nil && try < 3 && ctx.Err() == nil; try++ { // a loaded machine may be slow once
			time.Sleep(200 * time.Millisecond)
			s, r = k.NewSession(ctx, node, i%2 == 1)
		}
		if s == nil {
			return fmt.Errorf("seed session %d via %s: %v", i, node.ID, r.Err)
		}
		k.mu.Lock()
		k.sessions = append(k.sessions, s)
		k.mu.Unlock()
	}
	return k.WaitSessionsApplied(ctx, k.C.Nodes)
}

// WaitSessionsApplied waits until every node of among counts at least as
// many sessions as the checker follows.
func (k *Checker) WaitSessionsApplied(ctx context.Context, among []*Node) error {
	want := len(k.Sessions())
	for {
		st := k.C.Statuses(ctx, among)
		ok := len(st) == len(among)
		for _, s := range st {
			if s.Sessions < want {
				ok = false
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nodes did not apply %d sessions: %w (%+v)", want, ctx.Err(), st)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Sessions returns the followed sessions.
func (k *Checker) Sessions() []*Session {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]*Session(nil), k.sessions...)
}

// SetNodes limits where the checker's requests go (e.g. to the majority
// side of a partition); nil means every node.
func (k *Checker) SetNodes(nodes []*Node) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if nodes == nil {
		nodes = k.C.Nodes
	}
	k.nodes = nodes
}

// Freeze makes the checker send through node n only sessions learned
// before now: n is about to be cut off and cannot learn newer ones until
// it has caught up (Thaw).
func (k *Checker) Freeze(n *Node) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.frozen[n.ID] = time.Now()
}

// Thaw undoes Freeze, once n has caught up with the log.
func (k *Checker) Thaw(n *Node) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.frozen, n.ID)
}

// MarkDead tells the checker that backend name was killed: answers for its
// sessions from other backends are then expected, not violations, until
// Rebind.
func (k *Checker) MarkDead(name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.dead[name] = true
}

// Start runs readers (checked requests on random sessions through random
// nodes) and one writer (a new session through a sync frontend every
// writeEvery) until Stop.
func (k *Checker) Start(readers int, writeEvery time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	k.cancel = cancel
	for i := 0; i < readers; i++ {
		k.wg.Add(1)
		go func() {
			defer k.wg.Done()
			for ctx.Err() == nil {
				k.readOnce(ctx)
			}
		}()
	}
	if writeEvery > 0 {
		k.wg.Add(1)
		go func() {
			defer k.wg.Done()
			t := time.NewTicker(writeEvery)
			defer t.Stop()
			i := 0
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				k.mu.Lock()
				nodes := k.nodes
				k.mu.Unlock()
				n := nodes[i%len(nodes)]
				i++
				s, r := k.NewSession(ctx, n, true)
				if ctx.Err() != nil {
					return
				}
				k.mu.Lock()
				k.writes = append(k.writes, r)
				if s != nil {
					k.pending = append(k.pending, s)
				}
				k.mu.Unlock()
			}
		}()
	}
}

// A session learned during the run is sent through other nodes only once
// followGrace has passed since its answer and a write begun after that
// answer has been answered too, followMargin ago: a binding committed by
// the leader reaches the other nodes' state machines with a later append,
// and after a leader change only once the new leader has committed an
// entry of its own term. Until then a node that has the entry in its log
// but not applied treats the session as unknown; Early reports how often
// that was seen.
const followGrace = time.Second

// earlyAfter: pending sessions are probed through other nodes from this
// long after their answer (normal replication takes a few milliseconds).
const earlyAfter = 100 * time.Millisecond

// committedBehind reports whether a write begun after s was answered has
// itself been answered at least followMargin ago (k.mu held).
func (k *Checker) committedBehind(s *Session, now time.Time) bool {
	i := sort.Search(len(k.writes), func(i int) bool { return k.writes[i].At.After(s.Created) })
	for ; i < len(k.writes); i++ {
		if w := k.writes[i]; w.Err == nil {
			return now.Sub(w.At.Add(w.Latency)) > followMargin
		}
	}
	return false
}

const followMargin = 250 * time.Millisecond

func (k *Checker) probeEarly(ctx context.Context, s *Session, n *Node) {
	r := k.do(ctx, n, s.url(n), s.Cookie)
	if ctx.Err() != nil || r.Err != nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.earlyProbes++
	if r.Backend != s.Backend && !k.dead[s.Backend] {
		k.early = append(k.early, fmt.Sprintf("%s %s answered session %s by %s %v after its sync answer (%s)",
			r.At.Format("15:04:05.000"), n.ID, s.Cookie, r.Backend, r.At.Sub(s.Created).Round(time.Millisecond), s))
	}
}

// Early returns the answers, through another node, for sessions whose sync
// answer had come but which were not yet followed (see followGrace), that
// named another backend: the window in which a node has not yet applied a
// binding the leader acknowledged. And how many such probes were made.
func (k *Checker) Early() ([]string, int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.early...), k.earlyProbes
}

func (k *Checker) readOnce(ctx context.Context) {
	k.mu.Lock()
	now := time.Now()
	for len(k.pending) > 0 && now.Sub(k.pending[0].Created) > followGrace && k.committedBehind(k.pending[0], now) {
		k.sessions = append(k.sessions, k.pending[0])
		k.pending = k.pending[1:]
	}
	// Some requests probe sessions not yet followed, through other nodes,
	// to measure how long after a sync answer a node may still not know
	// the binding (counted as early answers, not violations).
	if len(k.pending) > 0 && rand.IntN(10) == 0 {
		p := k.pending[rand.IntN(len(k.pending))]
		n := k.nodes[rand.IntN(len(k.nodes))]
		if _, frozen := k.frozen[n.ID]; !frozen && n.ID != p.Via && now.Sub(p.Created) > earlyAfter {
			k.mu.Unlock()
			k.probeEarly(ctx, p, n)
			return
		}
	}

	if len(k.sessions) == 0 || len(k.nodes) == 0 {
		k.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
		return
	}
	n := k.nodes[rand.IntN(len(k.nodes))]
	s := k.sessions[rand.IntN(len(k.sessions))]
	if cut, ok := k.frozen[n.ID]; ok {
		for tries := 0; !s.Created.Before(cut); tries++ {
			if tries == 20 {
				k.mu.Unlock()
				return
			}
			s = k.sessions[rand.IntN(len(k.sessions))]
		}
	}
	bound := s.Backend
	k.mu.Unlock()

	r := k.do(ctx, n, s.url(n), s.Cookie)
	if ctx.Err() != nil {
		return
	}
	k.requests.Add(1)
	k.mu.Lock()
	defer k.mu.Unlock()
	nc := k.perNode[n.ID]
	if nc == nil {
		nc = &NodeCounts{}
		k.perNode[n.ID] = nc
	}
	switch {
	case r.Err != nil:
		nc.Errors++
		nc.LastErr = r.At
		if r.Status == 0 {
			time.Sleep(5 * time.Millisecond) // a dead node: don't spin
		}
	case r.Backend == bound:
		nc.OK++
		nc.LastOK = r.At
	case k.dead[bound]:
		nc.OK++
		nc.LastOK = r.At
		k.seenOnDead[s.Cookie] = append(k.seenOnDead[s.Cookie], n.ID+"="+r.Backend)
	default:
		nc.Violations++
		if len(k.violations) < 50 {
			k.violations = append(k.violations, fmt.Sprintf("%s %s answered session %s by %s (%s)",
				r.At.Format("15:04:05.000"), n.ID, s.Cookie, r.Backend, s))
		}
	}
}

// Stop stops the readers and the writer.
func (k *Checker) Stop() {
	if k.cancel != nil {
		k.cancel()
	}
	k.wg.Wait()
	k.mu.Lock()
	k.sessions = append(k.sessions, k.pending...)
	k.pending = nil
	k.mu.Unlock()
}

// Violations returns the answers that broke stickiness.
func (k *Checker) Violations() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.violations...)
}

// Writes returns the new-session requests made through sync frontends.
func (k *Checker) Writes() []Result {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]Result(nil), k.writes...)
}

// Requests is how many checked requests were made.
func (k *Checker) Requests() uint64 { return k.requests.Load() }

// Counts returns the per-node answer counts.
func (k *Checker) Counts() map[string]NodeCounts {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := map[string]NodeCounts{}
	for id, c := range k.perNode {
		out[id] = *c
	}
	return out
}

// Summary is a one-line account of the run.
func (k *Checker) Summary() string {
	var b strings.Builder
	c := k.Counts()
	ids := make([]string, 0, len(c))
	for id := range c {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	fmt.Fprintf(&b, "%d checked requests, %d sessions;", k.Requests(), len(k.Sessions()))
	for _, id := range ids {
		fmt.Fprintf(&b, " %s ok=%d err=%d bad=%d;", id, c[id].OK, c[id].Errors, c[id].Violations)
	}
	w := k.Writes()
	okw := 0
	for _, r := range w {
		if r.Err == nil {
			okw++
		}
	}
	fmt.Fprintf(&b, " writes %d/%d ok, longest write gap %v", okw, len(w), LongestWriteGap(w).Round(time.Millisecond))
	early, probes := k.Early()
	fmt.Fprintf(&b, "; early probes %d, answered elsewhere %d", probes, len(early))
	return b.String()
}

// LongestWriteGap is the longest time between two successful writes (a
// failed write in between, or none at all, makes the gap).
func LongestWriteGap(w []Result) time.Duration {
	var last time.Time
	var gap time.Duration
	for _, r := range w {
		if r.Err != nil {
			continue
		}
		end := r.At.Add(r.Latency)
		if !last.IsZero() && end.Sub(last) > gap {
			gap = end.Sub(last)
		}
		last = end
	}
	return gap
}

// Verify sends every session (followed or pending) through every node of among and
// checks that all answer with the session's backend. For a session whose
// backend is dead, all nodes must answer with one same other backend; the
// session is then rebound to it (so later checks are strict again). It
// returns the problems found, and how many sessions moved.
func (k *Checker) Verify(ctx context.Context, among []*Node) (problems []string, moved int) {
	k.mu.Lock()
	sessions := append(append([]*Session(nil), k.sessions...), k.pending...)
	k.mu.Unlock()
	type ans struct {
		i       int
		node    string
		backend string
		err     error
	}
	results := make([][]ans, len(sessions))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i, s := range sessions {
		for _, n := range among {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				var r Result
				for try := 0; try < 3; try++ { // a lost packet is not a stickiness problem
					r = k.do(ctx, n, s.url(n), s.Cookie)
					if r.Err == nil {
						break
					}
				}
				mu.Lock()
				results[i] = append(results[i], ans{i, n.ID, r.Backend, r.Err})
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	k.mu.Lock()
	defer k.mu.Unlock()
	for i, s := range sessions {
		got := map[string][]string{}
		for _, a := range results[i] {
			if a.err != nil {
				problems = append(problems, fmt.Sprintf("session %s via %s: %v", s.Cookie, a.node, a.err))
				continue
			}
			got[a.backend] = append(got[a.backend], a.node)
		}
		switch {
		case len(got) > 1:
			problems = append(problems, fmt.Sprintf("session %s (%s): nodes disagree: %v", s.Cookie, s, got))
		case len(got) == 1:
			for b := range got {
				if b == s.Backend {
					continue
				}
				if !k.dead[s.Backend] {
					problems = append(problems, fmt.Sprintf("session %s (%s) moved from live backend %s to %s", s.Cookie, s, s.Backend, b))
					continue
				}
				if k.dead[b] {
					problems = append(problems, fmt.Sprintf("session %s answered by dead backend %s", s.Cookie, b))
					continue
				}
				s.Backend = b // every node agrees on the replacement
				moved++
			}
		}
	}
	return problems, moved
}

// MarkAlive undoes MarkDead once the backend is back (and agreed up):
// sessions rebound meanwhile must stay where they are. Call Verify before
// it, so that sessions which moved while the checker did not look are
// rebound in the checker too.
func (k *Checker) MarkAlive(name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.dead, name)
}
