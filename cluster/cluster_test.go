package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
)

type testCluster struct {
	t     *testing.T
	dirs  []string
	addrs []string
	nodes []*Node
	// tune, when set, changes each node's config after FastTimeouts.
	tune func(*Config)
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// newTestCluster starts n nodes, each with a data dir of its own under
// t.TempDir().
func newTestCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	tc, lns := reserveCluster(t, n, func(int) string { return t.TempDir() })
	tc.startAll(lns)
	return tc
}

// reserveCluster prepares a cluster of n nodes without starting any: node
// i's raft address is a free loopback port, already listened on in lns[i],
// and its data dir is dir(i).
func reserveCluster(t *testing.T, n int, dir func(i int) string) (*testCluster, []net.Listener) {
	t.Helper()
	tc := &testCluster{t: t, nodes: make([]*Node, n)}
	lns := make([]net.Listener, n)
	for i := range lns {
		lns[i] = listenLoopback(t)
		tc.addrs = append(tc.addrs, lns[i].Addr().String())
		tc.dirs = append(tc.dirs, dir(i))
	}
	return tc, lns
}

// startAll starts each node i on lns[i] and shuts them all down when the
// test ends.
func (tc *testCluster) startAll(lns []net.Listener) {
	tc.t.Helper()
	for i, ln := range lns {
		tc.start(i, ln)
	}
	tc.t.Cleanup(tc.shutdownAll)
}

// startRefused starts node i with its config on a new listener and
// returns the error New refuses it with; a node that starts is shut down
// and fails t with "<what> was accepted".
func (tc *testCluster) startRefused(t *testing.T, i int, what string) error {
	t.Helper()
	ln := listenLoopback(t)
	defer ln.Close()
	n, err := New(tc.config(i, ln))
	if err == nil {
		n.Shutdown(context.Background())
		t.Fatalf("%s was accepted", what)
	}
	return err
}

// listenLoopback listens on a free loopback port.
func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func (tc *testCluster) config(i int, ln net.Listener) Config {
	var peers []Peer
	for j, a := range tc.addrs {
		peers = append(peers, Peer{ID: fmt.Sprintf("n%d", j+1), Addr: a})
	}
	c := Config{NodeID: fmt.Sprintf("n%d", i+1), Listener: ln, Bind: tc.addrs[i], DataDir: tc.dirs[i], Peers: peers, Bootstrap: true,
		FSM: fsm.New(quietLogger()), Logger: quietLogger(), RaftLogLevel: "error"}
	FastTimeouts(&c)
	if tc.tune != nil {
		tc.tune(&c)
	}
	return c
}

func (tc *testCluster) start(i int, ln net.Listener) {
	tc.t.Helper()
	if ln == nil {
		var err error
		// The port was ours a moment ago; retry briefly while the old socket closes.
		for deadline := time.Now().Add(3 * time.Second); ; {
			ln, err = net.Listen("tcp", tc.addrs[i])
			if err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			tc.t.Fatal(err)
		}
	}
	n, err := New(tc.config(i, ln))
	if err != nil {
		tc.t.Fatal(err)
	}
	tc.nodes[i] = n
}

func (tc *testCluster) shutdownAll() {
	for i, n := range tc.nodes {
		if n != nil {
			_ = n.Shutdown(context.Background())
			tc.nodes[i] = nil
		}
	}
}

func (tc *testCluster) waitReady() {
	tc.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, n := range tc.nodes {
		if n == nil {
			continue
		}
		if err := n.WaitReady(ctx); err != nil {
			tc.t.Fatalf("%s: %v", n.ID(), err)
		}
	}
}

func (tc *testCluster) leader() int {
	tc.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for i, n := range tc.nodes {
			if n != nil && n.IsLeader() {
				return i
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	tc.t.Fatal("no leader")
	return -1
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func learnOne(key, server, by string) *fsmpb.LearnSessions {
	return &fsmpb.LearnSessions{Bindings: []*fsmpb.Binding{{Backend: "app", Key: key, Server: server, LearnedBy: by}}}
}

func TestForwardedApplyReachesEveryNode(t *testing.T) {
	tc := newTestCluster(t, 3)
	tc.waitReady()
	l := tc.leader()
	f := (l + 1) % 3
	ctx := context.Background()
	res, err := tc.nodes[f].Apply(ctx, fsm.LearnSessionsType, learnOne("s1", "A", tc.nodes[f].ID()))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Learn.Committed[0].Server; got != "A" {
		t.Fatalf("committed %q", got)
	}
	// A second proposal for the same session through another node loses.
	res, err = tc.nodes[(l+2)%3].Apply(ctx, fsm.LearnSessionsType, learnOne("s1", "B", "x"))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Learn.Committed[0].Server; got != "A" {
		t.Fatalf("second proposal won: %q", got)
	}
	for _, n := range tc.nodes {
		waitFor(t, n.ID()+" applies s1", func() bool { s, ok := n.FSM().Lookup("app", "s1"); return ok && s == "A" })
	}
}

func TestLeaderShutdownAndFullRestart(t *testing.T) {
	tc := newTestCluster(t, 3)
	tc.waitReady()
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		if _, err := tc.nodes[i%3].Apply(ctx, fsm.LearnSessionsType, learnOne(fmt.Sprintf("s%d", i), "A", "t")); err != nil {
			t.Fatal(err)
		}
	}
	l := tc.leader()
	if err := tc.nodes[l].Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	tc.nodes[l] = nil
	survivor := tc.nodes[(l+1)%3]
	if _, err := survivor.Apply(ctx, fsm.LearnSessionsType, learnOne("after", "B", "t")); err != nil {
		t.Fatalf("apply after leader shutdown: %v", err)
	}
	tc.shutdownAll()
	for i := range tc.nodes {
		tc.start(i, nil)
	}
	tc.waitReady()
	for _, n := range tc.nodes {
		if got := n.FSM().SessionCount(); got != 21 {
			t.Fatalf("%s has %d sessions after full restart, want 21", n.ID(), got)
		}
	}
}

func TestCorruptDataDirRefused(t *testing.T) {
	tc := newTestCluster(t, 1)
	tc.waitReady()
	if _, err := tc.nodes[0].Apply(context.Background(), fsm.LearnSessionsType, learnOne("s", "A", "t")); err != nil {
		t.Fatal(err)
	}
	tc.shutdownAll()
	db := layout(tc.dirs[0]).raftDB
	orig, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	damage := map[string]func() error{
		"truncated": func() error { return os.WriteFile(db, orig[:len(orig)/3], 0o600) },
		"empty":     func() error { return os.WriteFile(db, nil, 0o600) },
		"both meta pages garbage": func() error {
			b := append([]byte(nil), orig...)
			for _, off := range []int{0, os.Getpagesize()} {
				for i := off; i < off+64; i++ {
					b[i] ^= 0xA5
				}
			}
			return os.WriteFile(db, b, 0o600)
		},
		"data pages garbage": func() error {
			b := append([]byte(nil), orig...)
			for i := 2 * os.Getpagesize(); i < len(b); i++ {
				b[i] = byte(i*7 + 3)
			}
			return os.WriteFile(db, b, 0o600)
		},
		"removed with snapshots": func() error {
			if err := os.MkdirAll(filepath.Join(tc.dirs[0], "raft", "snapshots", "1-2-3"), 0o700); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(tc.dirs[0], "raft", "snapshots", "1-2-3", "meta.json"), []byte("{}"), 0o600); err != nil {
				return err
			}
			return os.Remove(db)
		},
	}
	for name, do := range damage {
		t.Run(name, func(t *testing.T) {
			if err := do(); err != nil {
				t.Fatal(err)
			}
			err := tc.startRefused(t, 0, "a damaged data dir")
			if !errors.Is(err, ErrDataDir) {
				t.Fatalf("error %v does not wrap ErrDataDir", err)
			}
			t.Logf("refused: %v", err)
			// The damaged file was left as it was, never reset.
			if _, statErr := os.Stat(db); name != "removed with snapshots" && statErr != nil {
				t.Fatal(statErr)
			}
			os.RemoveAll(filepath.Join(tc.dirs[0], "raft", "snapshots", "1-2-3"))
			if err := os.WriteFile(db, orig, 0o600); err != nil {
				t.Fatal(err)
			}
		})
	}
	// The restored original starts fine.
	tc.start(0, nil)
	tc.waitReady()
	if _, ok := tc.nodes[0].FSM().Lookup("app", "s"); !ok {
		t.Fatal("binding lost after restoring the file")
	}
}

func TestDataDirOfAnotherNodeRefused(t *testing.T) {
	dir := t.TempDir()
	if err := layout(dir).prepare("n1"); err != nil {
		t.Fatal(err)
	}
	if err := layout(dir).prepare("n2"); !errors.Is(err, ErrDataDir) {
		t.Fatalf("n2 accepted n1's data dir: %v", err)
	}
}
