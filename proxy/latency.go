package proxy

import (
	"sync/atomic"
	"time"
)

// latencyBounds are the upper bounds of the latency histograms' buckets,
// Prometheus' default buckets extended down to half a millisecond (a proxy
// on a LAN answers well under 5 ms). Read-only.
var latencyBounds = [...]time.Duration{
	500 * time.Microsecond, time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond,
	250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2500 * time.Millisecond,
	5 * time.Second, 10 * time.Second,
}

// Latency is a lock-free latency histogram on the request path: one atomic
// add for the bucket, one for the sum; the scrape reads it (Snapshot). The
// zero value is ready.
type Latency struct {
	counts [len(latencyBounds) + 1]atomic.Uint64 // the last: above every bound
	sumNs  atomic.Uint64
}

// Observe records one duration; negative ones count as zero.
func (l *Latency) Observe(d time.Duration) { observe(latencyBounds[:], l.counts[:], &l.sumNs, d) }

// observe adds d to the bucket of counts (one per bound, then one above
// every bound) it falls in, and to sum: the histograms' one Observe.
func observe(bounds []time.Duration, counts []atomic.Uint64, sum *atomic.Uint64, d time.Duration) {
	d = max(d, 0)
	i := 0
	for i < len(bounds) && d > bounds[i] {
		i++
	}
	counts[i].Add(1)
	sum.Add(uint64(d))
}

// LatencySnapshot is a histogram read at one moment, in Prometheus' shape:
// cumulative counts per upper bound in seconds.
type LatencySnapshot struct {
	Count   uint64
	Sum     float64            // seconds
	Buckets map[float64]uint64 // upper bound (s) -> observations <= it
}

// Snapshot reads the histogram. Concurrent observations may land in the
// buckets and not yet in the sum (or the reverse); the count is the total
// of the buckets, so the histogram itself is always consistent.
func (l *Latency) Snapshot() LatencySnapshot {
	return snapshot(latencyBounds[:], l.counts[:], &l.sumNs)
}

// snapshot reads counts and sum as observe wrote them.
func snapshot(bounds []time.Duration, counts []atomic.Uint64, sum *atomic.Uint64) LatencySnapshot {
	s := LatencySnapshot{Buckets: make(map[float64]uint64, len(bounds))}
	var cum uint64
	for i, b := range bounds {
		cum += counts[i].Load()
		s.Buckets[b.Seconds()] = cum
	}
	s.Count = cum + counts[len(bounds)].Load()
	s.Sum = time.Duration(sum.Load()).Seconds()
	return s
}
