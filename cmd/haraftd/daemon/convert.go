package daemon

import (
	"log/slog"

	"github.com/haraft/haraft/cluster"
	"github.com/haraft/haraft/cmd/haraftd/config"
	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proxy"
)

// clusterConfig maps the file's node and raft sections onto cluster.Config.
func clusterConfig(cfg *config.Config, f *fsm.FSM, log *slog.Logger, o Options) cluster.Config {
	r := cfg.Raft
	cc := cluster.Config{
		NodeID: cfg.Node.ID, Bind: r.Bind, Listener: o.RaftListener, Advertise: r.Advertise, DataDir: cfg.Node.DataDir,
		Bootstrap: r.Bootstrap, HeartbeatTimeout: r.HeartbeatTimeout.Duration, ElectionTimeout: r.ElectionTimeout.Duration,
		LeaderLeaseTimeout: r.LeaderLeaseTimeout.Duration, CommitTimeout: r.CommitTimeout.Duration,
		SnapshotInterval: r.SnapshotInterval.Duration, SnapshotThreshold: r.SnapshotThreshold, TrailingLogs: r.TrailingLogs,
		FSM: f, Logger: log, RaftLogLevel: o.RaftLogLevel,
		Insecure: r.Insecure, ClusterID: cfg.ClusterID(),
	}
	for _, p := range r.Peers {
		cc.Peers = append(cc.Peers, cluster.Peer{ID: p.ID, Addr: p.Addr})
	}
	return cc
}

func timeouts(cfg *config.Config) proxy.Timeouts {
	t := cfg.Timeouts
	return proxy.Timeouts{Connect: t.Connect.Duration, Client: t.Client.Duration, Server: t.Server.Duration,
		HTTPRequest: t.HTTPRequest.Duration, HTTPKeepAlive: t.HTTPKeepAlive.Duration, Queue: t.Queue.Duration,
		Tunnel: t.Tunnel.Duration, ClientFin: t.ClientFin.Duration, ServerFin: t.ServerFin.Duration}
}

// backendOptions maps a backend section onto proxy.BackendOptions.
func backendOptions(cfg *config.Config, b config.Backend) proxy.BackendOptions {
	o := proxy.BackendOptions{Name: b.Name, Balance: b.Balance, LearnSync: b.LearnCommit == config.LearnCommitSync,
		Timeouts: timeouts(cfg), Check: healthCheck(b.Check),
		ForwardFor: b.Option(config.OptionForwardFor), ForwardProtoHost: b.Option(config.OptionForwardedProtoHost),
		HTTPClose: b.Option(config.OptionHTTPClose), Discovered: b.ServersFrom != nil}
	if c := b.Cookie; c != nil {
		o.Cookie = &proxy.CookieOptions{Name: c.Name, Mode: c.Mode, Indirect: c.Indirect, NoCache: c.NoCache,
			HTTPOnly: c.HTTPOnly, Secure: c.Secure, DynamicKey: c.DynamicKey,
			MaxIdle: c.MaxIdle.Duration, MaxLife: c.MaxLife.Duration}
	}
	if b.Stick != nil {
		o.StickSrc = &proxy.StickOptions{Expire: b.Stick.Expire.Duration}
	}
	if b.Mode == config.ModeTCP { // the HTTP options of the defaults mean nothing here
		o.ForwardFor, o.ForwardProtoHost, o.HTTPClose = false, false, false
	}
	for _, s := range b.Servers {
		o.Servers = append(o.Servers, proxy.ServerOptions{Name: s.Name, Addr: s.Addr, Cookie: s.Cookie, Weight: s.Weight, MaxConn: s.MaxConn,
			SendProxy: s.SendProxyVersion()})
	}
	return o
}

// backendConfig returns the backend section named name (validated to exist).
func backendConfig(cfg *config.Config, name string) *config.Backend {
	for i := range cfg.Backends {
		if cfg.Backends[i].Name == name {
			return &cfg.Backends[i]
		}
	}
	return &config.Backend{Options: []string{}}
}
