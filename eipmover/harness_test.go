package eipmover

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/hashicorp/raft"

	"github.com/haraft/haraft/cluster"
	"github.com/haraft/haraft/eipmover/ec2emu"
	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
)

const (
	testAK     = "AKIDHARAFTTEST"
	testSecret = "haraft/test/secret"
	testRegion = "us-east-1"
)

// nodeSpec describes one in-process node of a test cluster.
type nodeSpec struct {
	id, az  string
	standby bool
}

type harnessOpts struct {
	nodes      []nodeSpec
	eips       []EIP
	kind       string // "ec2", "vip" or "none"
	policy     Policy
	deadAfter  time.Duration
	lease      time.Duration
	reconcile  time.Duration
	production bool // 1 s heartbeat/election, 500 ms leader lease instead of 50 ms
	// raftTimeout, when set, replaces the 50 ms Raft timeouts (tests that
	// measure nothing use a calmer cluster: the machine may be loaded).
	raftTimeout     time.Duration
	contactInterval time.Duration          // cluster.LivenessConfig.ContactInterval (default: the probe interval)
	secret          string                 // EC2 secret the movers use (default the right one)
	local           func(i int) LocalMover // VIP movers, per node
	dns             bool                   // run a DNSController per node against a Route 53 emulator
	dnsZone         string                 // the zone id the controllers use (default the emulator's zone)
	dnsName         string                 // the record's name (default lb.example.com)
}

type testNode struct {
	spec   nodeSpec
	ln     *freezeListener
	node   *cluster.Node
	lv     *cluster.Liveness
	ctrl   *Controller
	agent  *Agent
	dns    *DNSController
	cancel context.CancelFunc
	done   chan struct{}
}

type harness struct {
	t     *testing.T
	opts  harnessOpts
	log   *slog.Logger
	nodes []*testNode
	emu   *ec2emu.Emulator
	srv   *httptest.Server
	r53   *r53Fixture
}

// testLogger logs at debug level to stderr with HARAFT_TEST_LOG=1, else
// only warnings.
func testLogger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("HARAFT_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func newHarness(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	if o.deadAfter == 0 {
		o.deadAfter = 200 * time.Millisecond
	}
	if o.reconcile == 0 {
		o.reconcile = 5 * time.Second
	}
	h := &harness{t: t, opts: o, log: testLogger()}
	if o.kind == "ec2" {
		h.emu = ec2emu.New(ec2emu.Options{Seed: 7, Credentials: []ec2emu.Credentials{{AccessKey: testAK, Secret: testSecret}}})
		for _, s := range o.nodes {
			if err := h.emu.AddInstance(ec2emu.Instance{ID: "i-" + s.id, AZ: s.az}); err != nil {
				t.Fatal(err)
			}
		}
		for _, e := range o.eips {
			if strings.Contains(e.ID, "missing") {
				continue // an allocation id the account does not have
			}
			if err := h.emu.AddAddress(ec2emu.Address{AllocationID: e.ID, PublicIP: e.Address}); err != nil {
				t.Fatal(err)
			}
		}
		h.srv = httptest.NewServer(h.emu)
		t.Cleanup(h.srv.Close)
	}

	if o.dns {
		h.r53 = newR53Fixture(t)
	}
	var lns []*freezeListener
	var peers []cluster.Peer
	for _, s := range o.nodes {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln := &freezeListener{Listener: l}
		lns = append(lns, ln)
		peers = append(peers, cluster.Peer{ID: s.id, Addr: ln.Addr().String()})
	}
	t.Cleanup(h.stopAll)
	for i, s := range o.nodes {
		cfg := cluster.Config{NodeID: s.id, Listener: lns[i], DataDir: t.TempDir(), Peers: peers, Bootstrap: true,
			FSM: fsm.New(h.log), Logger: h.log.With("node", s.id), RaftLogLevel: "off"}
		switch {
		case o.production:
			cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = time.Second, time.Second, 500*time.Millisecond
			cfg.CommitTimeout = 50 * time.Millisecond
		case o.raftTimeout > 0:
			cluster.TestTimeouts(&cfg, o.raftTimeout)
		default:
			cluster.FastTimeouts(&cfg)
		}
		n, err := cluster.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		h.nodes = append(h.nodes, &testNode{spec: s, node: n, ln: lns[i]})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for i, tn := range h.nodes {
		if err := tn.node.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		h.startControl(i)
	}
	return h
}

// startControl starts a node's liveness, controller and agent.
func (h *harness) startControl(i int) {
	t, o, tn := h.t, h.opts, h.nodes[i]
	log := h.log.With("node", tn.spec.id)
	tn.lv = cluster.NewLiveness(tn.node, cluster.LivenessConfig{DeadAfter: o.deadAfter, ProbeInterval: o.deadAfter / 5,
		ContactInterval: o.contactInterval, Logger: log})
	var mover Mover
	policy := o.policy
	switch o.kind {
	case "ec2":
		secret := o.secret
		if secret == "" {
			secret = testSecret
		}
		empty := filepath.Join(t.TempDir(), "empty")
		if err := os.WriteFile(empty, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		m, err := NewEC2(context.Background(), EC2Config{
			Region: testRegion, Endpoint: h.srv.URL, MaxBackoff: 20 * time.Millisecond, Logger: log,
			LoadOptions: []func(*config.LoadOptions) error{
				config.WithSharedConfigFiles([]string{empty}), config.WithSharedCredentialsFiles([]string{empty}),
				config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(testAK, secret, "")),
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		mover = m
	case "vip":
		policy.NodeLocal = true
	}
	ctrl, err := NewController(ControllerConfig{Node: tn.node, Liveness: tn.lv, EIPs: o.eips, Mover: mover, Policy: policy,
		ReconcileInterval: o.reconcile, MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	info := NodeInfo{AZ: tn.spec.az, Standby: tn.spec.standby}
	if o.kind == "ec2" {
		info.InstanceID = "i-" + tn.spec.id
	}
	acfg := AgentConfig{Node: tn.node, Liveness: tn.lv, EIPs: o.eips, Info: info, Lease: o.lease, Logger: log}
	if o.local != nil {
		acfg.Local = o.local(i)
	}
	agent, err := NewAgent(acfg)
	if err != nil {
		t.Fatal(err)
	}
	runs := []func(context.Context) error{ctrl.Run, agent.Run}
	tn.dns = nil
	if h.r53 != nil {
		zone, name := cmp.Or(o.dnsZone, h.r53.zone), cmp.Or(o.dnsName, "lb.example.com")
		dns, err := NewDNSController(DNSConfig{Node: tn.node, Liveness: tn.lv, ZoneID: zone, TTL: 60, EIPs: o.eips,
			Writer:            h.r53.writer(t, zone, name, "AKIDR53", "r53secret"),
			ReconcileInterval: o.reconcile, MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		tn.dns = dns
		runs = append(runs, dns.Run)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tn.ctrl, tn.agent, tn.cancel, tn.done = ctrl, agent, cancel, make(chan struct{})
	go func() {
		defer close(tn.done)
		var wg sync.WaitGroup
		for _, run := range runs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = run(ctx)
			}()
		}
		wg.Wait()
	}()
}

// stop ends a node's control loops (as its process would end them).
func (h *harness) stopControl(i int) {
	tn := h.nodes[i]
	if tn.cancel == nil {
		return
	}
	tn.cancel()
	<-tn.done
	tn.lv.Close()
	tn.cancel = nil
}

// kill stops node i as a crash would: control loops, then Raft without
// leadership transfer.
func (h *harness) kill(i int) {
	h.stopControl(i)
	if err := h.nodes[i].node.Kill(); err != nil {
		h.t.Logf("kill %s: %v", h.nodes[i].spec.id, err)
	}
}

func (h *harness) stopAll() {
	for i, tn := range h.nodes {
		h.stopControl(i)
		_ = tn.node.Kill()
	}
}

func (h *harness) index(id string) int {
	for i, tn := range h.nodes {
		if tn.spec.id == id {
			return i
		}
	}
	h.t.Fatalf("no node %s", id)
	return -1
}

// leader returns the index of the leader, waiting for one.
func (h *harness) leader() int {
	h.t.Helper()
	var l int
	h.waitFor("a leader", 10*time.Second, func() bool {
		for i, tn := range h.nodes {
			if tn.cancel != nil && tn.node.IsLeader() {
				l = i
				return true
			}
		}
		return false
	})
	return l
}

// transferLeadership makes node i the leader.
func (h *harness) transferLeadership(to int) {
	h.t.Helper()
	for attempt := 0; attempt < 10 && h.leader() != to; attempt++ {
		l := h.nodes[h.leader()].node
		target := h.nodes[to].node
		if err := l.Raft().LeadershipTransferToServer(raft.ServerID(target.ID()), raft.ServerAddress(target.Addr())).Error(); err != nil {
			h.t.Logf("leadership transfer: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if h.leader() != to {
		h.t.Fatalf("could not make %s the leader", h.nodes[to].spec.id)
	}
}

func (h *harness) waitFor(what string, timeout time.Duration, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			if h.emu != nil {
				h.t.Logf("emulator: %+v", h.emu.Addresses())
			}
			h.t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// holder returns the committed holder of an address as node i sees it.
func (h *harness) holder(i int, id string) *fsmpb.EIP {
	for _, e := range h.nodes[i].node.FSM().EIPs() {
		if e.Id == id {
			return e
		}
	}
	return nil
}

// emuHolder returns the instance the emulator associates an address with.
func (h *harness) emuHolder(id string) string {
	for _, a := range h.emu.Addresses() {
		if a.AllocationID == id {
			return a.InstanceID
		}
	}
	return ""
}

func (h *harness) waitPlaced(want map[string]string) {
	h.t.Helper()
	h.waitFor(fmt.Sprintf("placement %v", want), 10*time.Second, func() bool { return h.placedAs(want) })
}

// settledHarness starts a cluster and waits for its initial placement to
// be want. On a loaded machine a 50 ms-timeout cluster may churn through
// elections while it starts and settle otherwise (no failback keeps it
// so); the test then starts over, up to three times.
func settledHarness(t *testing.T, o harnessOpts, want map[string]string) *harness {
	t.Helper()
	for attempt := 1; ; attempt++ {
		h := newHarness(t, o)
		deadline := time.Now().Add(10 * time.Second)
		for !h.placedAs(want) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if h.placedAs(want) {
			return h
		}
		if attempt == 3 {
			h.waitPlaced(want) // fails with the details
		}
		t.Logf("attempt %d: the cluster settled otherwise than %v (elections while starting?); starting over", attempt, want)
		h.stopAll()
	}
}

// placedAs reports whether every running node and the emulator show want.
func (h *harness) placedAs(want map[string]string) bool {
	for _, tn := range h.nodes {
		if tn.cancel == nil {
			continue
		}
		for id, holder := range want {
			e := h.holder(h.index(tn.spec.id), id)
			if e == nil || e.Holder != holder {
				return false
			}
		}
	}
	if h.emu != nil {
		for id, holder := range want {
			if h.emuHolder(id) != "i-"+holder {
				return false
			}
		}
	}
	return true
}

// freezeListener is a node's cluster listener that the test can turn
// into a black hole: once frozen, every connection it accepted (before or
// after) swallows what it reads and drops what it writes, so peers' RPCs
// to the node time out as across a network partition. The node's own
// outbound connections keep working (an asymmetric partition: the node
// hears nothing from the leader). Healing resets the connections that
// lived through the partition, as their peers' TCP stacks would have.
type freezeListener struct {
	net.Listener
	frozen atomic.Bool
	mu     sync.Mutex
	conns  []*freezeConn
}

func (l *freezeListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	fc := &freezeConn{Conn: c, frozen: &l.frozen}
	l.mu.Lock()
	l.conns = append(l.conns, fc)
	l.mu.Unlock()
	return fc, nil
}

// freeze starts the partition.
func (l *freezeListener) freeze() { l.frozen.Store(true) }

// heal ends it: connections that saw it are closed, new ones work.
func (l *freezeListener) heal() {
	l.mu.Lock()
	conns := l.conns
	l.conns = nil
	l.mu.Unlock()
	l.frozen.Store(false)
	for _, c := range conns {
		c.Close()
	}
}

type freezeConn struct {
	net.Conn
	frozen *atomic.Bool
}

func (c *freezeConn) Read(b []byte) (int, error) {
	for {
		n, err := c.Conn.Read(b)
		if err != nil || !c.frozen.Load() {
			return n, err
		}
	}
}

func (c *freezeConn) Write(b []byte) (int, error) {
	if c.frozen.Load() {
		return len(b), nil
	}
	return c.Conn.Write(b)
}
