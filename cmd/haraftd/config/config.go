// Package config owns the configuration file of one haraftd node: its
// schema, written in HAProxy's vocabulary (frontends, backends, servers,
// balance, cookie modes, timeouts), its defaults, and its validation.
//
// Load and Parse decode YAML through yaml.v3's Node API so that every
// problem is reported as "file:line: field: reason", for example
//
//	node3.yaml:14: backends[0].servers[1].addr: missing port in address "10.0.0.5"
//
// Unknown fields, type errors, missing required fields and semantic errors
// (duplicate names, a frontend naming no backend, this node missing from the
// Raft peers, ...) are all collected and returned together as Errors.
// Configs built in code (dev mode) go through ApplyDefaults and Validate.
//
// The package only reads the file; it starts nothing and opens no socket.
package config

import (
	"os"
	"slices"
	"time"
)

// Config is the whole configuration of one haraft node.
type Config struct {
	File      string     `yaml:"-"` // where the config came from; "<dev>" for code-built configs
	Node      Node       `yaml:"node"`
	Raft      Raft       `yaml:"raft"`
	HTTP      HTTP       `yaml:"http"`            // ops listener: /ready /healthz
	Admin     Admin      `yaml:"admin,omitempty"` // admin gRPC listener (admin.go)
	Timeouts  Timeouts   `yaml:"timeouts"`
	Proposals Proposals  `yaml:"proposals"`
	Frontends []Frontend `yaml:"frontends"`
	Backends  []Backend  `yaml:"backends"`
	EIPs      []EIP      `yaml:"eips,omitempty"` // addresses kept on a healthy node (eips.go)
	EIPMover  EIPMover   `yaml:"eip_mover"`      // how they move (eips.go)
	Global    Global     `yaml:"global"`         // process-wide settings (HAProxy's global section)
	AccessLog AccessLog  `yaml:"access_log"`     // per-request log (accesslog.go)
	Log       Log        `yaml:"log"`            // the daemon's own log: format, level (log.go)

	// Route53 is the DNS record of the EIPs with a ready holder
	// (route53.go); nil: none.
	Route53 *Route53 `yaml:"route53,omitempty"`

	// lines maps a field path ("backends[0].servers[1].addr") to the line
	// it was read from; Validate uses it to place its errors. nil for
	// configs built in code.
	lines map[string]int
	// advertiseFromBind records that Raft.Advertise was derived from
	// Raft.Bind by the defaults, so errors can say so.
	advertiseFromBind bool
}

// Node identifies this node.
type Node struct {
	ID      string `yaml:"id"`       // required; the Raft server ID
	AZ      string `yaml:"az"`       // availability zone; default "default"
	DataDir string `yaml:"data_dir"` // required; Raft log, stable store and snapshots
	Role    string `yaml:"role"`     // active (default) | standby: EIPs of its AZ go to active nodes first
}

// Raft configures this node's Raft member.
type Raft struct {
	Bind      string `yaml:"bind"`      // required host:port the Raft transport listens on
	Advertise string `yaml:"advertise"` // host:port peers dial; default Bind, which must then not be 0.0.0.0 or ::
	Bootstrap bool   `yaml:"bootstrap"` // default true: bootstrap from Peers when the data dir holds no state
	Peers     []Peer `yaml:"peers"`     // static bootstrap set; contains this node (node.id at advertise)

	HeartbeatTimeout   Duration `yaml:"heartbeat_timeout"`    // default 2s (cluster.DefaultHeartbeatTimeout; README "Raft timing")
	ElectionTimeout    Duration `yaml:"election_timeout"`     // default 2s; >= heartbeat_timeout
	LeaderLeaseTimeout Duration `yaml:"leader_lease_timeout"` // default 1s; <= heartbeat_timeout
	CommitTimeout      Duration `yaml:"commit_timeout"`       // default 50ms
	// Log compaction. Raft checks every snapshot_interval (randomized up
	// to twice that) whether snapshot_threshold entries were written since
	// the last snapshot, snapshots, and keeps trailing_logs entries. The
	// log on disk stays within about snapshot_threshold + trailing_logs +
	// 2 x snapshot_interval x entries/s entries; a haraft entry carries up
	// to proposals.batch_size bindings (~25 KB at 512), so Raft's own
	// defaults (120s, 8192, 10240) let raft.db reach ~0.5 GB under
	// sustained learning. bench/scale measures it.
	SnapshotInterval  Duration `yaml:"snapshot_interval"`  // default 10s
	SnapshotThreshold uint64   `yaml:"snapshot_threshold"` // default 1024
	TrailingLogs      uint64   `yaml:"trailing_logs"`      // default 1024

	// TLS, when set, makes the cluster port (Raft and node-to-node RPCs)
	// mutual TLS: a node without a certificate signed by ca_file can
	// neither join nor read anything, and a node is accepted only as the
	// node id its certificate names (raftsec.go). Required when bind or
	// advertise is not a loopback address, unless Insecure.
	TLS *TLS `yaml:"tls,omitempty"`
	// Insecure: true lets the cluster port speak plain TCP on an address
	// others can reach (a WARN at every start, /status cluster_insecure).
	Insecure bool `yaml:"insecure,omitempty"`
	// ClusterID names the cluster; it is recorded in raft.db, which is
	// refused by a node of another cluster. Default: derived from peers
	// (ClusterID method).
	ClusterID string `yaml:"cluster_id,omitempty"`
}

// Peer is one member of the static bootstrap set.
type Peer struct {
	ID   string `yaml:"id"`
	Addr string `yaml:"addr"`         // the peer's Raft advertise address
	AZ   string `yaml:"az,omitempty"` // optional: the peer's AZ, to check eips[].home_az
}

// HTTP is the ops listener serving /ready and /healthz.
type HTTP struct {
	Addr string `yaml:"addr"` // required host:port
	// Debug serves Go's profiler under /debug/pprof/ (CPU and heap
	// profiles, goroutine dumps, execution traces) on this listener, as
	// Consul's enable_debug does. Off by default: anyone who reaches the
	// listener can read it.
	Debug bool `yaml:"debug,omitempty"`
	// Writes lets the status page's drain / ready / maint buttons work on
	// an ops listener beyond loopback: the admin write token they send
	// then crosses this plain-HTTP listener in the clear. On loopback
	// (reached through an SSH tunnel) they work without it.
	Writes bool `yaml:"writes,omitempty"`
}

// Timeouts are HAProxy's "timeout connect|client|server|http-request|
// http-keep-alive", with the same meaning.
type Timeouts struct {
	Connect       Duration `yaml:"connect"`         // default 5s
	Client        Duration `yaml:"client"`          // default 30s
	Server        Duration `yaml:"server"`          // default 30s
	HTTPRequest   Duration `yaml:"http_request"`    // default 10s
	HTTPKeepAlive Duration `yaml:"http_keep_alive"` // default 60s
	Queue         Duration `yaml:"queue"`           // timeout queue: waiting for a server at its maxconn; default connect
	// Tunnel, ClientFin, ServerFin are HAProxy's timeout tunnel,
	// client-fin and server-fin (mode tcp connections); 0: unset.
	Tunnel    Duration `yaml:"tunnel"`
	ClientFin Duration `yaml:"client_fin"`
	ServerFin Duration `yaml:"server_fin"`
	// Shutdown is the grace a stopping node (SIGTERM, SIGINT, a binary
	// upgrade) gives its open connections before it closes them; default 15s.
	Shutdown Duration `yaml:"shutdown"`
}

// Proposals configures the batching of learned session bindings into Raft
// log entries.
type Proposals struct {
	BatchSize     int      `yaml:"batch_size"`     // default 512, 1..65536
	FlushInterval Duration `yaml:"flush_interval"` // default 2ms, > 0
	QueueSize     int      `yaml:"queue_size"`     // default 65536, >= batch_size
}

// Global is HAProxy's global section: settings of the whole process.
type Global struct {
	// MaxConn is HAProxy's global maxconn: the most client connections the
	// process keeps open at once, over all frontends. At the limit the
	// frontends stop accepting: new connections wait in the kernel's
	// accept queue until one closes. 0 (default): derived from the file
	// descriptor limit as HAProxy does, (ulimit -n - 100) / 2.
	MaxConn int `yaml:"maxconn"`
}

// Frontend is an HAProxy frontend: a listener and its default_backend.
type Frontend struct {
	Name    string       `yaml:"name"`          // required, unique among frontends
	Bind    string       `yaml:"bind"`          // required host:port, unique among this node's listeners
	Backend string       `yaml:"backend"`       // required (HAProxy default_backend): names a backend
	Mode    string       `yaml:"mode"`          // http (default) | tcp: relay bytes (HAProxy's mode tcp); the backend's mode must match
	TLS     *FrontendTLS `yaml:"tls,omitempty"` // optional: terminate TLS here (HAProxy's bind ... ssl crt)
	// MaxConn is HAProxy's frontend maxconn: the most connections this
	// frontend keeps open at once; beyond, they wait in the kernel's
	// accept queue. 0 (default): only global.maxconn limits it.
	MaxConn int `yaml:"maxconn"`
	// AccessLog: on (default, HAProxy's option httplog) | off: whether
	// this frontend's requests go to the access log (access_log.target).
	AccessLog string `yaml:"access_log"`
	// AcceptProxy: each connection begins with a PROXY protocol header
	// (v1 or v2) naming the client (HAProxy's bind ... accept-proxy).
	// Only for binds that trusted load balancers alone can reach.
	AcceptProxy bool `yaml:"accept_proxy"`
	// AcceptProxyFrom (with accept_proxy) lists the load balancers'
	// addresses (CIDRs): only their connections carry a header; others
	// are served with their own address.
	AcceptProxyFrom []string `yaml:"accept_proxy_from"`
}

// FrontendTLS terminates TLS on a frontend, serving HTTP/2 and HTTP/1.1
// (by ALPN). The certificate files are read at start and again on SIGHUP;
// a reload that fails keeps the certificates in use.
type FrontendTLS struct {
	Certs      []CertKey `yaml:"certs"`       // at least one; chosen by SNI, the first when no name matches
	MinVersion string    `yaml:"min_version"` // 1.2 (default) | 1.3 | 1.0 | 1.1
}

// CertKey names the PEM files of one certificate (with its chain) and its
// private key.
type CertKey struct {
	CertFile string `yaml:"cert_file"` // required
	KeyFile  string `yaml:"key_file"`  // required
}

// TLS versions allowed in frontends[].tls.min_version.
// Stick is HAProxy's `stick on src` with a peers table: the client's
// source address is bound to the server its first connection went to, and
// the binding is replicated as a learned session.
type Stick struct {
	On     string   `yaml:"on"`     // src (the only one)
	Expire Duration `yaml:"expire"` // idle longer than this, by the leader's clock, and the binding goes; 0: never
}

// Modes of frontends and backends (HAProxy's mode).
const (
	ModeHTTP = "http"
	ModeTCP  = "tcp"
)

var modes = []string{ModeHTTP, ModeTCP}

var tlsVersions = []string{"1.0", "1.1", "1.2", "1.3"}

// Backend is an HAProxy backend: a balancing algorithm, an optional
// stickiness cookie and its servers.
type Backend struct {
	Name        string   `yaml:"name"`         // required, unique among backends
	Mode        string   `yaml:"mode"`         // http (default) | tcp: no cookie, httpchk or HTTP options
	Balance     string   `yaml:"balance"`      // roundrobin (default) | leastconn | source | random
	Cookie      *Cookie  `yaml:"cookie"`       // optional; nil = no stickiness
	LearnCommit string   `yaml:"learn_commit"` // async (default) | sync; only meaningful with cookie mode learn
	Stick       *Stick   `yaml:"stick"`        // mode tcp: stick on the client's source address; nil: none
	Check       *Check   `yaml:"check"`        // optional; nil = no active health checks (servers count as up)
	Servers     []Server `yaml:"servers"`      // at least one, unless servers_from
	// ServersFrom finds more servers in EC2 or DNS (serversfrom.go).
	ServersFrom *ServersFrom `yaml:"servers_from"`
	// Options are HAProxy's "option" lines of the backend, by the same
	// names: forwardfor, redispatch, httpclose, plus forwarded-proto-host
	// (X-Forwarded-Proto and X-Forwarded-Host, replacing the client's).
	// Absent (nil): DefaultBackendOptions; an empty list: none.
	Options []string `yaml:"options"`
}

// Backend options (HAProxy's "option" keyword).
const (
	OptionForwardFor         = "forwardfor"           // X-Forwarded-For with the client's address
	OptionForwardedProtoHost = "forwarded-proto-host" // X-Forwarded-Proto and X-Forwarded-Host
	OptionRedispatch         = "redispatch"           // a request whose server cannot be reached goes to another once
	OptionHTTPClose          = "httpclose"            // close both connections after each response
)

// DefaultBackendOptions apply when a backend has no options key.
var DefaultBackendOptions = []string{OptionForwardFor, OptionRedispatch}

var backendOptionNames = []string{OptionForwardFor, OptionForwardedProtoHost, OptionRedispatch, OptionHTTPClose}

// Option reports whether the backend has option name set (its options, or
// DefaultBackendOptions when it has none).
func (b *Backend) Option(name string) bool {
	if b.Options == nil {
		return slices.Contains(DefaultBackendOptions, name)
	}
	return slices.Contains(b.Options, name)
}

// Cookie is HAProxy's "cookie <name> <mode> [indirect] [nocache] [httponly]
// [secure]" plus "dynamic-cookie-key".
type Cookie struct {
	Name       string   `yaml:"name"`        // required RFC 6265 token, e.g. JSESSIONID or SERVERID
	Mode       string   `yaml:"mode"`        // required: learn | prefix | insert | rewrite
	Indirect   bool     `yaml:"indirect"`    // do not forward our cookie to the server
	NoCache    bool     `yaml:"nocache"`     // mark responses that set the cookie uncacheable
	HTTPOnly   bool     `yaml:"httponly"`    // set HttpOnly on inserted cookies
	Secure     bool     `yaml:"secure"`      // set Secure on inserted cookies
	DynamicKey string   `yaml:"dynamic_key"` // when set, server cookie values are an HMAC of the server name (insert, prefix, rewrite only)
	MaxIdle    Duration `yaml:"maxidle"`     // learn mode: forget a session unused this long (leader's clock); 0 = never
	MaxLife    Duration `yaml:"maxlife"`     // learn mode: forget a session this long after it was learned; 0 = never
}

// Check is HAProxy's "check inter fastinter downinter rise fall" for every
// server of the backend, "timeout check", "option httpchk" with
// "http-check expect status", plus how many nodes must agree.
type Check struct {
	Inter     Duration   `yaml:"inter"`     // default 2s: between checks of an up server
	FastInter Duration   `yaml:"fastinter"` // default inter: while a server is changing state
	DownInter Duration   `yaml:"downinter"` // default inter: between checks of a down server
	Timeout   Duration   `yaml:"timeout"`   // default inter, at most inter
	Rise      int        `yaml:"rise"`      // default 2: consecutive successes to count a server up
	Fall      int        `yaml:"fall"`      // default 3: consecutive failures to count it down
	HTTPChk   *HTTPCheck `yaml:"httpchk"`   // nil: TCP connect check
	// TCPCheck: HAProxy's tcp-check send/expect steps run on the check's
	// connection (mode tcp; tcpcheck.go); nil: the connect alone.
	TCPCheck []TCPCheckStep `yaml:"tcp_check"`
	// AgreeDown and AgreeUp are how many live nodes must see a server down
	// (up) before the leader commits it so; 0 = a majority of live nodes.
	AgreeDown int `yaml:"agree_down"`
	AgreeUp   int `yaml:"agree_up"`
}

// HTTPCheck is "option httpchk METHOD URI" and "http-check expect status".
type HTTPCheck struct {
	Method       string `yaml:"method"`        // default GET
	URI          string `yaml:"uri"`           // default /
	Host         string `yaml:"host"`          // Host header; default the server address
	ExpectStatus int    `yaml:"expect_status"` // 0 (default): any 2xx or 3xx, as HAProxy
}

// Server is one HAProxy server line of a backend.
type Server struct {
	Name    string `yaml:"name"`    // required, unique within the backend, [A-Za-z0-9._-] only
	Addr    string `yaml:"addr"`    // required host:port
	Cookie  string `yaml:"cookie"`  // default Name; unique within the backend; no '~' (prefix delimiter)
	Weight  int    `yaml:"weight"`  // default 1, 0..256 (0: receives no new sessions)
	MaxConn int    `yaml:"maxconn"` // 0 (default): unlimited; beyond it requests queue up to timeouts.queue
	// SendProxy: v1 | v2: each connection to the server begins with a
	// PROXY protocol header naming the client (HAProxy's send-proxy,
	// send-proxy-v2); mode tcp backends. Empty: none.
	SendProxy string `yaml:"send_proxy"`
}

// Values of the enum fields.
const (
	BalanceRoundRobin = "roundrobin"
	BalanceLeastConn  = "leastconn"
	BalanceSource     = "source"
	BalanceRandom     = "random"

	CookieLearn   = "learn"
	CookiePrefix  = "prefix"
	CookieInsert  = "insert"
	CookieRewrite = "rewrite"

	LearnCommitAsync = "async"
	LearnCommitSync  = "sync"
)

// Allowed values of the enum fields, in the order error messages list them.
var (
	balances     = []string{BalanceRoundRobin, BalanceLeastConn, BalanceSource, BalanceRandom}
	cookieModes  = []string{CookieLearn, CookiePrefix, CookieInsert, CookieRewrite}
	learnCommits = []string{LearnCommitAsync, LearnCommitSync}
)

// CookieModes returns the cookie modes a config may name (each is one of
// the proxy's cookie modes, a file of its own there).
func CookieModes() []string { return slices.Clone(cookieModes) }

const (
	// DefaultAZ is node.az when the file does not set it.
	DefaultAZ = "default"
	// DevFile is the file name Validate uses for configs built in code.
	DevFile = "<dev>"
)

// Default returns a Config holding every default that does not depend on
// another field: node.az, the Raft settings (bootstrap true, timings and
// log sizes), timeouts and proposals. Parse decodes a file on top of it;
// code building a config (dev mode) may start from it too.
func Default() *Config {
	return &Config{
		Node:     Node{AZ: DefaultAZ, Role: NodeActive},
		EIPMover: defaultEIPMover(),
		Raft: Raft{
			Bootstrap:          true,
			HeartbeatTimeout:   Duration{2 * time.Second}, // cluster.Default*
			ElectionTimeout:    Duration{2 * time.Second},
			LeaderLeaseTimeout: Duration{time.Second},
			CommitTimeout:      Duration{50 * time.Millisecond},
			SnapshotInterval:   Duration{10 * time.Second},
			SnapshotThreshold:  1024,
			TrailingLogs:       1024,
		},
		Timeouts: Timeouts{
			Connect:       Duration{5 * time.Second},
			Client:        Duration{30 * time.Second},
			Server:        Duration{30 * time.Second},
			HTTPRequest:   Duration{10 * time.Second},
			HTTPKeepAlive: Duration{60 * time.Second},
			Shutdown:      Duration{15 * time.Second},
		},
		Proposals: Proposals{
			BatchSize:     512,
			FlushInterval: Duration{2 * time.Millisecond},
			QueueSize:     65536,
		},
	}
}

// Defaults of a new backend, server or check in a file (defaulter).
func (b *Backend) setDefaults() {
	*b = Backend{Balance: BalanceRoundRobin, LearnCommit: LearnCommitAsync, Options: slices.Clone(DefaultBackendOptions)}
}

func (s *Server) setDefaults() { *s = Server{Weight: 1} }

func (c *Check) setDefaults() { *c = Check{Inter: Duration{2 * time.Second}, Rise: 2, Fall: 3} }

// checkDerived fills the check fields whose default is another field.
func (c *Check) checkDerived() {
	if c.FastInter.Duration == 0 {
		c.FastInter = c.Inter
	}
	if c.DownInter.Duration == 0 {
		c.DownInter = c.Inter
	}
	if c.Timeout.Duration == 0 {
		c.Timeout = c.Inter
	}
	if c.HTTPChk != nil {
		setStr(&c.HTTPChk.Method, "GET")
		setStr(&c.HTTPChk.URI, "/")
	}
}

// ApplyDefaults fills, in a config built in code, every zero-valued field
// whose zero value is not legal: empty strings with a default (node.az,
// raft.advertise = raft.bind, balance, learn_commit, server cookie = server
// name), zero durations, zero batch and queue sizes. Fields whose zero value
// is legal are left alone: raft.bootstrap (false), snapshot_threshold,
// trailing_logs and server weight (0) — start from Default and set servers'
// Weight to get the file defaults. Parse does not need it.
func (c *Config) ApplyDefaults() {
	d := Default()
	setStr(&c.Node.AZ, d.Node.AZ)
	c.applyEIPDefaults()
	for _, p := range []struct{ dst, def *Duration }{
		{&c.Raft.HeartbeatTimeout, &d.Raft.HeartbeatTimeout},
		{&c.Raft.ElectionTimeout, &d.Raft.ElectionTimeout},
		{&c.Raft.LeaderLeaseTimeout, &d.Raft.LeaderLeaseTimeout},
		{&c.Raft.CommitTimeout, &d.Raft.CommitTimeout},
		{&c.Raft.SnapshotInterval, &d.Raft.SnapshotInterval},
		{&c.Timeouts.Connect, &d.Timeouts.Connect},
		{&c.Timeouts.Client, &d.Timeouts.Client},
		{&c.Timeouts.Server, &d.Timeouts.Server},
		{&c.Timeouts.HTTPRequest, &d.Timeouts.HTTPRequest},
		{&c.Timeouts.HTTPKeepAlive, &d.Timeouts.HTTPKeepAlive},
		{&c.Timeouts.Shutdown, &d.Timeouts.Shutdown},
		{&c.Proposals.FlushInterval, &d.Proposals.FlushInterval},
	} {
		if p.dst.Duration == 0 {
			*p.dst = *p.def
		}
	}
	if c.Proposals.BatchSize == 0 {
		c.Proposals.BatchSize = d.Proposals.BatchSize
	}
	if c.Proposals.QueueSize == 0 {
		c.Proposals.QueueSize = d.Proposals.QueueSize
	}
	for i := range c.Backends {
		b := &c.Backends[i]
		setStr(&b.Balance, BalanceRoundRobin)
		setStr(&b.LearnCommit, LearnCommitAsync)
		if b.Options == nil {
			b.Options = slices.Clone(DefaultBackendOptions)
		}
	}
	c.applyDerived()
}

// applyDerived fills the defaults that are copies of other fields.
func (c *Config) applyDerived() {
	c.deriveDeadAfter()
	if c.Raft.Advertise == "" && c.Raft.Bind != "" {
		c.Raft.Advertise = c.Raft.Bind
		c.advertiseFromBind = true
	}
	if c.Timeouts.Queue.Duration == 0 {
		c.Timeouts.Queue = c.Timeouts.Connect // as HAProxy: timeout queue defaults to timeout connect
	}
	for i := range c.Backends {
		for j := range c.Backends[i].Servers {
			s := &c.Backends[i].Servers[j]
			setStr(&s.Cookie, s.Name)
		}
	}
}

func setStr(dst *string, def string) {
	if *dst == "" {
		*dst = def
	}
}

// Load reads the config file at path and parses it (see Parse). Errors
// about the content name path as the file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse decodes data, the YAML config read from file (used in error
// messages), applies the defaults and validates the result. On failure it
// returns a nil Config and Errors holding every problem found.
func Parse(file string, data []byte) (*Config, error) {
	c := Default()
	c.File = file
	d := newDecoder(file)
	if root := d.document(data); root != nil {
		d.config(root, c)
	}
	if len(d.errs) > 0 && d.lines == nil {
		return nil, d.errs.orNil() // nothing decoded: syntax error, empty file
	}
	c.lines = d.lines
	c.applyDerived()
	errs := d.errs
	if err := c.Validate(); err != nil {
		for _, e := range err.(Errors) {
			if !d.failed(e.Field) {
				errs = append(errs, e)
			}
		}
	}
	if err := errs.orNil(); err != nil {
		return nil, err
	}
	return c, nil
}
