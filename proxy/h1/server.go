package h1

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Server. Timeouts are HAProxy's of the same names;
// zero means none.
type Options struct {
	Client         time.Duration // timeout client: inactivity of the client connection
	HTTPRequest    time.Duration // timeout http-request: a whole request head
	HTTPKeepAlive  time.Duration // timeout http-keep-alive: between requests
	MaxHeaderBytes int           // request head limit; default 64 KiB; beyond: 414 or 431
	// Tunnel (timeout tunnel) replaces Client and the server's timeout once
	// a 101 Switching Protocols (WebSocket) made the connection a tunnel:
	// it ends after this long with no byte either way. Zero: the tunnel
	// keeps Client and the server's timeout, each for its own direction.
	Tunnel time.Duration
	// IdlePark is how long a kept-alive connection waits for its next
	// request in a goroutine of its own; then it is parked without one
	// until bytes come (park_linux.go; Linux, plain TCP). 0: one second;
	// negative: never.
	IdlePark time.Duration
	// Counters receives the server's counts; nil: the server keeps its own
	// (Server.Counters).
	Counters *Counters
	Log      *slog.Logger // nil: slog.Default()
}

// Counters are what the engine counts for its owner: requests read,
// requests it answered with an error, and its refusals by reason.
type Counters struct {
	Requests, Errors atomic.Uint64
	Refused          RejectCounts
	// Responses counts the responses sent to clients by status class:
	// 1xx..5xx at 0..4, anything else at 5 (HAProxy's hrsp_1xx..other).
	Responses [6]atomic.Uint64
	// BytesIn and BytesOut are the bytes read from and written to the
	// clients (HAProxy's bin and bout).
	BytesIn, BytesOut atomic.Uint64
}

// StatusClass returns the index in Counters.Responses of a status.
func StatusClass(status int) int {
	if status >= 100 && status < 600 {
		return status/100 - 1
	}
	return 5
}

// States of a client connection, for graceful shutdown.
const (
	connIdle    int32 = iota // waiting for (the rest of) a request head
	connActive               // forwarding a request
	connClosing              // Shutdown asked an idle connection to close
	// connFirst: a new connection waiting for its first request head.
	// Shutdown gives it FirstRequestGrace to arrive (the client sent it
	// right after connecting, before the frontend stopped accepting: a
	// live reload or an upgrade hands new connections to another
	// frontend at any moment) and answers it with Connection: close.
	connFirst
	// connParked: idle without a goroutine, in the server's parker.
	connParked
)

// FirstRequestGrace is how long Shutdown waits for the first request of
// a connection accepted just before it began, before closing it as idle.
const FirstRequestGrace = time.Second

// Server runs the HTTP/1.1 engine on client connections handed to it
// (ServeConn): it reads well-framed requests, asks its Policy where each
// goes, forwards it on a pooled server connection and relays the
// well-framed response.
type Server struct {
	policy    Policy
	timeouts  Options
	maxHeader int
	counters  *Counters
	log       *slog.Logger

	shutting atomic.Bool
	mu       sync.Mutex
	conns    map[*clientConn]struct{}
	connWG   sync.WaitGroup

	parkOnce sync.Once
	parker   atomic.Pointer[parker] // nil until a connection parks, or when parking failed
}

// NewServer returns an engine asking p about every request.
func NewServer(p Policy, o Options) *Server {
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = 64 << 10
	}
	if o.Counters == nil {
		o.Counters = new(Counters)
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.IdlePark == 0 {
		o.IdlePark = time.Second
	}
	return &Server{policy: p, timeouts: o, maxHeader: o.MaxHeaderBytes, counters: o.Counters, log: o.Log,
		conns: map[*clientConn]struct{}{}}
}

// Counters returns the server's counters.
func (s *Server) Counters() *Counters { return s.counters }

// ServeConn serves c in a goroutine of its own until it ends; the policy
// opens a Session for it first. It reports false, and leaves c alone, once
// Shutdown began.
func (s *Server) ServeConn(c net.Conn) bool {
	cc := newClientConn(s, c)
	s.mu.Lock()
	if s.shutting.Load() {
		s.mu.Unlock()
		return false
	}
	s.conns[cc] = struct{}{}
	s.connWG.Add(1)
	s.mu.Unlock()
	cc.sess = s.policy.Open(cc.clientIP)
	if xl, ok := cc.sess.(ExchangeLogger); ok && xl.LogsExchanges() {
		cc.xl = xl
		if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
			cc.ex.Client = ap
		}
	}
	go cc.serve()
	return true
}

// forget unregisters a connection that ended.
func (s *Server) forget(c *clientConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.sess.Close()
	s.connWG.Done()
}

// draining reports that Shutdown began: responses close their connection.
func (s *Server) draining() bool { return s.shutting.Load() }

// Shutdown closes idle keep-alive connections, lets requests in flight
// finish (their responses carry Connection: close) until ctx ends, then
// closes what is left. It returns once every connection's goroutines
// have ended. It may be called more than once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutting.Store(true)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	firstDeadline := time.Now().Add(FirstRequestGrace)
	var err error
	for {
		s.mu.Lock()
		n := len(s.conns)
		first := time.Now().After(firstDeadline)
		for c := range s.conns {
			c.wakeIfIdle(first)
		}
		s.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-tick.C:
			continue
		case <-ctx.Done():
			err = ctx.Err()
		}
		s.mu.Lock()
		for c := range s.conns {
			c.kill()
		}
		s.mu.Unlock()
		break
	}
	s.connWG.Wait()
	if pk := s.parkerIfAny(); pk != nil {
		pk.close()
	}
	return err
}

// parkerFor returns the server's parker, starting it on first use; nil
// when it cannot run (then connections wait in their goroutines).
func (s *Server) parkerFor() *parker {
	s.parkOnce.Do(func() {
		pk, err := newParker()
		if err != nil {
			s.log.Warn("idle connections keep their goroutines", "err", err)
			return
		}
		s.parker.Store(pk)
	})
	return s.parker.Load()
}

func (s *Server) parkerIfAny() *parker { return s.parker.Load() }

// Parked returns how many client connections are parked (idle, without a
// goroutine).
func (s *Server) Parked() int {
	if pk := s.parkerIfAny(); pk != nil {
		return pk.parked()
	}
	return 0
}
