package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/haraft/haraft/proxy/accesslog"
	"github.com/haraft/haraft/proxy/l4"
)

// TCPFrontend is one `mode tcp` listener: the TCP engine (package l4)
// relays each connection to the server this policy picks, with the same
// balancing, agreed health and admin states (drain, maint), server
// maxconn and redispatch as the HTTP/1.1 frontends. A connection holds
// its server's maxconn slot for its whole life.
type TCPFrontend struct {
	name     string
	backend  *Backend
	state    State
	learner  *Learner
	ln       *limitListener
	log      *slog.Logger
	redisp   bool
	timeouts Timeouts
	engine   *l4.Server
	acc      *acceptor
	// accessLog is nil when the frontend keeps none.
	accessLog accesslog.Logger

	listenerStats               // Requests: connections routed; Errors: ended abnormally; BytesIn/Out
	durations     ConnDurations // life of the connections that reached a server
}

// NewTCPFrontend binds the listener (unless one is given) and prepares
// the frontend; call Serve to accept connections. MaxHeaderBytes is
// ignored. The access log gets a line per connection (HAProxy's option
// tcplog).
// The learner replicates the bindings of stick on src (nil: none).
func NewTCPFrontend(o FrontendOptions, st State, l *Learner, log *slog.Logger) (*TCPFrontend, error) {
	if log == nil {
		log = slog.Default()
	}
	ln, err := o.prepare()
	if err != nil {
		return nil, err
	}
	f := &TCPFrontend{name: o.Name, backend: o.Backend, state: st, learner: l, ln: ln, log: log.With("frontend", o.Name),
		redisp: o.Redispatch, timeouts: o.Timeouts.withDefaults(), accessLog: o.AccessLog}
	t := f.timeouts
	f.pp = newProxyAccept(o.AcceptProxy, t.Client, f.log)
	f.acc = newAcceptor(ln, f.pp, f.log)
	f.engine = l4.NewServer(f, l4.Options{Connect: t.Connect, Client: t.Client, Server: t.Server, Tunnel: t.Tunnel,
		ClientFin: t.ClientFin, ServerFin: t.ServerFin, Log: f.log})
	return f, nil
}

// Latency returns the histogram of the lives of the connections that
// reached a server (seconds to a day: ConnDurations).
func (f *TCPFrontend) Latency() LatencySnapshot { return f.durations.Snapshot() }

// Addr returns the listening address.
func (f *TCPFrontend) Addr() net.Addr { return f.ln.Addr() }

// Connections returns the frontend's connection figures.
func (f *TCPFrontend) Connections() ConnStats { return connStats(f.ln) }

// Serve accepts connections until Shutdown; it then returns nil.
func (f *TCPFrontend) Serve() error {
	return f.acc.serve(f.engine.ServeConn)
}

// Shutdown stops accepting and lets the connections run until ctx ends,
// then closes them; it returns once every one has ended.
func (f *TCPFrontend) Shutdown(ctx context.Context) error {
	err := f.acc.stop(ctx) // every accepted connection reached the engine
	if e := f.engine.Shutdown(ctx); e != nil {
		err = e
	}
	return err
}

// CloseServer closes this frontend's connections to the server of its
// backend named name (a drained server's, at its deadline) and returns
// how many.
func (f *TCPFrontend) CloseServer(name string) int {
	var addrs []string
	for _, s := range f.backend.ServersFor(f.state.Servers()) {
		if s.Name == name {
			addrs = append(addrs, s.Addr)
		}
	}
	return f.engine.CloseMatching(func(a string) bool {
		for _, x := range addrs {
			if x == a {
				return true
			}
		}
		return false
	})
}

// tcpSession is the policy of one TCP connection (l4.Session).
type tcpSession struct {
	f        *TCPFrontend
	clientIP string
	slot     *Server
	// For the access log: the client's address and port, when the
	// connection began, the server Route chose, its queue wait and
	// the requests queued before it.
	client   netip.AddrPort
	local    net.Addr
	start    time.Time
	server   *Server
	tw       time.Duration
	srvQueue int
	// redispatched: the first server could not be reached.
	redispatched bool
}

// Open starts the policy of a client connection (l4.Policy).
func (f *TCPFrontend) Open(client, local net.Addr) l4.Session {
	s := &tcpSession{f: f, clientIP: l4.ClientIP(client), start: time.Now(), tw: -1, local: local}
	if ap, err := netip.ParseAddrPort(client.String()); err == nil {
		s.client = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return s
}

// Preamble is the PROXY protocol header of a server with send_proxy
// (l4.Session): the client's address and the one it connected to.
func (s *tcpSession) Preamble() []byte {
	if s.slot == nil || s.slot.sendProxy == 0 {
		return nil
	}
	return proxyHeader(s.slot.sendProxy, s.client, s.local)
}

// Route sends the connection to the server its source address is bound
// to (stick on src), else balances it over the usable servers, and takes
// the server's maxconn slot.
func (s *tcpSession) Route() (string, error) {
	f := s.f
	rt, learn, err := f.backend.routeSrc(f.state, f.learner, s.clientIP)
	if err != nil {
		return "", err
	}
	s.srvQueue = int(rt.server.queued.Load())
	t0 := time.Now()
	err = rt.server.acquire(context.Background(), f.backend.timeouts.Queue)
	s.tw, s.server = time.Since(t0), rt.server
	if err != nil {
		return "", fmt.Errorf("server %s: %w", rt.server.Name, err)
	}
	s.slot = rt.server
	f.learnSrc(f.learner, f.backend, rt.server.Name, learn)
	return rt.server.Addr, nil
}

// Redispatch moves the connection to another usable server (option
// redispatch), its slot with it.
func (s *tcpSession) Redispatch(cause error) string {
	f := s.f
	if !f.redisp || s.slot == nil {
		return ""
	}
	next := f.backend.redispatchTarget(f.state.Servers(), s.slot.Name, s.clientIP)
	if next == nil {
		return ""
	}
	if err := next.acquire(context.Background(), f.backend.timeouts.Queue); err != nil {
		return ""
	}
	f.redispatches.Add(1)
	if f.backend.stickSrc {
		// The bound (or just learned) server could not be reached: the
		// binding moves.
		if key, ok := srcKey(s.clientIP); ok && f.learner != nil {
			f.learner.rebind(f.backend.Name, key, next.Name)
		}
	}
	f.log.Info("redispatch", "from", s.slot.Name, "to", next.Name, "err", cause)
	s.slot.release(true)
	s.slot, s.server, s.redispatched = next, next, true
	return next.Addr
}

// Done counts the connection and gives its slots back.
func (s *tcpSession) Done(r l4.Result) {
	f := s.f
	if r.Routed {
		f.Requests.Add(1)
	}
	if r.Err != nil {
		f.Errors.Add(1)
		f.log.Debug("connection ended", "client", s.clientIP, "err", r.Err)
	}
	f.BytesIn.Add(uint64(r.BytesIn))
	f.BytesOut.Add(uint64(r.BytesOut))
	if r.Connected {
		f.durations.Observe(r.Duration)
	}
	if s.slot != nil {
		s.slot.release(!r.Connected)
		s.slot = nil
	}
	if f.accessLog != nil {
		s.logConn(r)
	}
	f.ln.release()
}
