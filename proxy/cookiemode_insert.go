package proxy

import (
	"strings"

	"github.com/haraft/haraft/proxy/accesslog"
)

// ModeInsert: the proxy inserts its own cookie naming the server.
const ModeInsert = "insert"

func init() { registerCookieMode(ModeInsert, insertMode{}) }

type insertMode struct{}

func (insertMode) route(q cookieRequest, v string) (cookieMatch, error) {
	s := q.set.byCookie[v]
	return cookieMatch{server: s, rewrite: s != nil && q.b.Cookie.Indirect}, nil
}

func (insertMode) response(o *CookieOptions, r *route, setCookies []string) (out, learned []string, noCache bool) {
	if r.viaCookie {
		return setCookies, nil, false
	}
	out = append(setCookies[:len(setCookies):len(setCookies)], insertedCookie(o, r.server.Cookie))
	return out, nil, o.NoCache
}

func (insertMode) learns() bool { return false }

func (insertMode) setCookieLog(in, out []string) byte {
	if len(out) > len(in) {
		return accesslog.SetCookieInserted
	}
	return rewrittenSetCookieLog(in, out)
}

// insertedCookie builds the Set-Cookie line of insert mode.
func insertedCookie(o *CookieOptions, value string) string {
	var b strings.Builder
	b.WriteString(o.Name)
	b.WriteByte('=')
	b.WriteString(value)
	b.WriteString("; path=/")
	if o.HTTPOnly {
		b.WriteString("; HttpOnly")
	}
	if o.Secure {
		b.WriteString("; Secure")
	}
	return b.String()
}
