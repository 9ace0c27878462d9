package proxy

import (
	"sync/atomic"
	"time"
)

// connDurationBounds are the upper bounds of the connection duration
// histogram of mode tcp frontends: long-lived connections (games,
// databases, WebSockets) last from seconds to hours, far beyond the
// request latency buckets' 10 s. Read-only.
var connDurationBounds = [...]time.Duration{
	100 * time.Millisecond, 500 * time.Millisecond, time.Second, 5 * time.Second,
	10 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute,
	15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour,
	6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// ConnDurations is a lock-free histogram of connection lifetimes, with
// connDurationBounds. The zero value is ready.
type ConnDurations struct {
	counts [len(connDurationBounds) + 1]atomic.Uint64 // the last: above every bound
	sumNs  atomic.Uint64
}

// Observe records one connection's life; negative ones count as zero.
func (h *ConnDurations) Observe(d time.Duration) {
	observe(connDurationBounds[:], h.counts[:], &h.sumNs, d)
}

// Snapshot reads the histogram, in the shape of LatencySnapshot.
func (h *ConnDurations) Snapshot() LatencySnapshot {
	return snapshot(connDurationBounds[:], h.counts[:], &h.sumNs)
}
