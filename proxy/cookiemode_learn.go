package proxy

import (
	"fmt"

	"github.com/haraft/haraft/proxy/accesslog"
)

// ModeLearn: the application sets the cookie; the proxy learns its value →
// server and replicates the binding through Raft.
const ModeLearn = "learn"

func init() { registerCookieMode(ModeLearn, learnMode{}) }

type learnMode struct{}

func (learnMode) route(q cookieRequest, v string) (cookieMatch, error) {
	name, ok := q.st.Lookup(q.b.Name, v)
	if !ok && q.l != nil {
		name, ok = q.l.pending(q.b.Name, v)
	}
	if !ok && q.l != nil && !cookieAmbiguous(q.lines, q.b.Cookie.Name, v) {
		var err error
		if name, ok, err = q.l.catchUpLookup(q.st, q.b.Name, v); err != nil {
			// The session may have been committed elsewhere a moment ago
			// and this node cannot tell (no leader, or too slow a link to
			// it): answering from a balanced server could break a session
			// that lives on another. Refuse; the client's retry reaches
			// this node caught up, or another node.
			return cookieMatch{}, fmt.Errorf("%w: %v", ErrSessionUnknown, err)
		}
	}
	if !ok {
		return cookieMatch{}, nil // unknown session (or ambiguous cookie): treated as no cookie
	}
	return cookieMatch{server: q.set.byName[name], sessionKey: v}, nil
}

func (learnMode) response(o *CookieOptions, _ *route, setCookies []string) (out, learned []string, noCache bool) {
	// One binding per response, as HAProxy's appsession/stick store
	// response: the first Set-Cookie of the cookie's name (a response
	// with many would otherwise flood the learn queue).
	for _, line := range setCookies {
		if n, v, ok := setCookieValue(line); ok && n == o.Name {
			if validCookieValue(v) {
				learned = []string{v}
			}
			break
		}
	}
	return setCookies, learned, false
}

func (learnMode) learns() bool { return true }

func (learnMode) setCookieLog(in, _ []string) byte {
	if len(in) == 0 {
		return accesslog.SetCookieNone
	}
	return accesslog.SetCookieProvided
}
