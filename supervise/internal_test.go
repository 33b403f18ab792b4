package supervise

import (
	"testing"
	"time"
)

func TestLimiterSlidingWindow(t *testing.T) {
	l := limiter{max: 2, window: time.Minute}
	t0 := time.Unix(1000, 0)
	for i, tc := range []struct {
		at     time.Duration
		wantN  int
		wantOK bool
	}{
		{0, 1, true},
		{10 * time.Second, 2, true},
		{20 * time.Second, 2, false}, // third restart within a minute
		{60 * time.Second, 2, true},  // the first one has left the window
		{65 * time.Second, 2, false}, // the ones at 10 s and 60 s are still inside
		{200 * time.Second, 1, true}, // everything expired
	} {
		n, ok := l.restart(t0.Add(tc.at))
		if n != tc.wantN || ok != tc.wantOK {
			t.Errorf("step %d (t+%v): restart() = %d, %v; want %d, %v", i, tc.at, n, ok, tc.wantN, tc.wantOK)
		}
	}
}

func TestLimiterUnlimited(t *testing.T) {
	l := limiter{max: -1, window: time.Minute}
	for i := range 100 {
		if _, ok := l.restart(time.Unix(int64(i), 0)); !ok {
			t.Fatalf("restart %d refused with no limit", i)
		}
	}
}

func TestBackoffGrowsWithJitterAndCap(t *testing.T) {
	s := &Supervisor{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}
	for _, tc := range []struct {
		n    int
		base time.Duration
	}{
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{3, 400 * time.Millisecond},
		{4, 800 * time.Millisecond},
		{5, time.Second},
		{60, time.Second},
	} {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := s.backoff(tc.n)
			if d < tc.base/2 || d > tc.base {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", tc.n, d, tc.base/2, tc.base)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Errorf("backoff(%d) took only %d distinct values in 200 draws; jitter missing", tc.n, len(seen))
		}
	}
}

func TestBackoffDefaults(t *testing.T) {
	var s Supervisor
	if d := s.backoff(1); d < DefaultMinBackoff/2 || d > DefaultMinBackoff {
		t.Errorf("default backoff(1) = %v", d)
	}
	if d := s.backoff(1000); d < DefaultMaxBackoff/2 || d > DefaultMaxBackoff {
		t.Errorf("default backoff(1000) = %v", d)
	}
}
