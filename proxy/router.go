package proxy

import (
	"errors"

	"github.com/haraft/haraft/fsm"
)

// errNoServer means no server of the backend may take the request.
var errNoServer = errors.New("no server is available to handle this request")

// ErrSessionUnknown refuses a request whose learned session this node does
// not know and could not look up with the leader (answered 503).
var ErrSessionUnknown = errors.New("session not known on this node, and the cluster could not be reached to look it up; retry")

// route is the routing decision for one request.
type route struct {
	server     *Server
	viaCookie  bool   // a valid cookie chose the server
	reassigned bool   // the cookie's server is down/drained; rendezvous chose another
	sessionKey string // learn mode: the session's cookie value
	// rewrite: the Cookie lines sent upstream lose the mode's cookie
	// (cookieKeep false, HAProxy `indirect`) or carry it with cookieValue
	// (prefix mode strips the server prefix); see appendCookieField.
	rewrite     bool
	cookieKeep  bool
	cookieValue string
}

// maxInlineServers sizes the on-stack candidate list.
const maxInlineServers = 16

// usableFor returns the servers that may take new sessions under table t:
// usable in the table, with an effective weight above 0 (HAProxy: weight 0
// takes no new session, but keeps its sticky ones). The list is derived
// once per table (see setFor); callers must not modify it.
func (b *Backend) usableFor(t *fsm.ServerTable) []*Server { return b.setFor(t).usable }

// redispatchTarget balances a request whose connection to failed could
// not be made over the other usable servers (HAProxy's option
// redispatch); nil when there is none.
func (b *Backend) redispatchTarget(t *fsm.ServerTable, failed, client string) *Server {
	var others [maxInlineServers]*Server
	n := 0
	for _, sv := range b.usableFor(t) {
		if sv.Name != failed && n < len(others) {
			others[n] = sv
			n++
		}
	}
	return b.balancer.Pick(others[:n], client)
}

// route chooses the server for a request from its Cookie header lines and
// the client's address (for balance source).
func (b *Backend) route(st State, l *Learner, cookieLines []string, client string) (route, error) {
	table := st.Servers()
	set := b.setFor(table)
	candidates := set.usable
	var r route
	if b.Cookie != nil {
		if v, ok := requestCookie(cookieLines, b.Cookie.Name); ok && validCookieValue(v) {
			done, err := b.routeByCookie(&r, v, st, l, table, set, cookieLines)
			if done || err != nil {
				return r, err
			}
		}
	}
	r.server = b.balancer.Pick(notFull(candidates), client)
	if r.server == nil {
		return r, errNoServer
	}
	return r, nil
}

// routeByCookie applies the cookie mode to a valid cookie value. It returns
// true when the cookie decided the server, and an error when the request
// must not be routed at all (a learned session this node cannot look up).
func (b *Backend) routeByCookie(r *route, v string, st State, l *Learner, table *fsm.ServerTable, set *serverSet, lines []string) (bool, error) {
	m, err := b.mode.route(cookieRequest{b: b, st: st, l: l, set: set, lines: lines}, v)
	if err != nil {
		return false, err
	}
	// What the mode does to the cookie upstream holds even when its value
	// names no server (prefix mode strips the prefix regardless, as HAProxy).
	r.sessionKey, r.rewrite, r.cookieKeep, r.cookieValue = m.sessionKey, m.rewrite, m.cookieKeep, m.cookieValue
	s := m.server
	if s == nil {
		return false, nil
	}
	learns := b.mode.learns() && l != nil
	if table.Get(b.Name, s.Name).KeepsSessions() {
		r.server, r.viaCookie = s, true
		if learns && b.Cookie.MaxIdle > 0 {
			l.touch(b.Name, v)
		}
		return true, nil
	}
	// The session's server is agreed down or in maintenance: every node
	// picks the same new one, with no round trip.
	r.server = Rendezvous(v, set.usable)
	if r.server == nil {
		return false, nil
	}
	r.reassigned = true
	if learns {
		l.rebind(b.Name, v, r.server.Name)
	}
	return true, nil
}

// response applies the cookie mode to the response's header lines and
// learns bindings. It returns the Set-Cookie lines to send to the client
// and whether a Cache-Control: private must be added (nocache).
func (b *Backend) response(r *route, setCookies []string, _ *Learner) (out []string, learned []string, noCache bool) {
	if b.mode == nil {
		return setCookies, nil, false
	}
	return b.mode.response(b.Cookie, r, setCookies)
}

// notFull drops the servers at their maxconn, unless every one is: then
// the request queues on whichever the balancer picks.
func notFull(c []*Server) []*Server {
	n := 0
	for _, s := range c {
		if !s.full() {
			n++
		}
	}
	if n == 0 || n == len(c) {
		return c
	}
	out := make([]*Server, 0, n)
	for _, s := range c {
		if !s.full() {
			out = append(out, s)
		}
	}
	return out
}
