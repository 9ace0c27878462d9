package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/haraft/haraft/cmd/haraftd/config"
	"github.com/haraft/haraft/proxy/demobackend"
)

// DevOptions configures a development cluster: three nodes and two demo
// backends in one process, on loopback.
type DevOptions struct {
	DataDir string // root; node i keeps its data in DataDir/n<i>
	// Ports of node 1; node i uses port+i-1. 0 picks free ports (tests).
	ProxyPort, OpsPort, RaftPort, AdminPort int
	// BackendPorts of the demo backends A and B; 0 picks free ports.
	BackendPorts [2]int
	Cookie       config.Cookie // default {JSESSIONID, learn}
	LearnCommit  string        // async (default) | sync
	Check        *config.Check // health checks of the demo backends; nil: none
	// TCPStick adds a mode tcp frontend "tcp" (after "web") and backend
	// "tcpapp" over the same demo backends, sticking on src (tests).
	TCPStick *config.Stick
	FastRaft bool // 50 ms Raft timeouts (tests); false: RaftTimeout
	// RaftTimeout is the heartbeat and election timeout (the leader lease
	// half of it) without FastRaft; 0: the config's defaults (tests that
	// wait for elections set a shorter one).
	RaftTimeout  time.Duration
	Logger       *slog.Logger
	RaftLogLevel string
	// Plain turns off the dev CA and tokens: no TLS anywhere, admin reads
	// open and writes refused (dev_admin.go).
	Plain bool
	// AccessLogDir, when set, sends node i's access log to the file
	// AccessLogDir/n<i>.log instead of stdout.
	AccessLogDir string
}

// DefaultDevOptions are the ports the README's quick start prints.
func DefaultDevOptions(dataDir string) DevOptions {
	check := config.Check{Inter: config.Duration{Duration: time.Second}, Rise: 2, Fall: 2}
	return DevOptions{DataDir: dataDir, ProxyPort: 8001, OpsPort: 9101, RaftPort: 7001, AdminPort: 9201, BackendPorts: [2]int{9001, 9002}, Check: &check}
}

// DevCluster is a running development cluster.
type DevCluster struct {
	Backends []*demobackend.Server
	Nodes    []*Daemon
	Configs  []*config.Config
	Security *DevSecurity // nil with Plain
	opts     DevOptions
	raftLns  []net.Listener
}

func portAddr(base, i int) string {
	if base == 0 {
		return "127.0.0.1:0"
	}
	return "127.0.0.1:" + strconv.Itoa(base+i)
}

// StartDev starts the demo backends and three nodes, and waits until every
// node serves.
func StartDev(ctx context.Context, o DevOptions) (*DevCluster, error) {
	if o.Cookie.Name == "" {
		o.Cookie = config.Cookie{Name: "JSESSIONID", Mode: config.CookieLearn}
	}
	if o.LearnCommit == "" {
		o.LearnCommit = config.LearnCommitAsync
	}
	c := &DevCluster{opts: o}
	ok := false
	defer func() {
		if !ok {
			c.Shutdown(context.Background())
		}
	}()
	for i, name := range []string{"A", "B"} {
		b, err := demobackend.Start(name, portAddr(o.BackendPorts[i], 0))
		if err != nil {
			return nil, fmt.Errorf("demo backend %s: %w", name, err)
		}
		c.Backends = append(c.Backends, b)
	}
	var peers []config.Peer
	for i := 0; i < 3; i++ {
		ln, err := net.Listen("tcp", portAddr(o.RaftPort, i))
		if err != nil {
			return nil, fmt.Errorf("raft port of n%d: %w", i+1, err)
		}
		c.raftLns = append(c.raftLns, ln)
		peers = append(peers, config.Peer{ID: fmt.Sprintf("n%d", i+1), Addr: ln.Addr().String()})
	}
	if err := c.prepareSecurity(); err != nil {
		return nil, err
	}
	for i := 0; i < 3; i++ {
		cfg := c.nodeConfig(i, peers)
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
		c.Configs = append(c.Configs, cfg)
	}
	for i := range c.Configs {
		if err := c.startNode(i); err != nil {
			return nil, err
		}
	}
	if err := c.WaitServing(ctx); err != nil {
		return nil, err
	}
	ok = true
	return c, nil
}

func (c *DevCluster) nodeConfig(i int, peers []config.Peer) *config.Config {
	o := c.opts
	cfg := config.Default()
	cfg.File = config.DevFile
	cfg.Node = config.Node{ID: peers[i].ID, AZ: fmt.Sprintf("dev-%c", 'a'+i), DataDir: filepath.Join(o.DataDir, peers[i].ID)}
	cfg.Raft.Bind, cfg.Raft.Advertise, cfg.Raft.Peers = peers[i].Addr, peers[i].Addr, peers
	if o.FastRaft {
		cfg.Raft.HeartbeatTimeout = config.Duration{Duration: 50 * time.Millisecond}
		cfg.Raft.ElectionTimeout = config.Duration{Duration: 50 * time.Millisecond}
		cfg.Raft.LeaderLeaseTimeout = config.Duration{Duration: 50 * time.Millisecond}
		cfg.Raft.CommitTimeout = config.Duration{Duration: 5 * time.Millisecond}
	} else if d := o.RaftTimeout; d > 0 {
		cfg.Raft.HeartbeatTimeout = config.Duration{Duration: d}
		cfg.Raft.ElectionTimeout = config.Duration{Duration: d}
		cfg.Raft.LeaderLeaseTimeout = config.Duration{Duration: d / 2}
	}
	// Otherwise the defaults: -dev runs on laptops and shared machines,
	// where a 300 ms profile held elections all the time (README, "Raft
	// timing").
	cfg.HTTP.Addr = portAddr(o.OpsPort, i)
	cookie := o.Cookie
	var check *config.Check
	if o.Check != nil {
		ck := *o.Check
		check = &ck
	}
	cfg.Backends = []config.Backend{{
		Name: "app", Balance: config.BalanceRoundRobin, Cookie: &cookie, LearnCommit: o.LearnCommit, Check: check,
		Servers: []config.Server{
			{Name: "A", Addr: c.Backends[0].Addr(), Cookie: "A", Weight: 1},
			{Name: "B", Addr: c.Backends[1].Addr(), Cookie: "B", Weight: 1},
		},
	}}
	cfg.Frontends = []config.Frontend{{Name: "web", Bind: portAddr(o.ProxyPort, i), Backend: "app"}}
	if o.TCPStick != nil {
		st := *o.TCPStick
		cfg.Backends = append(cfg.Backends, config.Backend{
			Name: "tcpapp", Mode: config.ModeTCP, Balance: config.BalanceRoundRobin, Stick: &st, LearnCommit: config.LearnCommitAsync,
			Options: []string{config.OptionRedispatch}, Check: check, Servers: cfg.Backends[0].Servers,
		})
		cfg.Frontends = append(cfg.Frontends, config.Frontend{Name: "tcp", Bind: portAddr(0, i), Backend: "tcpapp", Mode: config.ModeTCP})
	}
	if o.AccessLogDir != "" {
		cfg.AccessLog.Target = "file:" + filepath.Join(o.AccessLogDir, peers[i].ID+".log")
	}
	c.secureNode(cfg, i)
	return cfg
}

func (c *DevCluster) startNode(i int) error {
	ln := c.raftLns[i]
	if ln == nil {
		var err error
		// Rebind the node's Raft address (a restart): retry while the
		// old socket goes away.
		for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if ln, err = net.Listen("tcp", c.Configs[i].Raft.Bind); err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("n%d: %w", i+1, err)
		}
	}
	c.raftLns[i] = nil
	d, err := Start(c.Configs[i], Options{Logger: c.opts.Logger, RaftListener: ln, RaftLogLevel: c.opts.RaftLogLevel})
	if err != nil {
		ln.Close()
		return fmt.Errorf("n%d: %w", i+1, err)
	}
	if i < len(c.Nodes) {
		c.Nodes[i] = d
	} else {
		c.Nodes = append(c.Nodes, d)
	}
	// Frontends and ops listeners were bound with port 0 in tests: record
	// the real addresses so a restart reuses them.
	for j, f := range d.Frontends() {
		c.Configs[i].Frontends[j].Bind = f.Addr().String()
	}
	c.Configs[i].HTTP.Addr = d.OpsAddr()
	c.Configs[i].Admin.Addr = d.AdminAddr()
	return nil
}

// WaitServing waits until every running node serves.
func (c *DevCluster) WaitServing(ctx context.Context) error {
	for _, d := range c.Nodes {
		if d == nil {
			continue
		}
		select {
		case <-d.Serving():
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s to serve: %w", d.cfg.Node.ID, ctx.Err())
		}
	}
	return nil
}

// StopNode shuts node i down (gracefully, as Ctrl-C would).
func (c *DevCluster) StopNode(ctx context.Context, i int) error {
	d := c.Nodes[i]
	if d == nil {
		return errors.New("node already stopped")
	}
	c.Nodes[i] = nil
	return d.Shutdown(ctx)
}

// RestartNode starts a stopped node again on its data dir and addresses.
func (c *DevCluster) RestartNode(i int) error {
	if c.Nodes[i] != nil {
		return errors.New("node is running")
	}
	return c.startNode(i)
}

// Shutdown stops every node, then the demo backends.
func (c *DevCluster) Shutdown(ctx context.Context) error {
	var errs []error
	// The whole cluster stops: what each node sees of the others going
	// away is expected.
	for _, d := range c.Nodes {
		if d != nil {
			d.BeginShutdown()
		}
	}
	for i, d := range c.Nodes {
		if d != nil {
			errs = append(errs, d.Shutdown(ctx))
			c.Nodes[i] = nil
		}
	}
	for _, ln := range c.raftLns {
		if ln != nil {
			ln.Close()
		}
	}
	for _, b := range c.Backends {
		errs = append(errs, b.Close())
	}
	return errors.Join(errs...)
}
