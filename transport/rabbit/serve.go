package rabbit

import (
	"context"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/shopbus/shopbus/internal/wire"
	"github.com/shopbus/shopbus/transport"
)

// Serve implements transport.Bus.
func (b *Bus) Serve(service string, h transport.Handler, opts ...transport.ConsumerOption) (transport.Subscription, error) {
	if err := transport.CheckName("service", service); err != nil {
		return nil, err
	}
	queue := b.names.requests(service)
	c := &consumer{bus: b, queue: queue, opts: transport.ApplyConsumerOptions(opts)}
	c.declare = func(ch *amqp.Channel) error { return declareRequestQueue(ch, b.names, service, b.opts.ExpireUnused) }
	c.handle = func(ch *amqp.Channel, d amqp.Delivery) bool { return b.answer(ch, service, h, d) }
	c.batchAcks = true
	return b.register(c)
}

// declareRequestQueue declares a service's durable request queue. Requests
// that cannot be answered (no reply-to) are dead-lettered to
// "<namespace>.<service>.dead".
func declareRequestQueue(ch *amqp.Channel, n names, service string, expire time.Duration) error {
	queue, dead := n.requests(service), n.deadRequests(service)
	return declareWithDeadLetters(ch, n, queue, dead, expire)
}

// incoming is a request as decoded from a delivery.
type incoming struct {
	req      transport.Request
	headers  map[string]string
	deadline time.Time
	expired  bool
}

// decodeRequest judges a delivery from a request queue. It never panics,
// whatever the delivery holds; a non-nil error is the reply to send.
func decodeRequest(d *amqp.Delivery, service string, maxSize int) (incoming, *transport.Error) {
	in := incoming{req: transport.Request{Method: d.Type, ID: d.CorrelationId, Body: d.Body}}
	for k, v := range d.Headers {
		if s, ok := v.(string); ok {
			if in.headers == nil {
				in.headers = make(map[string]string, len(d.Headers))
			}
			in.headers[k] = s
		}
	}
	if t, ok := headerTime(d.Headers[wire.HeaderDeadline]); ok {
		in.deadline = t
		in.expired = time.Now().After(t)
	}
	if d.CorrelationId == "" {
		return in, transport.Invalid("malformed request", "correlation_id", "missing")
	}
	if d.ContentType != "" && d.ContentType != wire.ContentType {
		return in, transport.Invalid("malformed request", "content_type", "must be "+wire.ContentType)
	}
	got, err := transport.ServiceOf(d.Type)
	if err != nil {
		return in, err.(*transport.Error)
	}
	if got != service {
		return in, transport.Invalid("request on the wrong queue", "type", "method "+d.Type+" does not belong to service "+service)
	}
	if e := wire.CheckRequest(d.Body, maxSize); e != nil {
		return in, e
	}
	return in, nil
}

// headerTime reads the deadline header, which raw clients may send as any
// integer type or as a decimal string of Unix milliseconds.
func headerTime(v any) (time.Time, bool) {
	switch n := v.(type) {
	case int64:
		return time.UnixMilli(n), n > 0
	case int32:
		return time.UnixMilli(int64(n)), n > 0
	case int:
		return time.UnixMilli(int64(n)), n > 0
	case uint64:
		return time.UnixMilli(int64(n)), n > 0 && n < 1<<62
	case float64:
		return time.UnixMilli(int64(n)), n > 0 && n < 1<<62
	case string:
		return wire.ParseDeadline(n)
	}
	return time.Time{}, false
}

// answer handles one request delivery. Requests without a reply-to cannot
// be answered and are dead-lettered (it rejects them itself and returns
// false); expired ones are dropped; everything else gets a reply, even if
// it is malformed. It returns true when the delivery is to be acknowledged.
func (b *Bus) answer(ch *amqp.Channel, service string, h transport.Handler, d amqp.Delivery) bool {
	if d.ReplyTo == "" {
		b.logger.Warn("request without reply_to dead-lettered", "queue", b.names.requests(service), "type", d.Type, "correlation_id", d.CorrelationId)
		d.Nack(false, false)
		return false
	}
	in, bad := decodeRequest(&d, service, b.opts.MaxMessageSize)
	if in.expired {
		return true // the caller gave up: drop it
	}
	var body []byte
	if bad == nil {
		ctx, cancel := wire.HandlerContext(in.deadline, in.headers)
		in.req.Header = wire.AppHeaders(in.headers)
		body, bad = wire.Serve(ctx, h, &in.req, b.opts.MaxMessageSize, b.logger)
		cancel()
	} else {
		b.logger.Warn("malformed request", "queue", b.names.requests(service), "type", d.Type, "err", bad)
	}
	msg := amqp.Publishing{ContentType: wire.ContentType, CorrelationId: d.CorrelationId, Type: wire.TypeResult, Body: body}
	if bad != nil {
		msg.Type = wire.TypeError
		msg.Headers = amqp.Table{wire.HeaderError: string(bad.Code)}
		msg.Body = wire.EncodeError(bad)
	}
	// amqp091 publishes without blocking on the network, so no timeout is needed.
	if err := ch.PublishWithContext(context.Background(), "", d.ReplyTo, false, false, msg); err != nil {
		b.logger.Warn("cannot publish reply", "queue", b.names.requests(service), "err", err)
	}
	return true
}

// declareWithDeadLetters declares a durable queue whose rejected messages go
// to the durable queue dead, through the namespace's dead-letter exchange.
func declareWithDeadLetters(ch *amqp.Channel, n names, queue, dead string, expire time.Duration) error {
	var deadArgs amqp.Table
	args := amqp.Table{"x-dead-letter-exchange": n.dead(), "x-dead-letter-routing-key": dead}
	if expire > 0 {
		deadArgs = amqp.Table{"x-expires": expire.Milliseconds()}
		args["x-expires"] = expire.Milliseconds()
	}
	if _, err := ch.QueueDeclare(dead, true, false, false, false, deadArgs); err != nil {
		return err
	}
	if err := ch.QueueBind(dead, dead, n.dead(), false, nil); err != nil {
		return err
	}
	_, err := ch.QueueDeclare(queue, true, false, false, false, args)
	return err
}
