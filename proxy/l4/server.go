package l4

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Options are the engine's timeouts, HAProxy's of the same names. Zero
// Client/Server/Connect take 30 s/30 s/5 s; zero Tunnel, ClientFin and
// ServerFin are unset.
type Options struct {
	Connect time.Duration // dialling the server
	Client  time.Duration // inactivity while the client is expected to send
	Server  time.Duration // inactivity while the server is expected to send
	// Tunnel replaces Client and Server once the server connection is
	// made (long-lived connections).
	Tunnel time.Duration
	// ClientFin / ServerFin replace the inactivity timeout of what is
	// left of a connection once the client / the server closed its side.
	ClientFin, ServerFin time.Duration
	// KeepAlive is the TCP keep-alive probe period on both sides; 0: 15 s
	// (Go's default), negative: off.
	KeepAlive time.Duration
	Log       *slog.Logger
}

// Server relays client connections to the servers its Policy names.
type Server struct {
	policy   Policy
	o        Options
	mu       sync.Mutex
	conns    map[*relay]struct{}
	shutting bool
	wg       sync.WaitGroup
}

// NewServer returns an engine under policy p.
func NewServer(p Policy, o Options) *Server {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Connect, 5*time.Second)
	def(&o.Client, 30*time.Second)
	def(&o.Server, 30*time.Second)
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Server{policy: p, o: o, conns: map[*relay]struct{}{}}
}

// ServeConn relays c in a goroutine of its own; false (c untouched) when
// the engine is shutting down.
func (s *Server) ServeConn(c net.Conn) bool {
	r := &relay{s: s, client: c, start: time.Now()}
	s.mu.Lock()
	if s.shutting {
		s.mu.Unlock()
		return false
	}
	s.conns[r] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go r.run()
	return true
}

// Shutdown lets the connections run until ctx ends, then closes them,
// and returns once every one has ended (ctx's error when it had to close
// some).
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutting = true
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.CloseMatching(func(string) bool { return true })
	<-done
	return ctx.Err()
}

// CloseMatching closes every connection whose server address match
// accepts (a drained server's, at its deadline) and returns how many.
func (s *Server) CloseMatching(match func(serverAddr string) bool) int {
	s.mu.Lock()
	var victims []*relay
	for r := range s.conns {
		if addr, _ := r.addr.Load().(string); addr != "" && match(addr) {
			victims = append(victims, r)
		}
	}
	s.mu.Unlock()
	for _, r := range victims {
		r.kill()
	}
	return len(victims)
}

// Conns returns the number of connections open.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// errKilled ends a connection closed by CloseMatching or Shutdown.
var errKilled = errors.New("closed by the proxy (drain deadline or shutdown)")

// errIdle ends a connection idle longer than its timeout.
var errIdle = errors.New("inactivity timeout")

// relay is one client connection and its server connection.
type relay struct {
	s              *Server
	client, server net.Conn
	start          time.Time
	addr           atomic.Value // the server's address once routed
	last           atomic.Int64 // unix nanos of the last byte moved either way
	killed         atomic.Bool
	mu             sync.Mutex // guards server against kill
}

func (r *relay) kill() {
	r.killed.Store(true)
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = r.client.Close()
	if r.server != nil {
		_ = r.server.Close()
	}
}

func (r *relay) run() {
	s := r.s
	defer func() {
		s.mu.Lock()
		delete(s.conns, r)
		s.mu.Unlock()
		s.wg.Done()
	}()
	res := Result{Connect: -1}
	sess := s.policy.Open(r.client.RemoteAddr(), r.client.LocalAddr())
	defer func() {
		res.Duration = time.Since(r.start)
		if r.killed.Load() {
			res.Err = errKilled
			res.End = EndKilled
		}
		_ = r.client.Close()
		if r.server != nil {
			_ = r.server.Close()
		}
		sess.Done(res)
	}()
	addr, err := sess.Route()
	if err != nil {
		res.Err, res.End = err, EndRoute
		return
	}
	res.Routed = true
	d := net.Dialer{Timeout: s.o.Connect, KeepAlive: s.o.KeepAlive}
	var sc net.Conn
	dialStart := time.Now()
	for {
		r.addr.Store(addr)
		sc, err = d.Dial("tcp", addr)
		if err == nil || r.killed.Load() {
			break
		}
		if addr = sess.Redispatch(err); addr == "" {
			break
		}
	}
	if err != nil {
		res.Err, res.End = err, EndConnect
		if isTimeout(err) {
			res.End = EndConnectTimeout
		}
		return
	}
	res.Connect = time.Since(dialStart)
	r.mu.Lock()
	r.server = sc
	killed := r.killed.Load()
	r.mu.Unlock()
	if killed {
		res.Err = errKilled
		return
	}
	res.Connected = true
	if p := sess.Preamble(); len(p) > 0 {
		_ = sc.SetWriteDeadline(time.Now().Add(s.o.Server))
		if _, err := sc.Write(p); err != nil {
			res.Err, res.End = err, EndServerAbort
			return
		}
		_ = sc.SetWriteDeadline(time.Time{})
	}
	if tc, ok := r.client.(keepAliver); ok {
		_ = tc.SetKeepAlive(s.o.KeepAlive >= 0)
		if s.o.KeepAlive > 0 {
			_ = tc.SetKeepAlivePeriod(s.o.KeepAlive)
		}
	}
	cIdle, sIdle := s.o.Client, s.o.Server
	if s.o.Tunnel > 0 {
		cIdle, sIdle = s.o.Tunnel, s.o.Tunnel
	}
	r.last.Store(time.Now().UnixNano())
	up := &direction{r: r, src: r.client, dst: sc, idle: cIdle, srcEnd: [2]End{EndClientAbort, EndClientTimeout}, dstEnd: EndServerAbort}
	down := &direction{r: r, src: sc, dst: r.client, idle: sIdle, srcEnd: [2]End{EndServerAbort, EndServerTimeout}, dstEnd: EndClientAbort}
	up.other, down.other = down, up
	up.fin, down.fin = s.o.ClientFin, s.o.ServerFin
	errc := make(chan error, 1)
	go func() {
		err := down.copy()
		if err != nil {
			_ = r.client.Close()
			_ = sc.Close()
		}
		errc <- err
	}()
	e1 := up.copy()
	if e1 != nil {
		// Unblock the other direction at once.
		_ = r.client.Close()
		_ = sc.Close()
	}
	e2 := <-errc
	res.BytesIn, res.BytesOut = up.n, down.n
	res.Err = errors.Join(e1, e2)
	switch {
	case e1 != nil && (e2 == nil || isClosed(e2)):
		res.Err, res.End = e1, up.end
	case e2 != nil && (e1 == nil || isClosed(e1)):
		res.Err, res.End = e2, down.end
	case e1 != nil:
		res.End = up.end
	}
}

// direction copies src to dst until src's end of stream, which it passes
// on as a half-close.
type direction struct {
	r        *relay
	src, dst net.Conn
	idle     time.Duration // read inactivity allowed
	fin      time.Duration // the other direction's inactivity once this one ended (0: unchanged)
	other    *direction
	finAt    atomic.Int64 // nanos: idle replaced by fin once set
	n        int64
	// srcEnd is what a failed read of src ends as (an error, a
	// timeout), dstEnd a failed write to dst; end is what copy's error
	// ended as.
	srcEnd [2]End
	dstEnd End
	end    End
}

// bufPool holds the relay buffers: a connection takes one only while
// bytes move.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (d *direction) timeout() time.Duration {
	if d.finAt.Load() != 0 {
		return d.other.fin
	}
	return d.idle
}

// copy moves the bytes and records in d.end what its error ended as.
func (d *direction) copy() error {
	err := d.relay()
	switch {
	case err == nil:
	case errors.Is(err, errIdle):
		d.end = d.srcEnd[1]
	case errors.As(err, new(writeError)):
		d.end = d.dstEnd
	default:
		d.end = d.srcEnd[0]
	}
	return err
}

// writeError is an error writing to the destination.
type writeError struct{ err error }

func (e writeError) Error() string { return e.err.Error() }
func (e writeError) Unwrap() error { return e.err }

func (d *direction) relay() error {
	var pb *[]byte
	defer func() {
		if pb != nil {
			bufPool.Put(pb)
		}
	}()
	full := false
	for {
		idle := d.timeout()
		_ = d.src.SetReadDeadline(time.Unix(0, d.r.last.Load()).Add(idle))
		if !full && pb != nil {
			bufPool.Put(pb)
			pb = nil
		}
		if pb == nil {
			if err := waitReadable(d.src); err != nil {
				if d.expired(err) {
					return errIdle
				}
				if isTimeout(err) {
					continue // the other direction moved bytes: wait on
				}
				return err
			}
			pb = bufPool.Get().(*[]byte)
		}
		n, err := d.src.Read(*pb)
		if n > 0 {
			now := time.Now()
			d.r.last.Store(now.UnixNano())
			_ = d.dst.SetWriteDeadline(now.Add(idle))
			if _, werr := d.dst.Write((*pb)[:n]); werr != nil {
				return writeError{werr}
			}
			d.n += int64(n)
			d.r.last.Store(time.Now().UnixNano())
		}
		full = n == len(*pb)
		switch {
		case err == io.EOF:
			if cw, ok := d.dst.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			} else {
				_ = d.dst.Close()
			}
			if d.fin > 0 {
				d.other.finAt.Store(time.Now().UnixNano())
				_ = d.other.src.SetReadDeadline(time.Now().Add(d.fin))
			}
			return nil
		case err != nil:
			if d.expired(err) {
				return errIdle
			}
			if isTimeout(err) {
				continue
			}
			return err
		}
	}
}

// expired reports whether err is a read deadline that passed with no
// byte moved either way for the direction's timeout.
func (d *direction) expired(err error) bool {
	return isTimeout(err) && time.Since(time.Unix(0, d.r.last.Load())) >= d.timeout()
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

func isClosed(err error) bool { return errors.Is(err, net.ErrClosed) }

// keepAliver is a *net.TCPConn, or a connection that wraps one (the
// PROXY protocol's).
type keepAliver interface {
	SetKeepAlive(bool) error
	SetKeepAlivePeriod(time.Duration) error
}

// ClientIP returns the IP of a client address, or its string form when it
// is not an IP address (the policy balances it all the same).
func ClientIP(a net.Addr) string {
	if a == nil {
		return ""
	}
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}
