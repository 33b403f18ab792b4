package rabbit

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
	c.declare = func(ch *amqp.Channel) error { return b.declareRequestQueue(ch, service) }
	c.handle = func(ch *amqp.Channel, d amqp.Delivery) bool { return b.answer(ch, service, h, c.opts, d) }
	return b.register(c)
}

// Bounds of a service's dead-letter queue of requests.
const (
	deadRequestsMaxLength = 10000
	deadRequestsTTL       = 24 * time.Hour
)

// declareRequestQueue declares a service's durable request queue and its
// dead-letter queue "<namespace>.<service>.dead". The request queue has no
// dead-letter exchange: an expired request is dropped by the broker, never
// parked. The consumer itself parks what it will not answer (no direct
// reply-to) and requests that were delivered too often (they crash their
// consumers); the dead-letter queue keeps at most 10,000 of them, each for
// 24 hours.
func (b *Bus) declareRequestQueue(ch *amqp.Channel, service string) error {
	dead := b.names.deadRequests(service)
	if err := b.declareQueue(ch, dead, amqp.Table{"x-max-length": int64(deadRequestsMaxLength), "x-message-ttl": deadRequestsTTL.Milliseconds()}, 0); err != nil {
		return err
	}
	return b.declareQueue(ch, b.names.requests(service), nil, 0)
}

// declareQueue declares a durable queue of the bus's type with args,
// deleted by the broker once unused for expiry (or Options.ExpireUnused)
// when that is set.
func (b *Bus) declareQueue(ch *amqp.Channel, queue string, args amqp.Table, expiry time.Duration) error {
	if args == nil {
		args = amqp.Table{}
	}
	if b.opts.QueueType != QueueClassic {
		args["x-queue-type"] = b.opts.QueueType
	}
	if expiry <= 0 {
		expiry = b.opts.ExpireUnused
	}
	if expiry > 0 {
		args["x-expires"] = expiry.Milliseconds()
	}
	_, err := ch.QueueDeclare(queue, true, false, false, false, args)
	if err != nil {
		return declareFailed(queue, err)
	}
	return nil
}

// declareFailed explains a queue declaration the broker refused. The usual
// cause is a queue left by an older version, or of another queue type,
// with other arguments.
func declareFailed(queue string, err error) error {
	var amqpErr *amqp.Error
	if errors.As(err, &amqpErr) && amqpErr.Code == amqp.PreconditionFailed {
		return fmt.Errorf("queue %s exists with other arguments than this bus declares (%s): "+
			"to migrate, stop its consumers, let it drain, delete it (rabbitmqctl delete_queue %s) and start the service, which declares it anew: %w",
			queue, amqpErr.Reason, queue, err)
	}
	return err
}

// incoming is a request as decoded from a delivery.
type incoming struct {
	req      transport.Request
	headers  map[string]string
	deadline time.Time
	expired  bool
	// attempt counts the deliveries of the request: its attempt header,
	// plus one when the broker redelivers it (a consumer died with it).
	attempt int
}

// decodeRequest judges a delivery from a request queue. It never panics,
// whatever the delivery holds; a non-nil error is the reply to send.
func decodeRequest(d *amqp.Delivery, service string, maxSize int) (incoming, *transport.Error) {
	in := incoming{req: transport.Request{Method: d.Type, ID: d.CorrelationId, Body: d.Body}, attempt: 1}
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
	switch n := d.Headers[wire.HeaderAttempt].(type) {
	case int64:
		in.attempt = int(max(1, min(n, 1<<20)))
	case int32:
		in.attempt = int(max(1, min(n, 1<<20)))
	}
	if d.Redelivered {
		in.attempt++
	}
	if d.CorrelationId == "" {
		return in, transport.Invalid("malformed request", "correlation_id", "missing")
	}
	id, bad := wire.RequestID(in.headers, d.CorrelationId)
	if bad != nil {
		return in, bad
	}
	in.req.RequestID = id
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

// isDirectReplyTo reports whether replyTo is RabbitMQ's direct reply-to
// pseudo-queue, as the broker rewrites it for the consumer
// ("amq.rabbitmq.reply-to.<channel>"): the only address a reply is sent to.
func isDirectReplyTo(to string) bool {
	return strings.HasPrefix(to, replyTo+".")
}

// truncate shortens s, which may come from anyone, for a log line.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// answer handles one request delivery and reports whether to acknowledge
// it (false: it settled the delivery itself). An expired request is
// dropped. A request whose reply-to is not direct reply-to (none, or a
// queue's name) is never answered nor run, and one
// delivered more than MaxAttempts times has crashed its consumers: both
// are parked in the service's dead-letter queue. A redelivered request
// goes back to the tail of the queue with its attempt count raised (a
// classic queue does not count deliveries), and everything else gets a
// reply, even if it is malformed.
func (b *Bus) answer(ch *amqp.Channel, service string, h transport.Handler, o transport.ConsumerOptions, d amqp.Delivery) bool {
	in, bad := decodeRequest(&d, service, b.opts.MaxMessageSize)
	switch {
	case in.expired:
		return true // the caller gave up: drop it
	case !isDirectReplyTo(d.ReplyTo):
		// Answering into any queue a request names would let a caller
		// write into another service's queue with the server's rights.
		b.logger.Warn("request without a direct reply-to dead-lettered", "queue", b.names.requests(service), "type", d.Type, "correlation_id", d.CorrelationId, "reply_to", truncate(d.ReplyTo, 80))
		b.park(service, d, in.attempt)
		return false
	case in.attempt > o.MaxAttempts:
		b.logger.Error("request dead-lettered after crashing its consumers", "queue", b.names.requests(service), "type", d.Type, "correlation_id", d.CorrelationId, "attempts", in.attempt-1)
		b.park(service, d, in.attempt-1)
		return false
	case d.Redelivered:
		b.requeue(b.names.requests(service), d, in)
		return false
	}
	var body []byte
	if bad == nil {
		ctx, cancel := wire.HandlerContext(in.deadline, o.MaxDeadline, in.headers, in.req.RequestID)
		in.req.Header = wire.AppHeaders(in.headers)
		ctx, span := wire.StartHandler(ctx, wire.SystemRabbitMQ, b.requestQueue(service), &in.req)
		body, bad = wire.Serve(ctx, h, &in.req, b.maxBody(), b.logger)
		wire.EndHandler(span, bad)
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

// copyOf returns d as a message to publish again, with the attempt header
// set to attempt.
func copyOf(d amqp.Delivery, attempt int) amqp.Publishing {
	msg := amqp.Publishing{
		ContentType:   d.ContentType,
		DeliveryMode:  amqp.Persistent,
		CorrelationId: d.CorrelationId,
		ReplyTo:       d.ReplyTo,
		Type:          d.Type,
		MessageId:     d.MessageId,
		Timestamp:     d.Timestamp,
		Headers:       amqp.Table{},
		Body:          d.Body,
	}
	for k, v := range d.Headers {
		msg.Headers[k] = v
	}
	msg.Headers[wire.HeaderAttempt] = int64(attempt)
	return msg
}

// park moves a request delivery to the service's dead-letter queue, then
// acknowledges it; if the copy cannot be stored, the broker keeps the
// request (it is requeued).
func (b *Bus) park(service string, d amqp.Delivery, attempts int) {
	msg := copyOf(d, attempts)
	withTimeout(10*time.Second, func(ctx context.Context) {
		if err := b.publishConfirmed(ctx, "", b.names.deadRequests(service), msg); err != nil {
			b.logger.Warn("cannot dead-letter request; the broker keeps it", "queue", b.names.requests(service), "err", err)
			d.Nack(false, true)
			return
		}
		d.Ack(false)
	})
}

// requeue puts a redelivered request back at the tail of its queue with its
// attempt count, expiring when its caller's deadline passes, and then
// acknowledges the delivery.
func (b *Bus) requeue(queue string, d amqp.Delivery, in incoming) {
	msg := copyOf(d, in.attempt)
	if !in.deadline.IsZero() {
		msg.Expiration = expiration(time.Until(in.deadline))
	}
	withTimeout(10*time.Second, func(ctx context.Context) {
		if err := b.publishConfirmed(ctx, "", queue, msg); err != nil {
			b.logger.Warn("cannot requeue redelivered request; the broker keeps it", "queue", queue, "err", err)
			d.Nack(false, true)
			return
		}
		d.Ack(false)
	})
}

// declareWithDeadLetters declares a durable queue whose rejected messages go
// to the durable queue dead, through the namespace's dead-letter exchange.
func (b *Bus) declareWithDeadLetters(ch *amqp.Channel, queue, dead string, expiry time.Duration) error {
	if err := b.declareQueue(ch, dead, nil, expiry); err != nil {
		return err
	}
	if err := ch.QueueBind(dead, dead, b.names.dead(), false, nil); err != nil {
		return err
	}
	return b.declareQueue(ch, queue, amqp.Table{"x-dead-letter-exchange": b.names.dead(), "x-dead-letter-routing-key": dead}, expiry)
}
