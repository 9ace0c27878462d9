package proxy

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// errQueueTimeout means a request waited `timeout queue` for a slot of a
// server at its maxconn.
var errQueueTimeout = errors.New("server queue timeout")

// serverCounters is a server's run-time state on this node: active and
// queued requests with the maxconn slots, and counters for the admin API
// and metrics. Agreed state (admin, health) lives in the FSM, not here.
type serverCounters struct {
	active, queued             atomic.Int64
	requests, failures, queueT atomic.Uint64
	checksOK, checksFailed     atomic.Uint64 // this node's health checks of the server
	drainClosed                atomic.Uint64 // connections closed at a drain deadline (draindeadline.go)
	slots                      chan struct{} // nil: no maxconn
	latency                    Latency       // response time: connection taken -> response head
	// responses counts the server's responses by status class (as
	// h1.Counters.Responses); checkLatency the duration of its health
	// checks on this node.
	responses    [6]atomic.Uint64
	checkLatency Latency
}

// Responses returns the server's responses by status class: 1xx..5xx at
// 0..4, any other status at 5.
func (c *serverCounters) Responses() [6]uint64 {
	var r [6]uint64
	for i := range r {
		r[i] = c.responses[i].Load()
	}
	return r
}

// CheckLatency returns the histogram of the server's health check
// durations on this node.
func (c *serverCounters) CheckLatency() LatencySnapshot { return c.checkLatency.Snapshot() }

// ResponseLatency returns the histogram of the server's response times on
// this node: from taking a connection (pooled or new) to the response head
// (TLS frontends: from routing the request to the response head).
func (c *serverCounters) ResponseLatency() LatencySnapshot { return c.latency.Snapshot() }

func (c *serverCounters) init(maxConn int) {
	if maxConn > 0 {
		c.slots = make(chan struct{}, maxConn)
	}
}

// Active returns the requests in flight to the server from this node.
func (c *serverCounters) Active() int64 { return c.active.Load() }

// Queued returns the requests waiting for a slot.
func (c *serverCounters) Queued() int64 { return c.queued.Load() }

// ServerStats are a server's counters on this node.
type ServerStats struct {
	Active, Queued               int64
	Requests, Failures, Timeouts uint64
	ChecksOK, ChecksFailed       uint64 // health checks run by this node, by result
	DrainClosed                  uint64 // connections closed at a drain deadline
}

// Stats returns the server's counters.
func (c *serverCounters) Stats() ServerStats {
	return ServerStats{c.active.Load(), c.queued.Load(), c.requests.Load(), c.failures.Load(), c.queueT.Load(),
		c.checksOK.Load(), c.checksFailed.Load(), c.drainClosed.Load()}
}

// countCheck counts one health check result.
func (c *serverCounters) countCheck(ok bool) {
	if ok {
		c.checksOK.Add(1)
	} else {
		c.checksFailed.Add(1)
	}
}

// acquire takes a slot (waiting up to wait when the server is at its
// maxconn) and counts the request active. Every acquire that returns nil
// is paired with a release.
func (c *serverCounters) acquire(ctx context.Context, wait time.Duration) error {
	if c.slots != nil {
		select {
		case c.slots <- struct{}{}:
		default:
			c.queued.Add(1)
			t := time.NewTimer(wait)
			select {
			case c.slots <- struct{}{}:
				t.Stop()
				c.queued.Add(-1)
			case <-t.C:
				c.queued.Add(-1)
				c.queueT.Add(1)
				return errQueueTimeout
			case <-ctx.Done():
				t.Stop()
				c.queued.Add(-1)
				return ctx.Err()
			}
		}
	}
	c.active.Add(1)
	c.requests.Add(1)
	return nil
}

func (c *serverCounters) release(failed bool) {
	c.active.Add(-1)
	if failed {
		c.failures.Add(1)
	}
	if c.slots != nil {
		<-c.slots
	}
}

// full reports whether the server is at its maxconn.
func (c *serverCounters) full() bool { return c.slots != nil && len(c.slots) == cap(c.slots) }
