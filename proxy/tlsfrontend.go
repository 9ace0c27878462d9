//lint:file-ignore SA1019 x/net/http2's Server is used on purpose (serveHTTP2): net/http's bundled HTTP/2 server does not export ServeConn, which the h2Guard needs.

package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/haraft/haraft/proxy/accesslog"
	"golang.org/x/net/http2"
)

// TLSFrontendOptions configures one TLS listener.
type TLSFrontendOptions struct {
	FrontendOptions
	Certs      *CertStore
	MinVersion uint16 // tls.VersionTLS12 when 0
}

// TLSFrontend terminates TLS on a listener and forwards to one backend.
// It does the handshakes itself (one tls.Config for every connection,
// session tickets on, so that a resumed session skips the certificate
// signature), then hands each connection by ALPN: "http/1.1", or no
// ALPN, to the HTTP/1.1 engine (package h1) exactly as the plain listener
// does, so that HTTPS traffic gets the framing, the refusals and the speed
// the engine's tests prove; "h2" to golang.org/x/net/http2's server read
// through an h2Guard (h2guard.go), which forwards with an http.Transport
// (pooled keep-alive connections). Routing and the cookie modes are the
// router's on both paths (router.go, cookie.go).
type TLSFrontend struct {
	name     string
	backend  *Backend
	state    State
	learner  *Learner
	ln       *limitListener
	certs    *CertStore
	tlsConf  *tls.Config
	srv      *http.Server // HTTP/2's base configuration and its shutdown hook
	h2       *http2.Server
	h1       *Frontend // the engine serving the HTTP/1.1 connections
	rp       *httputil.ReverseProxy
	tr       *http.Transport
	log      *slog.Logger
	redisp   bool
	timeouts Timeouts
	maxHead  int
	// accessLog is nil when the frontend keeps none (h2log.go).
	accessLog accesslog.Logger

	acc      *acceptor
	shutting atomic.Bool // after the handshakes Shutdown found finished
	mu       sync.Mutex
	conns    map[net.Conn]bool // in the handshake (false) or serving HTTP/2 (true)
	connWG   sync.WaitGroup

	*listenerStats // shared with h1; latency: request read -> response sent
}

// NewTLSFrontend binds the listener (unless one is given) and prepares the
// server; call Serve to accept connections.
func NewTLSFrontend(o TLSFrontendOptions, st State, l *Learner, log *slog.Logger) (*TLSFrontend, error) {
	if log == nil {
		log = slog.Default()
	}
	if o.Backend == nil {
		return nil, fmt.Errorf("frontend %s: no backend", o.Name)
	}
	if o.Certs == nil {
		return nil, fmt.Errorf("frontend %s: no certificates", o.Name)
	}
	ln, err := o.prepare()
	if err != nil {
		return nil, err
	}
	t := o.Timeouts.withDefaults()
	f := &TLSFrontend{
		name: o.Name, backend: o.Backend, state: st, learner: l, ln: ln, certs: o.Certs,
		log: log.With("frontend", o.Name), redisp: o.Redispatch, timeouts: t, maxHead: o.MaxHeaderBytes,
		tlsConf: o.Certs.TLSConfig(o.MinVersion), conns: map[net.Conn]bool{},
		listenerStats: &listenerStats{pp: newProxyAccept(o.AcceptProxy, t.Client, log.With("frontend", o.Name))},
		accessLog:     o.AccessLog,
	}
	f.h1 = newEngineFrontend(o.FrontendOptions, ln, f.listenerStats, st, l, log)
	f.h1.https = true
	f.acc = newAcceptor(ln, nil, f.log) // serveConn reads the PROXY header
	f.tr = &http.Transport{
		Proxy:                  nil, // never an environment proxy
		DialContext:            (&net.Dialer{Timeout: t.Connect, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:    256,
		IdleConnTimeout:        t.HTTPKeepAlive,
		ResponseHeaderTimeout:  t.Server,
		ExpectContinueTimeout:  time.Second,
		DisableCompression:     true, // pass Accept-Encoding and bodies through untouched
		MaxResponseHeaderBytes: int64(o.MaxHeaderBytes),
	}
	errLog := slog.NewLogLogger(f.log.Handler(), slog.LevelDebug)
	f.rp = &httputil.ReverseProxy{
		Rewrite:        f.rewrite,
		Transport:      tlsRoundTripper{f},
		ModifyResponse: f.modifyResponse,
		ErrorHandler:   f.errorHandler,
		ErrorLog:       errLog,
		FlushInterval:  -1, // stream: never buffer responses (SSE, long bodies)
	}
	f.srv = &http.Server{
		Handler:           f,
		TLSConfig:         f.tlsConf,
		ReadHeaderTimeout: t.HTTPRequest,
		IdleTimeout:       t.HTTPKeepAlive,
		MaxHeaderBytes:    o.MaxHeaderBytes,
		ErrorLog:          errLog,
	}
	// golang.org/x/net/http2 rather than net/http's bundled copy: its
	// ServeConn is exported, so that each connection can be read through
	// an h2Guard; with it and SETTINGS_MAX_FRAME_SIZE at the RFC default,
	// h2spec passes in full (TestTLSFrontendH2spec). ConfigureServer hooks
	// the server's Shutdown to send GOAWAY.
	f.h2 = &http2.Server{MaxReadFrameSize: h2MaxFrameSize, MaxDecoderHeaderTableSize: h2HeaderTableSize}
	if err := http2.ConfigureServer(f.srv, f.h2); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("frontend %s: http/2: %w", o.Name, err)
	}
	return f, nil
}

// Addr returns the listening address.
func (f *TLSFrontend) Addr() net.Addr { return f.ln.Addr() }

// Certs returns the frontend's certificate store.
func (f *TLSFrontend) Certs() *CertStore { return f.certs }

// Reload reads the certificate files again: new connections get the new
// certificates, established ones carry on. On error the old ones stay.
func (f *TLSFrontend) Reload() error { return f.certs.Reload() }

// Serve accepts connections until Shutdown; it then returns nil. Each
// connection's handshake runs in a goroutine of its own.
func (f *TLSFrontend) Serve() error {
	return f.acc.serve(func(conn net.Conn) bool {
		if !f.track(conn, false) {
			return false
		}
		go f.serveConn(conn)
		return true
	})
}

// track registers a connection in its handshake (h2 false) or one that
// serves HTTP/2, for Shutdown; false once Shutdown began.
func (f *TLSFrontend) track(c net.Conn, h2 bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.shutting.Load() {
		return false
	}
	if _, ok := f.conns[c]; !ok {
		f.connWG.Add(1)
	}
	f.conns[c] = h2
	return true
}

func (f *TLSFrontend) untrack(c net.Conn) {
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
	f.connWG.Done()
}

// serveConn does the handshake (within timeout http-request, as net/http
// did) and hands the connection to the protocol ALPN chose.
func (f *TLSFrontend) serveConn(conn net.Conn) {
	sock := conn // conn: the socket, tracked; sock: with the PROXY header's addresses
	if f.pp != nil {
		pc, err := f.pp.handshake(conn)
		if err != nil {
			_ = conn.Close()
			f.untrack(conn)
			f.ln.release()
			return
		}
		sock = pc
	}
	tc := tls.Server(sock, f.tlsConf)
	_ = conn.SetDeadline(time.Now().Add(f.timeouts.HTTPRequest))
	if err := tc.Handshake(); err != nil {
		f.log.Debug("tls handshake", "client", conn.RemoteAddr().String(), "err", err)
		_ = conn.Close()
		f.untrack(conn)
		f.ln.release()
		return
	}
	_ = conn.SetDeadline(time.Time{})
	if tc.ConnectionState().NegotiatedProtocol == http2.NextProtoTLS {
		defer func() {
			_ = tc.Close()
			f.untrack(conn)
			f.ln.release()
		}()
		if !f.track(conn, true) {
			return
		}
		f.h2.ServeConn(newH2Guard(tc, f.maxHead), &http2.ServeConnOpts{Context: context.Background(), Handler: f, BaseConfig: f.srv})
		return
	}
	// HTTP/1.1: the engine's session gives the maxconn slot back. The
	// connection stays tracked until the engine has it, so that Shutdown
	// cannot find no handshake left while it is in neither place.
	ok := f.h1.engine.ServeConn(tc)
	f.untrack(conn)
	if !ok {
		_ = tc.Close()
		f.ln.release()
	}
}

// Shutdown stops accepting, closes idle connections (HTTP/2 ones get a
// GOAWAY, handshakes are cut), lets requests in flight finish until ctx
// ends, then closes what is left.
func (f *TLSFrontend) Shutdown(ctx context.Context) error {
	// Every accepted connection is served: the accept loop ends, then the
	// handshakes in progress (bounded by timeout http-request) finish and
	// hand their connections to HTTP/1.1 or HTTP/2, which then drain.
	// Those still in their handshake when ctx ends are cut.
	_ = f.acc.stop(ctx)
	f.waitHandshakes(ctx)
	f.mu.Lock()
	f.shutting.Store(true)
	for c, h2 := range f.conns {
		if !h2 {
			_ = c.Close()
		}
	}
	f.mu.Unlock()
	err := f.srv.Shutdown(ctx) // GOAWAY on the HTTP/2 connections
	if e := f.h1.engine.Shutdown(ctx); err == nil {
		err = e
	}
	done := make(chan struct{})
	go func() { f.connWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		f.mu.Lock()
		for c := range f.conns {
			_ = c.Close()
		}
		f.mu.Unlock()
		<-done
		if err == nil {
			err = ctx.Err()
		}
	}
	f.tr.CloseIdleConnections()
	return err
}

// waitHandshakes waits until no connection is in its handshake, or ctx
// ends.
func (f *TLSFrontend) waitHandshakes(ctx context.Context) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		f.mu.Lock()
		n := 0
		for _, h2 := range f.conns {
			if !h2 {
				n++
			}
		}
		f.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// tlsExchange is one request's routing state, carried in its context from
// ServeHTTP to the rewrite, the round trip and the response hooks.
type tlsExchange struct {
	start    time.Time
	rt       route
	clientIP string
	safe     bool // method after which a response may be cacheable (nocache)
	failed   bool
	upgraded bool
	log      *h2Log // nil: the frontend keeps no access log
}

type tlsExchangeKey struct{}

func exchangeOf(req *http.Request) *tlsExchange {
	return req.Context().Value(tlsExchangeKey{}).(*tlsExchange)
}

func (f *TLSFrontend) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	f.Requests.Add(1)
	x := &tlsExchange{start: time.Now()}
	if f.accessLog != nil {
		w = x.startLog(w)
		defer f.logExchange(x, req) // after the slot is released
	}
	if req.Method == http.MethodConnect {
		x.logEnd(accesslog.EndProxy, accesslog.StateRequest)
		f.fail(w, http.StatusMethodNotAllowed, "CONNECT is not supported")
		return
	}
	ip, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		ip = req.RemoteAddr
	}
	x.clientIP, x.safe = ip, safeMethod([]byte(req.Method))
	x.rt, err = f.backend.route(f.state, f.learner, req.Header["Cookie"], ip)
	if err != nil {
		x.logEnd(accesslog.EndServerAbort, accesslog.StateConnect)
		f.fail(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	srv := x.rt.server
	if x.log != nil {
		x.log.srvQueue = int(srv.queued.Load())
		t0 := time.Now()
		err = srv.acquire(req.Context(), f.backend.timeouts.Queue)
		x.log.tw = time.Since(t0)
	} else {
		err = srv.acquire(req.Context(), f.backend.timeouts.Queue)
	}
	if err != nil {
		if req.Context().Err() != nil {
			x.logEnd(accesslog.EndClientAbort, accesslog.StateQueue)
		} else {
			x.logEnd(accesslog.EndServerTimeout, accesslog.StateQueue)
		}
		f.fail(w, http.StatusServiceUnavailable, fmt.Sprintf("server %s: %v", srv.Name, err))
		return
	}
	x.failed = true // until a response head arrives
	defer func() { srv.release(x.failed) }()
	ctx := context.WithValue(req.Context(), tlsExchangeKey{}, x)
	if x.log != nil {
		ctx = httptrace.WithClientTrace(ctx, &x.log.trace)
	}
	f.rp.ServeHTTP(w, req.WithContext(ctx))
	if x.log != nil {
		x.log.done = true
	}
	if !x.failed && !x.upgraded {
		f.latency.Observe(time.Since(x.start))
	}
}

// rewrite builds the request sent to the server: the cookie mode's Cookie
// lines, X-Forwarded-For with option forwardfor (after the client's own
// lines, as HAProxy), X-Forwarded-Host/-Proto when asked for. The Host
// field is the client's. ReverseProxy has already removed the hop-by-hop
// fields.
func (f *TLSFrontend) rewrite(pr *httputil.ProxyRequest) {
	x := exchangeOf(pr.In)
	b := f.backend
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = x.rt.server.Addr
	if x.rt.rewrite {
		lines := rewriteRequestCookie(pr.In.Header["Cookie"], b.Cookie.Name, x.rt.cookieKeep, x.rt.cookieValue)
		if len(lines) == 0 {
			pr.Out.Header.Del("Cookie")
		} else {
			pr.Out.Header["Cookie"] = lines
		}
	}
	// ReverseProxy drops the client's X-Forwarded-* before Rewrite; the
	// HTTP/1.1 engine keeps them, and so do we.
	h := pr.Out.Header
	for _, k := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
		if v, ok := pr.In.Header[k]; ok {
			h[k] = v
		}
	}
	if b.fwdFor {
		xff := h["X-Forwarded-For"]
		h["X-Forwarded-For"] = append(xff[:len(xff):len(xff)], x.clientIP)
	}
	if b.fwdPH {
		h.Del("X-Forwarded-Host")
		if pr.In.Host != "" {
			h.Set("X-Forwarded-Host", pr.In.Host)
		}
		h.Set("X-Forwarded-Proto", "https")
	}
	pr.Out.Close = b.close // option httpclose: Connection: close, no reuse
	if pr.Out.Body != nil && pr.Out.Body != http.NoBody {
		ub := &untouchedBody{rc: pr.Out.Body}
		pr.Out.Body = ub
		if x.log != nil {
			x.log.body = ub
		}
	}
}

// untouchedBody lets a request whose connection could not be made go to
// another server with its body: it records whether a read began, and until
// then its Close (the Transport closes the body even after a failed dial)
// does nothing, leaving the inbound body to the server that owns it.
type untouchedBody struct {
	rc   io.ReadCloser
	read atomic.Bool
	n    atomic.Int64 // bytes read (the access log's bytes uploaded)
}

func (b *untouchedBody) Read(p []byte) (int, error) {
	b.read.Store(true)
	n, err := b.rc.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func (b *untouchedBody) Close() error {
	if b.read.Load() {
		return b.rc.Close()
	}
	return nil
}

// tlsRoundTripper sends the request to the routed server and, with
// redispatch on, once to another server when no connection to the first
// could be made (nothing was sent, so it is safe for any request).
type tlsRoundTripper struct{ f *TLSFrontend }

func (t tlsRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	f := t.f
	if x := exchangeOf(req); x.log != nil {
		x.log.sent = time.Now()
	}
	resp, err := f.tr.RoundTrip(req)
	if err == nil || !f.redisp || !isDialFailure(err) {
		return resp, err
	}
	if ub, ok := req.Body.(*untouchedBody); ok && ub.read.Load() {
		return nil, err
	}
	x := exchangeOf(req)
	next := f.backend.redispatchTarget(f.state.Servers(), x.rt.server.Name, x.clientIP)
	if next == nil {
		return nil, err
	}
	if x.log != nil {
		x.log.redispatched, x.log.sent = true, time.Now()
	}
	f.redispatches.Add(1)
	f.log.Info("redispatch", "from", x.rt.server.Name, "to", next.Name, "err", err)
	x.rt.server, x.rt.viaCookie = next, false
	out := req.Clone(req.Context())
	out.URL.Host = next.Addr
	return f.tr.RoundTrip(out)
}

// modifyResponse applies the cookie mode to the response and learns the
// session cookies it sets, as the HTTP/1.1 engine does.
func (f *TLSFrontend) modifyResponse(resp *http.Response) error {
	x := exchangeOf(resp.Request)
	x.failed = false
	x.rt.server.latency.Observe(time.Since(x.start))
	if x.log != nil {
		x.log.head = time.Now()
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		x.upgraded = true
		return nil
	}
	in := resp.Header["Set-Cookie"]
	out, learned, noCache := f.backend.response(&x.rt, in, f.learner)
	if x.log != nil {
		x.log.setCookie = accesslog.SetCookieNA
		if m := f.backend.mode; m != nil {
			x.log.setCookie = m.setCookieLog(in, out)
		}
	}
	if len(out) > 0 {
		resp.Header["Set-Cookie"] = out
	}
	if noCache && cacheableHeader(x.safe, resp.StatusCode, resp.Header) {
		resp.Header.Add("Cache-Control", "private")
	}
	if f.backend.close && resp.Request.ProtoMajor == 1 {
		// option httpclose toward an HTTP/1.x client (net/http closes the
		// connection after this response; HTTP/2 streams have no such thing).
		resp.Header.Set("Connection", "close")
	}
	if err := f.learnKeys(resp.Request.Context(), f.learner, f.backend, f.timeouts.Server, x.rt.server.Name, learned); err != nil {
		x.failed = true
		x.logEnd(accesslog.EndInternal, accesslog.StateHeaders) // learn_commit sync: the binding was not committed
		return err
	}
	return nil
}

// errorHandler answers a request that got no usable response: 503 when no
// connection could be made (as HAProxy), 504 on a timeout, 502 otherwise.
func (f *TLSFrontend) errorHandler(w http.ResponseWriter, req *http.Request, err error) {
	x := exchangeOf(req)
	x.failed = true
	name := x.rt.server.Name
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled) && req.Context().Err() != nil:
		f.Errors.Add(1)
		x.logEnd(accesslog.EndClientAbort, accesslog.StateHeaders)
		return // the client went away
	case isDialFailure(err):
		x.logEnd(accesslog.EndServerAbort, accesslog.StateConnect)
		f.fail(w, http.StatusServiceUnavailable, fmt.Sprintf("server %s is unavailable", name))
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		x.logEnd(accesslog.EndServerTimeout, accesslog.StateHeaders)
		f.fail(w, http.StatusGatewayTimeout, fmt.Sprintf("server %s did not answer in time", name))
	default:
		x.logEnd(accesslog.EndServerAbort, accesslog.StateHeaders)
		f.fail(w, http.StatusBadGateway, fmt.Sprintf("server %s: %v", name, err))
	}
	f.log.Debug("proxy error", "server", name, "err", err)
}

// fail writes a short plain-text error, as HAProxy's default error pages.
func (f *TLSFrontend) fail(w http.ResponseWriter, code int, msg string) {
	f.Errors.Add(1)
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(code)
	_, _ = fmt.Fprintf(w, "%d %s\n%s\n", code, http.StatusText(code), msg)
}

// isDialFailure reports a failure to open a connection: nothing was sent.
func isDialFailure(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// cacheableHeader is cacheableResponse (cookie.go) for an http.Header: the
// same HAProxy rule deciding whether nocache adds Cache-Control: private.
func cacheableHeader(safe bool, status int, h http.Header) bool {
	if !safe {
		return false
	}
	switch status {
	case 200, 203, 204, 206, 300, 301, 404, 405, 410, 414, 501:
	default:
		return false
	}
	for _, v := range h["Pragma"] {
		if strings.EqualFold(strings.TrimSpace(v), "no-cache") {
			return false
		}
	}
	fresh := len(h["Expires"]) > 0 || len(h["Etag"]) > 0 || len(h["Last-Modified"]) > 0
	for _, v := range h["Cache-Control"] {
		for item := range strings.SplitSeq(v, ",") {
			item = strings.ToLower(strings.TrimSpace(item))
			switch {
			case item == "private", item == "no-cache", item == "no-store", item == "max-age=0", item == "s-maxage=0":
				return false
			case strings.HasPrefix(item, "max-age"), strings.HasPrefix(item, "s-maxage"):
				fresh = true
			}
		}
	}
	return fresh
}
