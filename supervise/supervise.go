// Package supervise restarts failing services, in goroutines (Supervisor) or
// as worker processes (Cluster).
//
// The restart policy follows Erlang/OTP and thejerf/suture: a service that
// fails (returns an error or panics) is restarted after an exponential
// backoff with jitter; if one service needs more than MaxRestarts restarts
// within Window, the supervisor gives up, stops every service and returns a
// *RestartLimitError naming it. Cancelling the context passed to Run stops
// everything gracefully, waiting at most StopTimeout.
//
// A service that returns nil while its context is still live has finished:
// it is not restarted unless RestartOnExit is set. Run returns once every
// service has finished or stopped.
//
// Cluster applies the same policy to worker processes, like a primary/worker
// cluster: the primary re-executes its own binary once per worker with
// EnvWorkerID set, respawns workers that die, and drains them with SIGTERM
// (then SIGKILL) when stopping. RunCluster dispatches a program to the
// primary or worker role and turns SIGTERM/SIGINT into a graceful drain.
package supervise

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"time"
)

// Defaults used when the corresponding field of Supervisor or Cluster is zero.
const (
	DefaultMaxRestarts = 5
	DefaultWindow      = 60 * time.Second
	DefaultMinBackoff  = 100 * time.Millisecond
	DefaultMaxBackoff  = 10 * time.Second
	DefaultStopTimeout = 10 * time.Second
)

// Service is a long-running task. Serve should run until ctx is cancelled
// and then return promptly; returning an error (or panicking) earlier is a
// failure that gets the service restarted.
type Service interface {
	Serve(ctx context.Context) error
}

// ServiceFunc adapts an ordinary function to the Service interface.
type ServiceFunc func(ctx context.Context) error

// Serve calls f(ctx).
func (f ServiceFunc) Serve(ctx context.Context) error { return f(ctx) }

// Supervisor runs services and restarts them when they fail. The zero value
// is ready to use; every field is optional. Fields must not be changed and
// Add must not be called while Run is running.
type Supervisor struct {
	// MaxRestarts is how many restarts one service may have within Window
	// before the supervisor gives up (Erlang's MaxR). Zero means
	// DefaultMaxRestarts; a negative value means no limit.
	MaxRestarts int
	// Window is the sliding time window for MaxRestarts (Erlang's MaxT).
	// Zero means DefaultWindow.
	Window time.Duration
	// MinBackoff and MaxBackoff bound the delay before a restart. The delay
	// before the n-th restart within Window is MinBackoff·2ⁿ⁻¹, capped at
	// MaxBackoff, then jittered uniformly into its upper half ("equal
	// jitter"), so the actual delay may be as low as MinBackoff/2. Zero
	// means DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// StopTimeout is how long Run waits for services to return once it is
	// stopping. Services still running after it are reported in a
	// *StopTimeoutError and abandoned. Zero means DefaultStopTimeout.
	StopTimeout time.Duration
	// RestartOnExit restarts a service that returns nil while the
	// supervisor is not stopping, counting it against MaxRestarts. By
	// default such a service has finished and is left alone.
	RestartOnExit bool
	// Logger receives one record per Event. Nil means slog.Default().
	Logger *slog.Logger
	// OnEvent, if set, is called for every Event after it is logged, for
	// metrics or custom logging. Calls are serialized; it must not block
	// for long and must not call back into the Supervisor.
	OnEvent func(Event)

	services []namedService
	eventMu  sync.Mutex
}

type namedService struct {
	name string
	svc  Service
}

// Add registers svc under name; it is started when Run is called. Add
// panics if svc is nil or name is empty or already taken.
func (s *Supervisor) Add(name string, svc Service) {
	if name == "" || svc == nil {
		panic("supervise: Add needs a name and a non-nil Service")
	}
	for _, ns := range s.services {
		if ns.name == name {
			panic("supervise: duplicate service name " + name)
		}
	}
	s.services = append(s.services, namedService{name, svc})
}

// Run starts every added service and supervises it until ctx is cancelled,
// a service exceeds the restart limit, or every service has finished.
//
// It returns nil after a graceful stop (ctx cancelled and every service
// returned within StopTimeout) or when all services finished on their own.
// It returns a *RestartLimitError when a service restarted too often (the
// other services are stopped first), and a *StopTimeoutError listing the
// services that did not return in time; both are joined if both happen.
func (s *Supervisor) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type result struct {
		i   int
		err error
	}
	// Buffered so that abandoned services never block when they return.
	done := make(chan result, len(s.services))
	for i, ns := range s.services {
		go func() { done <- result{i, s.supervise(ctx, ns)} }()
	}

	finished := make([]bool, len(s.services))
	remaining := len(s.services)
	var err error
	for remaining > 0 && ctx.Err() == nil {
		select {
		case r := <-done:
			remaining--
			finished[r.i] = true
			if r.err != nil {
				err = r.err
				cancel()
			}
		case <-ctx.Done():
		}
	}

	timeout := s.stopTimeout()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for remaining > 0 {
		select {
		case r := <-done:
			remaining--
			finished[r.i] = true
		case <-timer.C:
			stopErr := &StopTimeoutError{Timeout: timeout}
			for i, ns := range s.services {
				if !finished[i] {
					stopErr.Services = append(stopErr.Services, ns.name)
					s.emit(Event{Kind: EventStopTimeout, Service: ns.name, Delay: timeout})
				}
			}
			if err == nil {
				return stopErr
			}
			return errors.Join(err, stopErr)
		}
	}
	return err
}

// supervise runs one service until ctx is cancelled, it finishes, or it
// exceeds the restart limit (the only case with a non-nil result).
func (s *Supervisor) supervise(ctx context.Context, ns namedService) error {
	lim := limiter{max: s.maxRestarts(), window: s.window()}
	for {
		s.emit(Event{Kind: EventStarted, Service: ns.name})
		err := serveSafely(ctx, ns.svc)
		if pe := (*PanicError)(nil); errors.As(err, &pe) {
			s.emit(Event{Kind: EventPanicked, Service: ns.name, Err: err, Stack: pe.Stack})
		} else {
			s.emit(Event{Kind: EventExited, Service: ns.name, Err: err})
		}
		if ctx.Err() != nil || (err == nil && !s.RestartOnExit) {
			return nil
		}
		n, ok := lim.restart(time.Now())
		if !ok {
			lerr := &RestartLimitError{Service: ns.name, Restarts: lim.max, Window: lim.window, Err: err}
			s.emit(Event{Kind: EventGaveUp, Service: ns.name, Err: lerr})
			return lerr
		}
		delay := s.backoff(n)
		s.emit(Event{Kind: EventRestarting, Service: ns.name, Err: err, Delay: delay})
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// serveSafely calls svc.Serve, turning a panic into a *PanicError.
func serveSafely(ctx context.Context, svc Service) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return svc.Serve(ctx)
}

// limiter counts restarts in a sliding window.
type limiter struct {
	max    int // negative: unlimited
	window time.Duration
	times  []time.Time // restarts within the window, oldest first
}

// restart records a restart at now and reports how many restarts (this one
// included) fall within the window, or ok=false if that would exceed max.
func (l *limiter) restart(now time.Time) (n int, ok bool) {
	i := 0
	for i < len(l.times) && now.Sub(l.times[i]) >= l.window {
		i++
	}
	l.times = l.times[i:]
	if l.max >= 0 && len(l.times) >= l.max {
		return len(l.times), false
	}
	l.times = append(l.times, now)
	return len(l.times), true
}

// backoff returns the jittered delay before the n-th restart (n ≥ 1).
func (s *Supervisor) backoff(n int) time.Duration {
	lo, hi := s.MinBackoff, s.MaxBackoff
	if lo <= 0 {
		lo = DefaultMinBackoff
	}
	if hi <= 0 {
		hi = DefaultMaxBackoff
	}
	hi = max(hi, lo)
	d := lo
	for range n - 1 {
		if d > hi/2 {
			d = hi
			break
		}
		d *= 2
	}
	return d/2 + rand.N(d/2+1)
}

func (s *Supervisor) maxRestarts() int {
	if s.MaxRestarts == 0 {
		return DefaultMaxRestarts
	}
	return s.MaxRestarts
}

func (s *Supervisor) window() time.Duration {
	if s.Window <= 0 {
		return DefaultWindow
	}
	return s.Window
}

func (s *Supervisor) stopTimeout() time.Duration {
	if s.StopTimeout <= 0 {
		return DefaultStopTimeout
	}
	return s.StopTimeout
}

// emit logs e and passes it to OnEvent.
func (s *Supervisor) emit(e Event) {
	s.eventMu.Lock()
	defer s.eventMu.Unlock()
	logger := s.Logger
	if logger == nil {
		logger = slog.Default()
	}
	attrs := []any{"service", e.Service}
	if e.Err != nil {
		attrs = append(attrs, "err", e.Err)
	}
	level := slog.LevelInfo
	switch e.Kind {
	case EventExited:
		if e.Err != nil {
			level = slog.LevelWarn
		}
	case EventPanicked:
		level = slog.LevelError
		attrs = append(attrs, "stack", string(e.Stack))
	case EventRestarting:
		attrs = append(attrs, "delay", e.Delay)
	case EventGaveUp:
		level = slog.LevelError
	case EventStopTimeout:
		level = slog.LevelError
		attrs = append(attrs, "timeout", e.Delay)
	}
	logger.Log(context.Background(), level, "supervise: "+e.Kind.String(), attrs...)
	if s.OnEvent != nil {
		s.OnEvent(e)
	}
}

// EventKind says what happened to a service.
type EventKind int

// The kinds of Event. Every run of a service starts with EventStarted and
// ends with exactly one EventExited or EventPanicked.
const (
	EventStarted     EventKind = iota + 1 // the service (or worker process) is being started
	EventExited                           // Serve returned; Err is its result
	EventPanicked                         // Serve panicked; Err is a *PanicError, Stack its stack
	EventRestarting                       // the service will restart after Delay; Err is the failure
	EventGaveUp                           // the restart limit was exceeded; Err is a *RestartLimitError
	EventStopTimeout                      // the service did not stop within StopTimeout (Delay)
)

var kindNames = [...]string{
	EventStarted:     "started",
	EventExited:      "exited",
	EventPanicked:    "panicked",
	EventRestarting:  "restarting",
	EventGaveUp:      "gave-up",
	EventStopTimeout: "stop-timeout",
}

// String returns the kind's name, e.g. "gave-up".
func (k EventKind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is something that happened to a supervised service, passed to
// Supervisor.OnEvent and Cluster.OnEvent.
type Event struct {
	Kind    EventKind
	Service string        // the service's name; "worker-<id>" for Cluster workers
	Err     error         // see EventKind; nil for a clean exit
	Stack   []byte        // the panicking goroutine's stack, for EventPanicked
	Delay   time.Duration // the backoff (EventRestarting) or stop timeout (EventStopTimeout)
}

// String formats e as "<kind> <service>[: <err>]".
func (e Event) String() string {
	if e.Err == nil {
		return e.Kind.String() + " " + e.Service
	}
	return e.Kind.String() + " " + e.Service + ": " + e.Err.Error()
}

// PanicError is the failure recorded when a service panics.
type PanicError struct {
	Value any    // the value passed to panic
	Stack []byte // the stack of the panicking goroutine
}

// Error returns "panic: <value>".
func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Unwrap returns the panic value if it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// RestartLimitError is returned by Run when a service needed more than
// Restarts restarts within Window.
type RestartLimitError struct {
	Service  string        // the looping service
	Restarts int           // the limit that was exceeded (MaxRestarts)
	Window   time.Duration // the window it applies to
	Err      error         // the service's last failure; nil if it exited cleanly
}

// Error names the service, the limit and the last failure.
func (e *RestartLimitError) Error() string {
	msg := fmt.Sprintf("supervise: %s failed again after %d restarts within %v, giving up", e.Service, e.Restarts, e.Window)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the service's last failure.
func (e *RestartLimitError) Unwrap() error { return e.Err }

// StopTimeoutError is returned by Run when services did not stop within the
// stop timeout.
type StopTimeoutError struct {
	Services []string      // names of the services still running, in Add order
	Timeout  time.Duration // how long Run waited
}

// Error lists the services that did not stop.
func (e *StopTimeoutError) Error() string {
	return fmt.Sprintf("supervise: %v did not stop within %v", e.Services, e.Timeout)
}
