package proxy

import (
	"testing"
	"time"
)

func TestLatencyHistogram(t *testing.T) {
	var l Latency
	for _, d := range []time.Duration{
		-time.Millisecond,      // counts as 0: first bucket
		500 * time.Microsecond, // on a bound: that bucket (le)
		501 * time.Microsecond, // just above: the next
		3 * time.Millisecond,   // 5 ms bucket
		time.Minute,            // above every bound: only in the count
	} {
		l.Observe(d)
	}
	s := l.Snapshot()
	for _, tc := range []struct {
		le   float64
		want uint64
	}{
		{0.0005, 2}, {0.001, 3}, {0.0025, 3}, {0.005, 4}, {10, 4},
	} {
		if got := s.Buckets[tc.le]; got != tc.want {
			t.Errorf("bucket le=%v: %d, want %d", tc.le, got, tc.want)
		}
	}
	if s.Count != 5 {
		t.Errorf("count %d, want 5", s.Count)
	}
	want := (500*time.Microsecond + 501*time.Microsecond + 3*time.Millisecond + time.Minute).Seconds()
	if s.Sum < want-1e-9 || s.Sum > want+1e-9 {
		t.Errorf("sum %v, want %v", s.Sum, want)
	}
	if len(s.Buckets) != len(latencyBounds) {
		t.Errorf("%d buckets, want %d", len(s.Buckets), len(latencyBounds))
	}
}
