package rabbit_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/rabbit"
)

// TestEventsOnlyFromTheEventsExchange checks that a subscriber handles
// only events that came through the events exchange (where topic
// permissions say who may publish which key) or its own retries (through
// the retry exchange): a message put straight into its queue through the
// default exchange, which any account may write to, is parked unhandled.
func TestEventsOnlyFromTheEventsExchange(t *testing.T) {
	url, ns := testenv.AMQPURL(t), bustest.Namespace()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bus, err := rabbit.Dial(ctx, rabbit.Options{URL: url, Namespace: ns, Name: t.Name(), ExpireUnused: 10 * time.Minute, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bus.Close() })

	handled := make(chan transport.Event, 4)
	failures := 1 // the first delivery of "retried" fails once
	sub, err := bus.Subscribe("audit", "greeter.#", transport.EventHandlerFunc(func(_ context.Context, ev transport.Event) error {
		if ev.ID == "retried" && failures > 0 {
			failures--
			return errors.New("try again")
		}
		handled <- ev
		return nil
	}), transport.WithRetryDelay(10*time.Millisecond), transport.WithConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })

	raw := newRawClient(t, url)
	forged := amqp.Publishing{ContentType: "application/json", MessageId: "forged", Type: "greeter.user.deleted", Body: []byte(`{}`)}
	if err := raw.ch.PublishWithContext(ctx, "", ns+".events.audit", false, false, forged); err != nil {
		t.Fatal(err)
	}
	if err := bus.Publish(ctx, transport.Event{ID: "retried", Key: "greeter.user.greeted", Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-handled:
		if ev.ID != "retried" || ev.Attempt != 2 {
			t.Fatalf("handled %s (attempt %d), want the published event on its second attempt", ev.ID, ev.Attempt)
		}
	case <-ctx.Done():
		t.Fatal("the published event was not handled after its retry")
	}
	var dead []transport.Event
	waitUntil(t, "the forged event in the dead-letter queue", func() bool {
		d, err := bus.DrainDeadLetters(ctx, "audit")
		if err != nil {
			t.Fatal(err)
		}
		dead = append(dead, d...)
		return len(dead) > 0
	})
	if len(dead) != 1 || dead[0].ID != "forged" {
		t.Fatalf("dead letters = %+v, want the forged event alone", dead)
	}
	select {
	case ev := <-handled:
		t.Fatalf("handled %s as well", ev.ID)
	case <-time.After(100 * time.Millisecond):
	}
}
