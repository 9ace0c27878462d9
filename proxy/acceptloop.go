package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// acceptor is every frontend's accept loop. It accepts on ln (waiting
// while maxconn is reached) and hands each connection to serve, through
// pp's PROXY protocol reader when pp is set.
//
// A connection the kernel handed over is served: stop closes the
// listener and waits until the loop has returned and every PROXY header
// read in progress has handed its connection on, and only then may the
// frontend shut its engine down. (At a binary upgrade the listening
// socket lives on in the new process; a connection this process took
// from it in the last instant is this process's to answer, or the client
// loses it.)
type acceptor struct {
	ln  *limitListener
	pp  *proxyAccept // nil: no PROXY protocol
	log *slog.Logger

	mu      sync.Mutex
	stopped bool
	active  sync.WaitGroup // the loop, and the PROXY header reads it started
}

func newAcceptor(ln *limitListener, pp *proxyAccept, log *slog.Logger) *acceptor {
	return &acceptor{ln: ln, pp: pp, log: log}
}

// enter registers the loop; false once stop began.
func (a *acceptor) enter() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped {
		return false
	}
	a.active.Add(1)
	return true
}

// stopping reports that stop began.
func (a *acceptor) stopping() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stopped
}

// serve runs the loop until stop; it returns nil then. Accept errors
// other than the listener's closing (out of file descriptors and the
// like) are logged and retried after a backoff of 5 ms doubling to 1 s,
// as net/http does. serve's false (the engine shuts down: only after
// stop's ctx ended) closes the connection and gives its slot back.
func (a *acceptor) serve(serve func(net.Conn) bool) error {
	if !a.enter() {
		return nil
	}
	defer a.active.Done()
	var backoff time.Duration
	for {
		conn, err := a.ln.acceptCounted()
		if err != nil {
			if a.stopping() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			a.log.Warn("accept", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if a.pp != nil {
			a.active.Add(1) // the loop's own count is held: not zero here
			go func() {
				defer a.active.Done()
				a.pp.serveProxied(a.ln, conn, serve)
			}()
			continue
		}
		if !serve(conn) {
			_ = conn.Close()
			a.ln.release()
		}
	}
}

// stop closes the listener and waits, until ctx ends, for the loop to
// return and for every connection it accepted to have reached serve.
func (a *acceptor) stop(ctx context.Context) error {
	a.mu.Lock()
	a.stopped = true
	a.mu.Unlock()
	_ = a.ln.Close()
	done := make(chan struct{})
	go func() { a.active.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
