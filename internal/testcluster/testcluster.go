// Package testcluster starts in-process clusters of real Raft nodes
// (loopback TCP, boltdb in the test's temporary directories, 50 ms Raft
// timeouts) for the tests of the packages above cluster.
package testcluster

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/haraft/haraft/cluster"
	"github.com/haraft/haraft/fsm"
)

// Cluster is n nodes of one Raft cluster; Nodes[i] is nil while node i is
// stopped.
type Cluster struct {
	t     testing.TB
	addrs []string
	dirs  []string
	tune  func(*cluster.Config)
	Nodes []*cluster.Node
}

// Start starts n nodes and waits until each is ready; they stop when the
// test ends.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	return StartTuned(t, n, nil)
}

// StartTuned is Start with tune (when not nil) changing each node's config
// after the fast test timeouts are set, at every start and restart: for a
// test whose scenario needs a leader that keeps its lease through a busy
// machine's pauses.
func StartTuned(t testing.TB, n int, tune func(*cluster.Config)) *Cluster {
	t.Helper()
	c := &Cluster{t: t, Nodes: make([]*cluster.Node, n), tune: tune}
	lns := make([]net.Listener, n)
	for i := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[i] = ln
		c.addrs = append(c.addrs, ln.Addr().String())
		c.dirs = append(c.dirs, t.TempDir())
	}
	t.Cleanup(func() {
		for i := range c.Nodes {
			c.Stop(i)
		}
	})
	for i, ln := range lns {
		c.start(i, ln)
	}
	c.WaitReady()
	return c
}

func logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

// ID returns node i's id.
func ID(i int) string { return fmt.Sprintf("n%d", i+1) }

func (c *Cluster) start(i int, ln net.Listener) {
	c.t.Helper()
	var peers []cluster.Peer
	for j, a := range c.addrs {
		peers = append(peers, cluster.Peer{ID: ID(j), Addr: a})
	}
	cfg := cluster.Config{NodeID: ID(i), Listener: ln, Bind: c.addrs[i], DataDir: c.dirs[i], Peers: peers, Bootstrap: true,
		FSM: fsm.New(logger()), Logger: logger(), RaftLogLevel: "off"}
	cluster.FastTimeouts(&cfg)
	if c.tune != nil {
		c.tune(&cfg)
	}
	n, err := cluster.New(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.Nodes[i] = n
}

// Stop shuts node i down (a stopped node is left alone).
func (c *Cluster) Stop(i int) {
	if n := c.Nodes[i]; n != nil {
		n.BeginShutdown()
		_ = n.Shutdown(context.Background())
		c.Nodes[i] = nil
	}
}

// Restart starts node i again from its data dir, on its address.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	var (
		ln  net.Listener
		err error
	)
	// The port was the node's a moment ago; retry while the old socket closes.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if ln, err = net.Listen("tcp", c.addrs[i]); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	c.start(i, ln)
}

// WaitReady waits until every running node passed its readiness gate.
func (c *Cluster) WaitReady() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range c.Nodes {
		if n == nil {
			continue
		}
		if err := n.WaitReady(ctx); err != nil {
			c.t.Fatalf("%s: %v", n.ID(), err)
		}
	}
}

// Leader waits for a running node to lead and returns its index.
func (c *Cluster) Leader() int {
	c.t.Helper()
	i := -1
	WaitFor(c.t, "a leader", func() bool {
		for j, n := range c.Nodes {
			if n != nil && n.IsLeader() {
				i = j
				return true
			}
		}
		return false
	})
	return i
}

// WaitFor polls cond until it holds, failing the test after 30 s (a
// generous deadline: the machine may be busy).
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
