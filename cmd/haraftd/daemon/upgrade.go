package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/haraft/haraft/cluster"
	"github.com/haraft/haraft/cmd/haraftd/config"
	"github.com/haraft/haraft/fsm"
)

// A binary upgrade (cmd/haraftd/upgrade.go) hands the frontends' listening
// sockets from the running process to its successor, so the kernel keeps
// queueing connections while the two swap: the old process passes dups of
// the sockets (ListenerFiles), stops accepting and drains
// (ShutdownForUpgrade) once the new one took them, and the new one opens
// Raft as soon as the old released the data dir (Options.UpgradeWait),
// then serves on the inherited sockets (Options.Listeners).

// ListenerFiles returns a dup of every frontend's listening socket, by the
// bind the config writes; the caller closes them.
func (d *Daemon) ListenerFiles() (map[string]*os.File, error) {
	out := map[string]*os.File{}
	for _, s := range d.live().sockets {
		tl, ok := s.ln.(*net.TCPListener)
		if !ok {
			continue
		}
		f, err := tl.File()
		if err != nil {
			for _, f := range out {
				_ = f.Close()
			}
			return nil, fmt.Errorf("frontend %s: %w", s.bind, err)
		}
		out[s.bind] = f
	}
	return out, nil
}

// ShutdownForUpgrade stops the node as Shutdown does, except that the node
// keeps its Elastic IPs: its successor takes over on the same host. Its
// listening sockets are only closed here; the successor holds them open.
func (d *Daemon) ShutdownForUpgrade(ctx context.Context) error {
	return d.shutdownNode(ctx, false)
}

// startClusterNode starts the Raft node; in an upgrade it retries while
// the replaced process still holds the data dir's lock or the Raft port.
func startClusterNode(cfg *config.Config, f *fsm.FSM, log *slog.Logger, o Options) (*cluster.Node, error) {
	deadline := time.Now().Add(o.UpgradeWait)
	for {
		node, err := newClusterNode(cfg, f, log, o)
		if err == nil || o.UpgradeWait <= 0 || time.Now().After(deadline) {
			return node, err
		}
		log.Info("upgrade: waiting for the previous process to release the data dir", "err", err)
		time.Sleep(200 * time.Millisecond)
	}
}
