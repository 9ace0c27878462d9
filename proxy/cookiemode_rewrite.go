package proxy

// ModeRewrite: the application sets the cookie; the proxy rewrites its
// value to the server's.
const ModeRewrite = "rewrite"

func init() { registerCookieMode(ModeRewrite, rewriteMode{}) }

type rewriteMode struct{}

func (rewriteMode) route(q cookieRequest, v string) (cookieMatch, error) {
	s := q.set.byCookie[v]
	return cookieMatch{server: s, rewrite: s != nil && q.b.Cookie.Indirect}, nil
}

func (rewriteMode) response(o *CookieOptions, r *route, setCookies []string) (out, learned []string, noCache bool) {
	return rewriteSetCookies(o, setCookies, func(string) string { return r.server.Cookie }), nil, false
}

func (rewriteMode) learns() bool { return false }

func (rewriteMode) setCookieLog(in, out []string) byte { return rewrittenSetCookieLog(in, out) }
