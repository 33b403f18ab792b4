package transport

import (
	"fmt"
	"testing"
	"time"
)

// TestRetryPause: the pauses between attempts double from retryMinDelay up
// to a second, but a call whose service has not started yet is tried again
// at most notStartedMaxDelay apart (a service's first start is a matter
// of moments), and at least half of each step apart (jitter).
func TestRetryPause(t *testing.T) {
	lost := &Error{Code: CodeUnavailable, Message: "connection lost"}
	notStarted := &Error{Code: CodeUnavailable, Message: "no queue", Cause: ErrNotStarted}
	for _, c := range []struct {
		err   error
		limit time.Duration
	}{{lost, retryMaxDelay}, {notStarted, notStartedMaxDelay}, {fmt.Errorf("call: %w", notStarted), notStartedMaxDelay}} {
		delay, longest := retryMinDelay, time.Duration(0)
		for attempt := 1; attempt <= 20; attempt++ {
			pause, next := retryPause(c.err, delay)
			step := min(delay, c.limit)
			if pause < step/2 || pause > step {
				t.Fatalf("%v, attempt %d: pause %v outside [%v, %v]", c.err, attempt, pause, step/2, step)
			}
			if next != min(2*step, c.limit) {
				t.Fatalf("%v, attempt %d: next step %v, want %v", c.err, attempt, next, min(2*step, c.limit))
			}
			longest = max(longest, pause)
			delay = next
		}
		if longest < c.limit/2 {
			t.Errorf("%v: the pauses never grew past %v (limit %v)", c.err, longest, c.limit)
		}
	}
}
