package daemon

import (
	"errors"
	"net"
	"sync"
	"time"
)

// A frontend's listening socket outlives the frontend serving it: a live
// reload builds a new frontend (new backend, timeouts, options) on the
// socket already open and switches new connections over to it, while the
// old frontend drains the connections it accepted. The socket is never
// closed and reopened, so no connection is refused and nothing queued in
// the kernel's accept queue is lost.
//
// socket accepts in one goroutine of its own and hands each connection to
// the frontend serving it at that moment, through that frontend's handle
// (a net.Listener). A frontend's maxconn waits before it takes the next
// connection from its handle, so at its limit one accepted connection at
// most waits in the socket's goroutine; the rest wait in the kernel.
type socket struct {
	ln   net.Listener
	bind string // as the config wrote it: frontends with the same bind share the socket

	mu      sync.Mutex
	cur     *handle       // the frontend taking new connections; nil: none yet
	changed chan struct{} // closed (and replaced) when cur changes
	closed  chan struct{}
	once    sync.Once
	done    chan struct{} // the accept loop returned
}

// listenSocket opens bind, or takes over inherited[bind], a listening
// socket the previous process passed on in a binary upgrade (upgrade.go).
func listenSocket(bind string, inherited map[string]net.Listener) (*socket, error) {
	ln, ok := inherited[bind]
	if ok {
		delete(inherited, bind)
	} else {
		var err error
		if ln, err = net.Listen("tcp", bind); err != nil {
			return nil, err
		}
	}
	s := &socket{ln: ln, bind: bind, changed: make(chan struct{}), closed: make(chan struct{}), done: make(chan struct{})}
	go s.acceptLoop()
	return s, nil
}

// key names the socket in a liveState's table: the bind as the config wrote
// it, so that a reload finds the socket a frontend's unchanged bind already
// holds; for a bind on port 0 (any free port, as tests and -dev use) the
// address it got, since two such binds are two sockets.
func (s *socket) key() string {
	if _, port, err := net.SplitHostPort(s.bind); err == nil && port == "0" {
		return s.ln.Addr().String()
	}
	return s.bind
}

// newHandle returns a listener for a frontend; it receives connections once
// it is made current (serve).
func (s *socket) newHandle() *handle {
	return &handle{s: s, conns: make(chan net.Conn), closed: make(chan struct{})}
}

// serve makes h the frontend taking the socket's new connections.
func (s *socket) serve(h *handle) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur = h
	close(s.changed)
	s.changed = make(chan struct{})
}

// Close stops accepting: connections not accepted yet are refused by the
// kernel from now on.
func (s *socket) Close() error {
	var err error
	s.once.Do(func() {
		close(s.closed)
		err = s.ln.Close()
		<-s.done
	})
	return err
}

func (s *socket) acceptLoop() {
	defer close(s.done)
	var backoff time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.closed:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		s.deliver(c)
	}
}

// deliver hands c to the current frontend, following a switch that
// happens while it waits.
func (s *socket) deliver(c net.Conn) {
	for {
		s.mu.Lock()
		h, changed := s.cur, s.changed
		s.mu.Unlock()
		var hclosed chan struct{}
		var conns chan net.Conn
		if h != nil {
			conns, hclosed = h.conns, h.closed
		}
		// A frontend waiting in Accept takes c before a Close racing with
		// it can drop it (select picks among ready cases at random).
		select {
		case conns <- c:
			return
		default:
		}
		select {
		case conns <- c:
			return
		case <-hclosed: // shutting down without a successor: wait for one or the end
			select {
			case <-changed:
			case <-s.closed:
				_ = c.Close()
				return
			}
		case <-changed:
		case <-s.closed:
			_ = c.Close()
			return
		}
	}
}

// handle is one frontend's view of a socket.
type handle struct {
	s      *socket
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func (h *handle) Accept() (net.Conn, error) {
	select {
	case c := <-h.conns:
		return c, nil
	case <-h.closed:
		return nil, net.ErrClosed
	}
}

// Close stops this frontend taking connections; the socket stays open.
func (h *handle) Close() error {
	h.once.Do(func() { close(h.closed) })
	return nil
}

func (h *handle) Addr() net.Addr { return h.s.ln.Addr() }
