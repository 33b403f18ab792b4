package rabbit_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/rabbit"
)

// dialNamespace dials a bus of a namespace of its own, so that no queue of
// another test or run exists in it.
func dialNamespace(t *testing.T, ns string) *rabbit.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := rabbit.Dial(ctx, rabbit.Options{URL: testenv.AMQPURL(t), Namespace: ns, ExpireUnused: 10 * time.Minute,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestCallToUnstartedServiceIsUnavailable: a request for a service whose
// queue does not exist yet is returned by the broker and fails with
// unavailable (retryable: nothing ran), not after its whole deadline.
func TestCallToUnstartedServiceIsUnavailable(t *testing.T) {
	b := dialNamespace(t, bustest.Namespace())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := b.Call(ctx, "nobody.hello", []byte(`{}`))
	if transport.CodeOf(err) != transport.CodeUnavailable || !transport.Retryable(err) || !errors.Is(err, transport.ErrNotStarted) {
		t.Fatalf("Call to a service with no queue = %v, want a retryable unavailable caused by ErrNotStarted", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("the call waited for its deadline: %v", err)
	}
	if b.Pending() != 0 {
		t.Errorf("%d calls still pending after the return", b.Pending())
	}
}

// TestCallBeforeServiceStarts: a call made (with transport.Invoke, which
// retries unavailable) before its service first starts is answered once
// the service is up, as on the in-process bus, where the call waits in the
// service's queue. Before requests were published mandatory, the broker
// dropped it and the caller waited for its deadline (the 30 s stall of a
// shop seeding itself over RabbitMQ while its services start).
func TestCallBeforeServiceStarts(t *testing.T) {
	ns := bustest.Namespace()
	caller, server := dialNamespace(t, ns), dialNamespace(t, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	type result struct {
		reply map[string]string
		err   error
	}
	done := make(chan result, 1)
	go func() {
		r, err := transport.Invoke[map[string]string](ctx, caller, "late.hello", map[string]string{"name": "ada"})
		done <- result{r, err}
	}()
	// Let the first attempts be returned before the service exists.
	time.Sleep(300 * time.Millisecond)
	select {
	case r := <-done:
		t.Fatalf("Invoke returned before the service started: %v, %v", r.reply, r.err)
	default:
	}
	sub, err := server.Serve("late", transport.HandlerFunc(func(_ context.Context, r *transport.Request) ([]byte, error) {
		var in map[string]string
		if err := json.Unmarshal(r.Body, &in); err != nil {
			return nil, err
		}
		return json.Marshal(map[string]string{"hello": in["name"]})
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	r := <-done
	if r.err != nil || r.reply["hello"] != "ada" {
		t.Fatalf("Invoke = %v, %v; want hello ada once the service started", r.reply, r.err)
	}
}
