//go:build integration && linux

package integration

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haraft/haraft/integration/nsharness"
)

// The network-namespace tests run real haraftd processes, one per
// namespace, and need root, ip, tc and iptables:
//
//	go test -tags integration -run 'TestNS' -count=1 ./integration/
//
// HRT_KEEP=1 keeps each test's work dir (configs, data dirs, process logs).
// HARAFT_BIN=path uses a prebuilt haraftd instead of building one.

func TestMain(m *testing.M) {
	nsharness.ChildMain() // the harness re-runs this binary as demo backends
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	binDir    string
	haraftd   string
	buildErr  error
)

func buildHaraftd(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "hrt-bin-")
		if buildErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		haraftd, buildErr = nsharness.BuildHaraftd(ctx, binDir)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return haraftd
}

// nsCluster makes the namespaces for spec, starts the cluster and returns
// it with a checker seeded with sessions learned through every node.
func nsCluster(t *testing.T, spec nsharness.ClusterSpec, sessions int) (*nsharness.Cluster, *nsharness.Checker) {
	t.Helper()
	if err := nsharness.Check(); err != nil {
		t.Skipf("skipping network-namespace test: %v", err)
	}
	spec.Haraftd = buildHaraftd(t)
	env, err := nsharness.New(nsharness.Options{Logf: t.Logf, KeepDir: os.Getenv("HRT_KEEP") != ""})
	if err != nil {
		t.Fatal(err)
	}
	var c *nsharness.Cluster
	t.Cleanup(func() {
		if t.Failed() && c != nil {
			for _, n := range c.Nodes {
				if p := n.Proc(); p != nil {
					t.Logf("--- %s log tail:\n%s", n.ID, p.Log(3000))
				}
			}
		}
		if os.Getenv("HRT_KEEP") != "" {
			t.Logf("work dir kept: %s", env.Dir)
		}
		if err := env.Close(); err != nil {
			t.Errorf("removing namespaces: %v", err)
		}
	})
	if c, err = nsharness.NewCluster(env, spec); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	k := nsharness.NewChecker(c)
	if err := k.Seed(ctx, sessions); err != nil {
		t.Fatal(err)
	}
	return c, k
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitNewLeader polls among until one of them leads in a term above
// oldTerm, and returns it with how long that took from since.
func waitNewLeader(t *testing.T, c *nsharness.Cluster, among []*nsharness.Node, oldTerm uint64, since time.Time, within time.Duration) (*nsharness.Node, time.Duration) {
	t.Helper()
	ctx := ctxT(t, within)
	for {
		for id, s := range c.Statuses(ctx, among) {
			if s.State == "Leader" && s.Term > oldTerm {
				return c.Node(id), time.Since(since)
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("no new leader among %v within %v", ids(among), within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ids(nodes []*nsharness.Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.ID
	}
	return out
}

// finish stops the checker, verifies every session through every node of
// among and fails on any stickiness violation.
func finish(t *testing.T, k *nsharness.Checker, among []*nsharness.Node) {
	t.Helper()
	k.Stop()
	t.Logf("checker: %s", k.Summary())
	if early, _ := k.Early(); len(early) > 0 {
		t.Logf("note: %d answers, through another node, for sessions acknowledged by a sync answer but not yet applied there (not counted as violations):\n%s",
			len(early), strings.Join(first(early, 5), "\n"))
	}
	if v := k.Violations(); len(v) > 0 {
		t.Errorf("%d stickiness violations during the run:\n%s", len(v), strings.Join(v, "\n"))
	}
	ctx := ctxT(t, 30*time.Second)
	if err := k.WaitSessionsApplied(ctx, among); err != nil {
		t.Error(err)
	}
	problems, moved := k.Verify(ctx, among)
	if len(problems) > 0 {
		t.Errorf("verify through %v: %d problems:\n%s", ids(among), len(problems), strings.Join(first(problems, 20), "\n"))
	}
	if moved > 0 {
		t.Logf("verify: %d sessions moved to a new backend", moved)
	}
}

func first(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("... and %d more", len(s)-n))
	}
	return s
}
