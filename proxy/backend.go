package proxy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync/atomic"
	"time"
)

// Cookie modes, as HAProxy's `cookie` keyword, plus learn.
const (
	ModeLearn   = "learn"   // the application sets the cookie; its value → server is learned and replicated
	ModePrefix  = "prefix"  // the server's cookie is prefixed to the application cookie: NAME=S~value
	ModeInsert  = "insert"  // the proxy inserts its own cookie naming the server
	ModeRewrite = "rewrite" // the application sets the cookie; the proxy rewrites its value to the server's
)

// CookieOptions configures stickiness of one backend.
type CookieOptions struct {
	Name       string
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
}

// BackendOptions configures one backend (a group of servers).
type BackendOptions struct {
	Name      string
	Balance   string
	Cookie    *CookieOptions
	LearnSync bool // learn_commit: sync
	Servers   []ServerOptions
	Timeouts  Timeouts
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
}

// Timeouts are HAProxy's timeouts of the same names.
type Timeouts struct {
	Connect       time.Duration
	Client        time.Duration
	Server        time.Duration
	HTTPRequest   time.Duration
	HTTPKeepAlive time.Duration
	Queue         time.Duration // longest a request waits for a server slot (maxconn)
}

// Server is one configured server of a backend.
type Server struct {
	Name   string
	Addr   string
	Cookie string // value naming it in insert/prefix/rewrite cookies
	Weight int

	pool *connPool // idle keep-alive connections
	serverCounters
}

// Backend is a configured group of servers with its stickiness policy.
type Backend struct {
	Name      string
	Cookie    *CookieOptions
	LearnSync bool
	Servers   []*Server

	balancer Balancer
	byName   map[string]*Server
	byCookie map[string]*Server
	timeouts Timeouts
	fwdFor   bool
	fwdPH    bool // X-Forwarded-Proto/-Host
	close    bool // option httpclose
	check    *HealthCheck
	// usableCache is the usable server list of the last server table seen
	// (see usableFor).
	usableCache atomic.Pointer[usableList]
}

// NewBackend builds a backend from its options.
func NewBackend(o BackendOptions) (*Backend, error) {
	if len(o.Servers) == 0 {
		return nil, fmt.Errorf("backend %s: no servers", o.Name)
	}
	b := &Backend{Name: o.Name, Cookie: o.Cookie, LearnSync: o.LearnSync, byName: map[string]*Server{}, byCookie: map[string]*Server{}, timeouts: o.Timeouts, fwdFor: o.ForwardFor, fwdPH: o.ForwardProtoHost, close: o.HTTPClose, check: o.Check}
	bal, err := NewBalancer(o.Balance)
	if err != nil {
		return nil, fmt.Errorf("backend %s: %w", o.Name, err)
	}
	b.balancer = bal
	for _, so := range o.Servers {
		s := &Server{Name: so.Name, Addr: so.Addr, Cookie: so.Cookie, Weight: so.Weight}
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
		if _, dup := b.byName[s.Name]; dup {
			return nil, fmt.Errorf("backend %s: duplicate server %s", o.Name, s.Name)
		}
		if _, dup := b.byCookie[s.Cookie]; dup {
			return nil, fmt.Errorf("backend %s: duplicate server cookie %s", o.Name, s.Cookie)
		}
		s.pool = newConnPool(s.Addr, o.Timeouts.withDefaults())
		b.byName[s.Name] = s
		b.byCookie[s.Cookie] = s
		b.Servers = append(b.Servers, s)
	}
	return b, nil
}

// DynamicCookie is the opaque server id used instead of the plain server
// name when a dynamic cookie key is set (HAProxy's dynamic-cookie-key): the
// first 16 hex digits of HMAC-SHA256(key, backend/server).
func DynamicCookie(key, backend, server string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(backend + "/" + server))
	return hex.EncodeToString(m.Sum(nil))[:16]
}

// Server returns the server with the given name.
func (b *Backend) Server(name string) *Server { return b.byName[name] }

// Close releases idle backend connections.
func (b *Backend) Close() {
	for _, s := range b.Servers {
		s.pool.closeIdle(true)
	}
}
