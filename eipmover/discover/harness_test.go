package discover

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/haraft/haraft/cluster"
	"github.com/haraft/haraft/cluster/leader"
	"github.com/haraft/haraft/eipmover/ec2emu"
	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
)

const (
	testAK     = "AKIDDISCOVERTEST"
	testSecret = "haraft/discover/secret"
)

func testLogger() *slog.Logger {
	level := slog.LevelWarn + 4
	if os.Getenv("HARAFT_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// testCluster is three real Raft nodes on loopback, each running a
// discovery loop for backend "app" (only the leader's polls), and a log of
// the steps the leaders committed.
type testCluster struct {
	t     *testing.T
	nodes []*cluster.Node
	loops []*Loop

	mu    sync.Mutex
	steps []*fsmpb.DiscoverServers
}

type clusterOpts struct {
	source func(t *testing.T) Source
	delay  time.Duration
	share  float64
}

func newTestCluster(t *testing.T, o clusterOpts) *testCluster {
	t.Helper()
	log := testLogger()
	c := &testCluster{t: t}
	var lns []net.Listener
	var peers []cluster.Peer
	for i := range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		peers = append(peers, cluster.Peer{ID: fmt.Sprintf("n%d", i+1), Addr: ln.Addr().String()})
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		for _, n := range c.nodes {
			_ = n.Kill()
		}
	})
	for i, p := range peers {
		// 200 ms Raft timeouts: nothing here measures failover, and the
		// machine may be busy.
		n, err := cluster.New(cluster.Config{NodeID: p.ID, Listener: lns[i], DataDir: t.TempDir(), Peers: peers, Bootstrap: true,
			FSM: fsm.New(log), Logger: log.With("node", p.ID), RaftLogLevel: "off",
			HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond, LeaderLeaseTimeout: 200 * time.Millisecond,
			CommitTimeout: 5 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, n)
	}
	src := o.source(t)
	for _, n := range c.nodes {
		l, err := NewLoop(Options{Backend: "app", Source: src, Interval: 40 * time.Millisecond, DeregistrationDelay: o.delay, MaxRemoveShare: o.share,
			Configured: func() []*fsmpb.ConfiguredServer { return []*fsmpb.ConfiguredServer{{Name: "static"}} },
			Servers:    n.FSM().Servers,
			Commit: func(ctx context.Context, m *fsmpb.DiscoverServers) (*fsmpb.ApplyResult, error) {
				res, err := n.ApplyAsLeader(ctx, fsm.DiscoverServersType, m)
				if err == nil {
					c.mu.Lock()
					c.steps = append(c.steps, m)
					c.mu.Unlock()
				}
				return res, err
			},
			Logger: log.With("node", n.ID())})
		if err != nil {
			t.Fatal(err)
		}
		c.loops = append(c.loops, l)
		// As haraftd runs it: one group among the leader's loops, started
		// at each leadership of this node and cancelled when it ends.
		r := leader.NewRunner(n, log.With("node", n.ID()))
		r.Add(NewGroup(func() []*Loop { return []*Loop{l} }))
		wg.Add(1)
		go func() { defer wg.Done(); r.Run(ctx) }()
	}
	return c
}

// leader returns the index of the leader, waiting for one.
func (c *testCluster) leader() int {
	c.t.Helper()
	l := -1
	c.waitFor("a leader", func() bool {
		for i, n := range c.nodes {
			if n.IsLeader() {
				l = i
				return true
			}
		}
		return false
	})
	return l
}

func (c *testCluster) waitFor(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// everywhere waits until every node's table satisfies cond for server
// name, and returns the states (all equal).
func (c *testCluster) everywhere(what, name string, cond func(fsm.ServerState) bool) fsm.ServerState {
	c.t.Helper()
	var st fsm.ServerState
	c.waitFor(what+" on every node", func() bool {
		for i, n := range c.nodes {
			s := n.FSM().Servers().Get("app", name)
			if !cond(s) {
				return false
			}
			if i > 0 && s != st {
				return false
			}
			st = s
		}
		return true
	})
	return st
}

func (c *testCluster) stepLog() []*fsmpb.DiscoverServers {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*fsmpb.DiscoverServers(nil), c.steps...)
}

// leaderStatus is the leading loop's status.
func (c *testCluster) leaderStatus() Status { return c.loops[c.leader()].Status() }

// ec2Fixture is the EC2 emulator on a real socket.
type ec2Fixture struct {
	emu *ec2emu.Emulator
	url string
}

func newEC2Fixture(t *testing.T, instances ...ec2emu.Instance) *ec2Fixture {
	t.Helper()
	emu := ec2emu.New(ec2emu.Options{Seed: 5, Credentials: []ec2emu.Credentials{{AccessKey: testAK, Secret: testSecret}}})
	for _, in := range instances {
		if err := emu.AddInstance(in); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return &ec2Fixture{emu: emu, url: srv.URL}
}

// source is a real aws-sdk-go-v2 EC2 client against the emulator, with
// static credentials and no shared config from the machine.
func (f *ec2Fixture) source(t *testing.T, tags map[string]string, port int) *EC2 {
	t.Helper()
	return f.sourceTimeout(t, tags, port, 5*time.Second)
}

// sourceTimeout is source with a bound on one discovery.
func (f *ec2Fixture) sourceTimeout(t *testing.T, tags map[string]string, port int, timeout time.Duration) *EC2 {
	t.Helper()
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := NewEC2(context.Background(), EC2Config{Tags: tags, Port: port, Region: "us-east-1", Endpoint: f.url, CallTimeout: timeout,
		LoadOptions: []func(*config.LoadOptions) error{
			config.WithSharedConfigFiles([]string{empty}), config.WithSharedCredentialsFiles([]string{empty}),
			config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(testAK, testSecret, "")),
		}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
