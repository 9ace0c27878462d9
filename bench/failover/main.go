//go:build linux

// Command failover measures haraft's failover timeline under real faults,
// side by side with the recipe it replaces (keepalived VRRP + HAProxy), in
// network namespaces on one machine. See README.md.
//
//	go run ./bench/failover -runs 20
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/haraft/haraft/integration/nsharness"
)

var (
	runs      = flag.Int("runs", 20, "runs per fault")
	faultList = flag.String("faults", "leader-kill,leader-stop,leader-link,leader-partition,follower-kill,backend-kill,vip-holder-loss,vip-holder-leader-loss,vip-holder-partition", "haraft faults to run")
	anchorF   = flag.String("anchor", "master-kill,master-loss,master-stop,master-link,partition,proxy-kill,backup-kill", "keepalived faults to run (empty: no anchor)")
	vipF      = flag.Bool("vip", true, "give the haraft cluster a Linux VIP (eips:, eip_mover: kind vip)")
	keep      = flag.Bool("keep", false, "keep the work dir (logs, configs)")
	jsonOut   = flag.String("json", "", "write every sample to this file as JSON")
	heartbeat = flag.Duration("heartbeat", 250*time.Millisecond, "haraft raft heartbeat and election timeout (leader lease: half); a LAN/AZ profile")
	window    = flag.Duration("window", 10*time.Second, "longest a run waits for its events")
	hold      = flag.Duration("hold", 2*time.Second, "shortest time a haraft node fault lasts before it is repaired (so a VIP on the failed node has to move)")
	verbose   = flag.Bool("v", false, "log each run")
	vipHolder = flag.String("vip-holder", "any", "for leader faults, where the VIP is when the fault strikes: any, follower or leader (leadership is transferred through the admin API)")

	probeTimeout = flag.Duration("probe-timeout", time.Second, "timeout of each first-good-response probe (haraft and keepalived alike)")
)

// probeEvery is the cadence of the first-good-response probes, and
// maxProbes bounds how many may be in flight at once (a probe into a dead
// path hangs until its timeout; with the bound reached a tick is skipped).
const (
	probeEvery = 10 * time.Millisecond
	maxProbes  = 110
)

// firstGood sends probe(ctx, i) every probeEvery, each on its own
// goroutine (and, with a client that keeps no connections, its own
// connection) under its own timeout, until one succeeds or ctx ends, and
// returns the earliest instant, from t0, at which a probe succeeded (none
// if none did). A probe that hangs in a failing path therefore does not
// hide the good answers of the probes sent after it.
func firstGood(ctx context.Context, t0 time.Time, probe func(ctx context.Context, i int) bool) time.Duration {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu   sync.Mutex
		best = none
		wg   sync.WaitGroup
	)
	done := make(chan struct{})
	var once sync.Once
	sem := make(chan struct{}, maxProbes)
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case sem <- struct{}{}:
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				pctx, pcancel := context.WithTimeout(ctx, *probeTimeout)
				defer pcancel()
				if probe(pctx, i) {
					at := time.Since(t0)
					mu.Lock()
					if best < 0 || at < best {
						best = at
					}
					mu.Unlock()
					once.Do(func() { close(done) })
				}
			}()
		default: // every slot holds a hung probe: skip this tick
		}
		select {
		case <-tick.C:
			continue
		case <-done:
		case <-ctx.Done():
		}
		break
	}
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	return best
}

// sample is one run's timeline, each duration from the fault; negative
// means the event was not seen (or does not apply).
type sample struct {
	System string        `json:"system"`
	Fault  string        `json:"fault"`
	Detect time.Duration `json:"detect_ns"`
	Leader time.Duration `json:"new_leader_ns"`
	Commit time.Duration `json:"decision_committed_ns"`
	VIP    time.Duration `json:"vip_moved_ns"`
	// VIPGap: the longest time, from the fault on, that no reachable
	// node held the VIP (haraft with a VIP only).
	VIPGap     time.Duration `json:"vip_gap_ns"`
	Good       time.Duration `json:"first_good_ns"`
	TwoHolders bool          `json:"two_holders"`
	Violations int           `json:"violations"`
	Note       string        `json:"note,omitempty"`
}

const none = time.Duration(-1)

func newSample(system, fault string) sample {
	return sample{System: system, Fault: fault, Detect: none, Leader: none, Commit: none, VIP: none, VIPGap: none, Good: none}
}

func main() {
	nsharness.ChildMain() // demo backends are this binary run again
	flag.Parse()
	if err := nsharness.Check(); err != nil {
		fmt.Fprintln(os.Stderr, "failover:", err)
		os.Exit(2)
	}
	logf := func(format string, args ...any) {
		if *verbose {
			fmt.Fprintf(os.Stderr, format+"\n", args...)
		}
	}
	env, err := nsharness.New(nsharness.Options{KeepDir: *keep, Logf: logf})
	if err != nil {
		fmt.Fprintln(os.Stderr, "failover:", err)
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		env.Close()
		os.Exit(130)
	}()
	code := 0
	if err := run(env, logf); err != nil {
		fmt.Fprintln(os.Stderr, "failover:", err)
		code = 1
	}
	if *keep {
		fmt.Fprintln(os.Stderr, "work dir kept:", env.Dir)
	}
	env.Close()
	os.Exit(code)
}

func run(env *nsharness.Env, logf func(string, ...any)) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin, err := nsharness.BuildHaraftd(ctx, env.Dir)
	if err != nil {
		return err
	}
	spec := nsharness.ClusterSpec{Haraftd: bin, Backends: []string{"A", "B", "C"}, Heartbeat: *heartbeat}
	if *vipF {
		spec.VIP = haraftVIP
	}
	c, err := nsharness.NewCluster(env, spec)
	if err != nil {
		return err
	}
	if err := c.Start(ctx); err != nil {
		return err
	}
	k := nsharness.NewChecker(c)
	if err := k.Seed(ctx, 60); err != nil {
		return err
	}
	k.Start(3, 50*time.Millisecond) // stickiness checked throughout every haraft run
	var samples []sample
	faults := split(*faultList)
	for _, f := range faults {
		for i := 0; i < *runs; i++ {
			before := len(k.Violations())
			s, err := haraftRun(c, k, f)
			if err != nil {
				return fmt.Errorf("haraft %s run %d: %w", f, i+1, err)
			}
			s.Violations = len(k.Violations()) - before
			logf("haraft %-16s run %2d: %s", f, i+1, s)
			fmt.Fprint(os.Stderr, ".")
			samples = append(samples, s)
		}
	}
	k.Stop()
	fmt.Fprintln(os.Stderr)
	if v := k.Violations(); len(v) > 0 {
		fmt.Fprintf(os.Stderr, "stickiness violations: %d, e.g.\n  %s\n", len(v), strings.Join(v[:min(5, len(v))], "\n  "))
	}

	if afs := split(*anchorF); len(afs) > 0 {
		if err := nsharness.CheckKeepalived(); err != nil {
			fmt.Fprintln(os.Stderr, "anchor skipped:", err)
		} else {
			p, err := nsharness.NewKeepalivedPair(env, c.Backends)
			if err != nil {
				return err
			}
			actx, acancel := context.WithTimeout(context.Background(), time.Minute)
			defer acancel()
			if err := p.WaitMaster(actx, p.LBs[0]); err != nil {
				return err
			}
			for _, f := range afs {
				for i := 0; i < *runs; i++ {
					s, err := anchorRun(c, p, f)
					if err != nil {
						return fmt.Errorf("keepalived %s run %d: %w", f, i+1, err)
					}
					logf("keepalived %-16s run %2d: %s", f, i+1, s)
					fmt.Fprint(os.Stderr, ".")
					samples = append(samples, s)
				}
			}
			fmt.Fprintln(os.Stderr)
		}
	}
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(samples, "", "  ")
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	printTable(samples)
	return nil
}

var haraftVIP = netip.MustParseAddr("198.18.0.200")

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (s sample) String() string {
	f := func(d time.Duration) string {
		if d < 0 {
			return "-"
		}
		return d.Round(time.Millisecond).String()
	}
	return fmt.Sprintf("detect %s leader %s commit %s vip %s vip-gap %s good %s two-holders %v violations %d %s",
		f(s.Detect), f(s.Leader), f(s.Commit), f(s.VIP), f(s.VIPGap), f(s.Good), s.TwoHolders, s.Violations, s.Note)
}

// haraftRun injects one fault into the haraft cluster, records its
// timeline, then repairs the fault and waits until the cluster has caught up.
func haraftRun(c *nsharness.Cluster, k *nsharness.Checker, fault string) (sample, error) {
	s := newSample("haraft", fault)
	ctx, cancel := context.WithTimeout(context.Background(), *window+30*time.Second)
	defer cancel()
	leader, err := c.CaughtUp(ctx)
	if err != nil {
		return s, err
	}
	if fault == "vip-holder-leader-loss" {
		// Make the VIP holder the leader: restart the leader gracefully
		// (it hands leadership to a follower) until the holder leads.
		for try := 0; ; try++ {
			h, err := c.WaitVIPHolder(ctx, nil)
			if err != nil {
				return s, err
			}
			if h == leader {
				break
			}
			if try == 8 {
				return s, fmt.Errorf("%s: the VIP holder %s did not become the leader", fault, h.ID)
			}
			if err := leader.Restart(); err != nil {
				return s, err
			}
			if leader, err = c.CaughtUp(ctx); err != nil {
				return s, err
			}
		}
	}
	if strings.HasPrefix(fault, "leader-") && c.Spec.VIP.IsValid() && *vipHolder != "any" {
		// Put the VIP where -vip-holder says, by moving leadership.
		for try := 0; ; try++ {
			h, err := c.WaitVIPHolder(ctx, nil)
			if err != nil {
				return s, err
			}
			if (h == leader) == (*vipHolder == "leader") {
				break
			}
			if try == 8 {
				return s, fmt.Errorf("%s: could not put the VIP on the %s", fault, *vipHolder)
			}
			to := h // -vip-holder leader: the holder leads
			if *vipHolder == "follower" {
				to = c.Others(h)[0]
			}
			if err := c.TransferLeadership(ctx, leader, to); err != nil {
				return s, err
			}
			if leader, err = c.CaughtUp(ctx); err != nil {
				return s, err
			}
		}
	}
	time.Sleep(500 * time.Millisecond)
	pre := c.Statuses(ctx, c.Nodes)
	var maxCommit uint64
	for _, st := range pre {
		maxCommit = max(maxCommit, st.CommitIndex)
	}
	term := pre[leader.ID].Term
	victim := leader
	if fault == "follower-kill" {
		victim = c.Others(leader)[rand.IntN(len(c.Nodes)-1)]
	}
	vipFault := strings.HasPrefix(fault, "vip-")
	if vipFault {
		if !c.Spec.VIP.IsValid() {
			return s, fmt.Errorf("%s needs -vip", fault)
		}
		h, err := c.WaitVIPHolder(ctx, nil)
		if err != nil {
			return s, err
		}
		victim = h
		s.Note = "holder was " + map[bool]string{true: "the leader", false: "a follower"}[h == leader]
	} else if c.Spec.VIP.IsValid() && strings.HasPrefix(fault, "leader-") {
		if h, err := c.WaitVIPHolder(ctx, nil); err == nil {
			s.Note = "VIP on " + map[bool]string{true: "the leader", false: "a follower"}[h == leader]
		}
	}
	var mon *nsharness.VIPMonitor
	if c.Spec.VIP.IsValid() {
		mon = c.WatchVIP(10 * time.Millisecond)
		defer func() {
			if mon != nil {
				mon.Stop()
			}
		}()
	}
	survivors := c.Others(victim)
	var deadBackend *nsharness.Backend
	if fault == "backend-kill" {
		deadBackend = c.Backends[rand.IntN(len(c.Backends))]
		survivors = c.Nodes
	}
	logs := c.LogOffsets()
	k.SetNodes(survivors)
	if victim != nil && fault != "backend-kill" {
		k.Freeze(victim)
	}

	// First good response: for node faults, the first new session committed
	// (a learn_commit sync answer) through a surviving node after the fault;
	// for a backend kill, the first answer for a session of that backend;
	// for VIP faults, the first answer through the address from the
	// session's backend. Probes go out every probeEvery, each on its own
	// connection with its own timeout (see firstGood).
	goodCh := make(chan time.Duration, 1)
	pctx, pcancel := context.WithTimeout(ctx, *window)
	defer pcancel()
	var t0 time.Time
	started := make(chan struct{})
	go func() {
		<-started
		cl := c.Client.HTTPClient(*probeTimeout, false)
		var sessions []*nsharness.Session
		if deadBackend != nil {
			for _, x := range k.Sessions() {
				if x.Backend == deadBackend.Name {
					sessions = append(sessions, x)
				}
			}
		}
		var vipSessions []*nsharness.Session
		if vipFault {
			for _, x := range k.Sessions() {
				if !x.Sync {
					vipSessions = append(vipSessions, x)
				}
			}
		}
		goodCh <- firstGood(pctx, t0, func(ctx context.Context, i int) bool {
			if vipFault {
				// Through the address: a seeded session, answered by its backend.
				x := vipSessions[i%len(vipSessions)]
				req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("http://%s:%d/", c.Spec.VIP, nsharness.ProxyPort), nil)
				req.Header.Set("Cookie", "JSESSIONID="+x.Cookie)
				resp, err := cl.Do(req)
				if err != nil {
					return false
				}
				resp.Body.Close()
				return resp.StatusCode == 200 && resp.Header.Get("X-Backend") == x.Backend
			}
			n := survivors[i%len(survivors)]
			url, cookie := n.SyncURL(), ""
			if deadBackend != nil && len(sessions) > 0 {
				x := sessions[i%len(sessions)]
				url, cookie = n.URL(), x.Cookie
				if x.Sync {
					url = n.SyncURL()
				}
			}
			req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
			if cookie != "" {
				req.Header.Set("Cookie", "JSESSIONID="+cookie)
			}
			resp, err := cl.Do(req)
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == 200
		})
	}()

	t0 = time.Now()
	switch fault {
	case "leader-kill", "follower-kill":
		err = victim.Kill()
	case "leader-stop":
		err = victim.Proc().Stop()
	case "leader-link":
		err = victim.LinkDown()
	case "leader-partition":
		partitionHeal, err = c.Env.Partition([]*nsharness.Host{victim.Host}, nsharness.Hosts(survivors))
	case "backend-kill":
		k.MarkDead(deadBackend.Name)
		err = deadBackend.Proc().Kill()
	case "vip-holder-loss", "vip-holder-leader-loss": // the machine is gone: process killed, link down
		mon.CutOff(victim, true)
		if err = victim.Kill(); err == nil {
			err = victim.LinkDown()
		}
	case "vip-holder-partition": // cut off from the other nodes; clients still reach it
		partitionHeal, err = c.Env.Partition([]*nsharness.Host{victim.Host}, nsharness.Hosts(survivors))
	default:
		return s, fmt.Errorf("unknown fault %q", fault)
	}
	close(started)
	if err != nil {
		return s, err
	}

	// Timeline from the survivors' logs and /status.
	newLeader := ""
	deadline := t0.Add(*window)
	for time.Now().Before(deadline) {
		now := time.Since(t0)
		if vipFault {
			if s.VIP < 0 {
				for _, h := range c.VIPHolders() {
					if h != victim {
						s.VIP = now
					}
				}
			}
			if s.Commit < 0 {
				if line, _ := findLogAmong(survivors, logs, "eip: placement committed"); line != "" {
					s.Commit = nsharness.LogTime(line).Sub(t0)
				}
			}
			if s.Detect < 0 && victim == leader {
				if line, _ := findLogAmong(survivors, logs, "heartbeat timeout reached"); line != "" {
					s.Detect = logTimeHC(line).Sub(t0)
				}
			}
			if s.Leader < 0 && victim == leader {
				sctx, scancel := context.WithTimeout(ctx, 300*time.Millisecond)
				for _, x := range c.Statuses(sctx, survivors) {
					if x.State == "Leader" && x.Term > term {
						s.Leader = now
					}
				}
				scancel()
			}
			if s.VIP >= 0 && s.Commit >= 0 && (victim != leader || s.Leader >= 0) {
				break
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if deadBackend != nil {
			name := "server=" + deadBackend.Name
			if s.Detect < 0 {
				if line, _ := findLog(c, logs, "health check view changed", name, "HEALTH_DOWN"); line != "" {
					s.Detect = nsharness.LogTime(line).Sub(t0)
				}
			}
			if s.Commit < 0 {
				if line, _ := findLog(c, logs, "agreed health committed", name, "HEALTH_DOWN"); line != "" {
					s.Commit = nsharness.LogTime(line).Sub(t0)
				}
			}
			if s.Detect >= 0 && s.Commit >= 0 {
				break
			}
		} else {
			if s.Detect < 0 && fault != "follower-kill" {
				if line, _ := findLogAmong(survivors, logs, "heartbeat timeout reached"); line != "" {
					s.Detect = logTimeHC(line).Sub(t0)
				}
			}
			sctx, scancel := context.WithTimeout(ctx, 300*time.Millisecond)
			st := c.Statuses(sctx, survivors)
			scancel()
			for id, x := range st {
				if s.Detect < 0 && fault != "follower-kill" && (x.Leader != leader.ID || x.State == "Candidate") {
					s.Detect = now
				}
				if s.Leader < 0 && x.State == "Leader" && x.Term > term {
					s.Leader, newLeader = now, id
				}
			}
			if newLeader != "" && s.Commit < 0 {
				if x, ok := st[newLeader]; ok && x.CommitIndex > maxCommit {
					s.Commit = now
				}
			}
			if fault == "follower-kill" {
				if x, ok := st[leader.ID]; ok && x.State == "Leader" && x.CommitIndex > maxCommit {
					s.Commit = now // the leader commits on without the follower
				}
				if s.Commit >= 0 {
					break
				}
			} else if s.Detect >= 0 && s.Leader >= 0 && s.Commit >= 0 {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.Good = <-goodCh
	pcancel()
	if deadBackend != nil {
		// Every node now sends each of the dead backend's sessions to one
		// same new backend (Verify rebinds them in the checker).
		time.Sleep(300 * time.Millisecond)
		if problems, _ := k.Verify(ctx, c.Nodes); len(problems) > 0 {
			s.Note = fmt.Sprintf("while down: %d problems, e.g. %s", len(problems), problems[0])
		}
	}

	// Repair, once the fault has lasted long enough for a VIP it took
	// down with it to move.
	if d := *hold - time.Since(t0); d > 0 && deadBackend == nil {
		time.Sleep(d)
	}
	switch fault {
	case "leader-kill", "follower-kill":
		err = victim.Start()
	case "leader-stop":
		err = victim.Proc().Cont()
	case "leader-link":
		err = victim.LinkUp()
	case "leader-partition", "vip-holder-partition":
		err = partitionHeal()
		partitionHeal = nil
	case "backend-kill":
		err = deadBackend.Start()
	case "vip-holder-loss", "vip-holder-leader-loss": // back as after a reboot: the address is gone
		if err = victim.DelAddr(c.Spec.VIP); err == nil {
			if err = victim.LinkUp(); err == nil {
				mon.CutOff(victim, false)
				err = victim.Start()
			}
		}
	}
	if err != nil {
		return s, err
	}
	if _, err := c.CaughtUp(ctx); err != nil {
		return s, err
	}
	if deadBackend != nil {
		// Wait until the backend is agreed up again: the sessions that
		// moved off it stay with their new backends.
		for _, be := range []string{"backend=app ", "backend=appsync "} {
			if _, err := c.WaitLog(ctx, logs, "agreed health committed", be, "server="+deadBackend.Name, "HEALTH_UP"); err != nil {
				return s, err
			}
		}
		time.Sleep(300 * time.Millisecond)
		if problems, _ := k.Verify(ctx, c.Nodes); len(problems) > 0 {
			s.Note += fmt.Sprintf(" after recovery: %d problems, e.g. %s", len(problems), problems[0])
		}
		k.MarkAlive(deadBackend.Name)
	}
	if mon != nil {
		if _, err := c.WaitVIPHolder(ctx, nil); err != nil {
			return s, err
		}
		time.Sleep(200 * time.Millisecond)
		mon.Stop()
		s.VIPGap = longestGap(mon.Changes(), t0)
		if o := mon.Overlaps(); len(o) > 0 {
			s.TwoHolders = true
			var ch []string
			for _, x := range mon.Changes() {
				ch = append(ch, fmt.Sprintf("+%dms %q", x.At.Sub(t0).Milliseconds(), x.Holder))
			}
			s.Note += fmt.Sprintf(" two holders: %v; holders from the fault on: %s", o[:min(3, len(o))], strings.Join(ch, ", "))
		}
		mon = nil
	}
	if victim != nil {
		k.Thaw(victim)
	}
	k.SetNodes(nil)
	return s, nil
}

// longestGap returns the longest stretch, from t0 until the last change,
// in which no reachable node held the VIP.
func longestGap(changes []nsharness.VIPChange, t0 time.Time) time.Duration {
	var longest time.Duration
	var from time.Time // start of the current gap; zero when someone holds it
	for _, x := range changes {
		at := x.At
		if at.Before(t0) {
			at = t0
		}
		switch {
		case x.Holder == "" && from.IsZero():
			from = at
		case x.Holder != "" && !from.IsZero():
			longest = max(longest, at.Sub(from))
			from = time.Time{}
		}
	}
	return longest
}

// partitionHeal undoes the partition of the current leader-partition run.
var partitionHeal func() error

func findLog(c *nsharness.Cluster, from map[string]int64, substrs ...string) (string, *nsharness.Node) {
	return findLogAmong(c.Nodes, from, substrs...)
}

// findLogAmong returns the earliest matching line among the nodes' logs.
func findLogAmong(nodes []*nsharness.Node, from map[string]int64, substrs ...string) (string, *nsharness.Node) {
	var best string
	var bn *nsharness.Node
	var bt time.Time
	for _, n := range nodes {
		p := n.Proc()
		if p == nil {
			continue
		}
		if line := p.FindLog(from[n.ID], substrs...); line != "" {
			t := nsharness.LogTime(line)
			if t.IsZero() {
				t = logTimeHC(line)
			}
			if bn == nil || t.Before(bt) {
				best, bn, bt = line, n, t
			}
		}
	}
	return best, bn
}

// logTimeHC parses the timestamp hashicorp/raft's hclog puts first on a
// line ("2026-11-25T10:21:57.839Z [WARN] ...").
func logTimeHC(line string) time.Time {
	f := strings.Fields(line)
	if len(f) == 0 {
		return time.Time{}
	}
	for _, layout := range []string{"2006-01-02T15:04:05.000Z0700", time.RFC3339Nano} {
		if t, err := time.Parse(layout, f[0]); err == nil {
			return t
		}
	}
	return time.Time{}
}

// anchorRun injects one fault into the keepalived pair (k1 is MASTER),
// records the takeover, then repairs and waits for k1 to be MASTER again.
func anchorRun(c *nsharness.Cluster, p *nsharness.KeepalivedPair, fault string) (sample, error) {
	s := newSample("keepalived", fault)
	ctx, cancel := context.WithTimeout(context.Background(), *window+40*time.Second)
	defer cancel()
	m, b := p.LBs[0], p.LBs[1]
	if err := p.WaitMaster(ctx, m); err != nil {
		return s, err
	}
	time.Sleep(time.Second)
	pre := len(b.Transitions())

	goodCh := make(chan time.Duration, 1)
	pctx, pcancel := context.WithTimeout(ctx, *window)
	defer pcancel()
	var t0 time.Time
	started := make(chan struct{})
	go func() {
		<-started
		// The same probing as haraft's VIP faults: one probe every
		// probeEvery, each on its own connection with its own timeout.
		cl := c.Client.HTTPClient(*probeTimeout, false)
		url := fmt.Sprintf("http://%s:%d/", p.VIP, nsharness.ProxyPort)
		goodCh <- firstGood(pctx, t0, func(ctx context.Context, _ int) bool {
			req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
			resp, err := cl.Do(req)
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == 200
		})
	}()

	var heal func() error
	var err error
	t0 = time.Now()
	switch fault {
	case "master-kill": // the whole LB node dies
		err = m.Keepalived().Kill()
		if err == nil {
			err = m.HAProxy().Kill()
		}
	case "master-loss": // the machine is gone: processes killed, link down
		if err = m.Keepalived().Kill(); err == nil {
			if err = m.HAProxy().Kill(); err == nil {
				err = m.LinkDown()
			}
		}
	case "proxy-kill": // only HAProxy dies; keepalived's vrrp_script notices
		err = m.HAProxy().Kill()
	case "master-stop":
		err = m.Keepalived().Stop()
		if err == nil {
			err = m.HAProxy().Stop()
		}
	case "master-link":
		err = m.LinkDown()
	case "partition":
		heal, err = p.Env.Partition([]*nsharness.Host{m.Host}, []*nsharness.Host{b.Host})
	case "backup-kill":
		err = b.Keepalived().Kill()
		if err == nil {
			err = b.HAProxy().Kill()
		}
	default:
		return s, fmt.Errorf("unknown anchor fault %q", fault)
	}
	close(started)
	if err != nil {
		return s, err
	}
	deadline := t0.Add(*window)
	if fault == "partition" || fault == "master-link" {
		deadline = t0.Add(6 * time.Second) // watch for two holders for a while
	}
	for time.Now().Before(deadline) {
		now := time.Since(t0)
		mv, bv := m.HoldsVIP(), b.HoldsVIP()
		if mv && bv && (fault != "master-loss" && fault != "master-link") {
			s.TwoHolders = true // both reachable (a downed link does not count)
		}
		if s.VIP < 0 && bv {
			s.VIP = now
		}
		if fault == "backup-kill" {
			break
		}
		if s.VIP >= 0 && fault != "partition" && fault != "master-link" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// keepalived runs the notify script after taking the VIP: give it a moment.
	for wait := 0; wait < 50 && s.Leader < 0 && fault != "backup-kill"; wait++ {
		for _, tr := range b.Transitions()[pre:] {
			if tr.State == "MASTER" {
				s.Leader = tr.At.Sub(t0)
				s.Detect = s.Leader // VRRP detects by its master-down timer and takes over at once
				break
			}
		}
		if s.Leader < 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	s.Good = <-goodCh
	pcancel()
	if fault == "partition" && m.State() == "MASTER" && b.State() == "MASTER" {
		s.Note = "both MASTER"
	}

	// Repair.
	switch fault {
	case "master-loss": // back as after a reboot: the address is gone
		if err = m.DelAddr(p.VIP); err == nil {
			if err = m.LinkUp(); err == nil {
				if err = m.StartHAProxy(); err == nil {
					err = m.StartKeepalived()
				}
			}
		}
	case "master-kill", "backup-kill":
		lb := m
		if fault == "backup-kill" {
			lb = b
		}
		if err = lb.StartHAProxy(); err == nil {
			err = lb.StartKeepalived()
		}
	case "proxy-kill":
		err = m.StartHAProxy()
	case "master-stop":
		if err = m.HAProxy().Cont(); err == nil {
			err = m.Keepalived().Cont()
		}
	case "master-link":
		err = m.LinkUp()
	case "partition":
		err = heal()
	}
	if err != nil {
		return s, err
	}
	return s, p.WaitMaster(ctx, m)
}

// printTable prints one Markdown table: per system and fault, p50 / p99 of
// every event (nearest rank), how many runs saw two holders, violations.
func printTable(samples []sample) {
	type key struct{ sys, fault string }
	groups := map[key][]sample{}
	var order []key
	for _, s := range samples {
		k := key{s.System, s.Fault}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], s)
	}
	fmt.Println("| system | fault | runs | detection | new leader / MASTER | decision committed | VIP moved | VIP gap | first good response | two holders | stickiness violations |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, k := range order {
		g := groups[k]
		col := func(get func(sample) time.Duration) string {
			var ds []time.Duration
			for _, s := range g {
				if d := get(s); d >= 0 {
					ds = append(ds, d)
				}
			}
			if len(ds) == 0 {
				return "—"
			}
			sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
			r := func(q float64) time.Duration { return ds[int(q*float64(len(ds)-1)+0.5)] }
			out := fmt.Sprintf("%s / %s", ms(r(0.5)), ms(r(0.99)))
			if len(ds) < len(g) {
				out += fmt.Sprintf(" (%d/%d)", len(ds), len(g))
			}
			return out
		}
		two, viol := 0, 0
		for _, s := range g {
			if s.TwoHolders {
				two++
			}
			viol += s.Violations
		}
		vip := col(func(s sample) time.Duration { return s.VIP })
		gap := col(func(s sample) time.Duration { return s.VIPGap })
		twoS := fmt.Sprintf("%d/%d", two, len(g))
		violS := fmt.Sprint(viol)
		if k.sys == "haraft" {
			if !strings.HasPrefix(k.fault, "vip-") {
				vip = "—"
			}
		} else {
			violS = "n/a (stateless prefix cookies)"
		}
		fmt.Printf("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", k.sys, k.fault, len(g),
			col(func(s sample) time.Duration { return s.Detect }), col(func(s sample) time.Duration { return s.Leader }),
			col(func(s sample) time.Duration { return s.Commit }), vip, gap, col(func(s sample) time.Duration { return s.Good }), twoS, violS)
	}
	fmt.Println()
	fmt.Println("Times from the fault, p50 / p99 (nearest rank) in ms; (n/m): event seen in n of m runs; — : not applicable.")
	fmt.Println("VIP gap: the longest time no reachable node held the VIP (0: never without a holder).")
}

func ms(d time.Duration) string { return fmt.Sprintf("%d", d.Milliseconds()) }
