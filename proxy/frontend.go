package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"sync/atomic"
	"syscall"
)

// FrontendOptions configures one listener.
type FrontendOptions struct {
	Name           string
	Bind           string       // ignored when Listener is set
	Listener       net.Listener // optional pre-bound listener
	Backend        *Backend
	Timeouts       Timeouts
	MaxHeaderBytes int // default 64 KiB
	Redispatch     bool
}

// FrontendStats are a frontend's counters.
type FrontendStats struct {
	Requests, Errors, Redispatches, Learned, LearnDropped uint64
}

// Frontend is one listener forwarding to one backend.
type Frontend struct {
	name    string
	backend *Backend
	state   State
	learner *Learner
	ln      net.Listener
	srv     *http.Server
	rp      *httputil.ReverseProxy
	log     *slog.Logger
	redisp  bool

	requests, errors, redispatches, learned, learnDropped atomic.Uint64
}

type routeKey struct{}

// NewFrontend binds the listener (unless one is given) and prepares the
// server; call Serve to accept connections.
func NewFrontend(o FrontendOptions, st State, l *Learner, log *slog.Logger) (*Frontend, error) {
	if log == nil {
		log = slog.Default()
	}
	ln := o.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", o.Bind); err != nil {
			return nil, fmt.Errorf("frontend %s: %w", o.Name, err)
		}
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = 64 << 10
	}
	f := &Frontend{name: o.Name, backend: o.Backend, state: st, learner: l, ln: ln, log: log.With("frontend", o.Name), redisp: o.Redispatch}
	f.rp = &httputil.ReverseProxy{
		Rewrite:        f.rewrite,
		Transport:      roundTripper{f},
		ModifyResponse: f.modifyResponse,
		ErrorHandler:   f.errorHandler,
		ErrorLog:       slog.NewLogLogger(f.log.Handler(), slog.LevelDebug),
		FlushInterval:  -1, // stream: never buffer responses (SSE, long bodies)
	}
	f.srv = &http.Server{
		Handler:           f,
		ReadHeaderTimeout: o.Timeouts.HTTPRequest,
		IdleTimeout:       o.Timeouts.HTTPKeepAlive,
		MaxHeaderBytes:    o.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(f.log.Handler(), slog.LevelDebug),
	}
	return f, nil
}

// Addr returns the listening address.
func (f *Frontend) Addr() net.Addr { return f.ln.Addr() }

// Serve accepts connections until Shutdown.
func (f *Frontend) Serve() error {
	err := f.srv.Serve(f.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting, lets in-flight requests finish until ctx ends,
// then closes the remaining connections.
func (f *Frontend) Shutdown(ctx context.Context) error {
	err := f.srv.Shutdown(ctx)
	if err != nil {
		f.srv.Close()
	}
	return err
}

// Stats returns the frontend's counters.
func (f *Frontend) Stats() FrontendStats {
	return FrontendStats{f.requests.Load(), f.errors.Load(), f.redispatches.Load(), f.learned.Load(), f.learnDropped.Load()}
}

func (f *Frontend) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	f.requests.Add(1)
	client, _, _ := net.SplitHostPort(req.RemoteAddr)
	rt, err := f.backend.route(f.state, f.learner, req.Header["Cookie"], client)
	if err != nil {
		f.fail(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	srv := rt.server
	if err := srv.acquire(req.Context(), f.backend.timeouts.Queue); err != nil {
		f.fail(w, http.StatusServiceUnavailable, fmt.Sprintf("server %s: %v", srv.Name, err))
		return
	}
	defer srv.release(false)
	f.rp.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), routeKey{}, &rt)))
}

func routeOf(req *http.Request) *route { return req.Context().Value(routeKey{}).(*route) }

func (f *Frontend) rewrite(pr *httputil.ProxyRequest) {
	rt := routeOf(pr.In)
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = rt.server.Addr
	if rt.rewrite {
		if len(rt.cookies) == 0 {
			pr.Out.Header.Del("Cookie")
		} else {
			pr.Out.Header["Cookie"] = rt.cookies
		}
	}
	if f.backend.fwdFor {
		pr.SetXForwarded()
	}
}

// roundTripper sends the request to the routed server's transport and,
// with redispatch on, retries once on another server when the connection
// to the first could not be made (nothing was sent, so it is safe).
type roundTripper struct{ f *Frontend }

func (t roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	rt := routeOf(req)
	resp, err := rt.server.transport.RoundTrip(req)
	if err == nil || !t.f.redisp || !isDialError(err) || (req.Body != nil && req.Body != http.NoBody) {
		return resp, err
	}
	var buf [maxInlineServers]*Server
	var others []*Server
	for _, s := range t.f.backend.usable(buf[:0], t.f.state.Servers()) {
		if s != rt.server {
			others = append(others, s)
		}
	}
	client, _, _ := net.SplitHostPort(req.RemoteAddr)
	next := t.f.backend.balancer.Pick(others, client)
	if next == nil {
		return nil, err
	}
	t.f.redispatches.Add(1)
	t.f.log.Info("redispatch", "from", rt.server.Name, "to", next.Name, "err", err)
	rt.server, rt.viaCookie = next, false
	out := req.Clone(req.Context())
	out.URL.Host = next.Addr
	return next.transport.RoundTrip(out)
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func (f *Frontend) modifyResponse(resp *http.Response) error {
	rt := routeOf(resp.Request)
	setCookies := resp.Header["Set-Cookie"]
	out, learned, noCache := f.backend.response(rt, setCookies, f.learner)
	if len(out) > 0 {
		resp.Header["Set-Cookie"] = out
	}
	if noCache {
		resp.Header.Set("Cache-Control", "private")
	}
	for _, key := range learned {
		if f.learner == nil {
			break
		}
		_, err := f.learner.Learn(resp.Request.Context(), f.backend.Name, key, rt.server.Name, f.backend.LearnSync)
		switch {
		case err == nil:
			f.learned.Add(1)
		case errors.Is(err, ErrLearnQueueFull):
			f.learnDropped.Add(1)
			if f.backend.LearnSync {
				return err
			}
		default:
			return fmt.Errorf("learn_commit sync: %w", err)
		}
	}
	return nil
}

func (f *Frontend) errorHandler(w http.ResponseWriter, req *http.Request, err error) {
	rt := routeOf(req)
	rt.server.failures.Add(1)
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		f.errors.Add(1)
		return // the client went away
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, os.ErrDeadlineExceeded):
		f.fail(w, http.StatusGatewayTimeout, fmt.Sprintf("server %s did not answer in time", rt.server.Name))
	case isDialError(err) || errors.Is(err, syscall.ECONNREFUSED):
		f.fail(w, http.StatusServiceUnavailable, fmt.Sprintf("server %s is unavailable", rt.server.Name))
	default:
		f.fail(w, http.StatusBadGateway, fmt.Sprintf("server %s: %v", rt.server.Name, err))
	}
	f.log.Debug("proxy error", "server", rt.server.Name, "err", err)
}

// fail writes a short plain-text error, as HAProxy's default error pages.
func (f *Frontend) fail(w http.ResponseWriter, code int, msg string) {
	f.errors.Add(1)
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "close")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, fmt.Sprintf("%d %s\n%s\n", code, http.StatusText(code), msg))
}
