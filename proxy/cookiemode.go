package proxy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/haraft/haraft/proxy/accesslog"
)

// A cookie mode is what a backend's `cookie` does (HAProxy's insert,
// prefix and rewrite, and haraft's learn): which server a request's cookie
// value names, and what becomes of the server's Set-Cookie lines. Each
// mode is one type in its own file (cookiemode_<name>.go) that registers
// itself under its config name; the router calls it through this
// interface, as it calls a balance policy through Balancer. A new mode is
// its own file plus its name in the config's list of cookie modes.
type cookieMode interface {
	// route returns the server a valid request cookie value v names and
	// what to do with the cookie upstream; a zero cookieMatch (no server)
	// when it names none: the request is balanced. An error refuses the
	// request (a learned session this node cannot look up).
	route(q cookieRequest, v string) (cookieMatch, error)
	// response returns the Set-Cookie lines to give the client, the
	// session keys to learn, and whether Cache-Control: private must be
	// added (nocache).
	response(o *CookieOptions, r *route, setCookies []string) (out, learned []string, noCache bool)
	// learns reports whether the mode's sessions are learned bindings in
	// the replicated session table: touched when used (maxidle), rebound
	// when their server goes, expired by the leader.
	learns() bool
	// setCookieLog is the access log's set-cookie flag (the fourth
	// character of HAProxy's termination state) for Set-Cookie lines in
	// from the server and out to the client.
	setCookieLog(in, out []string) byte
}

// cookieRequest is what a mode may read to route one request.
type cookieRequest struct {
	b     *Backend
	st    State
	l     *Learner // nil: this node does not learn
	set   *serverSet
	lines []string // the request's Cookie header lines
}

// cookieMatch is a mode's routing decision (see route's rewrite fields).
type cookieMatch struct {
	server      *Server
	sessionKey  string
	rewrite     bool
	cookieKeep  bool
	cookieValue string
}

// cookieModes holds every mode by its config name. It is filled by the
// modes' init functions and only read afterwards.
var cookieModes = map[string]cookieMode{}

// registerCookieMode adds a mode; each mode's file calls it once from init.
func registerCookieMode(name string, m cookieMode) {
	if _, dup := cookieModes[name]; dup {
		panic("proxy: cookie mode " + name + " registered twice")
	}
	cookieModes[name] = m
}

// CookieModes returns the names of the cookie modes, sorted.
func CookieModes() []string {
	names := make([]string, 0, len(cookieModes))
	for n := range cookieModes {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// cookieModeOf returns the mode named name.
func cookieModeOf(name string) (cookieMode, error) {
	m, ok := cookieModes[name]
	if !ok {
		return nil, fmt.Errorf("cookie mode %q: want one of %s", name, strings.Join(CookieModes(), ", "))
	}
	return m, nil
}

// rewrittenSetCookieLog is the set-cookie flag of a mode that rewrites or
// deletes the server's cookie (prefix, rewrite, and insert when it did not
// insert one).
func rewrittenSetCookieLog(in, out []string) byte {
	switch {
	case len(in) == 0:
		return accesslog.SetCookieNone
	case len(out) < len(in):
		return accesslog.SetCookieDeleted
	default:
		return accesslog.SetCookieRewritten
	}
}

// rewriteSetCookies replaces the value of each Set-Cookie line of the
// mode's cookie name (non-empty values only) with value(v).
func rewriteSetCookies(o *CookieOptions, setCookies []string, value func(v string) string) []string {
	out := setCookies[:0:0]
	for _, line := range setCookies {
		if n, v, ok := setCookieValue(line); ok && n == o.Name && v != "" {
			line = replaceSetCookieValue(line, n, value(v))
		}
		out = append(out, line)
	}
	return out
}
