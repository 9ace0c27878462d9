package proxy

import (
	"testing"
	"time"
)

// The connection duration buckets reach from under a second to a day, so
// a two-hour connection is told apart from a ten-second one.
func TestConnDurations(t *testing.T) {
	var h ConnDurations
	for _, d := range []time.Duration{-time.Second, 50 * time.Millisecond, 8 * time.Second, 20 * time.Minute, 90 * time.Minute, 3 * time.Hour, 48 * time.Hour} {
		h.Observe(d)
	}
	s := h.Snapshot()
	for _, tc := range []struct {
		le   float64
		want uint64
	}{
		{0.1, 2}, {10, 3}, {900, 3}, {1800, 4}, {3600, 4}, {7200, 5}, {21600, 6}, {86400, 6},
	} {
		if got := s.Buckets[tc.le]; got != tc.want {
			t.Errorf("le=%v: %d, want %d", tc.le, got, tc.want)
		}
	}
	if s.Count != 7 {
		t.Errorf("count %d, want 7", s.Count)
	}
	if want := (50*time.Millisecond + 8*time.Second + 20*time.Minute + 90*time.Minute + 3*time.Hour + 48*time.Hour).Seconds(); s.Sum != want {
		t.Errorf("sum %v, want %v", s.Sum, want)
	}
}
