package proxy

import (
	"errors"

	"github.com/haraft/haraft/proxy/accesslog"
	"github.com/haraft/haraft/proxy/l4"
)

// The access log of a TCP frontend: one line per connection, written when
// it ends, as HAProxy's option tcplog.

// tcpTerm maps what ended a connection to tcplog's two characters (%ts).
func tcpTerm(r l4.Result) (end, state byte) {
	switch r.End {
	case l4.EndRoute:
		if errors.Is(r.Err, errQueueTimeout) {
			return accesslog.EndServerTimeout, accesslog.StateQueue
		}
		return accesslog.EndServerAbort, accesslog.StateConnect
	case l4.EndConnect:
		return accesslog.EndServerAbort, accesslog.StateConnect
	case l4.EndConnectTimeout:
		return accesslog.EndServerTimeout, accesslog.StateConnect
	case l4.EndClientAbort:
		return accesslog.EndClientAbort, accesslog.StateData
	case l4.EndServerAbort:
		return accesslog.EndServerAbort, accesslog.StateData
	case l4.EndClientTimeout:
		return accesslog.EndClientTimeout, accesslog.StateData
	case l4.EndServerTimeout:
		return accesslog.EndServerTimeout, accesslog.StateData
	case l4.EndKilled:
		return accesslog.EndKilled, accesslog.StateData
	}
	return accesslog.EndNormal, accesslog.StateNone
}

// logConn writes the connection's line; its server slot is already given
// back, so the counts are HAProxy's at the end of a connection (a lone
// one logs 1/1/0/0/0).
func (s *tcpSession) logConn(r l4.Result) {
	f := s.f
	l := accesslog.Line{
		Kind: accesslog.KindTCP, Client: s.client, Start: s.start, Frontend: f.name, Backend: f.backend.Name,
		Tw: -1, Tc: r.Connect, Tt: r.Duration, BytesRead: r.BytesOut, BytesUploaded: r.BytesIn,
		Redispatched: s.redispatched, SrvQueue: s.srvQueue,
	}
	if s.server != nil {
		l.Server, l.Tw = s.server.Name, s.tw
	}
	if s.redispatched {
		l.Retries = 1
	}
	end, state := tcpTerm(r)
	l.Term = accesslog.MakeTerm(end, state, accesslog.CookieNA, accesslog.SetCookieNA)
	l.FeConn = int(f.ln.own.cur.Load())
	l.ActConn = l.FeConn
	if g := f.ln.global; g != nil {
		l.ActConn = int(g.cur.Load())
	}
	if s.server != nil {
		for _, srv := range f.backend.Servers {
			l.BeConn += int(srv.active.Load())
		}
		l.SrvConn = int(s.server.active.Load())
	}
	f.accessLog.Log(&l)
}
