package proxy

import (
	"context"
	"fmt"
	"time"
	"unsafe"

	"github.com/haraft/haraft/proxy/h1"
)

// The frontend is the HTTP/1.1 engine's policy: for each request the
// engine has framed, it routes (cookies, balancing, learned sessions),
// holds the server's maxconn slot, rewrites the cookie and adds the
// X-Forwarded-* fields, applies the cookie mode to the response and
// learns its binding. The engine never sees a Backend or a Server; the
// policy never sees a byte the engine did not frame.

// session is the policy of one client connection (h1.Session).
type session struct {
	f        *Frontend
	clientIP string
	rt       route   // the request's routing decision
	slot     *Server // the server whose slot the request holds
	safe     bool    // the request's method allows a cacheable response (nocache)
	log      sessionLog
}

// Open starts the policy of a client connection (h1.Policy).
func (f *Frontend) Open(clientIP string) h1.Session {
	return &session{f: f, clientIP: clientIP}
}

func (s *session) Close() { s.f.ln.release() } // its maxconn slots are free

func (s *session) Route(req *h1.Request) (*h1.Pool, error) {
	f := s.f
	rt, err := f.backend.route(f.state, f.learner, req.Cookies, s.clientIP)
	if err != nil {
		return nil, err
	}
	srv := rt.server
	if f.accessLog != nil {
		var t0 time.Time
		queued := srv.queued.Load()
		if srv.slots != nil {
			t0 = time.Now()
		}
		err = srv.acquire(context.Background(), f.backend.timeouts.Queue)
		var tw time.Duration
		if srv.slots != nil {
			tw = time.Since(t0)
		}
		s.logRoute(&rt, tw, queued)
	} else {
		err = srv.acquire(context.Background(), f.backend.timeouts.Queue)
	}
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", srv.Name, err)
	}
	s.rt, s.slot, s.safe = rt, srv, safeMethod(req.Method())
	return srv.pool, nil
}

// Redispatch picks another usable server (HAProxy's option redispatch)
// and moves the route there.
func (s *session) Redispatch(cause error) *h1.Pool {
	f := s.f
	if !f.redisp {
		return nil
	}
	next := f.backend.redispatchTarget(f.state.Servers(), s.rt.server.Name, s.clientIP)
	if next == nil {
		return nil
	}
	f.redispatches.Add(1)
	f.log.Info("redispatch", "from", s.rt.server.Name, "to", next.Name, "err", cause)
	s.rt.server, s.rt.viaCookie = next, false
	return next.pool
}

// RequestField rewrites the Cookie lines as the cookie mode asks, and
// drops the client's X-Forwarded-Host/-Proto when the backend sends its
// own.
func (s *session) RequestField(dst []byte, kind h1.FieldKind, name, value []byte) ([]byte, bool) {
	b := s.f.backend
	switch kind {
	case h1.FieldCookie:
		if s.rt.rewrite {
			return b.appendCookieField(dst, name, bstr(value), &s.rt), true
		}
	case h1.FieldXForwardedHost, h1.FieldXForwardedProto:
		if b.fwdPH {
			return dst, true // ours replace the client's
		}
	}
	return dst, false
}

// AppendFields adds X-Forwarded-For with option forwardfor and
// X-Forwarded-Host/-Proto when asked for.
func (s *session) AppendFields(dst []byte, req *h1.Request) []byte {
	b := s.f.backend
	if b.fwdFor {
		// As HAProxy's option forwardfor: one more X-Forwarded-For line,
		// after the client's own.
		dst = append(dst, "X-Forwarded-For: "...)
		dst = append(dst, s.clientIP...)
		dst = append(dst, "\r\n"...)
	}
	if b.fwdPH {
		if host, ok := req.Host(); ok {
			dst = append(dst, "X-Forwarded-Host: "...)
			dst = append(dst, host...)
			dst = append(dst, "\r\n"...)
		}
		if s.f.https {
			dst = append(dst, "X-Forwarded-Proto: https\r\n"...)
		} else {
			dst = append(dst, "X-Forwarded-Proto: http\r\n"...)
		}
	}
	return dst
}

// Response applies the cookie mode to the response and learns its
// binding (waiting for its commit with learn_commit sync).
func (s *session) Response(resp *h1.Response, took time.Duration) ([]string, bool, error) {
	f := s.f
	s.rt.server.latency.Observe(took)
	s.rt.server.responses[h1.StatusClass(resp.Status())].Add(1)
	setCookies, learned, noCache := f.backend.response(&s.rt, resp.SetCookies, f.learner)
	if f.accessLog != nil {
		s.logSetCookie(resp.SetCookies, setCookies)
	}
	noCache = noCache && cacheableResponse(s.safe, resp)
	if err := f.learnKeys(context.Background(), f.learner, f.backend, f.timeouts.Server, s.rt.server.Name, learned); err != nil {
		return nil, false, err
	}
	return setCookies, noCache, nil
}

func (s *session) Done(ok bool, took time.Duration) {
	if ok && took >= 0 {
		s.f.latency.Observe(took)
	}
	s.slot.release(!ok)
	s.rt, s.slot = route{}, nil
}

// bstr views b as a string without copying; b must not change while the
// string is used (the engine's head bytes, during the call handing them).
func bstr(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
