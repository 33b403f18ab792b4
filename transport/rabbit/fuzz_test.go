package rabbit

import (
	"encoding/json"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/shopbus/shopbus/transport"
)

// FuzzDecodeRequest feeds arbitrary deliveries to the decoding path of
// incoming requests: it must never panic, and whatever it accepts must be
// a well-formed request for the queue's service.
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"name":"Ada"}`), "svc.hello", "id-1", "application/json", "1700000000000", int64(1700000000000))
	f.Add([]byte(`{`), "svc.hello", "", "", "", int64(0))
	f.Add([]byte(``), "nodot", "x", "text/plain", "-5", int64(-1))
	f.Add([]byte(`"\u0000$where"`), "svc.", "x", "application/json", "abc", int64(1<<62))
	f.Fuzz(func(t *testing.T, body []byte, method, id, contentType, deadlineText string, deadlineInt int64) {
		d := amqp.Delivery{
			Type: method, CorrelationId: id, ContentType: contentType, Body: body,
			Headers: amqp.Table{"x-shop-deadline": deadlineText, "traceparent": deadlineText, "n": deadlineInt},
		}
		if deadlineInt%2 == 0 {
			d.Headers["x-shop-deadline"] = deadlineInt
		}
		in, bad := decodeRequest(&d, "svc", 64)
		if bad != nil {
			if bad.Code != transport.CodeInvalid || bad.Message == "" {
				t.Fatalf("rejection %v: want an invalid error with a message", bad)
			}
			return
		}
		if len(body) > 64 || (len(body) > 0 && !json.Valid(body)) {
			t.Fatalf("accepted a body it should reject: %q", body)
		}
		if svc, err := transport.ServiceOf(in.req.Method); err != nil || svc != "svc" || id == "" {
			t.Fatalf("accepted method %q id %q", in.req.Method, id)
		}
	})
}

// FuzzDecodeEvent does the same for event deliveries.
func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(`{}`), "id", "a.b.c", int64(1), true)
	f.Add([]byte(`{`), "", "..", int64(-3), false)
	f.Fuzz(func(t *testing.T, body []byte, id, key string, attempt int64, redelivered bool) {
		d := amqp.Delivery{MessageId: id, Type: key, Body: body, Redelivered: redelivered, Headers: amqp.Table{"x-shop-attempt": attempt, "x-shop-time": key}}
		ev, bad := decodeEvent(&d, 64)
		if ev.Attempt < 1 {
			t.Fatalf("attempt %d < 1", ev.Attempt)
		}
		if bad == nil && (id == "" || transport.CheckPattern(key) != nil || len(body) > 64 || (len(body) > 0 && !json.Valid(body))) {
			t.Fatalf("accepted a malformed event %+v", d)
		}
	})
}
