// Package cluster owns a haraft node's Raft membership: the boltdb log and
// stable stores and file snapshots in the data dir, the cluster port that
// carries both Raft and the internal gRPC service (optionally over mutual
// TLS), bootstrap from a static peer set, forwarding of proposals from
// followers to the leader, leadership observation and the readiness gate.
package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"google.golang.org/grpc"

	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/clusterpb"
)

// Peer is one member of the static bootstrap set.
type Peer struct {
	ID   string
	Addr string
}

// Config configures a Node.
type Config struct {
	NodeID    string
	Bind      string       // cluster port listen address; ignored when Listener is set
	Listener  net.Listener // optional pre-bound listener (tests)
	Advertise string       // address peers dial; defaults to the listener's
	DataDir   string
	Peers     []Peer
	Bootstrap bool // bootstrap from Peers when the data dir holds no state

	// Raft timing; 0: the Default* below.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	SnapshotInterval   time.Duration
	SnapshotThreshold  uint64
	TrailingLogs       uint64
	// DiskStallTimeout: a leader whose log write or disk canary has been
	// in flight this long hands leadership over (cluster/diskwatch.go,
	// hashicorp/raft#503). 0: DefaultDiskStallTimeout; negative: off.
	DiskStallTimeout time.Duration
	// WrapLogStore, when set, wraps the boltdb log store (tests inject
	// disk stalls with it).
	WrapLogStore func(raft.LogStore) raft.LogStore

	// ServerTLS and ClientTLS, when set, make the cluster port mutual TLS:
	// a peer is accepted only with a certificate of the cluster CA whose
	// identity (NodeURI) names a node, and only as that node (mux.go,
	// authtrans.go). Without them the port is plain TCP, which New
	// refuses on a non-loopback address unless Insecure is set.
	ServerTLS *tls.Config
	ClientTLS *tls.Config
	Insecure  bool

	// ClusterID names the cluster this node's log belongs to. It is kept
	// in the stable store with the node id (store.go: a raft.db of
	// another node or cluster is refused); "" leaves the cluster unchecked.
	ClusterID string

	FSM    *fsm.FSM
	Logger *slog.Logger
	// RaftLogLevel, when set, filters hashicorp/raft's lines further than
	// Logger's handler does ("off" silences them); by default the
	// handler's level alone applies, as to every other line.
	RaftLogLevel string
}

// Node is one running Raft member.
type Node struct {
	cfg  Config
	log  *slog.Logger
	fsm  *fsm.FSM
	raft *raft.Raft
	// raftRef is raft for the goroutines raft itself starts (the mux's
	// dialer), which may run before New assigns n.raft.
	raftRef atomic.Pointer[raft.Raft]
	store   *raftboltdb.BoltStore
	trans   *authTransport
	mux     *mux
	grpc    *grpc.Server
	peers   *peerConns

	ready    atomic.Bool
	readyCh  chan struct{}
	observer *leaderObserver
	clock    leaderClock
	catchUp  catchUp
	watch    *diskWatch
	closed   sync.Once
	stopping atomic.Bool // BeginShutdown: raft errors are expected (hclog.go)
	// contacts answers peers' contact pings; set by NewLiveness.
	contacts atomic.Pointer[peerContacts]
	// liveness is the tracker Alive asks; set by NewLiveness.
	liveness atomic.Pointer[Liveness]
	// traffic answers peers' Traffic calls (traffic.go).
	traffic atomic.Pointer[TrafficSource]
}

// New opens the data dir, starts Raft and the cluster port, and bootstraps
// a new cluster from cfg.Peers when the data dir is empty and Bootstrap is
// set. It does not wait for a leader; see WaitReady.
func New(cfg Config) (*Node, error) {
	if cfg.FSM == nil {
		return nil, errors.New("cluster: Config.FSM is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	log := cfg.Logger
	if cfg.ServerTLS == nil && !cfg.Insecure {
		if err := requireLoopback(cfg); err != nil {
			return nil, err
		}
	}
	if err := ownCertificate(cfg); err != nil {
		return nil, err
	}
	dd := layout(cfg.DataDir)
	if err := dd.prepare(cfg.NodeID); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: log, fsm: cfg.FSM, readyCh: make(chan struct{}), clock: newLeaderClock()}
	ok := false
	defer func() {
		if !ok {
			n.closeResources()
		}
	}()

	store, err := dd.openStore()
	if err != nil {
		return nil, err
	}
	n.store = store
	if err := dd.checkOwner(store, cfg.NodeID, cfg.ClusterID, log); err != nil {
		return nil, err
	}
	hlog := newHCLog(log, "raft", cfg.RaftLogLevel, &n.stopping)
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dd.snapshots, 3, hlog)
	if err != nil {
		return nil, fmt.Errorf("%w: snapshots in %s: %v", ErrDataDir, dd.snapshots, err)
	}

	ln := cfg.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Bind); err != nil {
			return nil, fmt.Errorf("cluster: listen %s: %w", cfg.Bind, err)
		}
	}
	adv := ln.Addr()
	if cfg.Advertise != "" {
		if adv, err = net.ResolveTCPAddr("tcp", cfg.Advertise); err != nil {
			ln.Close()
			return nil, fmt.Errorf("cluster: advertise %q: %w", cfg.Advertise, err)
		}
	}
	n.mux = newMux(ln, adv, cfg.ServerTLS, cfg.ClientTLS, log)
	n.mux.expect = n.expectAt
	n.watch = newDiskWatch(n, dd.snapshots, cfg.DiskStallTimeout, orDur(cfg.HeartbeatTimeout, DefaultHeartbeatTimeout), orDur(cfg.ElectionTimeout, DefaultElectionTimeout), log)
	sub := newSubListener(n.mux, n.mux.raftCh)
	n.trans = newAuthTransport(&raft.NetworkTransportConfig{
		Stream: fenceLayer{raftLayer{sub}, n.watch.fence}, MaxPool: 4, Timeout: 5 * time.Second, Logger: hlog,
		// 1 disables pipelined replication. hashicorp/raft's pipeline
		// deadlocks when a follower answers Success=false (a log mismatch
		// after a leader change): pipelineDecode returns, decodeResponses
		// parks on doneCh, the next send parks on inprogressCh, and that
		// follower gets no entry from this leader again — while heartbeats
		// go on, so no election heals it — and the leader's Shutdown hangs.
		// Found by integration/chaos_test.go; HashiCorp measured little
		// benefit from pipelining (raft#541).
		MaxRPCsInFlight: 1,
	}, sub, n.watch.fence, hlog, log)
	n.peers = newPeerConns(n.mux)

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = hlog
	rc.BatchApplyCh = true
	rc.HeartbeatTimeout = orDur(cfg.HeartbeatTimeout, DefaultHeartbeatTimeout)
	rc.ElectionTimeout = orDur(cfg.ElectionTimeout, DefaultElectionTimeout)
	rc.LeaderLeaseTimeout = orDur(cfg.LeaderLeaseTimeout, DefaultLeaderLeaseTimeout)
	setDur(&rc.CommitTimeout, cfg.CommitTimeout)
	setDur(&rc.SnapshotInterval, cfg.SnapshotInterval)
	if cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.SnapshotThreshold
	}
	if cfg.TrailingLogs > 0 {
		rc.TrailingLogs = cfg.TrailingLogs
	}
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("cluster: raft config: %w", err)
	}

	existing, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s: %v", ErrDataDir, dd.raftDB, err)
	}
	if !existing && cfg.Bootstrap && len(cfg.Peers) > 0 {
		var servers []raft.Server
		for _, p := range cfg.Peers {
			servers = append(servers, raft.Server{ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Addr), Suffrage: raft.Voter})
		}
		if err := raft.BootstrapCluster(rc, store, store, snaps, n.trans, raft.Configuration{Servers: servers}); err != nil {
			return nil, fmt.Errorf("cluster: bootstrap: %w", err)
		}
		log.Info("bootstrapped a new cluster", "peers", len(servers))
	}

	// A damaged snapshot, or a log compacted past every snapshot, is
	// refused here with the file named (cluster/snapcheck.go).
	if err := dd.checkSnapshots(store); err != nil {
		return nil, err
	}
	var logs raft.LogStore = store
	if cfg.WrapLogStore != nil {
		logs = cfg.WrapLogStore(logs)
	}
	logs = n.watch.wrap(logs)
	r, err := dd.newRaftChecked(func() (*raft.Raft, error) { return raft.NewRaft(rc, n.fsm, logs, store, snaps, n.trans) })
	if err != nil {
		return nil, err
	}
	n.raft = r
	n.raftRef.Store(r)
	n.observer = newLeaderObserver(r, rc.LocalID, log)
	n.watch.start()

	n.grpc = grpc.NewServer(grpc.Creds(muxCreds{})) // PeerNodeID: the mux checked the peer's certificate
	clusterpb.RegisterInternalServer(n.grpc, &internalServer{n: n})
	go func() {
		if err := n.grpc.Serve(newSubListener(n.mux, n.mux.grpcCh)); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			log.Error("internal gRPC server stopped", "err", err)
		}
	}()
	ok = true
	return n, nil
}

// The Raft timing defaults (a Config's zero values; haraftd's config has
// the same). hashicorp/raft's own (1 s, 1 s, 500 ms) held elections on an
// idle three-node cluster whose host was busy: a leader that does not hear
// from a quorum for leader_lease_timeout steps down, and a busy host
// delays the heartbeats (sent every heartbeat_timeout / 10) by a second
// and more. These held none where those held 31 in 11 minutes (README,
// "Raft timing"); a dead leader is replaced in about 3 to 6 s. On
// dedicated hosts the fast profile (250 ms, 250 ms, 125 ms) replaces it in
// well under a second.
const (
	DefaultHeartbeatTimeout   = 2 * time.Second
	DefaultElectionTimeout    = 2 * time.Second
	DefaultLeaderLeaseTimeout = time.Second
)

func setDur(dst *time.Duration, v time.Duration) {
	if v > 0 {
		*dst = v
	}
}

// expectAt returns the node id of the member at a cluster address: the
// Raft configuration's, else the known leader's (whose id came with its
// checked AppendEntries), else the static peers'.
func (n *Node) expectAt(addr string) (string, bool) {
	if r := n.raftRef.Load(); r != nil {
		for _, s := range r.GetConfiguration().Configuration().Servers {
			if string(s.Address) == addr {
				return string(s.ID), true
			}
		}
		if a, id := r.LeaderWithID(); a != "" && string(a) == addr {
			return string(id), true
		}
	}
	for _, p := range n.cfg.Peers {
		if p.Addr == addr {
			return p.ID, true
		}
	}
	return "", false
}

// requireLoopback refuses a plain-TCP cluster port on an address others
// can reach: anyone who can connect could speak Raft to it.
func requireLoopback(cfg Config) error {
	addrs := []string{cfg.Bind, cfg.Advertise}
	if cfg.Listener != nil {
		addrs[0] = cfg.Listener.Addr().String()
	}
	for _, a := range addrs {
		if a != "" && !IsLoopback(a) {
			return fmt.Errorf("cluster: %s is not a loopback address and the cluster port has no TLS: anyone who reaches it could speak Raft to this node; configure TLS (raft.tls) or say insecure (raft.insecure: true)", a)
		}
	}
	return nil
}

// IsLoopback reports whether host:port (or a bare host) is a loopback
// address: 127.0.0.0/8, ::1 or localhost. An unspecified address (all
// interfaces) and every other name are not.
func IsLoopback(addr string) bool {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ownCertificate refuses a cluster-port certificate that names another
// node: its peers would refuse every connection from this node.
func ownCertificate(cfg Config) error {
	for _, c := range []*tls.Config{cfg.ServerTLS, cfg.ClientTLS} {
		if c == nil || len(c.Certificates) == 0 {
			continue
		}
		leaf := c.Certificates[0].Leaf
		if leaf == nil {
			var err error
			if leaf, err = x509.ParseCertificate(c.Certificates[0].Certificate[0]); err != nil {
				return fmt.Errorf("cluster: TLS certificate: %w", err)
			}
		}
		id, err := NodeIDOf(leaf)
		if err != nil {
			return fmt.Errorf("cluster: this node's TLS certificate: %w (make one with haraftd tls cert create -node %s)", err, cfg.NodeID)
		}
		if id != cfg.NodeID {
			return fmt.Errorf("cluster: this node's TLS certificate is node %q's, not %q's: peers would refuse it", id, cfg.NodeID)
		}
	}
	return nil
}

// Insecure reports whether the cluster port runs without TLS.
func (n *Node) Insecure() bool { return n.cfg.ServerTLS == nil }

// ID returns the node id.
func (n *Node) ID() string { return n.cfg.NodeID }

// Addr returns the advertised cluster address.
func (n *Node) Addr() string { return n.mux.advertise.String() }

// Raft exposes the underlying raft instance for status and admin calls.
func (n *Node) Raft() *raft.Raft { return n.raft }

// FSM returns the node's state machine.
func (n *Node) FSM() *fsm.FSM { return n.fsm }

// IsLeader reports whether this node is the leader now.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Voters returns the ids of the voting members of the Raft
// configuration (nil when it cannot be read).
func (n *Node) Voters() []string {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	var ids []string
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			ids = append(ids, string(s.ID))
		}
	}
	return ids
}

// Alive reports whether the leader counts member id alive (Liveness.Alive).
// Until a liveness tracker is attached every member counts: dead members'
// stale views then need a majority of all members to move a server.
func (n *Node) Alive(id string) bool {
	l := n.liveness.Load()
	return l == nil || l.Alive(id)
}

// Term returns the current Raft term.
func (n *Node) Term() uint64 { return n.raft.CurrentTerm() }

// Leader returns the current leader's id and address, empty when unknown.
func (n *Node) Leader() (id, addr string) {
	a, i := n.raft.LeaderWithID()
	return string(i), string(a)
}

// OnLeaderChange registers fn to be called (from one goroutine, in order)
// at every leadership change this node observes.
func (n *Node) OnLeaderChange(fn func(LeaderChange)) { n.observer.subscribe(fn) }

// Shutdown leaves leadership to a peer when it is the leader (so the
// cluster does not wait an election timeout), then stops Raft, the cluster
// port and the stores, in that order.
func (n *Node) Shutdown(ctx context.Context) error {
	var err error
	n.BeginShutdown()
	n.closed.Do(func() {
		if n.raft != nil && n.IsLeader() && len(n.raft.GetConfiguration().Configuration().Servers) > 1 {
			f := n.raft.LeadershipTransfer()
			done := make(chan error, 1)
			go func() { done <- f.Error() }()
			select {
			case e := <-done:
				if e != nil {
					n.log.Warn("leadership transfer before shutdown failed", "err", e)
				}
			case <-ctx.Done():
			}
		}
		err = n.closeResources()
	})
	return err
}

// BeginShutdown tells the node that it, or its whole cluster, is being
// stopped on purpose: from now on hashicorp/raft's errors (a closed
// transport under an in-flight RPC, replication stopped by a leadership
// transfer, peers that went away) are expected and logged at INFO with
// shutdown=true. Shutdown calls it; a process stopping several nodes
// (haraftd -dev) calls it on all of them first.
func (n *Node) BeginShutdown() { n.stopping.Store(true) }

func (n *Node) closeResources() error {
	var errs []error
	if n.watch != nil {
		n.watch.stop()
	}
	if n.raft != nil {
		if err := n.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("raft shutdown: %w", err))
		}
	}
	if n.trans != nil {
		// Before the observer stops reading (a heartbeat in flight may
		// still report a leader to it) and before the store closes: a
		// heartbeat that passed Raft's shutdown check writes the term.
		n.trans.Close()
	}
	if n.observer != nil {
		n.observer.close()
	}
	if n.grpc != nil {
		n.grpc.Stop()
	}
	if n.peers != nil {
		n.peers.close()
	}
	if n.mux != nil {
		n.mux.Close()
	}
	if n.store != nil {
		if err := n.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close store: %w", err))
		}
	}
	return errors.Join(errs...)
}

var _ io.Closer = (*mux)(nil)
