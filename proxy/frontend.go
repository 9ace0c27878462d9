package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/haraft/haraft/proxy/accesslog"
	"github.com/haraft/haraft/proxy/h1"
)

// FrontendOptions configures one listener.
type FrontendOptions struct {
	Name           string
	Bind           string       // ignored when Listener is set
	Listener       net.Listener // optional pre-bound listener
	Backend        *Backend
	Timeouts       Timeouts // zero fields take HAProxy-like defaults (see withDefaults)
	MaxHeaderBytes int      // request head limit (request line and fields); default 64 KiB; beyond: 431
	Redispatch     bool
	// MaxConn is the frontend's maxconn (0: none of its own) and Global the
	// process-wide one shared by every frontend (nil: none); see ConnLimit.
	MaxConn int
	Global  *ConnLimit
	// AccessLog receives a line per request (HAProxy's option httplog);
	// nil: none.
	AccessLog accesslog.Logger
	// AcceptProxy: connections begin with a PROXY protocol header
	// (HAProxy's bind ... accept-proxy); nil: none expected.
	AcceptProxy *AcceptProxy
}

// FrontendStats are a frontend's counters.
type FrontendStats struct {
	Requests, Errors, Redispatches, Learned, LearnDropped uint64
}

// Frontend is one listener forwarding to one backend with the HTTP/1.1
// engine (package h1); it is the engine's Policy (session.go).
type Frontend struct {
	name     string
	backend  *Backend
	state    State
	learner  *Learner
	ln       *limitListener
	log      *slog.Logger
	redisp   bool
	timeouts Timeouts
	engine   *h1.Server
	acc      *acceptor
	// accessLog is nil when the frontend keeps none.
	accessLog accesslog.Logger
	// https: the connections are TLS ones a TLSFrontend handed over
	// (X-Forwarded-Proto says https).
	https bool

	*listenerStats // latency: request head read -> response sent
}

// withDefaults fills the zero timeouts: HAProxy's usual values, and
// http-keep-alive defaulting to http-request as in HAProxy.
func (t Timeouts) withDefaults() Timeouts {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.Connect, 5*time.Second)
	def(&t.Client, 30*time.Second)
	def(&t.Server, 30*time.Second)
	def(&t.HTTPRequest, 10*time.Second)
	def(&t.HTTPKeepAlive, t.HTTPRequest)
	def(&t.Queue, t.Connect)
	return t
}

// NewFrontend binds the listener (unless one is given) and prepares the
// frontend; call Serve to accept connections.
func NewFrontend(o FrontendOptions, st State, l *Learner, log *slog.Logger) (*Frontend, error) {
	if log == nil {
		log = slog.Default()
	}
	ln, err := o.prepare()
	if err != nil {
		return nil, err
	}
	stats := &listenerStats{pp: newProxyAccept(o.AcceptProxy, o.Timeouts.withDefaults().Client, log.With("frontend", o.Name))}
	return newEngineFrontend(o, ln, stats, st, l, log), nil
}

// newEngineFrontend makes the HTTP/1.1 engine's frontend on a prepared
// listener, counting into stats (a TLSFrontend shares its own with the
// engine frontend that serves its HTTP/1.1 connections).
func newEngineFrontend(o FrontendOptions, ln *limitListener, stats *listenerStats, st State, l *Learner, log *slog.Logger) *Frontend {
	f := &Frontend{
		name: o.Name, backend: o.Backend, state: st, learner: l, ln: ln, log: log.With("frontend", o.Name),
		redisp: o.Redispatch, timeouts: o.Timeouts.withDefaults(), accessLog: o.AccessLog, listenerStats: stats,
	}
	t := f.timeouts
	f.engine = h1.NewServer(f, h1.Options{Client: t.Client, HTTPRequest: t.HTTPRequest, HTTPKeepAlive: t.HTTPKeepAlive, Tunnel: t.Tunnel,
		MaxHeaderBytes: o.MaxHeaderBytes, Counters: &f.Counters, Log: f.log})
	f.acc = newAcceptor(ln, stats.pp, f.log)
	return f
}

// Addr returns the listening address.
func (f *Frontend) Addr() net.Addr { return f.ln.Addr() }

// Serve accepts connections until Shutdown; it then returns nil.
func (f *Frontend) Serve() error {
	return f.acc.serve(f.engine.ServeConn)
}

// Shutdown stops accepting, closes idle keep-alive connections, lets
// requests in flight finish (their responses carry Connection: close)
// until ctx ends, then closes what is left. It returns once every
// connection's goroutines have ended. It may be called more than once.
func (f *Frontend) Shutdown(ctx context.Context) error {
	err := f.acc.stop(ctx) // every accepted connection reached the engine
	if e := f.engine.Shutdown(ctx); e != nil {
		err = e
	}
	return err
}

// prepare checks the options both kinds of frontend share, fills their
// defaults and binds the listener unless one is given, under the
// frontend's and the global maxconn.
func (o *FrontendOptions) prepare() (*limitListener, error) {
	if o.Backend == nil {
		return nil, fmt.Errorf("frontend %s: no backend", o.Name)
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = 64 << 10
	}
	if o.MaxConn < 0 {
		return nil, fmt.Errorf("frontend %s: maxconn %d: must be 0 (none) or positive", o.Name, o.MaxConn)
	}
	ln := o.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", o.Bind); err != nil {
			return nil, fmt.Errorf("frontend %s: %w", o.Name, err)
		}
	}
	return newLimitListener(ln, o.MaxConn, o.Global), nil
}

// listenerStats are what both kinds of frontend count, and their
// learning of session keys.
type listenerStats struct {
	h1.Counters                         // requests, errors, the HTTP/1.1 engine's refusals by reason
	redispatches, learned, learnDropped atomic.Uint64
	latency                             Latency
	pp                                  *proxyAccept // nil: no PROXY protocol
}

// ProxyProtocolErrors returns the connections refused for their PROXY
// protocol header, by reason (ProxyProtocolReasons); nil when the
// frontend does not accept the protocol.
func (s *listenerStats) ProxyProtocolErrors() []uint64 { return s.pp.ProxyProtocolErrors() }

// Stats returns the frontend's counters.
func (s *listenerStats) Stats() FrontendStats {
	return FrontendStats{s.Requests.Load(), s.Errors.Load(), s.redispatches.Load(), s.learned.Load(), s.learnDropped.Load()}
}

// RejectCount is the number of requests refused with one status and
// reason.
type RejectCount = h1.RejectCount

// Rejects returns the requests the frontend refused itself, by status and
// reason (the HTTP/1.1 engine's; every reason is listed, zeros included).
func (s *listenerStats) Rejects() []RejectCount { return s.Refused.Snapshot() }

// Traffic are a frontend's responses by status class and its bytes.
type Traffic struct {
	// Responses: 1xx..5xx at 0..4, any other status at 5.
	Responses         [6]uint64
	BytesIn, BytesOut uint64 // from and to the clients
}

// StatusClasses are the label values of Traffic.Responses, in order.
var StatusClasses = [6]string{"1xx", "2xx", "3xx", "4xx", "5xx", "other"}

// Traffic returns the frontend's responses by status class and bytes.
func (s *listenerStats) Traffic() Traffic {
	var t Traffic
	for i := range t.Responses {
		t.Responses[i] = s.Responses[i].Load()
	}
	t.BytesIn, t.BytesOut = s.BytesIn.Load(), s.BytesOut.Load()
	return t
}

// Latency returns the histogram of the frontend's request durations: from
// the request read to the last byte of the response sent (answered
// requests only; upgraded connections are not counted).
func (s *listenerStats) Latency() LatencySnapshot { return s.latency.Snapshot() }

// learnKeys hands the session keys a response of server set to the
// learner; with learn_commit sync it waits (at most timeout) for their
// commit, and a failure is the response's.
func (s *listenerStats) learnKeys(ctx context.Context, l *Learner, b *Backend, timeout time.Duration, server string, keys []string) error {
	if l == nil || len(keys) == 0 {
		return nil
	}
	if b.LearnSync {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	for _, key := range keys {
		_, err := l.Learn(ctx, b.Name, key, server, b.LearnSync)
		switch {
		case err == nil:
			s.learned.Add(1)
		case errors.Is(err, ErrLearnQueueFull):
			s.learnDropped.Add(1)
			if b.LearnSync {
				return err
			}
		default:
			return fmt.Errorf("learn_commit sync: %w", err)
		}
	}
	return nil
}
