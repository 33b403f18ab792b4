package supervise_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopbus/shopbus/supervise"
)

// waitLimit bounds every wait for something that should happen soon; it is
// generous so that a loaded machine does not make the tests flaky.
const waitLimit = 20 * time.Second

var quiet = slog.New(slog.DiscardHandler)

// recorder collects events from OnEvent.
type recorder struct {
	mu     sync.Mutex
	events []supervise.Event
}

func (r *recorder) hook(e supervise.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// matching returns the recorded events of the given kind for service.
func (r *recorder) matching(kind supervise.EventKind, service string) []supervise.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []supervise.Event
	for _, e := range r.events {
		if e.Kind == kind && e.Service == service {
			out = append(out, e)
		}
	}
	return out
}

func (r *recorder) count(kind supervise.EventKind, service string) int {
	return len(r.matching(kind, service))
}

// eventually polls cond until it holds or waitLimit passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// start runs run in a goroutine; the returned function waits for its result.
func start(t *testing.T, run func() error) (wait func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- run() }()
	return func() error {
		t.Helper()
		select {
		case err := <-done:
			return err
		case <-time.After(waitLimit):
			t.Fatal("Run did not return")
			return nil
		}
	}
}

// newSupervisor returns a quiet supervisor with fast backoff.
func newSupervisor(rec *recorder) *supervise.Supervisor {
	return &supervise.Supervisor{
		MinBackoff: time.Millisecond,
		MaxBackoff: 5 * time.Millisecond,
		Logger:     quiet,
		OnEvent:    rec.hook,
	}
}

func TestFlakyServiceRestartsAndRecovers(t *testing.T) {
	rec := &recorder{}
	s := newSupervisor(rec)
	var attempts atomic.Int32
	errFlaky := errors.New("flaky")
	s.Add("flaky", supervise.ServiceFunc(func(ctx context.Context) error {
		if attempts.Add(1) <= 2 {
			return errFlaky
		}
		<-ctx.Done()
		return ctx.Err()
	}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wait := start(t, func() error { return s.Run(ctx) })

	eventually(t, "third start", func() bool { return rec.count(supervise.EventStarted, "flaky") == 3 })
	restarts := rec.matching(supervise.EventRestarting, "flaky")
	if len(restarts) != 2 {
		t.Fatalf("got %d restarting events, want 2", len(restarts))
	}
	for _, e := range restarts {
		if !errors.Is(e.Err, errFlaky) || e.Delay <= 0 || e.Delay > 5*time.Millisecond {
			t.Errorf("restarting event = %+v, want Err %v and 0 < Delay <= 5ms", e, errFlaky)
		}
	}

	cancel()
	if err := wait(); err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
	if n := attempts.Load(); n != 3 {
		t.Errorf("service ran %d times, want 3", n)
	}
	if n := rec.count(supervise.EventGaveUp, "flaky"); n != 0 {
		t.Errorf("got %d gave-up events", n)
	}
}

func TestPanicIsRecoveredWithStack(t *testing.T) {
	rec := &recorder{}
	s := newSupervisor(rec)
	var attempts atomic.Int32
	s.Add("panicky", supervise.ServiceFunc(func(ctx context.Context) error {
		if attempts.Add(1) == 1 {
			explode()
		}
		<-ctx.Done()
		return nil
	}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wait := start(t, func() error { return s.Run(ctx) })

	eventually(t, "restart after panic", func() bool { return rec.count(supervise.EventStarted, "panicky") == 2 })
	panics := rec.matching(supervise.EventPanicked, "panicky")
	if len(panics) != 1 {
		t.Fatalf("got %d panicked events, want 1", len(panics))
	}
	e := panics[0]
	var pe *supervise.PanicError
	if !errors.As(e.Err, &pe) || pe.Value != "boom" {
		t.Errorf("panicked event Err = %#v, want *PanicError with value boom", e.Err)
	}
	if !bytes.Contains(e.Stack, []byte("supervise_test.explode")) {
		t.Errorf("stack does not show the panicking function:\n%s", e.Stack)
	}
	if n := rec.count(supervise.EventExited, "panicky"); n != 0 {
		t.Errorf("a panicking run also produced %d exited events", n)
	}
	cancel()
	if err := wait(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
}

func explode() { panic("boom") }

func TestCrashLoopStopsEverything(t *testing.T) {
	rec := &recorder{}
	s := newSupervisor(rec)
	s.MaxRestarts = 3
	errBoom := errors.New("boom")
	var loops atomic.Int32
	s.Add("looper", supervise.ServiceFunc(func(ctx context.Context) error {
		loops.Add(1)
		return errBoom
	}))
	var steadyStopped atomic.Bool
	s.Add("steady", supervise.ServiceFunc(func(ctx context.Context) error {
		<-ctx.Done()
		steadyStopped.Store(true)
		return nil
	}))

	err := start(t, func() error { return s.Run(context.Background()) })()

	var lerr *supervise.RestartLimitError
	if !errors.As(err, &lerr) {
		t.Fatalf("Run = %v, want a *RestartLimitError", err)
	}
	if lerr.Service != "looper" || lerr.Restarts != 3 || lerr.Window != supervise.DefaultWindow {
		t.Errorf("RestartLimitError = %+v, want looper, 3 restarts, default window", lerr)
	}
	if !errors.Is(err, errBoom) {
		t.Errorf("Run error %v does not wrap the last failure", err)
	}
	if n := loops.Load(); n != 4 {
		t.Errorf("looper ran %d times, want 1 + 3 restarts", n)
	}
	if !steadyStopped.Load() {
		t.Error("the other service was not stopped")
	}
	if n := rec.count(supervise.EventGaveUp, "looper"); n != 1 {
		t.Errorf("got %d gave-up events, want 1", n)
	}
}

func TestStopTimeoutReportsStuckService(t *testing.T) {
	rec := &recorder{}
	s := newSupervisor(rec)
	s.StopTimeout = 50 * time.Millisecond
	release := make(chan struct{})
	defer close(release)
	s.Add("stuck", supervise.ServiceFunc(func(ctx context.Context) error {
		<-release // ignores ctx
		return nil
	}))
	s.Add("polite", supervise.ServiceFunc(func(ctx context.Context) error {
		<-ctx.Done()
		return nil
	}))
	ctx, cancel := context.WithCancel(context.Background())
	wait := start(t, func() error { return s.Run(ctx) })
	eventually(t, "both started", func() bool {
		return rec.count(supervise.EventStarted, "stuck") == 1 && rec.count(supervise.EventStarted, "polite") == 1
	})

	cancel()
	begin := time.Now()
	err := wait()
	var serr *supervise.StopTimeoutError
	if !errors.As(err, &serr) || !slices.Equal(serr.Services, []string{"stuck"}) || serr.Timeout != 50*time.Millisecond {
		t.Fatalf("Run = %#v, want *StopTimeoutError for [stuck] after 50ms", err)
	}
	if d := time.Since(begin); d < 50*time.Millisecond {
		t.Errorf("Run returned after %v, before the stop timeout", d)
	}
	if rec.count(supervise.EventStopTimeout, "stuck") != 1 || rec.count(supervise.EventStopTimeout, "polite") != 0 {
		t.Error("stop-timeout event missing for stuck or present for polite")
	}
	if rec.count(supervise.EventExited, "polite") != 1 {
		t.Error("polite service did not exit")
	}
}

func TestCleanExitFinishesByDefault(t *testing.T) {
	rec := &recorder{}
	s := newSupervisor(rec)
	var runs atomic.Int32
	s.Add("oneshot", supervise.ServiceFunc(func(ctx context.Context) error {
		runs.Add(1)
		return nil
	}))
	if err := start(t, func() error { return s.Run(context.Background()) })(); err != nil {
		t.Fatalf("Run = %v, want nil once the only service finished", err)
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("service ran %d times, want 1", n)
	}
}

func TestRestartOnExitCountsAgainstLimit(t *testing.T) {
	rec := &recorder{}
	s := newSupervisor(rec)
	s.RestartOnExit = true
	s.MaxRestarts = 2
	var runs atomic.Int32
	s.Add("oneshot", supervise.ServiceFunc(func(ctx context.Context) error {
		runs.Add(1)
		return nil
	}))
	err := start(t, func() error { return s.Run(context.Background()) })()
	var lerr *supervise.RestartLimitError
	if !errors.As(err, &lerr) || lerr.Service != "oneshot" || lerr.Err != nil {
		t.Fatalf("Run = %v, want *RestartLimitError for oneshot with nil Err", err)
	}
	if n := runs.Load(); n != 3 {
		t.Errorf("service ran %d times, want 3", n)
	}
}

func TestCancelDuringBackoff(t *testing.T) {
	rec := &recorder{}
	s := newSupervisor(rec)
	s.MinBackoff, s.MaxBackoff = time.Hour, time.Hour
	s.Add("failing", supervise.ServiceFunc(func(ctx context.Context) error {
		return errors.New("nope")
	}))
	ctx, cancel := context.WithCancel(context.Background())
	wait := start(t, func() error { return s.Run(ctx) })
	eventually(t, "restarting event", func() bool { return rec.count(supervise.EventRestarting, "failing") == 1 })
	if d := rec.matching(supervise.EventRestarting, "failing")[0].Delay; d < 30*time.Minute || d > time.Hour {
		t.Errorf("backoff = %v, want within [30m, 1h]", d)
	}
	cancel()
	if err := wait(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if n := rec.count(supervise.EventStarted, "failing"); n != 1 {
		t.Errorf("service started %d times, want 1", n)
	}
}

func TestAddRejectsDuplicates(t *testing.T) {
	var s supervise.Supervisor
	s.Add("a", supervise.ServiceFunc(func(context.Context) error { return nil }))
	defer func() {
		if recover() == nil {
			t.Error("Add with a duplicate name did not panic")
		}
	}()
	s.Add("a", supervise.ServiceFunc(func(context.Context) error { return nil }))
}
