package proxy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"github.com/haraft/haraft/proxy/proxyproto"
	"sync"
	"sync/atomic"
	"time"

	"github.com/haraft/haraft/proxy/h1"
)

// CookieOptions configures stickiness of one backend.
type CookieOptions struct {
	Name string
	// Mode is a cookie mode's name, as HAProxy's `cookie` keyword, plus
	// learn: ModeInsert, ModePrefix, ModeRewrite, ModeLearn (the
	// cookiemode_*.go files).
	Mode       string
	Indirect   bool
	NoCache    bool
	HTTPOnly   bool
	Secure     bool
	DynamicKey string
	// MaxIdle / MaxLife expire learned sessions (learn mode): idle longer
	// than MaxIdle or older than MaxLife, by the leader's clock. 0: never.
	MaxIdle, MaxLife time.Duration
}

// ServerOptions configures one server.
type ServerOptions struct {
	Name    string
	Addr    string
	Cookie  string
	Weight  int
	MaxConn int // 0: unlimited; beyond it requests queue (timeout queue)
	// SendProxy: each connection to the server begins with a PROXY
	// protocol header of this version (1 or 2; 0: none) naming the
	// client (HAProxy's send-proxy, send-proxy-v2).
	SendProxy int
}

// BackendOptions configures one backend (a group of servers).
type BackendOptions struct {
	Name      string
	Balance   string
	Cookie    *CookieOptions
	LearnSync bool // learn_commit: sync
	Servers   []ServerOptions
	// Discovered: the backend's servers (all, or more) come from the
	// server table (servers_from); it may start with none configured.
	Discovered bool
	Timeouts   Timeouts
	// ForwardFor is HAProxy's option forwardfor: an X-Forwarded-For line
	// with the client's address is added to every request.
	ForwardFor bool
	// ForwardProtoHost also sets X-Forwarded-Proto and X-Forwarded-Host
	// (replacing the client's), as HAProxy users do with http-request
	// set-header. Off by default: HAProxy's forwardfor does not send them,
	// and every header costs the application a parse.
	ForwardProtoHost bool
	// HTTPClose is HAProxy's option httpclose: both connections close
	// after each response (Connection: close to the server and to the
	// client; no pooled server connection).
	HTTPClose bool
	Check     *HealthCheck // nil: no active checks
	// StickSrc binds each client source address to the server its first
	// connection was balanced to (HAProxy's stick on src with a peers
	// table): mode tcp backends; nil: none. See stick.go.
	StickSrc *StickOptions
}

// Timeouts are HAProxy's timeouts of the same names.
type Timeouts struct {
	Connect       time.Duration
	Client        time.Duration
	Server        time.Duration
	HTTPRequest   time.Duration
	HTTPKeepAlive time.Duration
	Queue         time.Duration // longest a request waits for a server slot (maxconn)
	// Tunnel: mode tcp connections (package l4) and upgraded (101, WebSocket)
	// HTTP connections; ClientFin, ServerFin: mode tcp connections; 0: unset.
	Tunnel, ClientFin, ServerFin time.Duration
}

// Server is one server of a backend under one agreed server table: a
// configured one, or one added at run time (Dynamic). Its fields never
// change once it is published; a change of weight or address makes a new
// *Server (see serverset.go). Views of one server at one address share
// their pool and counters.
type Server struct {
	Name    string
	Addr    string
	Cookie  string // value naming it in insert/prefix/rewrite cookies
	Weight  int    // effective weight: the operator's (SetServerWeight), else the configured one
	Dynamic bool   // defined by the server table (added at run time), not the config file

	*serverRuntime
}

// Backend is a configured group of servers with its stickiness policy.
type Backend struct {
	Name      string
	Cookie    *CookieOptions
	LearnSync bool
	// Servers are the configured servers with their configured weights;
	// ServersFor gives the servers under the agreed server table.
	Servers []*Server

	balancer Balancer
	mode     cookieMode // Cookie.Mode's; nil without a cookie
	stickSrc bool       // Cookie is the learned-session policy of stick on src
	timeouts Timeouts
	fwdFor   bool
	fwdPH    bool // X-Forwarded-Proto/-Host
	close    bool // option httpclose
	check    *HealthCheck
	// set is the server set derived from the last server table seen (see
	// setFor); setMu serialises deriving one, runtimes holds the pools and
	// counters by runtimeKey (under setMu), configured the keys of the
	// configured servers.
	set        atomic.Pointer[serverSet]
	setMu      sync.Mutex
	runtimes   map[string]*serverRuntime
	configured map[string]bool
}

// NewBackend builds a backend from its options.
func NewBackend(o BackendOptions) (*Backend, error) {
	if len(o.Servers) == 0 && !o.Discovered {
		return nil, fmt.Errorf("backend %s: no servers", o.Name)
	}
	if o.StickSrc != nil {
		if o.Cookie != nil {
			return nil, fmt.Errorf("backend %s: stick on src and a cookie: choose one", o.Name)
		}
		o.Cookie = o.StickSrc.sessions()
	}
	b := &Backend{Name: o.Name, Cookie: o.Cookie, stickSrc: o.StickSrc != nil, LearnSync: o.LearnSync, timeouts: o.Timeouts, fwdFor: o.ForwardFor, fwdPH: o.ForwardProtoHost, close: o.HTTPClose, check: o.Check}
	bal, err := NewBalancer(o.Balance)
	if err != nil {
		return nil, fmt.Errorf("backend %s: %w", o.Name, err)
	}
	b.balancer = bal
	if o.Cookie != nil {
		if b.mode, err = cookieModeOf(o.Cookie.Mode); err != nil {
			return nil, fmt.Errorf("backend %s: %w", o.Name, err)
		}
	}
	byName, byCookie := map[string]*Server{}, map[string]*Server{}
	b.runtimes, b.configured = map[string]*serverRuntime{}, map[string]bool{}
	for _, so := range o.Servers {
		if so.SendProxy < 0 || so.SendProxy > 2 {
			return nil, fmt.Errorf("backend %s: server %s: send_proxy v%d (want 1 or 2)", o.Name, so.Name, so.SendProxy)
		}
		s := &Server{Name: so.Name, Addr: so.Addr, Cookie: so.Cookie, Weight: so.Weight,
			serverRuntime: &serverRuntime{sendProxy: proxyproto.Version(so.SendProxy)}}
		s.serverCounters.init(so.MaxConn)
		if s.Cookie == "" {
			s.Cookie = s.Name
		}
		if o.Cookie != nil && o.Cookie.DynamicKey != "" {
			s.Cookie = DynamicCookie(o.Cookie.DynamicKey, o.Name, s.Name)
		}
		if s.Weight < 0 {
			return nil, fmt.Errorf("backend %s: server %s: negative weight", o.Name, s.Name)
		}
		if _, dup := byName[s.Name]; dup {
			return nil, fmt.Errorf("backend %s: duplicate server %s", o.Name, s.Name)
		}
		if _, dup := byCookie[s.Cookie]; dup {
			return nil, fmt.Errorf("backend %s: duplicate server cookie %s", o.Name, s.Cookie)
		}
		s.pool = h1.NewPool(s.Name, s.Addr, b.poolOptions())
		byName[s.Name] = s
		byCookie[s.Cookie] = s
		k := runtimeKey(s.Name, s.Addr)
		b.runtimes[k], b.configured[k] = s.serverRuntime, true
		b.Servers = append(b.Servers, s)
	}
	b.set.Store(b.deriveSet(nil, &serverSet{byName: byName})) // reuses the configured *Servers
	return b, nil
}

// poolOptions are the engine's options of the backend's server pools.
func (b *Backend) poolOptions() h1.PoolOptions {
	t := b.timeouts.withDefaults()
	return h1.PoolOptions{Connect: t.Connect, Server: t.Server, Close: b.close}
}

// DynamicCookie is the opaque server id used instead of the plain server
// name when a dynamic cookie key is set (HAProxy's dynamic-cookie-key): the
// first 16 hex digits of HMAC-SHA256(key, backend/server).
func DynamicCookie(key, backend, server string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(backend + "/" + server))
	return hex.EncodeToString(m.Sum(nil))[:16]
}

// Server returns the server with the given name under the last server
// table the backend saw (ServerFor names the table).
func (b *Backend) Server(name string) *Server { return b.set.Load().byName[name] }

// Close releases idle backend connections.
func (b *Backend) Close() {
	b.setMu.Lock()
	defer b.setMu.Unlock()
	for _, rt := range b.runtimes {
		rt.pool.CloseIdle(true)
	}
}
