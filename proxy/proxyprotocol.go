package proxy

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/haraft/haraft/proxy/proxyproto"
)

// The PROXY protocol on a frontend's bind (HAProxy's accept-proxy): each
// connection from a trusted load balancer begins with a header (version
// 1 or 2) naming the client, and that client's address replaces the
// socket's peer everywhere: routing (stick on src, balance source),
// X-Forwarded-For and the access log. The header is read in the
// connection's goroutine, before the engine sees the connection, under
// a deadline; a missing or malformed one closes the connection, counted
// by reason, and nothing reaches a server.

// AcceptProxy configures the PROXY protocol on a bind.
type AcceptProxy struct {
	// From lists the peers (load balancers) whose connections carry a
	// header; a connection from any other address is served as it is,
	// with no header expected (HAProxy's `tcp-request connection
	// expect-proxy layer4 if { src ... }`). Empty: every connection must
	// carry one.
	From []netip.Prefix
	// Timeout bounds the wait for the header; 0: timeouts.client (as
	// HAProxy).
	Timeout time.Duration
}

// ProxyProtocolReasons are the label values of the PROXY protocol error
// counts, in the order ProxyProtocolErrors returns them.
var ProxyProtocolReasons = [...]string{"missing", "malformed", "truncated", "timeout", "error"}

// proxyAccept is a frontend's PROXY protocol reader and its error counts.
type proxyAccept struct {
	from    []netip.Prefix
	timeout time.Duration
	errs    [len(ProxyProtocolReasons)]atomic.Uint64
	log     *slog.Logger
}

func newProxyAccept(o *AcceptProxy, client time.Duration, log *slog.Logger) *proxyAccept {
	if o == nil {
		return nil
	}
	p := &proxyAccept{from: o.From, timeout: o.Timeout, log: log}
	if p.timeout <= 0 {
		p.timeout = client
	}
	return p
}

// ProxyProtocolErrors returns the connections refused for their PROXY
// protocol header, by reason (ProxyProtocolReasons); nil when the
// frontend does not accept the protocol.
func (p *proxyAccept) ProxyProtocolErrors() []uint64 {
	if p == nil {
		return nil
	}
	out := make([]uint64, len(p.errs))
	for i := range p.errs {
		out[i] = p.errs[i].Load()
	}
	return out
}

// expects reports whether a connection from peer must carry a header.
func (p *proxyAccept) expects(peer net.Addr) bool {
	if len(p.from) == 0 {
		return true
	}
	ap, err := netip.ParseAddrPort(peer.String())
	if err != nil {
		return true
	}
	a := ap.Addr().Unmap()
	for _, pr := range p.from {
		if pr.Contains(a) {
			return true
		}
	}
	return false
}

// handshake reads c's header and returns the connection to serve: c
// itself (a LOCAL header, an address-less one, or a peer not in From)
// or c with the header's addresses. An error means c must be closed; it
// is counted and logged.
func (p *proxyAccept) handshake(c net.Conn) (net.Conn, error) {
	if !p.expects(c.RemoteAddr()) {
		return c, nil
	}
	_ = c.SetReadDeadline(time.Now().Add(p.timeout))
	h, err := proxyproto.Read(c)
	_ = c.SetReadDeadline(time.Time{})
	if err != nil {
		reason := proxyproto.Reason(err)
		for i, r := range ProxyProtocolReasons {
			if r == reason {
				p.errs[i].Add(1)
			}
		}
		p.log.Debug("PROXY protocol header refused", "peer", c.RemoteAddr().String(), "reason", reason, "err", err)
		return nil, fmt.Errorf("PROXY protocol header from %s: %w", c.RemoteAddr(), err)
	}
	if h.Command == proxyproto.Local || !h.Source.IsValid() {
		return c, nil
	}
	return &proxiedConn{Conn: c, remote: net.TCPAddrFromAddrPort(h.Source), local: net.TCPAddrFromAddrPort(h.Dest)}, nil
}

// proxiedConn is a connection whose addresses are its PROXY protocol
// header's. Nothing of the connection is buffered (the header was read
// exactly), so the socket's own methods apply: the TCP engine's
// half-closes, keep-alives and idle wait without a buffer go through.
type proxiedConn struct {
	net.Conn
	remote, local net.Addr
}

func (c *proxiedConn) RemoteAddr() net.Addr { return c.remote }
func (c *proxiedConn) LocalAddr() net.Addr  { return c.local }

// Unwrap returns the socket (for splice and the like).
func (c *proxiedConn) Unwrap() net.Conn { return c.Conn }

var errNoSyscallConn = errors.New("not a socket")

func (c *proxiedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

func (c *proxiedConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errNoSyscallConn
}

func (c *proxiedConn) SetKeepAlive(on bool) error {
	if k, ok := c.Conn.(interface{ SetKeepAlive(bool) error }); ok {
		return k.SetKeepAlive(on)
	}
	return nil
}

func (c *proxiedConn) SetKeepAlivePeriod(d time.Duration) error {
	if k, ok := c.Conn.(interface{ SetKeepAlivePeriod(time.Duration) error }); ok {
		return k.SetKeepAlivePeriod(d)
	}
	return nil
}

// serveProxied reads conn's header and hands the connection to serve;
// a refused header (or serve's false: shutting down) closes it and gives
// its listener slot back. The acceptor runs it in a goroutine of its own.
func (p *proxyAccept) serveProxied(ln *limitListener, conn net.Conn, serve func(net.Conn) bool) {
	pc, err := p.handshake(conn)
	if err != nil || !serve(pc) {
		_ = conn.Close()
		ln.release()
	}
}

// proxyHeader returns the PROXY protocol header of version v for a
// connection from client to local; a LOCAL one when either address is
// not an IP one (the server then sees the proxy's own address).
func proxyHeader(v proxyproto.Version, client netip.AddrPort, local net.Addr) []byte {
	h := proxyproto.Header{Version: v, Command: proxyproto.Local}
	if lp, err := netip.ParseAddrPort(local.String()); err == nil && client.IsValid() {
		h.Command, h.Source, h.Dest = proxyproto.Proxy, client, lp
	}
	b, err := h.Append(nil)
	if err != nil { // not reached: both addresses are valid
		b, _ = proxyproto.Header{Version: v, Command: proxyproto.Local}.Append(nil)
	}
	return b
}
