package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
	"github.com/haraft/haraft/proxy/proxyproto"
	"github.com/haraft/haraft/proxy/tcpcheck"
)

// HealthCheck configures active health checks of a backend's servers, as
// HAProxy's `check inter fastinter downinter rise fall`, `timeout check`
// `option httpchk` / `http-check expect status` and `tcp-check`.
type HealthCheck struct {
	Inter, FastInter, DownInter, Timeout time.Duration
	Rise, Fall                           int
	HTTP                                 *HTTPCheck // nil: TCP connect
	// TCP: tcp-check steps run on the connection (mode tcp; nil: the
	// connect alone).
	TCP []tcpcheck.Step
	// AgreeDown / AgreeUp: live nodes that must see a server down / up
	// before the leader commits it; 0 = a majority of live nodes.
	AgreeDown, AgreeUp int
}

// HTTPCheck is `option httpchk METHOD URI` with `http-check expect status`.
type HTTPCheck struct {
	Method, URI, Host string
	ExpectStatus      int // 0: any 2xx or 3xx
}

// Checker probes one server once. Implementations are small and
// stateless; rise/fall accounting is the monitor's.
type Checker interface {
	Check(ctx context.Context, addr string) error
}

// TCPChecker succeeds when a TCP connection can be made and its steps
// (HAProxy's tcp-check send/expect), if any, pass on it.
type TCPChecker struct {
	Steps []tcpcheck.Step
	// SendProxy: the server expects a PROXY protocol header (its
	// send_proxy): the check's connection begins with one, as HAProxy
	// 2.6's checks of a send-proxy server do: LOCAL in version 2 (the
	// specification's health check: the receiver keeps the socket's
	// addresses), and in version 1, which has no LOCAL, the check
	// connection's own addresses.
	SendProxy proxyproto.Version
}

// Check dials addr and runs the steps.
func (t TCPChecker) Check(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if t.SendProxy != 0 {
		if dl, ok := ctx.Deadline(); ok {
			_ = c.SetWriteDeadline(dl)
		}
		if _, err := c.Write(checkProxyHeader(t.SendProxy, c)); err != nil {
			return fmt.Errorf("PROXY protocol header: %w", err)
		}
	}
	if len(t.Steps) > 0 {
		return tcpcheck.Run(ctx, c, t.Steps)
	}
	return nil
}

// checkProxyHeader is the PROXY protocol header a check's connection c
// begins with (see TCPChecker.SendProxy).
func checkProxyHeader(v proxyproto.Version, c net.Conn) []byte {
	h := proxyproto.Header{Version: v, Command: proxyproto.Local}
	if v == 1 {
		src, err1 := netip.ParseAddrPort(c.LocalAddr().String())
		dst, err2 := netip.ParseAddrPort(c.RemoteAddr().String())
		if err1 == nil && err2 == nil {
			h.Command, h.Source, h.Dest = proxyproto.Proxy, src, dst
		}
	}
	b, err := h.Append(nil)
	if err != nil { // not reached: both addresses are valid
		b, _ = proxyproto.Header{Version: v, Command: proxyproto.Local}.Append(nil)
	}
	return b
}

// HTTPChecker sends one request and checks the status.
type HTTPChecker struct {
	cfg    *HTTPCheck
	client *http.Client
}

// NewHTTPChecker returns a checker for c.
func NewHTTPChecker(c *HTTPCheck) *HTTPChecker {
	return &HTTPChecker{cfg: c, client: &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// Check sends the request to addr.
func (h *HTTPChecker) Check(ctx context.Context, addr string) error {
	req, err := http.NewRequestWithContext(ctx, h.cfg.Method, "http://"+addr+h.cfg.URI, nil)
	if err != nil {
		return err
	}
	if h.cfg.Host != "" {
		req.Host = h.cfg.Host
	}
	req.Header.Set("User-Agent", "haraft-check")
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if want := h.cfg.ExpectStatus; want != 0 {
		if resp.StatusCode != want {
			return fmt.Errorf("status %d, expected %d", resp.StatusCode, want)
		}
	} else if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// HealthMonitor runs this node's checks of every server of every backend
// with a check section, applies rise/fall, and reports each change of its
// view to the cluster. It decides nothing: the leader agrees on health
// from the views of the live nodes (see HealthAgreement). With
// FollowServers it also checks the servers added at run time and stops
// checking the removed ones.
type HealthMonitor struct {
	node     string
	backends []*Backend
	c        Cluster // reports the views (ReportHealthViews through the leader)
	log      *slog.Logger
	now      func() time.Time
	tables   func() *fsm.ServerTable // nil: the configured servers only
	every    time.Duration           // how often tables is polled

	mu      sync.Mutex
	pending map[[2]string]*fsmpb.HealthView // unreported changes, latest per server
	kick    chan struct{}
	local   map[[2]string]fsmpb.Health
	active  map[checkKey]bool // the running check loops
}

// NewHealthMonitor returns a monitor for the backends that have checks.
func NewHealthMonitor(node string, backends []*Backend, c Cluster, log *slog.Logger) *HealthMonitor {
	if log == nil {
		log = slog.Default()
	}
	return &HealthMonitor{node: node, backends: backends, c: c, log: log, now: time.Now,
		pending: map[[2]string]*fsmpb.HealthView{}, kick: make(chan struct{}, 1), local: map[[2]string]fsmpb.Health{},
		active: map[checkKey]bool{}}
}

// Local returns this node's own current view of a server.
func (m *HealthMonitor) Local(backend, server string) fsmpb.Health {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.local[[2]string{backend, server}]
}

// FollowServers makes Run check the servers of the agreed server table
// (tables is typically the FSM's Servers), re-read every interval (0: 250
// ms): servers added at run time are checked from the first table that
// has them, removed ones no longer, and a server re-added at another
// address is checked there with a fresh view. Call it before Run.
func (m *HealthMonitor) FollowServers(tables func() *fsm.ServerTable, every time.Duration) {
	if every <= 0 {
		every = 250 * time.Millisecond
	}
	m.tables, m.every = tables, every
}

// checkKey names one check loop: a server at one address.
type checkKey struct{ backend, server, addr string }

// checkRun is a running check loop.
type checkRun struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Checking returns the servers this node checks, as backend/server@addr,
// sorted.
func (m *HealthMonitor) Checking() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.active))
	for k := range m.active {
		out = append(out, k.backend+"/"+k.server+"@"+k.addr)
	}
	slices.Sort(out)
	return out
}

// Run checks until ctx ends.
func (m *HealthMonitor) Run(ctx context.Context) {
	// HTTP checkers are the backend's; TCP ones the server's (its
	// send_proxy), made when its loop starts.
	checkers := map[*Backend]Checker{}
	for _, b := range m.backends {
		if b.check == nil {
			continue
		}
		var ck Checker = TCPChecker{Steps: b.check.TCP}
		if b.check.HTTP != nil {
			ck = NewHTTPChecker(b.check.HTTP)
		}
		checkers[b] = ck
	}
	runs := map[checkKey]*checkRun{}
	var seen *fsm.ServerTable
	synced := false
	resync := func() {
		var t *fsm.ServerTable
		if m.tables != nil {
			t = m.tables()
		}
		if synced && t == seen {
			return
		}
		seen, synced = t, true
		want := map[checkKey]*Server{}
		owner := map[checkKey]*Backend{}
		for _, b := range m.backends {
			if checkers[b] == nil {
				continue
			}
			for _, s := range b.ServersFor(t) {
				k := checkKey{b.Name, s.Name, s.Addr}
				want[k], owner[k] = s, b
			}
		}
		// Stop first, and wait: a server re-added at another address must
		// not have its old loop report after the new one.
		for k, r := range runs {
			if _, ok := want[k]; !ok {
				r.cancel()
				<-r.done
				delete(runs, k)
				m.mu.Lock()
				delete(m.active, k)
				m.mu.Unlock()
				m.log.Info("health checks stopped", "backend", k.backend, "server", k.server, "addr", k.addr)
			}
		}
		for k, s := range want {
			if runs[k] != nil {
				continue
			}
			cctx, cancel := context.WithCancel(ctx)
			r := &checkRun{cancel: cancel, done: make(chan struct{})}
			runs[k] = r
			m.mu.Lock()
			m.active[k] = true
			m.mu.Unlock()
			b := owner[k]
			ck := checkers[b]
			if tc, ok := ck.(TCPChecker); ok && s.sendProxy != 0 {
				tc.SendProxy = s.sendProxy
				ck = tc
			}
			go func() {
				defer close(r.done)
				m.checkLoop(cctx, b, s, ck)
			}()
			if seen != nil && s.Dynamic {
				m.log.Info("health checks started", "backend", k.backend, "server", k.server, "addr", k.addr)
			}
		}
	}
	resync()
	reported := make(chan struct{})
	go func() {
		defer close(reported)
		m.reportLoop(ctx)
	}()
	if m.tables != nil {
		tick := time.NewTicker(m.every)
	follow:
		for {
			select {
			case <-ctx.Done():
				tick.Stop()
				break follow
			case <-tick.C:
				resync()
			}
		}
	}
	<-reported
	for _, r := range runs {
		r.cancel()
		<-r.done
	}
}

// checkLoop probes one server. A server starts as HAProxy's do, counted
// up: its first success reports it up at once, and it is reported down
// only after `fall` consecutive failures, also at start (HAProxy takes a
// starting server down at its first failure; here a view that reaches a
// majority moves sessions for good, so a node starting a moment before
// its servers listen must not count them down). After that `rise`
// consecutive successes bring it up and `fall` consecutive failures take
// it down. The interval is inter while up, downinter while down,
// fastinter while a change is under way.
func (m *HealthMonitor) checkLoop(ctx context.Context, b *Backend, s *Server, ck Checker) {
	c := b.check
	state := fsmpb.Health_HEALTH_UNKNOWN
	streak := 0 // consecutive results contradicting the state
	for {
		cctx, cancel := context.WithTimeout(ctx, c.Timeout)
		t0 := time.Now()
		err := ck.Check(cctx, s.Addr)
		took := time.Since(t0)
		cancel()
		if ctx.Err() != nil {
			return
		}
		s.checkLatency.Observe(took)
		ok := err == nil
		s.countCheck(ok)
		next := state
		switch {
		case state == fsmpb.Health_HEALTH_UNKNOWN && ok:
			next = fsmpb.Health_HEALTH_UP
		case state == fsmpb.Health_HEALTH_UNKNOWN:
			if streak++; streak >= c.Fall {
				next = fsmpb.Health_HEALTH_DOWN
			}
		case (state == fsmpb.Health_HEALTH_UP) == ok:
			streak = 0
		default:
			streak++
			if (ok && streak >= c.Rise) || (!ok && streak >= c.Fall) {
				next = map[bool]fsmpb.Health{true: fsmpb.Health_HEALTH_UP, false: fsmpb.Health_HEALTH_DOWN}[ok]
			}
		}
		if next != state {
			state, streak = next, 0
			reason := "check passed"
			if err != nil {
				reason = err.Error()
			}
			m.log.Info("health check view changed", "backend", b.Name, "server", s.Name, "health", next.String(), "reason", reason)
			m.changed(&fsmpb.HealthView{Backend: b.Name, Server: s.Name, Node: m.node, Health: next, StampUnixMs: m.now().UnixMilli(), Reason: reason})
		}
		wait := c.Inter
		switch {
		case streak > 0:
			wait = c.FastInter
		case state == fsmpb.Health_HEALTH_DOWN:
			wait = c.DownInter
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (m *HealthMonitor) changed(v *fsmpb.HealthView) {
	k := [2]string{v.Backend, v.Server}
	m.mu.Lock()
	m.pending[k] = v
	m.local[k] = v.Health
	m.mu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// reportLoop sends pending views, retrying until they are committed.
func (m *HealthMonitor) reportLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.kick:
		}
		for {
			m.mu.Lock()
			views := make([]*fsmpb.HealthView, 0, len(m.pending))
			for _, v := range m.pending {
				views = append(views, v)
			}
			m.mu.Unlock()
			if len(views) == 0 {
				break
			}
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := applied(m.c.Apply(rctx, fsm.ReportHealthViewsType, &fsmpb.ReportHealthViews{Views: views}))
			cancel()
			if err == nil {
				m.mu.Lock()
				for _, v := range views {
					k := [2]string{v.Backend, v.Server}
					if m.pending[k] == v {
						delete(m.pending, k)
					}
				}
				m.mu.Unlock()
				continue
			}
			if ctx.Err() != nil || errors.Is(err, context.Canceled) {
				return
			}
			m.log.Warn("could not report health views; retrying", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
}
