package proxy

import (
	"time"

	"github.com/haraft/haraft/proxy/accesslog"
	"github.com/haraft/haraft/proxy/h1"
)

// The access log of an HTTP/1.1 frontend: the engine measures each
// exchange (h1.Exchange), the session adds what only the policy knows
// (the backend, the queue wait, the persistence cookie's status, the
// connection counts) into a Line it keeps for the connection, and hands
// it to the frontend's accesslog.Logger.

// sessionLog is the per-connection state of the access log.
type sessionLog struct {
	line              accesslog.Line
	tw                time.Duration // queue wait of the request (Route)
	srvQueue          int           // requests queued for the server before this one
	cookie, setCookie byte          // termination state's third and fourth characters
	server            *Server       // routed server, for its connection count
}

// LogsExchanges reports whether the frontend keeps an access log
// (h1.ExchangeLogger).
func (s *session) LogsExchanges() bool { return s.f.accessLog != nil }

// LogExchange writes the access log line of one exchange.
func (s *session) LogExchange(x *h1.Exchange) {
	f, l := s.f, &s.log.line
	*l = accesslog.Line{
		Kind: accesslog.KindHTTP, Client: x.Client, Start: x.Start, Frontend: f.name, TLS: f.https,
		Backend: f.backend.Name, Server: x.Server,
		TR: x.TR, Tw: -1, Tc: x.Tc, Tr: x.Tr, Ta: x.Ta,
		Status: x.Status, BytesRead: x.BytesOut, Redispatched: x.Redispatched,
		Method: x.Method, URI: x.Target, Proto: x.Proto,
	}
	if x.State == accesslog.StateRequest && x.Server == "" {
		// Refused before a backend was chosen: HAProxy names the
		// frontend as the backend (web/<NOSRV>).
		l.Backend = f.name
	}
	if x.Redispatched {
		l.Retries = 1
	}
	if s.log.server != nil || x.Server != "" {
		l.Tw = s.log.tw
	}
	l.Term = accesslog.MakeTerm(x.End, x.State, s.log.cookie, s.log.setCookie)
	if f.backend.Cookie == nil {
		l.Term[2], l.Term[3] = accesslog.CookieNA, accesslog.SetCookieNA
	}
	// As HAProxy 2.6, the counts are taken once the request let go of
	// its server: its own connection counts at the frontend, not at the
	// backend or server (a lone request logs 1/1/0/0/0).
	l.FeConn = int(f.ln.own.cur.Load())
	l.ActConn = l.FeConn
	if g := f.ln.global; g != nil {
		l.ActConn = int(g.cur.Load())
	}
	if s.log.server != nil {
		for _, srv := range f.backend.Servers {
			l.BeConn += int(srv.active.Load())
		}
		l.SrvConn = int(s.log.server.active.Load())
	}
	l.SrvQueue = s.log.srvQueue
	f.accessLog.Log(l)
	s.log = sessionLog{line: accesslog.Line{}}
}

// logRoute records what Route decided for the access log.
func (s *session) logRoute(rt *route, tw time.Duration, queued int64) {
	s.log.tw, s.log.srvQueue, s.log.server = tw, int(queued), rt.server
	switch {
	case rt.viaCookie:
		s.log.cookie = accesslog.CookieValid
	case rt.reassigned:
		s.log.cookie = accesslog.CookieDown
	default:
		s.log.cookie = accesslog.CookieNone
	}
}

// logSetCookie records what the cookie mode did with the server's
// Set-Cookie values (in) to give the client out.
func (s *session) logSetCookie(in, out []string) {
	if m := s.f.backend.mode; m != nil {
		s.log.setCookie = m.setCookieLog(in, out)
		return
	}
	s.log.setCookie = accesslog.SetCookieNA
}
