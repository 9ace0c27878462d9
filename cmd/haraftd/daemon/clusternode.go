package daemon

import (
	"fmt"
	"log/slog"

	"github.com/haraft/haraft/cluster"
	"github.com/haraft/haraft/cmd/haraftd/certs"
	"github.com/haraft/haraft/cmd/haraftd/config"
	"github.com/haraft/haraft/fsm"
)

// newClusterNode starts the Raft node, over mutual TLS when raft.tls is set.
func newClusterNode(cfg *config.Config, f *fsm.FSM, log *slog.Logger, o Options) (*cluster.Node, error) {
	cc := clusterConfig(cfg, f, log, o)
	if t := cfg.Raft.TLS; t != nil {
		var err error
		cc.ServerTLS, cc.ClientTLS, err = certs.Cluster(certs.Files{CA: t.CAFile, Cert: t.CertFile, Key: t.KeyFile})
		if err != nil {
			return nil, fmt.Errorf("raft.tls: %w", err)
		}
	}
	return cluster.New(cc)
}
