package transport_test

import (
	"testing"
	"time"

	"github.com/shopbus/shopbus/transport"
)

// TestQuantile: a latency quantile is the upper bound of the histogram
// bucket that holds its rank.
func TestQuantile(t *testing.T) {
	var s transport.Stats
	if got := (transport.EndpointStats{}).Quantile(0.5); got != 0 {
		t.Errorf("quantile without requests = %v", got)
	}
	for range 98 {
		s.Record("svc.m", 300*time.Microsecond, nil) // bucket 0.5 ms
	}
	s.Record("svc.m", 40*time.Millisecond, nil) // bucket 50 ms
	s.Record("svc.m", time.Minute, nil)         // beyond the last bound
	e := s.Snapshot()[0]
	for q, want := range map[float64]time.Duration{0.5: 500 * time.Microsecond, 0.98: 500 * time.Microsecond,
		0.99: 50 * time.Millisecond, 1: 10 * time.Second} {
		if got := e.Quantile(q); got != want {
			t.Errorf("Quantile(%v) = %v, want %v", q, got, want)
		}
	}
}
