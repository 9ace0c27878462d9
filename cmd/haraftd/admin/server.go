// Package admin owns the admin gRPC API of one haraftd node
// (haraft.admin.v1.Admin, proto/admin.proto): the service implementation,
// bearer-token authorization (read and write roles), the event hub behind
// Watch and the status page's "recent events", and the mapping of cluster
// and FSM errors to gRPC statuses an operator can act on.
//
// It lives under cmd/haraftd, not cluster/, because it is part of the
// daemon's wiring: it reads the node's configuration (backends, tokens) and
// its proxy counters, and it adds no Raft behaviour. Every write runs on
// the leader's admin API: writes (cluster.Node.ApplyAsLeader) and the calls
// Raft only allows on the leader (membership, leadership transfer,
// snapshots) are refused on a follower with the leader's admin address in
// the status, which haraftctl follows. The cluster port never carries an
// administrative command (errors.go, apply).
//
// Session keys are bearer credentials (whoever holds a JSESSIONID is that
// user): only a write token sees them in lists; read tokens, and callers
// of a node without tokens, see a keyed hash (mask.go).
package admin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/reflection"

	"github.com/haraft/haraft/cluster"
	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/adminpb"
)

// ServerConfig is one configured server of a backend, as the config file
// has it.
type ServerConfig struct {
	Name   string
	Addr   string
	Cookie string
	Weight int
}

// BackendConfig is one configured backend.
type BackendConfig struct {
	Name    string
	Servers []ServerConfig
	// DynamicCookies: the backend's cookie has a dynamic_key, so every
	// server's cookie value is an HMAC of its name and none can be chosen.
	DynamicCookies bool
}

// ServerCounters are one node's own counters of its traffic to a server.
type ServerCounters struct {
	Requests, Failures uint64
	Active, Queued     int64
}

// Token is one bearer token.
type Token struct {
	Name   string
	Secret string
	Write  bool // false: read-only
}

// Options configure a Server.
type Options struct {
	NodeID string
	AZ     string
	Node   *cluster.Node
	FSM    *fsm.FSM
	// Backends are the configured backends, in config order.
	Backends []BackendConfig
	// CurrentBackends, when set, replaces Backends: the backends of the
	// config the node runs now (a live reload changes them).
	CurrentBackends func() []BackendConfig
	// Reload, when set, re-reads the node's config file and applies it
	// (haraftctl reload); it returns the new config's hash and what changed.
	Reload func(ctx context.Context) (hash, summary string, err error)
	// ReopenLogs, when set, reopens the node's access log (haraftctl log
	// reopen, as SIGUSR1).
	ReopenLogs func(ctx context.Context) (LogReopen, error)
	// Tokens allowed to call the API. None: reads are open to anyone who
	// reaches the listener and writes are refused.
	Tokens []Token
	// TLS, when set, is the listener's TLS config (with ClientCAs for mTLS).
	TLS *tls.Config
	// Insecure allows serving without TLS on an address that is not
	// loopback (admin.insecure): bearer tokens then cross the network in
	// clear. Without it, Serve refuses such a listener.
	Insecure bool
	// MaskSecret keys the masks of session keys shown to read tokens and
	// seals page tokens (MaskSecretLen bytes, kept across restarts so a
	// session's mask stays the same); nil: a random one for this process.
	MaskSecret []byte

	// Local counters of this node, optional.
	Ready     func() bool
	Frontends func() []*adminpb.Frontend
	Learner   func() *adminpb.LearnerStats
	// Counters returns this node's own traffic counters of a server,
	// optional.
	Counters func(backend, server string) (ServerCounters, bool)
	// Liveness is the leader's view of its peers (cluster.Liveness.Peers),
	// optional.
	Liveness func() []cluster.PeerLiveness

	// DNS returns the Route 53 record's state (dns.go); nil without a
	// route53 section.
	DNS func() *adminpb.DNSResponse
	// BeforeRemove, when set, runs on the leader before a member is
	// removed: it takes the member's addresses out of the DNS record
	// (the record changes before the cluster stops holding them). An
	// error refuses the removal; release runs once it is done.
	BeforeRemove func(ctx context.Context, id string) (release func(), err error)

	Logger *slog.Logger
}

// Server is the admin API of one node.
type Server struct {
	adminpb.UnimplementedAdminServer

	opts   Options
	log    *slog.Logger
	grpc   *grpc.Server
	ln     net.Listener
	events *Hub
	auth   *authorizer
	mask   *keyMasker

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New builds the server and starts its event hub; Serve starts answering.
func New(o Options) (*Server, error) {
	if o.Node == nil || o.FSM == nil {
		return nil, errors.New("admin: Options.Node and Options.FSM are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Ready == nil {
		o.Ready = o.Node.Ready
	}
	mask, err := newKeyMasker(o.MaskSecret)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: o, log: o.Logger.With("component", "admin"), mask: mask}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.auth = newAuthorizer(o.Tokens, s.log)
	s.events = NewHub(o.NodeID, o.Node, o.FSM, s.log)
	sopts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(s.auth.unary),
		grpc.ChainStreamInterceptor(s.auth.stream),
		grpc.MaxRecvMsgSize(8 << 20),
	}
	if o.TLS != nil {
		sopts = append(sopts, grpc.Creds(credentials.NewTLS(o.TLS)))
	}
	s.grpc = grpc.NewServer(sopts...)
	adminpb.RegisterAdminServer(s.grpc, s)
	reflection.Register(s.grpc)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.events.Run(s.ctx)
	}()
	return s, nil
}

// Events returns the node's event hub (the status page shows its recent
// events).
func (s *Server) Events() *Hub { return s.events }

// Serve answers on ln until Stop. Without TLS it refuses a listener that
// is not on a loopback address, unless Options.Insecure says so (haraftd
// then warns at every start: config.SecurityWarnings).
func (s *Server) Serve(ln net.Listener) error {
	if err := s.CheckListener(ln); err != nil {
		return err
	}
	s.ln = ln
	if err := s.grpc.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("admin: %w", err)
	}
	return nil
}

// Stop ends the open Watch streams and every call, then the hub.
func (s *Server) Stop() {
	s.cancel()
	s.grpc.Stop()
	s.wg.Wait()
}

// backend returns the configured backend named name.
func (s *Server) backend(name string) (BackendConfig, bool) {
	for _, b := range s.backends() {
		if b.Name == name {
			return b, true
		}
	}
	return BackendConfig{}, false
}

// backends are the configured backends of the config the node runs.
func (s *Server) backends() []BackendConfig {
	if s.opts.CurrentBackends != nil {
		return s.opts.CurrentBackends()
	}
	return s.opts.Backends
}

func (s *Server) backendNames() []string {
	bs := s.backends()
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.Name
	}
	return out
}

// ErrPlaintext is returned by Serve for a plaintext listener on a network
// address, without Options.Insecure.
var ErrPlaintext = errors.New("admin API without TLS on an address that is not loopback: bearer tokens and session keys would cross the network in clear; set admin.tls, bind admin.addr to 127.0.0.1, or set admin.insecure: true")

// CheckListener returns ErrPlaintext for a listener Serve would refuse:
// without TLS, on an address that is not loopback, without
// Options.Insecure.
func (s *Server) CheckListener(ln net.Listener) error {
	if s.plaintextOnNetwork(ln.Addr()) && !s.opts.Insecure {
		return fmt.Errorf("%w (listening on %s)", ErrPlaintext, ln.Addr())
	}
	return nil
}

func (s *Server) plaintextOnNetwork(a net.Addr) bool {
	if s.opts.TLS != nil {
		return false
	}
	tcp, ok := a.(*net.TCPAddr)
	return ok && !tcp.IP.IsLoopback()
}
