// Package daemontest starts in-process dev clusters (daemon.StartDev) for
// the tests of other packages, and shuts them down when the test ends.
package daemontest

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/haraft/haraft/cmd/haraftd/daemon"
)

// StartDev starts a dev cluster with o, filling what o leaves unset: a
// data dir under the test's temp dir, a logger of errors to stderr, Raft's
// own log at "error", 300 ms Raft timeouts. Shutdown is registered with t.Cleanup.
func StartDev(t testing.TB, o daemon.DevOptions) *daemon.DevCluster {
	t.Helper()
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	if o.RaftLogLevel == "" {
		o.RaftLogLevel = "error"
	}
	if !o.FastRaft && o.RaftTimeout == 0 {
		// Elections and leadership changes within a test's patience; the
		// config defaults take seconds each.
		o.RaftTimeout = 300 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := daemon.StartDev(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Shutdown(ctx); err != nil {
			t.Logf("shutdown: %v", err)
		}
	})
	return c
}
