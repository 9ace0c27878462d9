//go:build linux

package nsharness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/haraft/haraft/cmd/haraftd/certs"
	"github.com/haraft/haraft/proto/adminpb"
)

// Ports every node (and backend) uses on its own address.
const (
	RaftPort  = 7000
	OpsPort   = 9100
	ProxyPort = 8080 // frontend "web": learn mode, bindings proposed asynchronously
	SyncPort  = 8081 // frontend "websync": learn mode, learn_commit sync
	AppPort   = 8080 // each backend's listener
	// With ClusterSpec.TCPStick: frontend "tcp" (mode tcp) on every node,
	// and each backend's TCP name server (serveTCPName).
	TCPPort    = 7777
	TCPAppPort = 7070
)

// BuildHaraftd builds cmd/haraftd into dir and returns the binary's path.
// HARAFT_BIN, when set, names a prebuilt binary to use instead.
func BuildHaraftd(ctx context.Context, dir string) (string, error) {
	if p := os.Getenv("HARAFT_BIN"); p != "" {
		return p, nil
	}
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(dir, "haraftd")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/haraftd")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/haraftd: %v\n%s", err, b)
	}
	return bin, nil
}

// NodeSpec is one node of a ClusterSpec.
type NodeSpec struct {
	ID string
	AZ string
}

// ClusterSpec describes a haraft cluster in namespaces.
type ClusterSpec struct {
	Haraftd  string     // the haraftd binary (BuildHaraftd)
	Nodes    []NodeSpec // default n1..n3 in az-a..az-c
	Backends []string   // default A, B

	// Raft timings; defaults 400ms heartbeat and election timeout, 200ms
	// leader lease: a LAN profile that fails over within a second.
	Heartbeat, Election, Lease time.Duration
	// CheckInter is the backends' health-check interval (default 300ms,
	// fall 2, rise 2); agreed down needs a majority of live nodes.
	CheckInter time.Duration
	// VIP, when valid, is a Linux VIP the cluster keeps on one node's eth0
	// (eips: one address, home AZ of the first node; eip_mover: kind vip),
	// with VIPLease as the fencing lease (default 500ms).
	VIP      netip.Addr
	VIPLease time.Duration
	// TCPStick adds frontend "tcp" (mode tcp, TCPPort, on every address of
	// each node) to backend "tcpapp": mode tcp, roundrobin, stick on src
	// (30m expiry), a connect check, every backend's TCP name server at
	// TCPAppPort; connections stay open with timeout tunnel 1m.
	TCPStick bool
	// ExtraYAML, when set, is appended to each node's config (new top-level
	// sections such as eips:).
	ExtraYAML func(n *Node) string
	// LogLevel of haraftd (default info).
	LogLevel string
}

// Cluster is a running haraft cluster in an Env.
type Cluster struct {
	Env      *Env
	Spec     ClusterSpec
	Nodes    []*Node
	Backends []*Backend
	Client   *Host // where the checker and the status polls run from

	statusClient *http.Client
}

// Node is one haraftd process in its namespace.
type Node struct {
	*Host
	ID      string
	Cluster *Cluster
	CfgPath string
	DataDir string

	mu   sync.Mutex
	proc *Proc
}

// Backend is one demo application server in its namespace.
type Backend struct {
	*Host
	tcp  bool // also serves serveTCPName at TCPAppPort (ClusterSpec.TCPStick)
	mu   sync.Mutex
	proc *Proc
}

// NewCluster makes the namespaces of spec (nodes, backends, one client) and
// writes the node configs; Start starts the processes.
func NewCluster(e *Env, spec ClusterSpec) (*Cluster, error) {
	if len(spec.Nodes) == 0 {
		spec.Nodes = []NodeSpec{{"n1", "az-a"}, {"n2", "az-b"}, {"n3", "az-c"}}
	}
	if len(spec.Backends) == 0 {
		spec.Backends = []string{"A", "B"}
	}
	if spec.Heartbeat == 0 {
		spec.Heartbeat = 400 * time.Millisecond
	}
	if spec.Election == 0 {
		spec.Election = spec.Heartbeat
	}
	if spec.Lease == 0 {
		spec.Lease = spec.Heartbeat / 2
	}
	if spec.CheckInter == 0 {
		spec.CheckInter = 300 * time.Millisecond
	}
	if spec.LogLevel == "" {
		spec.LogLevel = "info"
	}
	c := &Cluster{Env: e, Spec: spec}
	for _, ns := range spec.Nodes {
		h, err := e.AddHost(ns.ID, ns.AZ)
		if err != nil {
			return nil, err
		}
		n := &Node{Host: h, ID: ns.ID, Cluster: c, CfgPath: filepath.Join(e.Dir, ns.ID+".yaml"), DataDir: filepath.Join(e.Dir, "data-"+ns.ID)}
		c.Nodes = append(c.Nodes, n)
	}
	for _, name := range spec.Backends {
		h, err := e.AddHost(name, "")
		if err != nil {
			return nil, err
		}
		c.Backends = append(c.Backends, &Backend{Host: h, tcp: spec.TCPStick})
	}
	var err error
	if c.Client, err = e.AddHostIP("client", "", netip.MustParseAddr("198.18.0.100")); err != nil {
		return nil, err
	}
	c.statusClient = c.Client.HTTPClient(400*time.Millisecond, true)
	if err := c.makeCerts(); err != nil {
		return nil, err
	}
	for _, n := range c.Nodes {
		if err := os.WriteFile(n.CfgPath, []byte(c.config(n)), 0o644); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *Cluster) config(n *Node) string {
	var b strings.Builder
	s := c.Spec
	fmt.Fprintf(&b, "node: {id: %s, az: %s, data_dir: %s}\n", n.ID, n.AZ, n.DataDir)
	fmt.Fprintf(&b, "raft:\n  bind: %s:%d\n  heartbeat_timeout: %s\n  election_timeout: %s\n  leader_lease_timeout: %s\n  commit_timeout: 20ms\n  peers:\n",
		n.IP, RaftPort, s.Heartbeat, s.Election, s.Lease)
	for _, p := range c.Nodes {
		fmt.Fprintf(&b, "    - {id: %s, addr: \"%s:%d\", az: %s}\n", p.ID, p.IP, RaftPort, p.AZ)
	}
	// The nodes' addresses are not loopback: the cluster port needs TLS.
	tlsDir := filepath.Join(c.Env.Dir, "tls")
	fmt.Fprintf(&b, "  tls: {ca_file: %s, cert_file: %s, key_file: %s}\n",
		filepath.Join(tlsDir, "ca.pem"), filepath.Join(tlsDir, n.ID+".pem"), filepath.Join(tlsDir, n.ID+"-key.pem"))
	fmt.Fprintf(&b, "http: {addr: \"%s:%d\"}\n", n.IP, OpsPort)
	// A test network: the admin API speaks plaintext there (admin.insecure).
	fmt.Fprintf(&b, "admin: {addr: \"%s:%d\", insecure: true, tokens: [{name: nsharness, role: write, secret: %s}]}\n", n.IP, AdminPort, AdminToken)
	tunnel := ""
	if s.TCPStick {
		tunnel = ", tunnel: 1m"
	}
	fmt.Fprintf(&b, "timeouts: {connect: 500ms, client: 10s, server: 5s, http_request: 5s, http_keep_alive: 30s%s}\n", tunnel)
	// Frontends on every address of the namespace: the node's own and the
	// VIP while it holds it.
	fmt.Fprintf(&b, "frontends:\n  - {name: web, bind: \"0.0.0.0:%d\", backend: app}\n  - {name: websync, bind: \"0.0.0.0:%d\", backend: appsync}\n", ProxyPort, SyncPort)
	if s.TCPStick {
		fmt.Fprintf(&b, "  - {name: tcp, bind: \"0.0.0.0:%d\", backend: tcpapp, mode: tcp}\n", TCPPort)
	}
	b.WriteString("backends:\n")
	for _, be := range []struct{ name, commit string }{{"app", "async"}, {"appsync", "sync"}} {
		fmt.Fprintf(&b, "  - name: %s\n    balance: roundrobin\n    cookie: {name: JSESSIONID, mode: learn}\n    learn_commit: %s\n", be.name, be.commit)
		fmt.Fprintf(&b, "    check: {inter: %s, timeout: %s, rise: 2, fall: 2}\n    servers:\n", s.CheckInter, s.CheckInter*2/3)
		for _, bk := range c.Backends {
			fmt.Fprintf(&b, "      - {name: %s, addr: \"%s:%d\"}\n", bk.Name, bk.IP, AppPort)
		}
	}
	if s.TCPStick {
		b.WriteString("  - name: tcpapp\n    mode: tcp\n    balance: roundrobin\n    stick: {on: src, expire: 30m}\n")
		fmt.Fprintf(&b, "    check: {inter: %s, timeout: %s, rise: 2, fall: 2}\n    servers:\n", s.CheckInter, s.CheckInter*2/3)
		for _, bk := range c.Backends {
			fmt.Fprintf(&b, "      - {name: %s, addr: \"%s:%d\"}\n", bk.Name, bk.IP, TCPAppPort)
		}
	}
	if s.VIP.IsValid() {
		lease := s.VIPLease
		if lease == 0 {
			lease = 500 * time.Millisecond
		}
		fmt.Fprintf(&b, "eips:\n  - {id: vip1, address: \"%s\", home_az: %s}\n", s.VIP, c.Nodes[0].AZ)
		fmt.Fprintf(&b, "eip_mover: {kind: vip, interface: eth0, lease: %s}\n", lease)
	}
	if s.ExtraYAML != nil {
		b.WriteString(s.ExtraYAML(n))
	}
	return b.String()
}

// makeCerts makes the cluster's CA and one certificate per node (its id
// as identity, its address as IP SAN) under the env's dir/tls, as
// `haraftd tls ca create` and `haraftd tls cert create` would.
func (c *Cluster) makeCerts() error {
	dir := filepath.Join(c.Env.Dir, "tls")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	ca, err := certs.NewCA("nsharness cluster CA", 7*24*time.Hour)
	if err != nil {
		return err
	}
	if _, err := ca.WriteCA(dir, "ca.pem"); err != nil {
		return err
	}
	for _, n := range c.Nodes {
		if _, err := ca.IssueNode(dir, n.ID, n.IP.String()); err != nil {
			return err
		}
	}
	return nil
}

// Start starts every backend and node and waits until the cluster has a
// leader and every node is ready.
func (c *Cluster) Start(ctx context.Context) error {
	for _, b := range c.Backends {
		if err := b.Start(); err != nil {
			return err
		}
	}
	for _, n := range c.Nodes {
		if err := n.Start(); err != nil {
			return err
		}
	}
	_, err := c.WaitStable(ctx, c.Nodes)
	return err
}

// Start starts (or restarts) the backend process.
func (b *Backend) Start() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var from int64
	if old := b.Proc(); old != nil {
		from = old.LogSize()
	}
	env := []string{ChildEnv + "=backend", "HRT_NAME=" + b.Name, fmt.Sprintf("HRT_ADDR=%s:%d", b.IP, AppPort)}
	if b.tcp {
		env = append(env, fmt.Sprintf("HRT_TCP_ADDR=%s:%d", b.IP, TCPAppPort))
	}
	p, err := b.Host.Start("backend", env, self)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.proc = p
	b.mu.Unlock()
	// Wait until it listens: a node whose first health check finds nothing
	// there sees the server down at once (as HAProxy does), and a majority
	// of such views at start would take a live server out of rotation.
	deadline := time.Now().Add(10 * time.Second)
	for p.FindLog(from, "backend "+b.Name+" listening on") == "" {
		if p.Exited() {
			return fmt.Errorf("backend %s exited at start: %s", b.Name, p.Log(2000))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("backend %s not listening after 10s: %s", b.Name, p.Log(2000))
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// Proc returns the backend's current process.
func (b *Backend) Proc() *Proc {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.proc
}

// Start starts (or restarts) the node's haraftd.
func (n *Node) Start() error {
	p, err := n.Host.Start("haraftd", nil, n.Cluster.Spec.Haraftd, "-config", n.CfgPath, "-log-level", n.Cluster.Spec.LogLevel)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.proc = p
	n.mu.Unlock()
	return nil
}

// Proc returns the node's current haraftd process.
func (n *Node) Proc() *Proc {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc
}

// Kill is kill -9 of the node's haraftd.
func (n *Node) Kill() error {
	p := n.Proc()
	if p == nil {
		return nil
	}
	err := p.Kill()
	<-p.Done()
	return err
}

// Restart stops haraftd gracefully (SIGTERM) and starts it again.
func (n *Node) Restart() error {
	if p := n.Proc(); p != nil && !p.Exited() {
		if err := p.Term(20 * time.Second); err != nil {
			return err
		}
	}
	return n.Start()
}

// URL is the node's async-learn frontend; SyncURL its learn_commit sync one.
func (n *Node) URL() string     { return fmt.Sprintf("http://%s:%d/", n.IP, ProxyPort) }
func (n *Node) SyncURL() string { return fmt.Sprintf("http://%s:%d/", n.IP, SyncPort) }

// Status is a node's /status.
type Status struct {
	Node         string `json:"node"`
	AZ           string `json:"az"`
	State        string `json:"state"`
	Leader       string `json:"leader"`
	Term         uint64 `json:"term"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
	Ready        bool   `json:"ready"`
	Sessions     int    `json:"sessions"`
}

// Status fetches the node's /status from the client namespace.
func (n *Node) Status(ctx context.Context) (Status, error) {
	var st Status
	req, err := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("http://%s:%d/status", n.IP, OpsPort), nil)
	if err != nil {
		return st, err
	}
	resp, err := n.Cluster.statusClient.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return st, fmt.Errorf("%s /status: %s", n.ID, resp.Status)
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st, err
}

// Statuses fetches every node's status concurrently; a node that does not
// answer has no entry.
func (c *Cluster) Statuses(ctx context.Context, nodes []*Node) map[string]Status {
	out := map[string]Status{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if st, err := n.Status(ctx); err == nil {
				mu.Lock()
				out[n.ID] = st
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

// Node returns the node with the given id, or nil.
func (c *Cluster) Node(id string) *Node {
	for _, n := range c.Nodes {
		if n.ID == id {
			return n
		}
	}
	return nil
}

// Backend returns the backend with the given name, or nil.
func (c *Cluster) Backend(name string) *Backend {
	for _, b := range c.Backends {
		if b.Name == name {
			return b
		}
	}
	return nil
}

// WaitStable waits until every node of among answers, is ready, and all
// agree on one leader (among them) that says it is the leader; it returns
// the leader.
func (c *Cluster) WaitStable(ctx context.Context, among []*Node) (*Node, error) {
	var last map[string]Status
	for {
		st := c.Statuses(ctx, among)
		last = st
		if len(st) == len(among) {
			leader := ""
			ok := true
			for _, s := range st {
				if !s.Ready || s.Leader == "" || (leader != "" && s.Leader != leader) {
					ok = false
					break
				}
				leader = s.Leader
			}
			if ok {
				if ls, found := st[leader]; found && ls.State == "Leader" {
					return c.Node(leader), nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("cluster not stable: %v (statuses %+v)", ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Leader returns the node that says it leads (with the highest term), or
// nil when none answers as leader.
func (c *Cluster) Leader(ctx context.Context) (*Node, Status) {
	var best *Node
	var bs Status
	for id, s := range c.Statuses(ctx, c.Nodes) {
		if s.State == "Leader" && (best == nil || s.Term > bs.Term) {
			best, bs = c.Node(id), s
		}
	}
	return best, bs
}

// WaitApplied waits until every node of among has applied at least index.
func (c *Cluster) WaitApplied(ctx context.Context, among []*Node, index uint64) error {
	for {
		st := c.Statuses(ctx, among)
		ok := len(st) == len(among)
		for _, s := range st {
			if s.AppliedIndex < index {
				ok = false
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("applied index %d not reached: %w (%+v)", index, ctx.Err(), st)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ClientSources gives the client namespace n more addresses, the first n
// host addresses of p (skipping each /24's .0 and .255), and routes p from
// every node and backend via the client's own address; it returns them.
// Tests dial from them (Client.DialTCPFrom) to be n distinct clients, as
// stick on src sees them. p must lie in 198.18.0.0/15, outside Subnet.
func (c *Cluster) ClientSources(p netip.Prefix, n int) ([]netip.Addr, error) {
	var addrs []netip.Addr
	for a := p.Masked().Addr(); p.Contains(a) && len(addrs) < n; a = a.Next() {
		if last := a.As4()[3]; last != 0 && last != 255 {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) < n {
		return nil, fmt.Errorf("nsharness: %s has %d usable addresses, %d wanted", p, len(addrs), n)
	}
	if err := c.Client.AddAddrs(addrs); err != nil {
		return nil, err
	}
	for _, h := range c.Env.Hosts() {
		if h == c.Client {
			continue
		}
		if err := h.AddRoute(p.Masked(), c.Client.IP); err != nil {
			return nil, err
		}
	}
	return addrs, nil
}

// Others returns the nodes of the cluster other than the given ones.
func (c *Cluster) Others(except ...*Node) []*Node {
	var out []*Node
	for _, n := range c.Nodes {
		skip := false
		for _, x := range except {
			if x == n {
				skip = true
			}
		}
		if !skip {
			out = append(out, n)
		}
	}
	return out
}

// Hosts returns the hosts of the given nodes.
func Hosts(nodes []*Node) []*Host {
	out := make([]*Host, len(nodes))
	for i, n := range nodes {
		out[i] = n.Host
	}
	return out
}

// ErrNoResponse is a request that got no HTTP response.
var ErrNoResponse = errors.New("no response")

// LogOffsets returns each node's current log size (for WaitLog).
func (c *Cluster) LogOffsets() map[string]int64 {
	out := map[string]int64{}
	for _, n := range c.Nodes {
		if p := n.Proc(); p != nil {
			out[n.ID] = p.LogSize()
		}
	}
	return out
}

// WaitLog waits until the log of some node, after its offset in from,
// holds a line containing every one of substrs, and returns that line.
func (c *Cluster) WaitLog(ctx context.Context, from map[string]int64, substrs ...string) (string, error) {
	for {
		for _, n := range c.Nodes {
			if p := n.Proc(); p != nil {
				if line := p.FindLog(from[n.ID], substrs...); line != "" {
					return line, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no node logged %q: %w", substrs, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// CaughtUp waits until every node is ready, agrees on the leader and has
// applied the leader's commit index.
func (c *Cluster) CaughtUp(ctx context.Context) (*Node, error) {
	l, err := c.WaitStable(ctx, c.Nodes)
	if err != nil {
		return nil, err
	}
	st, err := l.Status(ctx)
	if err != nil {
		return nil, err
	}
	return l, c.WaitApplied(ctx, c.Nodes, st.CommitIndex)
}

// VIPHolders returns the nodes whose eth0 carries the cluster's VIP, and
// whether each of them is reachable (link up).
func (c *Cluster) VIPHolders() []*Node {
	if !c.Spec.VIP.IsValid() {
		return nil
	}
	var out []*Node
	for _, n := range c.Nodes {
		if n.HoldsAddr(c.Spec.VIP) {
			out = append(out, n)
		}
	}
	return out
}

// HoldsAddr reports whether the host's eth0 carries addr.
func (h *Host) HoldsAddr(addr netip.Addr) bool {
	out, err := exec.Command("ip", "-n", h.NS, "-o", "addr", "show", "dev", "eth0").Output()
	return err == nil && strings.Contains(string(out), " "+addr.String()+"/")
}

// DelAddr removes addr from the host's eth0 if it is there (whatever its
// prefix length): what a reboot does to an address nobody configured.
func (h *Host) DelAddr(addr netip.Addr) error {
	out, err := exec.Command("ip", "-n", h.NS, "-o", "addr", "show", "dev", "eth0").Output()
	if err != nil {
		return err
	}
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, addr.String()+"/") {
			return ip("-n", h.NS, "addr", "del", f, "dev", "eth0")
		}
	}
	return nil
}

// LinkIsUp reports whether the host's eth0 is administratively up.
func (h *Host) LinkIsUp() bool {
	out, err := exec.Command("ip", "-n", h.NS, "-o", "link", "show", "dev", "eth0").Output()
	return err == nil && strings.Contains(string(out), ",UP")
}

// VIPMonitor samples who holds the VIP every interval until Stop, and
// records every instant at which two reachable nodes (link up, not cut off
// from the client) held it at once.
type VIPMonitor struct {
	c        *Cluster
	stop     chan struct{}
	done     chan struct{}
	mu       sync.Mutex
	overlaps []string
	changes  []VIPChange
	cutOff   map[string]bool
}

// VIPChange is one change of the VIP's holder as the monitor saw it.
type VIPChange struct {
	At     time.Time
	Holder string // "" when no node holds it
}

// WatchVIP starts a VIPMonitor.
func (c *Cluster) WatchVIP(interval time.Duration) *VIPMonitor {
	m := &VIPMonitor{c: c, stop: make(chan struct{}), done: make(chan struct{}), cutOff: map[string]bool{}}
	go func() {
		defer close(m.done)
		last := "?"
		for {
			select {
			case <-m.stop:
				return
			case <-time.After(interval):
			}
			now := time.Now()
			var reachable []string
			for _, n := range c.Nodes {
				// Whether the node is reachable is read before whether it
				// holds the address: a repair removes a stale address
				// before it brings the node back, so a sample can no
				// longer pair a stale address read just before the repair
				// with a reachability read just after it.
				m.mu.Lock()
				cut := m.cutOff[n.ID]
				m.mu.Unlock()
				if !cut && n.LinkIsUp() && n.HoldsAddr(c.Spec.VIP) {
					reachable = append(reachable, n.ID)
				}
			}
			h := strings.Join(reachable, "+")
			m.mu.Lock()
			if len(reachable) > 1 {
				m.overlaps = append(m.overlaps, now.Format("15:04:05.000")+" "+h)
			}
			if h != last {
				m.changes = append(m.changes, VIPChange{At: now, Holder: h})
				last = h
			}
			m.mu.Unlock()
		}
	}()
	return m
}

// CutOff tells the monitor that n cannot be reached by clients (or may
// be again): a holder there does not count as a second holder.
func (m *VIPMonitor) CutOff(n *Node, cut bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cutOff[n.ID] = cut
}

// Stop stops the monitor.
func (m *VIPMonitor) Stop() {
	close(m.stop)
	<-m.done
}

// Overlaps returns the instants two reachable nodes held the VIP.
func (m *VIPMonitor) Overlaps() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.overlaps...)
}

// Changes returns the holder changes seen.
func (m *VIPMonitor) Changes() []VIPChange {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]VIPChange(nil), m.changes...)
}

// WaitVIPHolder waits until exactly one node other than not holds the
// VIP (not, cut off or dead, may still carry a stale copy), and returns it.
func (c *Cluster) WaitVIPHolder(ctx context.Context, not *Node) (*Node, error) {
	for {
		var h []*Node
		for _, n := range c.VIPHolders() {
			if n != not {
				h = append(h, n)
			}
		}
		if len(h) == 1 {
			return h[0], nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no single VIP holder: %w (holders %v)", ctx.Err(), nodeIDs(h))
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func nodeIDs(nodes []*Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.ID
	}
	return out
}

// AdminPort is where every node serves its admin API (plaintext, one write
// token: AdminToken); the harness uses it to steer leadership.
const (
	AdminPort  = 9200
	AdminToken = "nsharness-admin-token-0123456789"
)

// TransferLeadership asks the leader, through its admin API, to hand
// leadership to node to.
func (c *Cluster) TransferLeadership(ctx context.Context, leader, to *Node) error {
	return c.admin(ctx, leader, func(ctx context.Context, a adminpb.AdminClient) error {
		if _, err := a.TransferLeadership(ctx, &adminpb.TransferLeadershipRequest{ToId: to.ID}); err != nil {
			return fmt.Errorf("transfer leadership from %s to %s: %w", leader.ID, to.ID, err)
		}
		return nil
	})
}

// admin calls f with an admin API client of node n (dialed from the
// client namespace, with the write token).
func (c *Cluster) admin(ctx context.Context, n *Node, f func(context.Context, adminpb.AdminClient) error) error {
	conn, err := grpc.NewClient(fmt.Sprintf("passthrough:///%s:%d", n.IP, AdminPort),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return c.Client.DialContext(ctx, "tcp", addr)
		}))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+AdminToken)
	return f(ctx, adminpb.NewAdminClient(conn))
}

// Bindings returns node n's own table of backend's sessions (its applied
// state, not the leader's): key (a cookie value, or "src:<ip>" for stick
// on src) to server.
func (n *Node) Bindings(ctx context.Context, backend string) (map[string]string, error) {
	out := map[string]string{}
	err := n.Cluster.admin(ctx, n, func(ctx context.Context, a adminpb.AdminClient) error {
		req := &adminpb.ListSessionsRequest{Backend: backend, PageSize: 10000}
		for {
			resp, err := a.ListSessions(ctx, req)
			if err != nil {
				return fmt.Errorf("%s: list sessions of %s: %w", n.ID, backend, err)
			}
			for _, s := range resp.Sessions {
				out[s.Key] = s.Server
			}
			if resp.NextPageToken == "" {
				return nil
			}
			req.PageToken = resp.NextPageToken
		}
	})
	return out, err
}
