// Package daemon wires one haraft node together — the FSM, the Raft node,
// the learner, the proxy frontends and the ops HTTP listener — and owns
// their start and shutdown order. cmd/haraftd runs it from a config file or
// in -dev mode; the integration tests run several in one process.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/haraft/haraft/cluster"
	"github.com/haraft/haraft/cluster/leader"
	"github.com/haraft/haraft/cmd/haraftd/config"
	"github.com/haraft/haraft/eipmover"
	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
	"github.com/haraft/haraft/proxy"
	"github.com/haraft/haraft/proxy/accesslog"
)

// Options are the parts of a daemon that do not come from the config file.
type Options struct {
	Logger *slog.Logger
	// RaftListener, when set, is used instead of binding raft.bind (tests
	// pre-bind so peers know every address before any node starts).
	RaftListener net.Listener
	RaftLogLevel string
	// AccessLogOutput replaces stdout for an access log whose target is
	// stdout (tests); nil: os.Stdout.
	AccessLogOutput io.Writer
	// Listeners are frontend sockets inherited from the process this one
	// replaces in a binary upgrade, by bind as the config writes it
	// (upgrade.go): frontends with that bind serve on them instead of
	// listening. Start closes those no frontend binds.
	Listeners map[string]net.Listener
	// UpgradeWait, when positive, is how long Start retries opening the
	// data dir and the Raft port while the replaced process still holds
	// them.
	UpgradeWait time.Duration
}

// Daemon is one running haraft node.
type Daemon struct {
	cfg  *config.Config
	log  *slog.Logger
	fsm  *fsm.FSM
	node *cluster.Node

	learner  *proxy.Learner
	health   *proxy.HealthMonitor
	liveness *cluster.Liveness // optional: the leader's view of which members are alive
	conns    *proxy.ConnLimit  // global maxconn of every frontend (maxconn.go)

	// cfg is the config the node started with: what a reload cannot change
	// (node, raft, admin, eips, ...) is read from it. state is the running
	// frontends and backends with the config they came from, replaced by a
	// live reload (reload.go).
	mu        sync.RWMutex
	state     *liveState
	reloadMu  sync.Mutex // one reload at a time
	reloads   reloadStats
	checks    context.CancelFunc // stops the health checks of the current backends
	checksWG  sync.WaitGroup
	ops       *http.Server
	opsLn     net.Listener
	admin     *adminParts       // admin.go
	eip       *eipParts         // eip.go
	leader    *leader.Runner    // the leader-only loops (leaderloops.go)
	discovery *discoveryParts   // discover.go
	accessLog *accesslog.Writer // nil when off (accesslog.go)
	rates     trafficRates      // the status page's rates (statustraffic.go)
	// clusterTraffic: the members' counters, cached (statuscluster.go)
	clusterTraffic clusterTraffic

	dns *eipmover.DNSController // the Route 53 record's reconciler (dns.go); nil without route53

	ctx         context.Context
	cancel      context.CancelFunc
	learnerCtx  context.Context
	stopLearn   context.CancelFunc
	learnerDone chan struct{}
	wg          sync.WaitGroup
	serving     chan struct{} // closed once the frontends accept traffic
	shutdown    sync.Once
}

// Start opens the data dir, starts Raft and the ops listener, and, in the
// background, waits for the readiness gate before the frontends accept
// traffic (see Serving).
func Start(cfg *config.Config, opts Options) (*Daemon, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("node", cfg.Node.ID)
	d := &Daemon{cfg: cfg, log: log, serving: make(chan struct{})}
	st := &liveState{cfg: cfg, backends: map[string]*proxy.Backend{}, sockets: map[string]*socket{}, hash: configHash(cfg)}
	d.state = st
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.learnerCtx, d.stopLearn = context.WithCancel(context.Background())
	ok := false
	defer func() {
		if !ok {
			d.cancel()
			d.stopLearn()
			d.closeAll()
		}
	}()

	for _, bc := range cfg.Backends {
		b, err := proxy.NewBackend(backendOptions(cfg, bc))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.File, err)
		}
		st.backends[bc.Name] = b
	}

	// Said at every start: raft.insecure: true (config/raftsec.go).
	for _, w := range cfg.SecurityWarnings() {
		log.Warn("config: " + w.Error())
	}
	d.fsm = fsm.New(log)
	inherited := opts.Listeners
	defer func() {
		for _, ln := range inherited { // no frontend binds it (any more)
			_ = ln.Close()
		}
	}()
	node, err := startClusterNode(cfg, d.fsm, log, opts)
	if err != nil {
		return nil, err
	}
	d.node = node
	node.SetTrafficSource(d.localTraffic) // peers' status pages (statuscluster.go)
	d.learner = proxy.NewLearner(node, proxy.LearnerOptions{
		NodeID: cfg.Node.ID, BatchSize: cfg.Proposals.BatchSize, FlushInterval: cfg.Proposals.FlushInterval.Duration,
		QueueSize: cfg.Proposals.QueueSize, Logger: log, TouchInterval: touchInterval(cfg),
	})
	d.learnerDone = make(chan struct{})
	go func() {
		defer close(d.learnerDone)
		d.learner.Run(d.learnerCtx)
	}()

	// Bind every listener now, so a port conflict fails the start instead
	// of surfacing after the readiness gate.
	d.conns = proxy.NewConnLimit(globalMaxConn(cfg, log))
	if err := d.startAccessLog(opts); err != nil {
		return nil, err
	}
	for i, fc := range cfg.Frontends {
		sock, err := listenSocket(fc.Bind, inherited)
		if err != nil {
			return nil, fmt.Errorf("frontend %s: %w", fc.Name, err)
		}
		st.sockets[sock.key()] = sock
		h := sock.newHandle()
		f, err := d.newFrontend(cfg, st.backends, i, fc, h)
		if err != nil {
			return nil, err
		}
		sock.serve(h)
		st.frontends = append(st.frontends, newLiveFrontend(fc, f, sock, h))
	}
	if d.opsLn, err = net.Listen("tcp", cfg.HTTP.Addr); err != nil {
		return nil, fmt.Errorf("http.addr %s: %w", cfg.HTTP.Addr, err)
	}
	d.ops = &http.Server{Handler: d.opsHandler(), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 16 << 10}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := d.ops.Serve(d.opsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("ops listener stopped", "err", err)
		}
	}()

	if err := d.startEIP(); err != nil {
		return nil, err
	}
	if err := d.startDNS(); err != nil {
		return nil, err
	}
	d.startLeaderLoops()
	if err := d.startAdmin(); err != nil {
		return nil, err
	}
	d.restartChecks()
	d.wg.Add(2)
	go func() {
		defer d.wg.Done()
		d.gateAndServe()
	}()
	go func() {
		defer d.wg.Done()
		d.runDrainDeadlines(d.ctx)
	}()
	ok = true
	return d, nil
}

// gateAndServe waits for the readiness gate, then starts the frontends and
// registers the node in the replicated state.
func (d *Daemon) gateAndServe() {
	if err := d.node.WaitReady(d.ctx); err != nil {
		if d.ctx.Err() == nil {
			d.log.Error("readiness gate", "err", err)
		}
		return
	}
	d.reloadMu.Lock() // a reload waits for the frontends to serve
	fronts := d.live().frontends
	for _, lf := range fronts {
		d.serve(lf)
	}
	close(d.serving)
	d.reloadMu.Unlock()
	d.log.Info("serving", "frontends", len(fronts))
	reg := &fsmpb.RegisterNode{Node: &fsmpb.Node{Id: d.cfg.Node.ID, Az: d.cfg.Node.AZ, RaftAddr: d.node.Addr(), HttpAddr: d.opsLn.Addr().String(), AdminAddr: d.AdminAddr(), RegisteredUnixMs: time.Now().UnixMilli()}}
	ctx, cancel := context.WithTimeout(d.ctx, 30*time.Second)
	defer cancel()
	if _, err := d.node.Apply(ctx, fsm.RegisterNodeType, reg); err != nil && d.ctx.Err() == nil {
		d.log.Warn("could not register the node in the cluster state", "err", err)
	}
}

// Serving is closed once the node passed its readiness gate and its
// frontends accept traffic.
func (d *Daemon) Serving() <-chan struct{} { return d.serving }

// Node returns the Raft node.
func (d *Daemon) Node() *cluster.Node { return d.node }

// FSM returns the replicated state.
func (d *Daemon) FSM() *fsm.FSM { return d.fsm }

// Learner returns the learner.
func (d *Daemon) Learner() *proxy.Learner { return d.learner }

// Frontends returns the running frontends, in config order.
func (d *Daemon) Frontends() []Frontend {
	st := d.live()
	out := make([]Frontend, len(st.frontends))
	for i, lf := range st.frontends {
		out[i] = lf.f
	}
	return out
}

// closeSockets stops accepting on every frontend's socket.
func (d *Daemon) closeSockets() {
	for _, s := range d.live().sockets {
		_ = s.Close()
	}
}

// OpsAddr returns the ops listener's address.
func (d *Daemon) OpsAddr() string { return d.opsLn.Addr().String() }

// Shutdown stops the node in order: stop accepting and drain the frontends,
// flush the learner's queued bindings while Raft still runs, hand
// leadership over and stop Raft, then close the ops listener.
func (d *Daemon) Shutdown(ctx context.Context) error {
	return d.shutdownNode(ctx, true)
}

// ShutdownGrace is how long a stopping node lets its open connections run
// before it closes them: the running config's timeouts.shutdown (15 s when
// unset).
func (d *Daemon) ShutdownGrace() time.Duration {
	if g := d.live().cfg.Timeouts.Shutdown.Duration; g > 0 {
		return g
	}
	return 15 * time.Second
}

func (d *Daemon) shutdownNode(ctx context.Context, moveEIPs bool) error {
	var errs []error
	d.BeginShutdown()
	d.shutdown.Do(func() {
		if moveEIPs {
			d.drainEIPs(ctx)
		}
		d.closeSockets()
		for _, f := range d.Frontends() {
			if err := f.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("frontend %s: %w", f.Addr(), err))
			}
		}
		d.stopLearn()
		d.cancel()
		errs = append(errs, d.closeAll())
	})
	return errors.Join(errs...)
}

// BeginShutdown marks the node as stopping on purpose, so that Raft's
// errors from here on are logged as expected (cluster.Node.BeginShutdown).
func (d *Daemon) BeginShutdown() {
	if d.node != nil {
		d.node.BeginShutdown()
	}
}

// closeAll stops what Start started; it waits for the learner to flush
// before Raft goes away.
func (d *Daemon) closeAll() error {
	var errs []error
	d.stopLearn()
	if d.learnerDone != nil {
		select {
		case <-d.learnerDone: // queued bindings were proposed
		case <-time.After(5 * time.Second):
			d.log.Warn("learner did not flush in time")
		}
	}
	if d.ops != nil {
		d.ops.Close()
	}
	d.stopAdmin()
	d.closeSockets()
	for _, f := range d.Frontends() {
		_ = f.Shutdown(context.Background())
	}
	if d.node != nil {
		if err := d.node.Shutdown(context.Background()); err != nil {
			errs = append(errs, err)
		}
	}
	d.wg.Wait()
	d.checksWG.Wait()
	if err := d.closeAccessLog(); err != nil {
		errs = append(errs, err)
	}
	d.stopEIP()
	for _, b := range d.live().backends {
		b.Close()
	}
	return errors.Join(errs...)
}
