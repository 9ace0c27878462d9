package proxy

import "strings"

// ModePrefix: the server's cookie value is prefixed to the application's
// cookie: NAME=S~value.
const ModePrefix = "prefix"

func init() { registerCookieMode(ModePrefix, prefixMode{}) }

type prefixMode struct{}

func (prefixMode) route(q cookieRequest, v string) (cookieMatch, error) {
	prefix, rest, ok := strings.Cut(v, "~")
	if !ok {
		return cookieMatch{}, nil
	}
	// As HAProxy: the prefix is stripped even when it names no server.
	return cookieMatch{server: q.set.byCookie[prefix], rewrite: true, cookieKeep: true, cookieValue: rest}, nil
}

func (prefixMode) response(o *CookieOptions, r *route, setCookies []string) (out, learned []string, noCache bool) {
	return rewriteSetCookies(o, setCookies, func(v string) string { return r.server.Cookie + "~" + v }), nil, false
}

func (prefixMode) learns() bool { return false }

func (prefixMode) setCookieLog(in, out []string) byte { return rewrittenSetCookieLog(in, out) }
