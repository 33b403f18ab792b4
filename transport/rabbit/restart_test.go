package rabbit_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/rabbit"
)

// TestBrokerRestart stops and starts a broker the test owns: calls in
// flight fail cleanly, calls made while it is away wait for it, and after
// the restart the same buses call and receive events again.
func TestBrokerRestart(t *testing.T) {
	broker := testenv.PrivateRabbit(t)
	quiet := slog.New(slog.DiscardHandler)
	dialPrivate := func() *rabbit.Bus {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		b, err := rabbit.Dial(ctx, rabbit.Options{URL: broker.URL, MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	client, server := dialPrivate(), dialPrivate()

	inHandler := make(chan struct{}, 1)
	// The slow handler holds its request until the broker has stopped (a
	// fixed delay raced with a slow rabbitmqctl on a loaded machine).
	brokerStopped := make(chan struct{})
	mux := transport.NewMux()
	mux.HandleFunc("restart.echo", func(ctx context.Context, req *transport.Request) ([]byte, error) { return req.Body, nil })
	mux.HandleFunc("restart.slow", func(ctx context.Context, req *transport.Request) ([]byte, error) {
		inHandler <- struct{}{}
		select {
		case <-ctx.Done():
		case <-brokerStopped:
		case <-time.After(30 * time.Second):
		}
		return req.Body, nil
	})
	if _, err := server.Serve("restart", mux); err != nil {
		t.Fatal(err)
	}
	var received atomic.Int32
	gotEvent := make(chan string, 10)
	if _, err := server.Subscribe("restart-sub", "restart.#", transport.EventHandlerFunc(func(ctx context.Context, ev transport.Event) error {
		received.Add(1)
		gotEvent <- string(ev.Body)
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	call := func(d time.Duration, method string) ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		return client.Call(ctx, method, []byte(`"hi"`))
	}
	if _, err := call(5*time.Second, "restart.echo"); err != nil {
		t.Fatalf("before restart: %v", err)
	}

	// A call in flight when the broker stops fails at once with unavailable.
	inflight := make(chan error, 1)
	go func() {
		_, err := call(30*time.Second, "restart.slow")
		inflight <- err
	}()
	<-inHandler
	stopped := time.Now()
	broker.StopApp()
	close(brokerStopped)
	select {
	case err := <-inflight:
		if transport.CodeOf(err) != transport.CodeUnavailable {
			t.Errorf("in-flight call: %v, want unavailable", err)
		}
		if waited := time.Since(stopped); waited > 10*time.Second {
			t.Errorf("in-flight call took %v to fail", waited)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("in-flight call hangs after the broker stopped")
	}
	waitUntil(t, "readiness to report the outage", func() bool { return client.Ready() != nil && server.Ready() != nil })

	// While the broker is away a short call fails by its deadline...
	start := time.Now()
	_, err := call(500*time.Millisecond, "restart.echo")
	if code := transport.CodeOf(err); code != transport.CodeUnavailable && code != transport.CodeDeadlineExceeded {
		t.Errorf("call during outage: %v, want unavailable or deadline_exceeded", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("call during outage took %v, want about its 500ms deadline", time.Since(start))
	}
	// ...and a patient one waits for the broker and succeeds.
	patient := make(chan error, 1)
	go func() {
		reply, err := call(30*time.Second, "restart.echo")
		if err == nil && string(reply) != `"hi"` {
			err = errors.New("wrong reply " + string(reply))
		}
		patient <- err
	}()
	time.Sleep(300 * time.Millisecond)
	broker.StartApp()
	if err := <-patient; err != nil {
		t.Fatalf("call made during the outage: %v", err)
	}
	waitUntil(t, "both buses to be ready again", func() bool { return client.Ready() == nil && server.Ready() == nil })
	if _, err := call(5*time.Second, "restart.echo"); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := client.Publish(ctx, transport.Event{Key: "restart.thing.done", Body: []byte(`"after"`)}); err != nil {
		t.Fatalf("publish after restart: %v", err)
	}
	select {
	case body := <-gotEvent:
		if body != `"after"` {
			t.Fatalf("subscriber got %s", body)
		}
	case <-ctx.Done():
		t.Fatal("subscriber received nothing after the restart")
	}
	if p := client.Pending(); p != 0 {
		t.Errorf("%d pending calls left", p)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
