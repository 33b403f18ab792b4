package rabbit_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/rabbit"
)

// requestRig is a service queue with a raw AMQP channel beside the bus.
type requestRig struct {
	bus   *rabbit.Bus
	raw   *rawClient
	queue string
	ns    string
}

func newRequestRig(t *testing.T) *requestRig {
	url := testenv.AMQPURL(t)
	ns := bustest.Namespace()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := rabbit.Dial(ctx, rabbit.Options{URL: url, Namespace: ns, ExpireUnused: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return &requestRig{bus: b, raw: newRawClient(t, url), queue: ns + ".svc", ns: ns}
}

func (r *requestRig) count(t *testing.T, queue string) int {
	t.Helper()
	q, err := r.raw.ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		t.Fatalf("inspect %s: %v", queue, err)
	}
	return q.Messages
}

func rawRequest(method, body string) amqp.Publishing {
	return amqp.Publishing{
		ContentType: "application/json", CorrelationId: transport.NewRequestID(), ReplyTo: "amq.rabbitmq.reply-to",
		Type: method, Body: []byte(body),
	}
}

// TestExpiredRequestsAreDropped: a request whose caller gave up while no
// consumer was attached is dropped by the broker, not parked.
func TestExpiredRequestsAreDropped(t *testing.T) {
	r := newRequestRig(t)
	sub, err := r.bus.Serve("svc", transport.HandlerFunc(func(context.Context, *transport.Request) ([]byte, error) { return nil, nil }))
	if err != nil {
		t.Fatal(err)
	}
	sub.Close() // the queue stays, with nobody consuming it
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 5 {
		msg := rawRequest("svc.x", `{}`)
		msg.Expiration = "50"
		if err := r.raw.ch.PublishWithContext(ctx, "", r.queue, false, false, msg); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "the expired requests gone from the queue", func() bool { return r.count(t, r.queue) == 0 })
	if n := r.count(t, r.queue+".dead"); n != 0 {
		t.Errorf("%d expired requests parked in the dead-letter queue, want none", n)
	}
}

// TestRedeliveredRequestIsAnsweredOnce: a request whose consumer died
// before acknowledging it is redelivered and answered, and one that keeps
// killing its consumers is parked after MaxAttempts deliveries.
func TestRedeliveredRequestIsAnsweredOnce(t *testing.T) {
	r := newRequestRig(t)
	var runs atomic.Int32
	h := transport.HandlerFunc(func(ctx context.Context, req *transport.Request) ([]byte, error) {
		runs.Add(1)
		return []byte(`"done"`), nil
	})
	sub, err := r.bus.Serve("svc", h)
	if err != nil {
		t.Fatal(err)
	}
	sub.Close()

	// A consumer takes the request and dies without acknowledging it.
	conn, err := amqp.Dial(testenv.AMQPURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	crashing, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	deliveries, err := crashing.Consume(r.queue, "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	msg := rawRequest("svc.x", `{}`)
	if err := r.raw.ch.PublishWithContext(ctx, "", r.queue, false, false, msg); err != nil {
		t.Fatal(err)
	}
	select {
	case <-deliveries:
	case <-ctx.Done():
		t.Fatal("the crashing consumer got nothing")
	}
	crashing.Close() // unacknowledged: the broker requeues it as redelivered

	if _, err := r.bus.Serve("svc", h); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case d := <-r.raw.replies:
			if d.CorrelationId != msg.CorrelationId {
				continue
			}
			if d.Type != "result" || string(d.Body) != `"done"` {
				t.Fatalf("redelivered request answered %s %s", d.Type, d.Body)
			}
		case <-ctx.Done():
			t.Fatal("no reply to the redelivered request")
		}
		break
	}
	if runs.Load() != 1 {
		t.Errorf("handler ran %d times, want 1", runs.Load())
	}

	// One that has crashed its consumers MaxAttempts times is parked.
	poison := rawRequest("svc.x", `{"poison":true}`)
	poison.Headers = amqp.Table{"x-shop-attempt": int64(transport.DefaultMaxAttempts + 1)}
	if err := r.raw.ch.PublishWithContext(ctx, "", r.queue, false, false, poison); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the poison request in the dead-letter queue", func() bool { return r.count(t, r.queue+".dead") == 1 })
	if runs.Load() != 1 {
		t.Errorf("the poison request ran its handler")
	}
}
