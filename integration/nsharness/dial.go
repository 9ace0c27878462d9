//go:build linux

package nsharness

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// nsDialer dials TCP from inside a network namespace: a socket belongs to
// the namespace of the thread that created it, so a few goroutines locked
// to OS threads that entered the namespace create the sockets; the
// connections then work from any goroutine. The threads are never returned
// to the runtime (their goroutines exit locked, so the threads die).
type nsDialer struct {
	reqs chan dialReq
	stop chan struct{}
}

type dialReq struct {
	ctx     context.Context
	network string
	addr    string
	laddr   net.Addr // source address; nil: the kernel's choice
	resp    chan dialResp
}

type dialResp struct {
	c   net.Conn
	err error
}

// dialWorkers bounds how many dials may be in flight from one namespace
// (a dial to a silent host holds its worker until the dial timeout). It
// is above the failover bench's in-flight probe bound (a probe every 10 ms
// for up to its 1 s timeout), so that probes hung on a dead path never
// queue a later probe behind them.
const dialWorkers = 128

func newNSDialer(ns string) (*nsDialer, error) {
	d := &nsDialer{reqs: make(chan dialReq), stop: make(chan struct{})}
	errc := make(chan error, dialWorkers)
	for range dialWorkers {
		go d.worker(ns, errc)
	}
	for range dialWorkers {
		if err := <-errc; err != nil {
			close(d.stop)
			return nil, err
		}
	}
	return d, nil
}

func (d *nsDialer) worker(ns string, errc chan<- error) {
	runtime.LockOSThread() // never unlocked: the thread exits with this goroutine
	f, err := os.Open("/var/run/netns/" + ns)
	if err != nil {
		errc <- err
		return
	}
	err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
	f.Close()
	if err != nil {
		errc <- fmt.Errorf("setns %s: %w", ns, err)
		return
	}
	errc <- nil
	for {
		select {
		case <-d.stop:
			return
		case r := <-d.reqs:
			nd := net.Dialer{LocalAddr: r.laddr}
			c, err := nd.DialContext(r.ctx, r.network, r.addr)
			r.resp <- dialResp{c, err}
		}
	}
}

func (d *nsDialer) DialContext(ctx context.Context, network, addr string, laddr net.Addr) (net.Conn, error) {
	r := dialReq{ctx: ctx, network: network, addr: addr, laddr: laddr, resp: make(chan dialResp, 1)}
	select {
	case d.reqs <- r:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-d.stop:
		return nil, net.ErrClosed
	}
	select {
	case x := <-r.resp:
		return x.c, x.err
	case <-ctx.Done():
		go func() { // the worker still answers; close what it made
			if x := <-r.resp; x.c != nil {
				x.c.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

func (h *Host) getDialer() (*nsDialer, error) {
	h.dialMu.Lock()
	defer h.dialMu.Unlock()
	if h.dialer == nil {
		d, err := newNSDialer(h.NS)
		if err != nil {
			return nil, err
		}
		h.dialer = d
	}
	return h.dialer, nil
}

func (h *Host) closeDialer() {
	h.dialMu.Lock()
	defer h.dialMu.Unlock()
	if h.dialer != nil {
		close(h.dialer.stop)
		h.dialer = nil
	}
}

// DialContext dials from inside the host's namespace.
func (h *Host) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d, err := h.getDialer()
	if err != nil {
		return nil, err
	}
	return d.DialContext(ctx, network, addr, nil)
}

// DialTCPFrom dials addr over TCP from inside the host's namespace, from
// source address src (one of the host's addresses: see AddAddrs).
func (h *Host) DialTCPFrom(ctx context.Context, src netip.Addr, addr string) (net.Conn, error) {
	d, err := h.getDialer()
	if err != nil {
		return nil, err
	}
	return d.DialContext(ctx, "tcp", addr, net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0)))
}

// HTTPClient returns a client whose connections start inside the host's
// namespace. Each call returns a new client with its own connection pool;
// keepAlive false opens a new connection per request.
func (h *Host) HTTPClient(timeout time.Duration, keepAlive bool) *http.Client {
	dialTimeout := timeout
	if dialTimeout > time.Second {
		dialTimeout = time.Second
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				ctx, cancel := context.WithTimeout(ctx, dialTimeout)
				defer cancel()
				return h.DialContext(ctx, network, addr)
			},
			DisableKeepAlives:   !keepAlive,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     30 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
