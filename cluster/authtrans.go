package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// authTransport is the node's raft.Transport. It binds every inbound Raft
// RPC to the certificate of the connection that carried it: an RPC whose
// header claims another node id than that certificate's (a node holding
// node2's certificate speaking as node3, or as the leader it is not) is
// answered with an error and never reaches Raft.
//
// hashicorp/raft's NetworkTransport hands its RPCs to Raft on one channel
// with no word of the connection they came on, and a StreamLayer sees
// only bytes. So inbound connections are sorted by the peer's verified
// node id (the mux read it from the certificate), and each peer's
// connections are served by a NetworkTransport of their own: every RPC
// that one decodes came from that peer, and its header must say so.
// Outbound RPCs go through one ordinary NetworkTransport.
//
// Without TLS (raft.insecure) there is no identity: all inbound
// connections share one transport and nothing is checked.
type authTransport struct {
	*raft.NetworkTransport // outbound RPCs; its listener never accepts

	accept  *subListener // the mux's Raft connections
	fence   *raftFence
	inCfg   func(stream raft.StreamLayer) *raft.NetworkTransportConfig
	advAddr net.Addr
	log     *slog.Logger
	refused LogLimiter

	consumeCh chan raft.RPC
	shutdown  chan struct{} // closed first: stops the goroutines here
	layers    chan struct{} // closed once the transports are: ends their Accepts
	once      sync.Once
	wg        sync.WaitGroup

	mu      sync.Mutex
	inbound map[string]*inboundPeer
	hbFn    func(raft.RPC)

	// hbMu is read-held by each heartbeat in Raft's handler; Close takes
	// it, so that once Close returns no heartbeat runs (one that passed
	// Raft's own shutdown check would otherwise write the term to a store
	// the node closes next: "failed to save current term: database not
	// open", a panic in hashicorp/raft).
	hbMu     sync.RWMutex
	hbClosed bool
}

// inboundPeer serves the Raft connections of one peer identity.
type inboundPeer struct {
	id    string
	trans *raft.NetworkTransport
	conns chan net.Conn
}

func newAuthTransport(out *raft.NetworkTransportConfig, accept *subListener, fence *raftFence, hlog hclog.Logger, log *slog.Logger) *authTransport {
	t := &authTransport{
		accept: accept, fence: fence, advAddr: accept.Addr(), log: log,
		consumeCh: make(chan raft.RPC), shutdown: make(chan struct{}), layers: make(chan struct{}), inbound: map[string]*inboundPeer{},
	}
	t.inCfg = func(stream raft.StreamLayer) *raft.NetworkTransportConfig {
		return &raft.NetworkTransportConfig{Stream: stream, MaxPool: 1, Timeout: out.Timeout, Logger: hlog}
	}
	out.Stream = dialOnly{StreamLayer: out.Stream, done: t.layers}
	t.NetworkTransport = raft.NewNetworkTransportWithConfig(out)
	t.wg.Add(1)
	go t.acceptLoop()
	return t
}

func (t *authTransport) acceptLoop() {
	defer t.wg.Done()
	for {
		c, err := t.accept.Accept()
		if err != nil {
			return // the mux or this transport closed
		}
		id := ""
		if ic, ok := c.(*idConn); ok {
			id = ic.id
		}
		fc, err := t.fence.track(c)
		if err != nil {
			continue // fenced: the leader's disk stalled (diskwatch.go)
		}
		in := t.peer(id)
		if in == nil {
			fc.Close()
			return
		}
		select {
		case in.conns <- fc:
		case <-t.shutdown:
			fc.Close()
			return
		}
	}
}

// peer returns the inbound transport of identity id, starting it on first
// use; nil once the transport is closed.
func (t *authTransport) peer(id string) *inboundPeer {
	t.mu.Lock()
	defer t.mu.Unlock()
	select {
	case <-t.shutdown:
		return nil
	default:
	}
	if in, ok := t.inbound[id]; ok {
		return in
	}
	in := &inboundPeer{id: id, conns: make(chan net.Conn)}
	in.trans = raft.NewNetworkTransportWithConfig(t.inCfg(chanLayer{conns: in.conns, done: t.layers, addr: t.advAddr}))
	in.trans.SetHeartbeatHandler(func(rpc raft.RPC) { t.heartbeat(in, rpc) })
	t.inbound[id] = in
	t.wg.Add(1)
	go t.consume(in)
	return in
}

// consume passes the peer's checked RPCs on to Raft.
func (t *authTransport) consume(in *inboundPeer) {
	defer t.wg.Done()
	for {
		select {
		case rpc := <-in.trans.Consumer():
			if err := t.check(in.id, rpc); err != nil {
				rpc.Respond(nil, err)
				continue
			}
			select {
			case t.consumeCh <- rpc:
			case <-t.shutdown:
				rpc.Respond(nil, raft.ErrTransportShutdown)
				return
			}
		case <-t.shutdown:
			return
		}
	}
}

// heartbeat is the inbound transports' heartbeat fast path: checked, then
// Raft's handler (or its consumer channel, before Raft set one).
func (t *authTransport) heartbeat(in *inboundPeer, rpc raft.RPC) {
	t.hbMu.RLock()
	defer t.hbMu.RUnlock()
	if t.hbClosed {
		rpc.Respond(nil, raft.ErrTransportShutdown)
		return
	}
	if err := t.check(in.id, rpc); err != nil {
		rpc.Respond(nil, err)
		return
	}
	t.mu.Lock()
	fn := t.hbFn
	t.mu.Unlock()
	if fn != nil {
		fn(rpc)
		return
	}
	select {
	case t.consumeCh <- rpc:
	case <-t.shutdown:
		rpc.Respond(nil, raft.ErrTransportShutdown)
	}
}

// errImpersonation answers an RPC whose header names another node than
// the certificate of the connection it came on.
var errImpersonation = errors.New("RPC refused: its sender is not the node its certificate names")

// check refuses an RPC from a peer of identity id whose header claims to
// come from another node.
func (t *authTransport) check(id string, rpc raft.RPC) error {
	if id == "" {
		return nil // no TLS: no identity to hold the RPC to
	}
	h, ok := rpc.Command.(raft.WithRPCHeader)
	if !ok {
		return fmt.Errorf("RPC refused: %T carries no header", rpc.Command)
	}
	if claimed := string(h.GetRPCHeader().ID); claimed != id {
		t.refused.Warn(t.log, id, "cluster port: Raft RPC refused: it claims another node than the peer's certificate",
			"certificate", id, "claimed", claimed, "rpc", fmt.Sprintf("%T", rpc.Command))
		return fmt.Errorf("%w (claims %q, certificate of %q)", errImpersonation, claimed, id)
	}
	return nil
}

// Consumer implements raft.Transport: the checked RPCs of every peer.
func (t *authTransport) Consumer() <-chan raft.RPC { return t.consumeCh }

// SetHeartbeatHandler implements raft.Transport.
func (t *authTransport) SetHeartbeatHandler(cb func(raft.RPC)) {
	t.mu.Lock()
	t.hbFn = cb
	t.mu.Unlock()
}

// Close stops the outbound and every inbound transport; when it returns,
// no RPC reaches Raft from here any more.
func (t *authTransport) Close() error {
	t.once.Do(func() {
		t.mu.Lock()
		close(t.shutdown) // first: a heartbeat waiting on consumeCh gives up
		ins := make([]*inboundPeer, 0, len(t.inbound))
		for _, in := range t.inbound {
			ins = append(ins, in)
		}
		t.mu.Unlock()
		t.hbMu.Lock() // waits for the heartbeats in Raft's handler
		t.hbClosed = true
		t.hbMu.Unlock()
		t.NetworkTransport.Close()
		t.accept.Close()
		for _, in := range ins {
			in.trans.Close()
		}
		close(t.layers)
	})
	t.wg.Wait()
	return nil
}

// dialOnly is the outbound transport's stream layer: it dials, and its
// Accept waits for the transport's end (inbound connections are served
// per peer).
type dialOnly struct {
	raft.StreamLayer
	done chan struct{}
}

func (l dialOnly) Accept() (net.Conn, error) {
	<-l.done
	return nil, net.ErrClosed
}

func (l dialOnly) Close() error { return nil }

// chanLayer is one peer's inbound stream layer: it accepts that peer's
// connections and dials nothing.
type chanLayer struct {
	conns chan net.Conn
	done  chan struct{}
	addr  net.Addr
}

func (l chanLayer) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l chanLayer) Close() error   { return nil }
func (l chanLayer) Addr() net.Addr { return l.addr }

func (l chanLayer) Dial(address raft.ServerAddress, _ time.Duration) (net.Conn, error) {
	return nil, fmt.Errorf("dial %s: an inbound transport does not dial", address)
}
