package integration

// Randomized fault schedules against an in-process 3-node cluster.
//
// Each schedule is derived from one seed: the faults (graceful stops,
// crashes, restarts, leadership transfers, backend deaths and restarts),
// their order and the pauses between them. While the faults run, clients
// learn new sessions and revisit known ones through random nodes; in
// learn_commit: sync schedules, further clients learn contended sessions
// through random nodes' learners and read them back linearizably, and that
// history is checked with porcupine. After the last fault everything is
// healed and the cluster must recover within a bound.
//
// Invariants checked:
//   - no committed binding is lost (sync: the client got its response;
//     async: some node's FSM had it);
//   - a committed binding changes only if its server was killed (agreed
//     down: the sessions move to the rendezvous choice);
//   - all FSMs converge, and every node routes every committed session to
//     the same backend, during quiet periods and after recovery;
//   - the cluster serves again within chaosRecoveryBound of the heal;
//   - the sync history of contended learns and reads is linearizable.
//
// Short by default (2 schedules); a long run:
//
//	go test ./integration -run TestChaos -chaos.schedules=1000 -timeout 0
//
// or bench/chaos/run.sh. A failure names its seed; replay it with
// -chaos.seed=N.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/haraft/haraft/cmd/haraftd/config"
	"github.com/haraft/haraft/cmd/haraftd/daemon"
	"github.com/haraft/haraft/proto/fsmpb"
	"github.com/haraft/haraft/proxy/demobackend"
)

var (
	chaosSchedules = flag.Int("chaos.schedules", 0, "randomized fault schedules to run (default 2, 1 with -short)")
	chaosSeed      = flag.Uint64("chaos.seed", 0, "run only the schedule of this seed (replay)")
	chaosFirstSeed = flag.Uint64("chaos.firstseed", 0, "seed of the first schedule (default: from the clock)")
	chaosSteps     = flag.Int("chaos.steps", 8, "faults per schedule")
	chaosHang      = flag.Duration("chaos.hang", 3*time.Minute, "a schedule still running after this is a hang: dump every goroutine and crash")
)

// chaosSeeds returns the seeds of the schedules to run: -chaos.seed alone
// (a replay), or else -chaos.schedules of them (schedules when the flag is
// not given) counting up from -chaos.firstseed (default: from the clock).
func chaosSeeds(schedules int) []uint64 {
	if *chaosSeed != 0 {
		return []uint64{*chaosSeed}
	}
	if *chaosSchedules > 0 {
		schedules = *chaosSchedules
	}
	first := *chaosFirstSeed
	if first == 0 {
		first = uint64(time.Now().UnixNano()%1e9) + 1
	}
	var seeds []uint64
	for i := range schedules {
		seeds = append(seeds, first+uint64(i))
	}
	return seeds
}

// runSeeds runs schedule as a subtest "seed=N" for each seed and returns
// the seeds whose subtest failed.
func runSeeds(t *testing.T, seeds []uint64, schedule func(t *testing.T, seed uint64)) (failed []uint64) {
	t.Helper()
	for _, seed := range seeds {
		if !t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { schedule(t, seed) }) {
			failed = append(failed, seed)
		}
	}
	return failed
}

// chaosRecoveryBound is how long the cluster may take, after the heal, to
// serve on every node with every committed session routed right.
const chaosRecoveryBound = 15 * time.Second

func TestChaos(t *testing.T) {
	if raceEnabled && *chaosSchedules == 0 && *chaosSeed == 0 {
		t.Skip("chaos schedules check timing bounds the race detector's slowdown breaks: run them without -race (go test ./integration -run TestChaos), or pass -chaos.schedules")
	}
	schedules := 2
	if testing.Short() {
		schedules = 1
	}
	seeds := chaosSeeds(schedules)
	var stats chaosTotals
	failed := runSeeds(t, seeds, func(t *testing.T, seed uint64) { stats.add(runChaos(t, seed)) })
	t.Logf("CHAOS SUMMARY schedules=%d violations=%d failed_seeds=%v %s", len(seeds), len(failed), failed, stats.String())
}

type chaosTotals struct {
	mu                                              sync.Mutex
	faults, learned, revisits, linOps, errors, sync int
	leaderlessMisroutes                             int
	maxRecovery                                     time.Duration
}

func (c *chaosTotals) add(s *chaosStats) {
	if s == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults += s.faults
	c.learned += s.learned
	c.revisits += s.revisits
	c.linOps += s.linOps
	c.errors += s.errors
	c.leaderlessMisroutes += s.leaderlessMisroutes
	if s.sync {
		c.sync++
	}
	c.maxRecovery = max(c.maxRecovery, s.recovery)
}

func (c *chaosTotals) String() string {
	return fmt.Sprintf("faults=%d sessions_learned=%d revisits=%d lin_ops=%d client_errors=%d leaderless_misroutes=%d sync_schedules=%d max_recovery=%v",
		c.faults, c.learned, c.revisits, c.linOps, c.errors, c.leaderlessMisroutes, c.sync, c.maxRecovery.Round(time.Millisecond))
}

type chaosStats struct {
	faults, learned, revisits, linOps, errors int
	leaderlessMisroutes                       int
	sync                                      bool
	recovery                                  time.Duration
}

// learnedSession is a session a client saw learned.
type learnedSession struct {
	key, server string
	at          time.Time // response time (sync: commit time)
	committed   bool
	committedAt time.Time
}

// revisit is one request of a known session through some node.
type revisit struct {
	key, node, backend string
	start, end         time.Time
	known              bool   // the node's FSM had the session right after the response
	boundUp            bool   // and held its server as keeping sessions (not agreed down), before and after
	bound              string // that server, the same before and after ("" if it changed)
	leaderless         bool   // the node knew no leader before or after the request
	lag                uint64 // the leader's applied index minus the node's, then
}

type chaos struct {
	t     *testing.T
	seed  uint64
	rng   *rand.Rand // the schedule's; used only by the fault goroutine
	sync  bool
	c     *daemon.DevCluster
	start time.Time

	mu            sync.RWMutex // guards c.Nodes, c.Backends and the fields below
	backendAlive  [2]bool
	backendDead   [][2]time.Time // each backend death: kill, restart (zero while dead)
	deadSince     [2]int         // index into backendDead of a dead backend's interval
	killedServers map[string]bool
	sessions      map[string]*learnedSession
	order         []string
	revisits      []revisit
	faultLog      []string
	linHistory    []porcupine.Operation
	stats         chaosStats

	violations []string
}

func (ch *chaos) logf(format string, args ...any) {
	ch.mu.Lock()
	ch.faultLog = append(ch.faultLog, fmt.Sprintf("%7.3fs ", time.Since(ch.start).Seconds())+fmt.Sprintf(format, args...))
	ch.mu.Unlock()
}

func (ch *chaos) violation(format string, args ...any) {
	ch.mu.Lock()
	ch.violations = append(ch.violations, fmt.Sprintf(format, args...))
	ch.mu.Unlock()
}

// running returns the running daemons with their indexes.
func (ch *chaos) running() (idx []int, ds []*daemon.Daemon) {
	ch.mu.RLock()
	defer ch.mu.RUnlock()
	for i, d := range ch.c.Nodes {
		if d != nil {
			idx = append(idx, i)
			ds = append(ds, d)
		}
	}
	return idx, ds
}

// leaderLocked returns the running leader, if any; ch.mu is held.
func (ch *chaos) leaderLocked() *daemon.Daemon {
	for _, d := range ch.c.Nodes {
		if d != nil && d.Node().IsLeader() {
			return d
		}
	}
	return nil
}

// servingNode picks a random running node whose frontends serve.
func (ch *chaos) servingNode(r *rand.Rand) (*daemon.Daemon, string) {
	_, ds := ch.running()
	var ok []*daemon.Daemon
	for _, d := range ds {
		select {
		case <-d.Serving():
			ok = append(ok, d)
		default:
		}
	}
	if len(ok) == 0 {
		return nil, ""
	}
	d := ok[r.IntN(len(ok))]
	return d, "http://" + d.Frontends()[0].Addr().String() + "/"
}

func runChaos(t *testing.T, seed uint64) *chaosStats {
	ch := &chaos{t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, 0xc4a05)), killedServers: map[string]bool{}, sessions: map[string]*learnedSession{}}
	ch.sync = seed%2 == 0
	// A hang (a shutdown that never returns, a deadlock) must name its
	// seed and show where everything waits.
	watchdog := time.AfterFunc(*chaosHang, func() {
		debug.SetTraceback("all")
		panic(fmt.Sprintf("chaos seed=%d: schedule still running after %v: hung (every goroutine follows)", seed, *chaosHang))
	})
	defer watchdog.Stop()
	ch.stats.sync = ch.sync
	mode := config.LearnCommitAsync
	if ch.sync {
		mode = config.LearnCommitSync
	}
	check := config.Check{Inter: config.Duration{Duration: 30 * time.Millisecond}, Rise: 2, Fall: 2}
	ch.c = startDevWith(t, daemon.DevOptions{Cookie: learnMode(), LearnCommit: mode, Check: &check})
	ch.backendAlive = [2]bool{true, true}
	ch.start = time.Now()
	t.Logf("chaos seed=%d learn_commit=%s steps=%d (replay: go test ./integration -run 'TestChaos' -chaos.seed=%d -v)", seed, mode, *chaosSteps, seed)
	defer func() {
		if t.Failed() || len(ch.violations) > 0 {
			t.Logf("schedule of seed %d:\n  %s", seed, strings.Join(ch.faultLog, "\n  "))
		}
	}()

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); ch.traffic(ctx, rand.New(rand.NewPCG(seed, uint64(w)))) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); ch.observeCommits(ctx) }()
	if ch.sync {
		for w := range 3 {
			wg.Add(1)
			go func() { defer wg.Done(); ch.linClient(ctx, w, rand.New(rand.NewPCG(seed, 100+uint64(w)))) }()
		}
	}

	for step := 0; step < *chaosSteps; step++ {
		time.Sleep(time.Duration(100+ch.rng.IntN(500)) * time.Millisecond)
		ch.fault()
	}
	time.Sleep(200 * time.Millisecond)
	healed := ch.heal()
	ch.waitRecovered(healed)
	stop()
	wg.Wait()
	ch.finalChecks()
	if ch.sync {
		ch.checkLinearizable()
	}
	for _, v := range ch.violations {
		t.Errorf("seed %d: %s", seed, v)
	}
	// bench/chaos/run.sh counts these lines (a crash prints no PASS line).
	t.Logf("CHAOS DONE seed=%d violations=%d leaderless_misroutes=%d", seed, len(ch.violations), ch.stats.leaderlessMisroutes)
	return &ch.stats
}

// fault injects one random fault.
func (ch *chaos) fault() {
	r := ch.rng
	idx, _ := ch.running()
	down := 3 - len(idx)
	ch.stats.faults++
	switch p := r.IntN(100); {
	case p < 20 && len(idx) > 1 && (down == 0 || r.IntN(10) == 0):
		i := idx[r.IntN(len(idx))]
		ch.stopNode(i, false)
	case p < 45 && len(idx) > 1 && (down == 0 || r.IntN(10) == 0):
		i := idx[r.IntN(len(idx))]
		ch.stopNode(i, true)
	case p < 65 && down > 0:
		ch.restartNode()
	case p < 72:
		ch.transferLeadership()
	case p < 86:
		j := r.IntN(2)
		ch.mu.RLock()
		other := ch.backendAlive[1-j]
		ch.mu.RUnlock()
		if other {
			ch.killBackend(j)
		} else {
			ch.restartBackend(1 - j)
		}
	default:
		ch.mu.RLock()
		var deadB []int
		for j, alive := range ch.backendAlive {
			if !alive {
				deadB = append(deadB, j)
			}
		}
		ch.mu.RUnlock()
		if len(deadB) > 0 {
			ch.restartBackend(deadB[r.IntN(len(deadB))])
		} else if down > 0 {
			ch.restartNode()
		} else {
			ch.transferLeadership()
		}
	}
}

func (ch *chaos) stopNode(i int, crash bool) {
	ch.mu.Lock()
	d := ch.c.Nodes[i]
	ch.c.Nodes[i] = nil
	ch.mu.Unlock()
	if d == nil {
		return
	}
	leader := d.Node().IsLeader()
	start := time.Now()
	if crash {
		_ = d.Node().Kill()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := d.Shutdown(ctx)
	what := "stop"
	if crash {
		what = "crash"
	}
	ch.logf("%s n%d (leader=%v) took %v err=%v", what, i+1, leader, time.Since(start).Round(time.Millisecond), err)
}

func (ch *chaos) restartNode() {
	ch.mu.Lock()
	var stopped []int
	for i, d := range ch.c.Nodes {
		if d == nil {
			stopped = append(stopped, i)
		}
	}
	if len(stopped) == 0 {
		ch.mu.Unlock()
		return
	}
	i := stopped[ch.rng.IntN(len(stopped))]
	err := ch.c.RestartNode(i)
	ch.mu.Unlock()
	ch.logf("restart n%d err=%v", i+1, err)
	if err != nil {
		ch.violation("restart of n%d failed: %v", i+1, err)
	}
}

func (ch *chaos) transferLeadership() {
	_, ds := ch.running()
	for _, d := range ds {
		if d.Node().IsLeader() {
			err := d.Node().Raft().LeadershipTransfer().Error()
			ch.logf("leadership transfer from %s err=%v", d.Node().ID(), err)
			return
		}
	}
	ch.logf("leadership transfer: no leader")
}

func (ch *chaos) killBackend(j int) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if !ch.backendAlive[j] {
		return
	}
	b := ch.c.Backends[j]
	b.Close()
	ch.backendAlive[j] = false
	ch.deadSince[j] = len(ch.backendDead)
	ch.backendDead = append(ch.backendDead, [2]time.Time{time.Now(), {}})
	ch.killedServers[b.Name] = true
	ch.faultLog = append(ch.faultLog, fmt.Sprintf("%7.3fs kill backend %s", time.Since(ch.start).Seconds(), b.Name))
}

func (ch *chaos) restartBackend(j int) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.backendAlive[j] {
		return
	}
	old := ch.c.Backends[j]
	var (
		b   *demobackend.Server
		err error
	)
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, err = demobackend.Start(old.Name, old.Addr()); err == nil || time.Now().After(deadline) {
			break
		}
	}
	ch.faultLog = append(ch.faultLog, fmt.Sprintf("%7.3fs restart backend %s err=%v", time.Since(ch.start).Seconds(), old.Name, err))
	if err != nil {
		ch.violations = append(ch.violations, fmt.Sprintf("backend %s could not restart: %v", old.Name, err))
		return
	}
	ch.c.Backends[j] = b
	ch.backendAlive[j] = true
	ch.backendDead[ch.deadSince[j]][1] = time.Now()
}

// heal restarts every stopped node and backend; it returns the time of the
// last fault.
func (ch *chaos) heal() time.Time {
	for j := range 2 {
		ch.restartBackend(j)
	}
	ch.mu.Lock()
	for i, d := range ch.c.Nodes {
		if d == nil {
			err := ch.c.RestartNode(i)
			ch.faultLog = append(ch.faultLog, fmt.Sprintf("%7.3fs heal: restart n%d err=%v", time.Since(ch.start).Seconds(), i+1, err))
			if err != nil {
				ch.violations = append(ch.violations, fmt.Sprintf("heal: restart of n%d failed: %v", i+1, err))
			}
		}
	}
	ch.mu.Unlock()
	return time.Now()
}

var chaosClient = &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Second}}

type chaosResp struct {
	status           int
	backend, session string
	setCookie        []string
}

func chaosGet(url, cookie string) (chaosResp, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return chaosResp{}, err
	}
	if cookie != "" {
		req.Header.Set("Cookie", "JSESSIONID="+cookie)
	}
	resp, err := chaosClient.Do(req)
	if err != nil {
		return chaosResp{}, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return chaosResp{resp.StatusCode, resp.Header.Get("X-Backend"), resp.Header.Get("X-Session"), resp.Header.Values("Set-Cookie")}, nil
}

func sessionCookie(lines []string) string {
	for _, l := range lines {
		if c, err := http.ParseSetCookie(l); err == nil && c.Name == "JSESSIONID" {
			return c.Value
		}
	}
	return ""
}

// traffic learns new sessions and revisits known ones through random
// serving nodes until ctx ends.
func (ch *chaos) traffic(ctx context.Context, r *rand.Rand) {
	for ctx.Err() == nil {
		d, url := ch.servingNode(r)
		if d == nil {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		ch.mu.RLock()
		n := len(ch.order)
		var key string
		if n > 0 && r.IntN(10) < 7 {
			key = ch.order[r.IntN(n)]
		}
		ch.mu.RUnlock()
		start := time.Now()
		upBefore, srvBefore := true, ""
		_, leaderBefore := d.Node().Leader()
		if key != "" {
			if srv, ok := d.FSM().Lookup("app", key); ok {
				upBefore, srvBefore = d.FSM().Servers().Get("app", srv).KeepsSessions(), srv
			}
		}
		res, err := chaosGet(url, key)
		end := time.Now()
		_, leaderAfter := d.Node().Leader()
		if err != nil || res.status != http.StatusOK {
			ch.mu.Lock()
			ch.stats.errors++
			ch.mu.Unlock()
			continue
		}
		ch.mu.Lock()
		if key == "" {
			if sid := sessionCookie(res.setCookie); sid != "" {
				ls := &learnedSession{key: sid, server: res.backend, at: end}
				if ch.sync {
					// The response was held until the binding committed.
					ls.committed, ls.committedAt = true, end
				}
				ch.sessions[sid] = ls
				ch.order = append(ch.order, sid)
				ch.stats.learned++
			}
		} else {
			srv, known := d.FSM().Lookup("app", key)
			rv := revisit{key: key, node: d.Node().ID(), backend: res.backend, start: start, end: end, known: known,
				boundUp:    upBefore && known && d.FSM().Servers().Get("app", srv).KeepsSessions(),
				leaderless: leaderBefore == "" || leaderAfter == ""}
			if known && srv == srvBefore {
				rv.bound = srv
			}
			if leader := ch.leaderLocked(); leader != nil {
				if la, na := leader.FSM().AppliedIndex(), d.FSM().AppliedIndex(); la > na {
					rv.lag = la - na
				}
			}
			ch.revisits = append(ch.revisits, rv)
			ch.stats.revisits++
		}
		ch.mu.Unlock()
	}
}

// observeCommits marks sessions committed once a node's FSM has them
// (async mode; in sync mode it only confirms).
func (ch *chaos) observeCommits(ctx context.Context) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		_, ds := ch.running()
		ch.mu.Lock()
		for _, key := range ch.order {
			ls := ch.sessions[key]
			if ls.committed {
				continue
			}
			for _, d := range ds {
				if srv, ok := d.FSM().Lookup("app", key); ok {
					ls.committed, ls.committedAt, ls.server = true, time.Now(), srv
					break
				}
			}
		}
		ch.mu.Unlock()
	}
}

// waitRecovered waits, within chaosRecoveryBound of the heal, for every node
// to serve, a leader, both backends agreed up everywhere, and every node's
// FSM to hold every committed session.
func (ch *chaos) waitRecovered(healed time.Time) {
	deadline := healed.Add(chaosRecoveryBound)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	ch.mu.RLock()
	err := ch.c.WaitServing(ctx)
	ch.mu.RUnlock()
	if err != nil {
		ch.violation("not recovered %v after the heal: %v", chaosRecoveryBound, err)
		return
	}
	_, ds := ch.running()
	cond := func() string {
		leaders := 0
		for _, d := range ds {
			if d.Node().IsLeader() {
				leaders++
			}
			for _, srv := range []string{"A", "B"} {
				if h := d.FSM().Servers().Get("app", srv).Health; h != fsmpb.Health_HEALTH_UP {
					return fmt.Sprintf("%s agreed %v on %s", srv, h, d.Node().ID())
				}
			}
		}
		if leaders != 1 {
			return fmt.Sprintf("%d leaders", leaders)
		}
		ch.mu.RLock()
		defer ch.mu.RUnlock()
		// Sessions committed before the heal: traffic goes on meanwhile,
		// and a session committed a moment ago may not be applied
		// everywhere yet.
		for _, key := range ch.order {
			ls := ch.sessions[key]
			if !ls.committed || !ls.committedAt.Before(healed) {
				continue
			}
			for _, d := range ds {
				if _, ok := d.FSM().Lookup("app", key); !ok {
					return fmt.Sprintf("%s does not know committed session %s", d.Node().ID(), key)
				}
			}
		}
		return ""
	}
	// Both servers must be agreed up everywhere for a while: views of a
	// server killed just before the heal may still be committed (down)
	// after it came back, and then flip up again.
	var why string
	var upSince time.Time
	for {
		if why = cond(); why == "" {
			if upSince.IsZero() {
				upSince = time.Now()
			}
			if time.Since(upSince) >= 500*time.Millisecond {
				break
			}
		} else {
			upSince = time.Time{}
		}
		if time.Now().After(deadline) {
			if why == "" {
				why = "servers' agreed health not stable for 500 ms"
			}
			ch.violation("not recovered %v after the heal: %s", chaosRecoveryBound, why)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	ch.stats.recovery = time.Since(healed)
	ch.logf("recovered %v after the heal", ch.stats.recovery.Round(time.Millisecond))
}

// finalChecks runs once traffic has stopped.
func (ch *chaos) finalChecks() {
	_, ds := ch.running()
	if len(ds) != 3 {
		ch.violation("%d nodes running after the heal", len(ds))
		return
	}
	// Converged: same applied state everywhere.
	deadline := time.Now().Add(5 * time.Second)
	for {
		a, b, c := ds[0].FSM().SessionCount(), ds[1].FSM().SessionCount(), ds[2].FSM().SessionCount()
		if a == b && b == c {
			break
		}
		if time.Now().After(deadline) {
			ch.violation("FSMs did not converge: %d %d %d sessions", a, b, c)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	ch.mu.RLock()
	defer ch.mu.RUnlock()
	final := map[string]string{}
	for _, key := range ch.order {
		ls := ch.sessions[key]
		if !ls.committed {
			continue
		}
		var servers []string
		for _, d := range ds {
			srv, ok := d.FSM().Lookup("app", key)
			if !ok {
				ch.violations = append(ch.violations, fmt.Sprintf("committed binding lost: %s (%s) missing on %s", key, ls.server, d.Node().ID()))
			}
			servers = append(servers, srv)
		}
		if servers[0] != servers[1] || servers[1] != servers[2] {
			ch.violations = append(ch.violations, fmt.Sprintf("nodes disagree on %s: %v", key, servers))
		}
		final[key] = servers[0]
		if servers[0] != ls.server && !ch.killedServers[ls.server] {
			ch.violations = append(ch.violations, fmt.Sprintf("binding of %s moved %s -> %s though %s was never killed", key, ls.server, servers[0], ls.server))
		}
	}
	// Every node routes committed sessions to their binding (a sample).
	keys := make([]string, 0, len(final))
	for k := range final {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	r := rand.New(rand.NewPCG(ch.seed, 7))
	r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	for _, key := range keys[:min(len(keys), 40)] {
		for _, d := range ds {
			res, err := chaosGet("http://"+d.Frontends()[0].Addr().String()+"/", key)
			if err != nil || res.status != http.StatusOK {
				ch.violations = append(ch.violations, fmt.Sprintf("after recovery %s: session %s: %v status %d", d.Node().ID(), key, err, res.status))
				continue
			}
			if res.backend != final[key] {
				ch.violations = append(ch.violations, fmt.Sprintf("after recovery %s routes %s to %s, bound to %s", d.Node().ID(), key, res.backend, final[key]))
			}
		}
	}
	// Revisits during the run, in quiet periods: both backends alive for a
	// second, the binding never moved, committed 250 ms before the request.
	bad := 0
	for _, rv := range ch.revisits {
		ls := ch.sessions[rv.key]
		fin, ok := final[rv.key]
		if !ok || !ls.committed || fin != ls.server || rv.start.Before(ls.committedAt.Add(250*time.Millisecond)) {
			continue
		}
		// What the request should have reached: the binding the node held
		// before and after it; for a node that did not know the session,
		// the committed one, if it can never have moved (a binding moves
		// when its server is agreed down: A -> B -> A ends where it began).
		want := rv.bound
		if !rv.known {
			if ch.killedServers[fin] {
				continue
			}
			want = fin
		}
		// Quiet: no backend died or restarted within a second, and the
		// node's agreed view kept the bound server (an agreed-down server's
		// sessions go to the rendezvous choice, the same on every node).
		if want == "" || rv.backend == want || !ch.quiet(rv.start, rv.end) || (rv.known && !rv.boundUp) {
			continue
		}
		if rv.leaderless {
			// A node cut off from any leader serves what it has applied;
			// a session committed just before it lost the leader may not
			// be among it (no node can know without a quorum): counted,
			// not a violation.
			ch.stats.leaderlessMisroutes++
			continue
		}
		bad++
		if bad <= 5 {
			ch.violations = append(ch.violations, fmt.Sprintf("%s routed committed session %s to %s at %.3fs, bound to %s (committed at %.3fs; the node's FSM had it after the response: %v; it lagged the leader by %d entries)",
				rv.node, rv.key, rv.backend, rv.start.Sub(ch.start).Seconds(), want, ls.committedAt.Sub(ch.start).Seconds(), rv.known, rv.lag))
		}
	}
	if bad > 5 {
		ch.violations = append(ch.violations, fmt.Sprintf("... %d misrouted revisits in all", bad))
	}
}

// quiet reports whether every backend was alive from a second before
// start until end, and none was killed or restarted in that time (a request
// may be redispatched when its server's connection fails, by design).
func (ch *chaos) quiet(start, end time.Time) bool {
	from, to := start.Add(-time.Second), end.Add(50*time.Millisecond)
	for _, iv := range ch.backendDead {
		stop := iv[1]
		if stop.IsZero() {
			stop = time.Now() // still dead
		}
		if iv[0].Before(to) && stop.Add(time.Second).After(from) {
			return false
		}
	}
	return true
}

// --- linearizability of sync learns and reads ---

// The "lin" backend exists only in the FSM: its servers are never agreed
// down, so its bindings follow first-binding-wins with no rebinding: a
// register per session that the first learn sets.
const linBackend = "lin"

type linInput struct {
	read   bool
	key    string
	server string // learn: the proposed server
}

type linOutput struct {
	server  string // learn: the committed server; read: the bound server ("" = none)
	unknown bool   // learn failed or timed out: maybe committed
}

var linModel = porcupine.NondeterministicModel{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range h {
			k := op.Input.(linInput).key
			if _, ok := by[k]; !ok {
				keys = append(keys, k)
			}
			by[k] = append(by[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, by[k])
		}
		return out
	},
	Init: func() []any { return []any{""} },
	Step: func(state, input, output any) []any {
		st, in, out := state.(string), input.(linInput), output.(linOutput)
		if in.read {
			if out.server == st {
				return []any{st}
			}
			return nil
		}
		if out.unknown {
			if st == "" {
				return []any{"", in.server}
			}
			return []any{st}
		}
		if st == "" {
			if out.server == in.server {
				return []any{in.server}
			}
			return nil
		}
		if out.server == st {
			return []any{st}
		}
		return nil
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(linInput), output.(linOutput)
		if in.read {
			return fmt.Sprintf("read(%s) -> %q", in.key, out.server)
		}
		if out.unknown {
			return fmt.Sprintf("learn(%s, %s) -> ?", in.key, in.server)
		}
		return fmt.Sprintf("learn(%s, %s) -> %s", in.key, in.server, out.server)
	},
}

// linClient learns and reads a small set of contended sessions through
// random nodes: learns through the node's learner in sync mode (as the
// proxy does with learn_commit: sync), reads linearizably (the leader's
// applied index after a barrier, then the node's FSM once it has applied
// that index — the readiness gate's read).
func (ch *chaos) linClient(ctx context.Context, client int, r *rand.Rand) {
	for ctx.Err() == nil {
		key := fmt.Sprintf("s%d-k%d", ch.seed%1000, r.IntN(6))
		d, _ := ch.servingNode(r)
		if d == nil {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if r.IntN(2) == 0 {
			srv := []string{"X", "Y", "Z"}[r.IntN(3)]
			call := time.Since(ch.start).Nanoseconds()
			octx, cancel := context.WithTimeout(ctx, 2*time.Second)
			got, err := d.Learner().Learn(octx, linBackend, key, srv, true)
			cancel()
			ret := time.Since(ch.start).Nanoseconds()
			out := linOutput{server: got}
			if err != nil {
				// Maybe committed, maybe later (the binding is queued):
				// it may take effect at any time from the call on.
				out, ret = linOutput{unknown: true}, math.MaxInt64
			}
			ch.recordLin(porcupine.Operation{ClientId: client, Input: linInput{key: key, server: srv}, Call: call, Output: out, Return: ret})
			continue
		}
		call := time.Since(ch.start).Nanoseconds()
		srv, ok := ch.linRead(ctx, d, key)
		ret := time.Since(ch.start).Nanoseconds()
		if !ok {
			continue // a failed read has no effect: leave it out
		}
		ch.recordLin(porcupine.Operation{ClientId: client, Input: linInput{read: true, key: key}, Call: call, Output: linOutput{server: srv}, Return: ret})
		time.Sleep(time.Duration(r.IntN(5)) * time.Millisecond)
	}
}

func (ch *chaos) recordLin(op porcupine.Operation) {
	ch.mu.Lock()
	ch.linHistory = append(ch.linHistory, op)
	ch.stats.linOps++
	ch.mu.Unlock()
}

func (ch *chaos) linRead(ctx context.Context, d *daemon.Daemon, key string) (string, bool) {
	_, ds := ch.running()
	var leader *daemon.Daemon
	for _, x := range ds {
		if x.Node().IsLeader() {
			leader = x
		}
	}
	if leader == nil {
		return "", false
	}
	// A raft future left queued when its node stops is never answered
	// (hashicorp/raft#498): never wait on one without a deadline.
	barrier := make(chan error, 1)
	go func() { barrier <- leader.Node().Raft().Barrier(time.Second).Error() }()
	select {
	case err := <-barrier:
		if err != nil {
			return "", false
		}
	case <-time.After(2 * time.Second):
		return "", false
	}
	idx := leader.Node().Raft().AppliedIndex()
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := d.FSM().WaitApplied(wctx, idx); err != nil {
		return "", false
	}
	srv, _ := d.FSM().Lookup(linBackend, key)
	return srv, true
}

func (ch *chaos) checkLinearizable() {
	ch.mu.RLock()
	h := slices.Clone(ch.linHistory)
	ch.mu.RUnlock()
	if len(h) == 0 {
		return
	}
	res, info := porcupine.CheckOperationsVerbose(linModel.ToModel(), h, 30*time.Second)
	switch res {
	case porcupine.Ok:
		ch.logf("linearizable: %d operations", len(h))
	case porcupine.Illegal:
		msg := fmt.Sprintf("sync learn/read history of %d operations is not linearizable", len(h))
		if path, err := writeLinViz(ch.t, info); err == nil {
			msg += " (visualization: " + path + ")"
		}
		ch.violation("%s", msg)
	default:
		ch.logf("linearizability check timed out on %d operations", len(h))
	}
}

func writeLinViz(t *testing.T, info porcupine.LinearizationInfo) (string, error) {
	path := fmt.Sprintf("%s/chaos-lin-%d.html", t.TempDir(), time.Now().UnixNano())
	if dir := strings.TrimSpace(os.Getenv("HARAFT_CHAOS_ARTIFACTS")); dir != "" {
		path = fmt.Sprintf("%s/%s.html", dir, strings.ReplaceAll(t.Name(), "/", "_"))
	}
	err := porcupine.VisualizePath(linModel.ToModel(), info, path)
	if err != nil {
		return "", err
	}
	return path, nil
}
