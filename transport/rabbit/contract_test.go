package rabbit_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/rabbit"
)

// rawClient speaks the wire contract (CONTRACT.md) with amqp091-go alone,
// as a client in another language would: no shopbus code on this side.
type rawClient struct {
	t       *testing.T
	ch      *amqp.Channel
	replies <-chan amqp.Delivery
}

func newRawClient(t *testing.T, url string) *rawClient {
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	// Consume direct reply-to before publishing, on the same channel.
	replies, err := ch.Consume("amq.rabbitmq.reply-to", "", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &rawClient{t: t, ch: ch, replies: replies}
}

func (c *rawClient) call(queue string, msg amqp.Publishing) amqp.Delivery {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.ch.PublishWithContext(ctx, "", queue, false, false, msg); err != nil {
		c.t.Fatal(err)
	}
	for {
		select {
		case d := <-c.replies:
			if d.CorrelationId == msg.CorrelationId {
				return d
			}
		case <-ctx.Done():
			c.t.Fatalf("no reply to %s", msg.Type)
		}
	}
}

func TestRawAMQPClientCallsService(t *testing.T) {
	url := testenv.AMQPURL(t)
	ns := bustest.Namespace()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bus, err := rabbit.Dial(ctx, rabbit.Options{URL: url, Namespace: ns, ExpireUnused: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	type greet struct {
		Name string `json:"name"`
	}
	mux := transport.NewMux()
	transport.Handle(mux, "greeter.hello", func(ctx context.Context, g greet) (map[string]string, error) {
		if g.Name == "" {
			return nil, transport.Invalid("name required", "name", "must not be empty")
		}
		return map[string]string{"greeting": "hello " + g.Name, "tenant": transport.HeaderFrom(ctx, "x-tenant")}, nil
	})
	if _, err := bus.Serve("greeter", mux); err != nil {
		t.Fatal(err)
	}
	raw := newRawClient(t, url)
	queue := ns + ".greeter"
	request := func(method, body string) amqp.Publishing {
		return amqp.Publishing{
			ContentType:   "application/json",
			CorrelationId: uuid.NewString(),
			ReplyTo:       "amq.rabbitmq.reply-to",
			Type:          method,
			Expiration:    "5000",
			Headers:       amqp.Table{"x-shop-deadline": time.Now().Add(5 * time.Second).UnixMilli(), "x-tenant": "acme"},
			Body:          []byte(body),
		}
	}

	// Success: type "result", the JSON result as the body.
	d := raw.call(queue, request("greeter.hello", `{"name":"Ada"}`))
	var got map[string]string
	if d.Type != "result" || d.ContentType != "application/json" || json.Unmarshal(d.Body, &got) != nil {
		t.Fatalf("reply type %q content %q body %s", d.Type, d.ContentType, d.Body)
	}
	if got["greeting"] != "hello Ada" || got["tenant"] != "acme" {
		t.Fatalf("reply = %v", got)
	}

	// Failure: type "error", the code in the x-shop-error header and the body.
	for _, tc := range []struct{ method, body, field string }{
		{"greeter.hello", `{"name":""}`, "name"},
		{"greeter.hello", `{"name":`, "body"},
		{"greeter.hello", `{"name":42}`, "name"},
		{"greeter.nosuch", `{}`, "method"},
		{"other.hello", `{}`, "type"},
		{"greeter.hello", `"` + strings.Repeat("x", transport.DefaultMaxMessageSize) + `"`, "body"},
	} {
		d := raw.call(queue, request(tc.method, tc.body))
		var e struct {
			Code   string `json:"code"`
			Fields []struct{ Field, Message string }
		}
		if err := json.Unmarshal(d.Body, &e); err != nil || d.Type != "error" || d.Headers["x-shop-error"] != "invalid" || e.Code != "invalid" {
			t.Errorf("%s %.40s: type %q header %v body %.200s", tc.method, tc.body, d.Type, d.Headers["x-shop-error"], d.Body)
			continue
		}
		if len(e.Fields) == 0 || e.Fields[0].Field != tc.field {
			t.Errorf("%s %.40s: fields %+v, want %s", tc.method, tc.body, e.Fields, tc.field)
		}
	}

	// A request without a correlation id is answered (invalid), one without
	// reply_to cannot be and is dead-lettered; the consumer lives on.
	noID := request("greeter.hello", `{"name":"x"}`)
	noID.CorrelationId = ""
	if err := raw.ch.PublishWithContext(ctx, "", queue, false, false, noID); err != nil {
		t.Fatal(err)
	}
	noReply := request("greeter.hello", `{"name":"lost"}`)
	noReply.ReplyTo = ""
	if err := raw.ch.PublishWithContext(ctx, "", queue, false, false, noReply); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the request without reply_to in the dead-letter queue", func() bool {
		q, err := raw.ch.QueueDeclarePassive(queue+".dead", true, false, false, false, nil)
		return err == nil && q.Messages == 1
	})
	if d := raw.call(queue, request("greeter.hello", `{"name":"again"}`)); d.Type != "result" {
		t.Fatalf("consumer unhealthy after bad input: %s", d.Body)
	}

	// Events: publish to the topic exchange; a malformed one (no message_id)
	// is parked at once.
	got2 := make(chan transport.Event, 2)
	if _, err := bus.Subscribe("raw-sub", "greeter.#", transport.EventHandlerFunc(func(ctx context.Context, ev transport.Event) error {
		got2 <- ev
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"", "evt-1"} {
		if err := raw.ch.PublishWithContext(ctx, ns+".events", "greeter.user.greeted", false, false, amqp.Publishing{
			ContentType: "application/json", MessageId: id, Type: "greeter.user.greeted", Timestamp: time.Now(), Body: []byte(`{"name":"Ada"}`),
		}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case ev := <-got2:
		if ev.ID != "evt-1" || ev.Key != "greeter.user.greeted" || string(ev.Body) != `{"name":"Ada"}` {
			t.Fatalf("event = %+v", ev)
		}
	case <-ctx.Done():
		t.Fatal("event not delivered")
	}
	dead, err := bus.DrainDeadLetters(ctx, "raw-sub")
	if err != nil || len(dead) != 1 || string(dead[0].Body) != `{"name":"Ada"}` {
		t.Fatalf("dead letters = %+v, %v; want the event without id", dead, err)
	}
}
