package config

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// validator collects semantic errors, placing each at the line its field
// was read from (or of the enclosing mapping when the field was absent).
type validator struct {
	file  string
	lines map[string]int
	errs  Errors
}

func (v *validator) errf(path, format string, args ...any) {
	v.errAt(lineOf(v.lines, path), path, format, args...)
}

func (v *validator) errAt(line int, path, format string, args ...any) {
	v.errs = append(v.errs, &Error{File: v.file, Line: line, Field: path, Reason: fmt.Sprintf(format, args...)})
}

// Validate checks c as it stands (defaults are not applied: see
// ApplyDefaults for configs built in code) and returns Errors listing every
// problem, or nil. For a parsed config the errors carry lines; for a config
// built in code they print as "file: field: reason", file being c.File or
// "<dev>".
func (c *Config) Validate() error {
	v := &validator{file: c.File, lines: c.lines}
	if v.file == "" {
		v.file = DevFile
	}
	v.node(&c.Node)
	v.raft(c)
	if v.required("http.addr", c.HTTP.Addr) {
		v.addr("http.addr", c.HTTP.Addr, listenAddr)
	}
	v.admin(&c.Admin)
	v.timeouts(&c.Timeouts)
	v.proposals(&c.Proposals)
	v.backends(c.Backends)
	v.frontends(c.Frontends, c.Backends)
	v.maxconn(c)
	v.accessLog(c)
	v.log(c.Log)
	v.listeners(c)
	v.eips(c)
	v.route53(c)
	return v.errs.orNil()
}

// required reports an empty string and whether it was set.
func (v *validator) required(path, s string) bool {
	if s == "" {
		v.errf(path, "required")
		return false
	}
	return true
}

// addr parses a set address, reporting why it is not one.
func (v *validator) addr(path, s string, u addrUse) (hostPort, bool) {
	h, err := parseAddr(s, u)
	if err != nil {
		v.errf(path, "%v", err)
		return h, false
	}
	return h, true
}

func (v *validator) enum(path, s string, allowed []string) {
	switch {
	case s == "":
		v.errf(path, "required (one of: %s)", strings.Join(allowed, ", "))
	case !slices.Contains(allowed, s):
		v.errf(path, "invalid value %q (allowed: %s)", s, strings.Join(allowed, ", "))
	}
}

func (v *validator) node(n *Node) {
	v.required("node.id", n.ID)
	v.required("node.data_dir", n.DataDir)
	if n.AZ == "" {
		v.errf("node.az", "must not be empty (omit it for %q)", DefaultAZ)
	}
}

func (v *validator) raft(c *Config) {
	r := &c.Raft
	var bind hostPort
	bindOK := v.required("raft.bind", r.Bind)
	if bindOK {
		bind, bindOK = v.addr("raft.bind", r.Bind, listenAddr)
	}

	// The advertise address: set, or derived from bind.
	var adv hostPort
	advOK := false
	if fromBind := c.advertiseFromBind || r.Advertise == ""; fromBind {
		if bindOK {
			why := ""
			switch {
			case bind.wildcard:
				why = ", an address on all interfaces that peers cannot dial"
			case bind.port == 0:
				why = ", whose port 0 peers cannot dial"
			}
			if why != "" {
				v.errAt(lineOf(v.lines, "raft.bind"), "raft.advertise",
					"defaults to raft.bind %q%s; set raft.advertise to this node's reachable host:port", r.Bind, why)
			} else {
				adv, advOK = bind, true
			}
		}
	} else if adv, advOK = v.addr("raft.advertise", r.Advertise, dialAddr); advOK && adv.wildcard {
		v.errf("raft.advertise", "unspecified address %q cannot be advertised to peers; set raft.advertise to this node's reachable host:port", r.Advertise)
		advOK = false
	}

	v.peers(c, adv, advOK)
	v.tls("raft.tls", r.TLS, "mutual TLS between nodes needs the CA that signed every node's certificate")
	v.raftSecurity(c) // raftsec.go

	v.atLeast("raft.heartbeat_timeout", r.HeartbeatTimeout, 5*time.Millisecond)
	v.atLeast("raft.election_timeout", r.ElectionTimeout, 5*time.Millisecond)
	v.atLeast("raft.leader_lease_timeout", r.LeaderLeaseTimeout, 5*time.Millisecond)
	v.atLeast("raft.commit_timeout", r.CommitTimeout, time.Millisecond)
	v.atLeast("raft.snapshot_interval", r.SnapshotInterval, 5*time.Millisecond)
	if r.LeaderLeaseTimeout.Duration > r.HeartbeatTimeout.Duration {
		v.errf("raft.leader_lease_timeout", "%s must not exceed raft.heartbeat_timeout %s", r.LeaderLeaseTimeout, r.HeartbeatTimeout)
	}
	if r.ElectionTimeout.Duration < r.HeartbeatTimeout.Duration {
		v.errf("raft.election_timeout", "%s must not be less than raft.heartbeat_timeout %s", r.ElectionTimeout, r.HeartbeatTimeout)
	}
}

func (v *validator) peers(c *Config, adv hostPort, advOK bool) {
	r := &c.Raft
	if len(r.Peers) == 0 {
		if r.Bootstrap {
			v.errf("raft.peers", "required when raft.bootstrap is true: the static bootstrap set, this node included")
		}
		return // a node that joins a running cluster may list none
	}
	ids := map[string]int{}
	addrs := map[string]int{}
	self := -1
	for i, p := range r.Peers {
		path := fmt.Sprintf("raft.peers[%d]", i)
		if v.required(path+".id", p.ID) {
			if j, dup := ids[p.ID]; dup {
				v.errf(path+".id", "duplicate peer id %q (also raft.peers[%d])", p.ID, j)
			} else {
				ids[p.ID] = i
			}
			if p.ID == c.Node.ID {
				self = i
			}
		}
		if !v.required(path+".addr", p.Addr) {
			continue
		}
		h, ok := v.addr(path+".addr", p.Addr, dialAddr)
		if !ok {
			continue
		}
		if h.wildcard {
			v.errf(path+".addr", "unspecified address %q cannot be dialed", p.Addr)
			continue
		}
		if j, dup := addrs[h.String()]; dup {
			v.errf(path+".addr", "duplicate peer address %q (also raft.peers[%d])", p.Addr, j)
		} else {
			addrs[h.String()] = i
		}
		if i == self && advOK && h != adv {
			v.errf(path+".addr", "%q is not this node's raft.advertise %q", p.Addr, adv.String())
		}
	}
	if self < 0 && c.Node.ID != "" {
		v.errf("raft.peers", "this node (node.id %q) is not among the peers", c.Node.ID)
	}
}

func (v *validator) atLeast(path string, d Duration, min time.Duration) {
	if d.Duration < min {
		v.errf(path, "%s is too short: must be at least %s", d, min)
	}
}

func (v *validator) positive(path string, d Duration) {
	if d.Duration <= 0 {
		v.errf(path, "must be greater than 0")
	}
}

func (v *validator) timeouts(t *Timeouts) {
	v.positive("timeouts.connect", t.Connect)
	v.positive("timeouts.client", t.Client)
	v.positive("timeouts.server", t.Server)
	v.positive("timeouts.http_request", t.HTTPRequest)
	v.positive("timeouts.http_keep_alive", t.HTTPKeepAlive)
	v.positive("timeouts.shutdown", t.Shutdown)
	if t.Shutdown.Duration > 24*time.Hour {
		v.errf("timeouts.shutdown", "%v is more than 24h", t.Shutdown.Duration)
	}
	for _, p := range []struct {
		name string
		d    Duration
	}{{"timeouts.tunnel", t.Tunnel}, {"timeouts.client_fin", t.ClientFin}, {"timeouts.server_fin", t.ServerFin}} {
		if p.d.Duration < 0 {
			v.errf(p.name, "must not be negative (0: unset)")
		}
	}
}

func (v *validator) proposals(p *Proposals) {
	if p.BatchSize < 1 || p.BatchSize > 65536 {
		v.errf("proposals.batch_size", "%d is out of range 1..65536", p.BatchSize)
	}
	v.positive("proposals.flush_interval", p.FlushInterval)
	if p.QueueSize < max(p.BatchSize, 1) {
		v.errf("proposals.queue_size", "%d must be at least batch_size (%d)", p.QueueSize, p.BatchSize)
	}
}

func (v *validator) backends(bs []Backend) {
	names := map[string]int{}
	for i := range bs {
		b := &bs[i]
		path := fmt.Sprintf("backends[%d]", i)
		if v.required(path+".name", b.Name) {
			if j, dup := names[b.Name]; dup {
				v.errf(path+".name", "duplicate backend name %q (also backends[%d])", b.Name, j)
			} else {
				names[b.Name] = i
			}
		}
		v.mode(path+".mode", b.Mode)
		if b.Mode == ModeTCP {
			v.tcpBackend(path, b)
		}
		v.sendProxy(path, b)
		v.tcpCheck(path, b)
		if s := b.Stick; s != nil {
			v.enum(path+".stick.on", s.On, []string{"src"})
			if s.Expire.Duration < 0 {
				v.errf(path+".stick.expire", "must not be negative (0: never)")
			}
			if b.Mode != ModeTCP {
				v.errf(path+".stick", "only with mode tcp (HTTP backends stick with a cookie)")
			}
		}
		v.enum(path+".balance", b.Balance, balances)
		v.enum(path+".learn_commit", b.LearnCommit, learnCommits)
		if b.Cookie != nil {
			v.cookie(path+".cookie", b.Cookie)
		}
		if b.Check != nil {
			v.check(path+".check", b.Check)
		}
		if b.ServersFrom != nil {
			v.serversFrom(path+".servers_from", b.ServersFrom)
		}
		if b.ServersFrom == nil || len(b.Servers) > 0 {
			v.servers(path+".servers", b.Servers)
		}
		if b.Cookie != nil && b.Cookie.DynamicKey != "" {
			for i, s := range b.Servers {
				if s.Cookie != "" && s.Cookie != s.Name { // the name is the default
					v.errf(fmt.Sprintf("%s.servers[%d].cookie", path, i), "would be ignored: the backend's cookie has a dynamic_key, so every server's cookie value is an HMAC of its name (remove one of the two)")
				}
			}
		}
		seen := map[string]int{}
		for j, o := range b.Options {
			op := fmt.Sprintf("%s.options[%d]", path, j)
			if k, dup := seen[o]; dup {
				v.errf(op, "duplicate option %q (also options[%d])", o, k)
				continue
			}
			seen[o] = j
			v.enum(op, o, backendOptionNames)
		}
	}
}

func (v *validator) cookie(path string, c *Cookie) {
	if v.required(path+".name", c.Name) && !isToken(c.Name) {
		v.errf(path+".name", "invalid cookie name %q: must be an RFC 6265 token (no spaces, controls or ()<>@,;:\\\"/[]?={})", c.Name)
	}
	v.enum(path+".mode", c.Mode, cookieModes)
	if (c.MaxIdle.Duration != 0 || c.MaxLife.Duration != 0) && c.Mode != CookieLearn {
		v.errf(path+".maxidle", "maxidle/maxlife expire learned sessions: only used with mode learn")
	}
	if c.MaxIdle.Duration < 0 || c.MaxLife.Duration < 0 {
		v.errf(path+".maxidle", "must not be negative")
	}
	if c.DynamicKey != "" && c.Mode == CookieLearn {
		v.errf(path+".dynamic_key", "only used with mode insert, prefix or rewrite (mode is learn: the application sets the cookie)")
	}
}

func (v *validator) check(path string, c *Check) {
	c.checkDerived()
	v.atLeast(path+".inter", c.Inter, 10*time.Millisecond)
	v.atLeast(path+".fastinter", c.FastInter, 10*time.Millisecond)
	v.atLeast(path+".downinter", c.DownInter, 10*time.Millisecond)
	v.atLeast(path+".timeout", c.Timeout, time.Millisecond)
	if c.Timeout.Duration > c.Inter.Duration {
		v.errf(path+".timeout", "%v is longer than inter %v: checks would overlap", c.Timeout.Duration, c.Inter.Duration)
	}
	if c.Rise < 1 || c.Rise > 100 {
		v.errf(path+".rise", "must be 1..100, got %d", c.Rise)
	}
	if c.Fall < 1 || c.Fall > 100 {
		v.errf(path+".fall", "must be 1..100, got %d", c.Fall)
	}
	if c.AgreeDown < 0 {
		v.errf(path+".agree_down", "must be 0 (majority of live nodes) or a node count, got %d", c.AgreeDown)
	}
	if c.AgreeUp < 0 {
		v.errf(path+".agree_up", "must be 0 (majority of live nodes) or a node count, got %d", c.AgreeUp)
	}
	if h := c.HTTPChk; h != nil {
		if !isToken(h.Method) {
			v.errf(path+".httpchk.method", "invalid HTTP method %q", h.Method)
		}
		if !strings.HasPrefix(h.URI, "/") || strings.ContainsAny(h.URI, " \r\n") {
			v.errf(path+".httpchk.uri", "must be an absolute path starting with /, got %q", h.URI)
		}
		if h.ExpectStatus != 0 && (h.ExpectStatus < 100 || h.ExpectStatus > 599) {
			v.errf(path+".httpchk.expect_status", "must be an HTTP status 100..599 (or 0 for any 2xx/3xx), got %d", h.ExpectStatus)
		}
	}
}

func (v *validator) servers(path string, ss []Server) {
	if len(ss) == 0 {
		v.errf(path, "at least one server is required")
		return
	}
	names := map[string]int{}
	cookies := map[string]int{}
	for i := range ss {
		s := &ss[i]
		p := fmt.Sprintf("%s[%d]", path, i)
		if v.required(p+".name", s.Name) {
			if !isServerName(s.Name) {
				v.errf(p+".name", "invalid server name %q: use only letters, digits, '.', '_' and '-'", s.Name)
			}
			if j, dup := names[s.Name]; dup {
				v.errf(p+".name", "duplicate server name %q (also %s[%d])", s.Name, path, j)
			} else {
				names[s.Name] = i
			}
		}
		if v.required(p+".addr", s.Addr) {
			if h, ok := v.addr(p+".addr", s.Addr, dialAddr); ok && h.wildcard {
				v.errf(p+".addr", "unspecified address %q cannot be dialed", s.Addr)
			}
		}
		ck := s.Cookie
		if ck == "" {
			ck = s.Name // the default, for configs built in code
		}
		switch {
		case ck == "":
		case !isCookieValue(ck):
			v.errf(p+".cookie", "invalid cookie value %q: no spaces, controls, '\"', ',', ';', '\\' or '~' (the prefix delimiter)", ck)
		default:
			if j, dup := cookies[ck]; dup {
				v.errf(p+".cookie", "duplicate cookie value %q (also %s[%d])", ck, path, j)
			} else {
				cookies[ck] = i
			}
		}
		if s.MaxConn < 0 {
			v.errf(p+".maxconn", "must be 0 (unlimited) or positive, got %d", s.MaxConn)
		}
		if s.Weight < 0 || s.Weight > 256 {
			v.errf(p+".weight", "%d is out of range 0..256", s.Weight)
		}
	}
}

func (v *validator) frontends(fs []Frontend, bs []Backend) {
	names := map[string]int{}
	var backends []string
	for _, b := range bs {
		if b.Name != "" {
			backends = append(backends, b.Name)
		}
	}
	for i := range fs {
		f := &fs[i]
		path := fmt.Sprintf("frontends[%d]", i)
		if v.required(path+".name", f.Name) {
			if j, dup := names[f.Name]; dup {
				v.errf(path+".name", "duplicate frontend name %q (also frontends[%d])", f.Name, j)
			} else {
				names[f.Name] = i
			}
		}
		if v.required(path+".bind", f.Bind) {
			v.addr(path+".bind", f.Bind, listenAddr)
		}
		if v.required(path+".backend", f.Backend) && !slices.Contains(backends, f.Backend) {
			if len(backends) == 0 {
				v.errf(path+".backend", "unknown backend %q (no backends defined)", f.Backend)
			} else {
				v.errf(path+".backend", "unknown backend %q (defined: %s)", f.Backend, strings.Join(backends, ", "))
			}
		}
		v.frontendTLS(path+".tls", f.TLS)
		v.mode(path+".mode", f.Mode)
		if bm := backendMode(bs, f.Backend); f.Backend != "" && slices.Contains(backends, f.Backend) && slices.Contains(modes, bm) && modeOf(f.Mode) != bm {
			v.errf(path+".mode", "%s frontend on backend %q of mode %s: the modes must match", modeOf(f.Mode), f.Backend, bm)
		}
		v.acceptProxy(path, f)
		if f.Mode == ModeTCP && f.TLS != nil {
			v.errf(path+".tls", "not supported with mode tcp (the TCP engine relays bytes; terminate TLS on the servers)")
		}
	}
}

func (v *validator) frontendTLS(path string, t *FrontendTLS) {
	if t == nil {
		return
	}
	if len(t.Certs) == 0 {
		v.errf(path+".certs", "required: at least one {cert_file, key_file}")
	}
	for i, ck := range t.Certs {
		p := fmt.Sprintf("%s.certs[%d]", path, i)
		v.required(p+".cert_file", ck.CertFile)
		v.required(p+".key_file", ck.KeyFile)
	}
	if t.MinVersion != "" && !slices.Contains(tlsVersions, t.MinVersion) {
		v.errf(path+".min_version", "invalid value %q (allowed: %s)", t.MinVersion, strings.Join(tlsVersions, ", "))
	}
}

// maxconn checks global.maxconn and the frontends' maxconn.
func (v *validator) maxconn(c *Config) {
	g := c.Global.MaxConn
	if g < 0 {
		v.errf("global.maxconn", "must be 0 (derived from the file descriptor limit) or positive, got %d", g)
	}
	for i, f := range c.Frontends {
		p := fmt.Sprintf("frontends[%d].maxconn", i)
		switch {
		case f.MaxConn < 0:
			v.errf(p, "must be 0 (global.maxconn only) or positive, got %d", f.MaxConn)
		case g > 0 && f.MaxConn > g:
			v.errf(p, "%d exceeds global.maxconn %d, which would cap it (lower it, or raise global.maxconn)", f.MaxConn, g)
		}
	}
}

// listeners reports two listeners of this node that would share a socket.
func (v *validator) listeners(c *Config) {
	type listener struct {
		path, addr string
		h          hostPort
	}
	var ls []listener
	add := func(path, addr string) {
		if h, err := parseAddr(addr, listenAddr); err == nil {
			ls = append(ls, listener{path, addr, h})
		}
	}
	add("raft.bind", c.Raft.Bind)
	add("http.addr", c.HTTP.Addr)
	if c.Admin.Addr != "" {
		add("admin.addr", c.Admin.Addr)
	}
	for i, f := range c.Frontends {
		add(fmt.Sprintf("frontends[%d].bind", i), f.Bind)
	}
	for i, l := range ls {
		for _, o := range ls[:i] {
			if l.h.conflicts(o.h) {
				v.errf(l.path, "%q conflicts with %s %q", l.addr, o.path, o.addr)
				break
			}
		}
	}
}

// isToken reports whether s is an RFC 6265 cookie-name (an RFC 2616 token).
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b <= 0x20 || b >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, b) >= 0 {
			return false
		}
	}
	return s != ""
}

// isCookieValue reports whether s is made of RFC 6265 cookie-octets other
// than '~', which separates the server cookie from the application's in
// prefix mode.
func isCookieValue(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b <= 0x20 || b >= 0x7e || b == '"' || b == ',' || b == ';' || b == '\\' {
			return false
		}
	}
	return s != ""
}

func isServerName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return s != ""
}

// modeOf returns a frontend's or backend's mode, http when unset.
func modeOf(m string) string {
	if m == "" {
		return ModeHTTP
	}
	return m
}

func (v *validator) mode(path, m string) {
	if m != "" && !slices.Contains(modes, m) {
		v.errf(path, "invalid value %q (allowed: %s)", m, strings.Join(modes, ", "))
	}
}

// backendMode returns the mode of the backend named name (http when
// unknown).
func backendMode(bs []Backend, name string) string {
	for i := range bs {
		if bs[i].Name == name {
			return modeOf(bs[i].Mode)
		}
	}
	return ModeHTTP
}

// tcpBackend refuses the settings of a mode tcp backend that only mean
// something to HTTP.
func (v *validator) tcpBackend(path string, b *Backend) {
	const why = "HTTP-only setting on a mode tcp backend"
	if b.Cookie != nil {
		v.errf(path+".cookie", "%s (a TCP connection carries no cookie; stick: {on: src} binds source addresses)", why)
	}
	if b.LearnCommit != "" && b.LearnCommit != LearnCommitAsync {
		v.errf(path+".learn_commit", "%s (learned sessions come from cookies)", why)
	}
	if b.Check != nil && b.Check.HTTPChk != nil {
		v.errf(path+".check.httpchk", "%s (mode tcp checks connect to the server)", why)
	}
	// The decoder fills the default options (forwardfor among them) in
	// every backend: only those the file lists are refused.
	explicit := func(p string) bool {
		if v.lines == nil {
			return !slices.Equal(b.Options, DefaultBackendOptions)
		}
		_, ok := v.lines[p]
		return ok
	}
	for j, o := range b.Options {
		if !explicit(fmt.Sprintf("%s.options[%d]", path, j)) {
			continue
		}
		if o == OptionForwardFor || o == OptionForwardedProtoHost || o == OptionHTTPClose {
			v.errf(fmt.Sprintf("%s.options[%d]", path, j), "%s: option %s adds or reads HTTP header fields", why, o)
		}
	}
}
