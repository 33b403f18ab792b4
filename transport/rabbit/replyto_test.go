package rabbit_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopbus/shopbus/transport"
)

// TestForgedReplyToIsNeverAnswered: a request whose reply_to names a queue
// (anything but direct reply-to) would make the server write its answer
// into that queue with its own rights. It is never run nor answered: it is
// parked in the service's dead-letter queue, and the consumer lives on.
func TestForgedReplyToIsNeverAnswered(t *testing.T) {
	r := newRequestRig(t)
	var runs atomic.Int32
	if _, err := r.bus.Serve("svc", transport.HandlerFunc(func(ctx context.Context, req *transport.Request) ([]byte, error) {
		runs.Add(1)
		return []byte(`"secret answer"`), nil
	})); err != nil {
		t.Fatal(err)
	}
	// The victim: a queue of another service, which the attacker names.
	victim := r.ns + ".victim"
	if _, err := r.raw.ch.QueueDeclare(victim, false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, to := range []string{victim, "amq.rabbitmq.reply-to-" + victim, "amq.rabbitmq.reply-tox"} {
		forged := rawRequest("svc.do", `{}`)
		forged.ReplyTo = to
		if err := r.raw.ch.PublishWithContext(ctx, "", r.queue, false, false, forged); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "the forged requests in the dead-letter queue", func() bool { return r.count(t, r.queue+".dead") == 3 })
	// A genuine request after them is answered: the forged ones were
	// settled before it (one consumer, in order), and nothing of theirs ran.
	if d := r.raw.call(r.queue, rawRequest("svc.do", `{}`)); d.Type != "result" || string(d.Body) != `"secret answer"` {
		t.Fatalf("genuine request after forged ones: type %q body %s", d.Type, d.Body)
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("handler ran %d times, want once (the genuine request only)", n)
	}
	if n := r.count(t, victim); n != 0 {
		t.Errorf("%d messages delivered to the queue named by reply_to, want none", n)
	}
}
