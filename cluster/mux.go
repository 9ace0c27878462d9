package cluster

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// The first byte a dialer writes on a connection to a node's cluster port
// selects who gets it, as in Consul: Raft's transport or the internal gRPC
// service. With TLS configured, the handshake follows that byte.
const (
	muxRaft byte = 'R'
	muxGRPC byte = 'G'
)

// muxHandshakeTimeout bounds how long an accepted connection may take to
// send its selector byte (and finish TLS).
const muxHandshakeTimeout = 5 * time.Second

// mux splits one listener into a Raft stream layer and a gRPC listener.
type mux struct {
	ln        net.Listener
	advertise net.Addr
	serverTLS *tls.Config
	clientTLS *tls.Config
	log       *slog.Logger
	// expect names the node id a dialled address must prove with its
	// certificate (TLS only); set by the node before any dial.
	expect  func(addr string) (string, bool)
	refused LogLimiter

	raftCh chan net.Conn
	grpcCh chan net.Conn
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
}

func newMux(ln net.Listener, advertise net.Addr, serverTLS, clientTLS *tls.Config, log *slog.Logger) *mux {
	m := &mux{
		ln: ln, advertise: advertise, serverTLS: serverTLS, clientTLS: clientTLS, log: log,
		raftCh: make(chan net.Conn), grpcCh: make(chan net.Conn), done: make(chan struct{}),
	}
	m.wg.Add(1)
	go m.acceptLoop()
	return m
}

func (m *mux) acceptLoop() {
	defer m.wg.Done()
	for {
		conn, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			m.log.Error("cluster listener stopped", "err", err)
			return
		}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.dispatch(conn)
		}()
	}
}

func (m *mux) dispatch(conn net.Conn) {
	_ = conn.SetDeadline(time.Now().Add(muxHandshakeTimeout))
	var sel [1]byte
	if _, err := io.ReadFull(conn, sel[:]); err != nil {
		conn.Close()
		return
	}
	var out chan net.Conn
	switch sel[0] {
	case muxRaft:
		out = m.raftCh
	case muxGRPC:
		out = m.grpcCh
	default:
		m.log.Warn("cluster port: unknown connection type, closing", "remote", conn.RemoteAddr(), "byte", sel[0])
		conn.Close()
		return
	}
	id := ""
	if m.serverTLS != nil {
		tc := tls.Server(conn, m.serverTLS)
		if err := tc.Handshake(); err != nil {
			m.refused.Warn(m.log, peerHost(conn.RemoteAddr().String()), "cluster port: TLS handshake failed, connection refused", "remote", conn.RemoteAddr(), "err", err)
			conn.Close()
			return
		}
		// The chain is the cluster CA's (the handshake verified it); the
		// certificate must also name a node: that id is who the peer is,
		// and what its Raft RPCs and internal calls must claim.
		var err error
		if id, err = peerNodeID(tc.ConnectionState()); err != nil {
			m.refused.Warn(m.log, peerHost(conn.RemoteAddr().String()), "cluster port: peer certificate refused", "remote", conn.RemoteAddr(), "err", err)
			conn.Close()
			return
		}
		conn = tc
	}
	_ = conn.SetDeadline(time.Time{})
	select {
	case out <- &idConn{Conn: conn, id: id}:
	case <-m.done:
		conn.Close()
	}
}

// dial connects to a node's cluster port for the given service.
func (m *mux) dial(address string, sel byte, timeout time.Duration) (net.Conn, error) {
	return m.dialAs(address, sel, timeout, "")
}

// dialAs is dial to a node that must prove it is node id want (TLS), or,
// with want "", the member the cluster knows at address.
func (m *mux) dialAs(address string, sel byte, timeout time.Duration, want string) (net.Conn, error) {
	conn, err := net.DialTimeout("tcp", address, timeout)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Write([]byte{sel}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("dial %s: %w", address, err)
	}
	if m.clientTLS != nil {
		tc := tls.Client(conn, m.clientTLS)
		_ = tc.SetDeadline(time.Now().Add(timeout))
		if err := tc.Handshake(); err != nil {
			conn.Close()
			return nil, fmt.Errorf("dial %s: TLS: %w", address, err)
		}
		if err := m.checkServer(address, tc.ConnectionState(), want); err != nil {
			conn.Close()
			return nil, fmt.Errorf("dial %s: %w", address, err)
		}
		_ = tc.SetDeadline(time.Time{})
		conn = tc
	}
	return conn, nil
}

// checkServer verifies that the node answering at address is the member
// the cluster knows there: its certificate (already verified against the
// cluster CA) must carry that member's node id. A certificate of another
// member, or of none, is refused: holding node2's certificate does not let
// a process answer for node3. With want set, the certificate must name
// that node instead (a node about to join, not yet a member).
func (m *mux) checkServer(address string, cs tls.ConnectionState, want string) error {
	got, err := peerNodeID(cs)
	if err != nil {
		return err
	}
	if want != "" {
		if got != want {
			return fmt.Errorf("the certificate there is node %q's, not %q's", got, want)
		}
		return nil
	}
	if m.expect == nil {
		return fmt.Errorf("no cluster member known at this address (certificate of %q)", got)
	}
	want, ok := m.expect(address)
	if !ok {
		return fmt.Errorf("no cluster member known at this address (certificate of %q)", got)
	}
	if got != want {
		return fmt.Errorf("the certificate there is node %q's, but the member at this address is %q", got, want)
	}
	return nil
}

func (m *mux) Close() error {
	m.once.Do(func() {
		close(m.done)
		m.ln.Close()
	})
	m.wg.Wait()
	return nil
}

// subListener hands out the connections of one service of the mux. Closing
// it stops its Accept (and so its server) without closing the shared port.
type subListener struct {
	m    *mux
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newSubListener(m *mux, ch chan net.Conn) *subListener {
	return &subListener{m: m, ch: ch, done: make(chan struct{})}
}

func (l *subListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-l.m.done:
		return nil, net.ErrClosed
	}
}

func (l *subListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *subListener) Addr() net.Addr { return l.m.advertise }

// raftLayer is the raft.StreamLayer side of the mux.
type raftLayer struct{ *subListener }

var _ raft.StreamLayer = raftLayer{}

func (l raftLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return l.m.dial(string(address), muxRaft, timeout)
}
