package proxy

import (
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"time"
)

// acceptLoop is every frontend's accept loop: it accepts on ln (waiting
// while maxconn is reached) and hands each connection to serve, through
// pp's PROXY protocol reader when pp is set. It returns nil once ln is
// closed or stopping is set, or when serve says false (the engine shuts
// down; the connection is then closed and its slot given back). Other
// accept errors (out of file descriptors and the like) are logged and
// retried after a backoff of 5 ms doubling to 1 s, as net/http does.
func acceptLoop(ln *limitListener, pp *proxyAccept, stopping *atomic.Bool, log *slog.Logger, serve func(net.Conn) bool) error {
	var backoff time.Duration
	for {
		conn, err := ln.acceptCounted()
		if err != nil {
			if stopping.Load() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			log.Warn("accept", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if pp != nil {
			pp.serveProxied(ln, conn, serve)
			continue
		}
		if !serve(conn) {
			_ = conn.Close()
			ln.release()
			return nil
		}
	}
}
