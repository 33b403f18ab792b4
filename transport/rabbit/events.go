package rabbit

import (
	"context"
	"errors"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/shopbus/shopbus/internal/wire"
	"github.com/shopbus/shopbus/transport"
)

// headerTime carries an event's time with nanosecond precision (the AMQP
// timestamp property has whole seconds only).
const headerEventTime = "x-shop-time"

// Publish implements transport.Bus. It returns once the broker has
// confirmed the event.
func (b *Bus) Publish(ctx context.Context, ev transport.Event) (err error) {
	if err := transport.CheckPattern(ev.Key); err != nil {
		return err
	}
	if e := b.checkBody(ev.Body); e != nil {
		return e
	}
	ctx, cancel := wire.CallContext(ctx, b.opts.CallTimeout)
	defer cancel()
	if ev.ID == "" {
		ev.ID = newID()
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	ctx, span := wire.StartPublish(ctx, wire.SystemRabbitMQ, b.names.events(), &ev)
	defer func() { wire.EndSpan(span, err) }()
	headers := amqp.Table{headerEventTime: ev.Time.UTC().Format(time.RFC3339Nano)}
	for k, v := range wire.TraceHeaders(ctx) {
		headers[k] = v
	}
	for k, v := range ev.Header {
		headers[k] = v
	}
	msg := amqp.Publishing{
		ContentType:  wire.ContentType,
		DeliveryMode: amqp.Persistent,
		MessageId:    ev.ID,
		Type:         ev.Key,
		Timestamp:    ev.Time,
		Headers:      headers,
		Body:         ev.Body,
	}
	return b.publishConfirmed(ctx, b.names.events(), ev.Key, msg)
}

// publishConfirmed publishes on the confirm channel and waits for the
// broker's ack, retrying on a new session if the connection drops first.
func (b *Bus) publishConfirmed(ctx context.Context, exchange, key string, msg amqp.Publishing) error {
	for {
		s, err := b.current(ctx)
		if err != nil {
			return err
		}
		conf, err := s.confirm.PublishWithDeferredConfirmWithContext(ctx, exchange, key, false, false, msg)
		if err == nil {
			select {
			case <-conf.Done():
				if conf.Acked() {
					return nil
				}
			case <-ctx.Done():
				return transport.ContextError(ctx)
			}
		}
		if ctx.Err() != nil {
			return transport.ContextError(ctx)
		}
		// Nacked, or the channel went away: wait for a live session and
		// retry, unless the broker closed the channel because the message
		// is larger than it accepts.
		wait := time.After(50 * time.Millisecond)
		if s.confirm.IsClosed() {
			wait = nil // the session is ending: wait for its end
		}
		select {
		case <-s.lost:
		case <-wait:
		case <-ctx.Done():
			return transport.ContextError(ctx)
		}
		if e := b.refusedForSize(len(msg.Body)); e != nil {
			return e
		}
		if e := accessRefused(s, exchange, key); e != nil {
			return e
		}
	}
}

// accessRefused returns a forbidden error if the broker closed a channel
// of s because this account may not publish to exchange, or not with
// key (topic permissions): retrying would only cost another session.
// RabbitMQ names both in its reason, e.g. "ACCESS_REFUSED - write access
// to topic 'auth.user.created' in exchange 'shop.events' in vhost '/'
// refused for user 'shop-product'".
func accessRefused(s *session, exchange, key string) *transport.Error {
	err := s.refused.Load()
	if err == nil {
		return nil
	}
	if exchange == "" {
		exchange = "amq.default"
	}
	topic := strings.Contains(err.Reason, "topic '"+key+"' in exchange '"+exchange+"'")
	if !topic && !strings.Contains(err.Reason, "access to exchange '"+exchange+"'") {
		return nil
	}
	return &transport.Error{Code: transport.CodeForbidden, Message: "the broker refused the publish: " + err.Reason, Cause: err}
}

// Subscribe implements transport.Bus.
func (b *Bus) Subscribe(subscriber, pattern string, h transport.EventHandler, opts ...transport.ConsumerOption) (transport.Subscription, error) {
	if err := transport.CheckName("subscriber", subscriber); err != nil {
		return nil, err
	}
	if err := transport.CheckPattern(pattern); err != nil {
		return nil, err
	}
	queue := b.names.subscriber(subscriber)
	c := &consumer{bus: b, queue: queue, opts: transport.ApplyConsumerOptions(opts)}
	c.declare = func(ch *amqp.Channel) error {
		if err := b.declareEventQueue(ch, subscriber, c.opts.QueueExpiry); err != nil {
			return err
		}
		if err := ch.QueueBind(queue, queue, b.names.retry(), false, nil); err != nil {
			return err
		}
		return ch.QueueBind(queue, pattern, b.names.events(), false, nil)
	}
	c.handle = func(ch *amqp.Channel, d amqp.Delivery) bool {
		b.deliver(subscriber, queue, h, c.opts, d) // settles every delivery itself
		return false
	}
	return b.register(c)
}

// declareEventQueue declares a subscriber's durable queue and its
// dead-letter queue, which expire after being unused for expiry when set.
func (b *Bus) declareEventQueue(ch *amqp.Channel, subscriber string, expiry time.Duration) error {
	return b.declareWithDeadLetters(ch, b.names.subscriber(subscriber), b.names.deadLetters(subscriber), expiry)
}

// decodeEvent reads an event from a delivery. Attempt counts earlier
// deliveries from the attempt header, plus one if the broker redelivered
// it (a consumer died while handling it), so even a message that kills its
// consumer cannot loop forever.
func decodeEvent(d *amqp.Delivery, maxSize int) (transport.Event, *transport.Error) {
	ev := transport.Event{ID: d.MessageId, Key: d.Type, Time: d.Timestamp, Body: d.Body, Attempt: 1}
	if n, ok := d.Headers[wire.HeaderAttempt].(int64); ok && n > 0 && n < 1<<20 {
		ev.Attempt = int(n)
	} else if n, ok := d.Headers[wire.HeaderAttempt].(int32); ok && n > 0 && n < 1<<20 {
		ev.Attempt = int(n)
	}
	if d.Redelivered {
		ev.Attempt++
	}
	if s, ok := d.Headers[headerEventTime].(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			ev.Time = t
		}
	}
	for k, v := range d.Headers {
		if s, ok := v.(string); ok && k != headerEventTime {
			if ev.Header == nil {
				ev.Header = map[string]string{}
			}
			ev.Header[k] = s
		}
	}
	if ev.ID == "" {
		return ev, transport.Invalid("malformed event", "message_id", "missing")
	}
	if err := transport.CheckPattern(ev.Key); err != nil {
		return ev, transport.Invalid("malformed event", "type", "must be the event key")
	}
	if e := wire.CheckRequest(ev.Body, maxSize); e != nil {
		return ev, e
	}
	return ev, nil
}

// deliver handles one event delivery and settles it: ack on success; on
// failure wait RetryDelay and republish it to the tail of the queue
// (through the retry exchange, routing key = the queue) with the attempt
// count raised; park it in the dead-letter queue once MaxAttempts
// deliveries have failed, or at once if it is malformed or did not come
// through the events or retry exchange.
func (b *Bus) deliver(subscriber, queue string, h transport.EventHandler, o transport.ConsumerOptions, d amqp.Delivery) {
	if d.Exchange != b.names.events() && d.Exchange != b.names.retry() {
		// Put in the queue some other way (the default exchange lets any
		// account write into any queue): not an event whose publisher the
		// broker checked against its topic permissions.
		b.logger.Warn("event not published to the events exchange dead-lettered", "queue", queue, "exchange", d.Exchange, "type", d.Type)
		d.Nack(false, false)
		return
	}
	ev, bad := decodeEvent(&d, b.opts.MaxMessageSize)
	if bad != nil {
		b.logger.Warn("malformed event dead-lettered", "queue", queue, "err", bad)
		d.Nack(false, false)
		return
	}
	var err error
	if ev.Attempt <= o.MaxAttempts {
		ctx, cancel := wire.HandlerContext(time.Now().Add(o.HandlerTimeout), 0, ev.Header, "")
		ctx, span := wire.StartProcess(ctx, wire.SystemRabbitMQ, subscriber, queue, &ev)
		err = wire.HandleEvent(ctx, h, ev, b.logger)
		wire.EndSpan(span, err)
		cancel()
		if err == nil {
			d.Ack(false)
			return
		}
	}
	if ev.Attempt >= o.MaxAttempts {
		b.logger.Warn("event parked in dead-letter queue", "queue", queue, "key", ev.Key, "id", ev.ID, "attempts", ev.Attempt, "err", err)
		d.Nack(false, false)
		return
	}
	time.Sleep(o.RetryDelay)
	retry := amqp.Publishing{
		ContentType:  d.ContentType,
		DeliveryMode: amqp.Persistent,
		MessageId:    d.MessageId,
		Type:         d.Type,
		Timestamp:    d.Timestamp,
		Headers:      amqp.Table{},
		Body:         d.Body,
	}
	for k, v := range d.Headers {
		retry.Headers[k] = v
	}
	retry.Headers[wire.HeaderAttempt] = int64(ev.Attempt + 1)
	withTimeout(30*time.Second, func(ctx context.Context) {
		if err := b.publishConfirmed(ctx, b.names.retry(), queue, retry); err != nil {
			b.logger.Warn("cannot requeue failed event; broker will redeliver it", "queue", queue, "err", err)
			d.Nack(false, true)
			return
		}
		d.Ack(false)
	})
}

// DrainDeadLetters implements transport.Bus.
func (b *Bus) DrainDeadLetters(ctx context.Context, subscriber string) ([]transport.Event, error) {
	if err := transport.CheckName("subscriber", subscriber); err != nil {
		return nil, err
	}
	ctx, cancel := wire.CallContext(ctx, b.opts.CallTimeout)
	defer cancel()
	s, err := b.current(ctx)
	if err != nil {
		return nil, err
	}
	ch, err := s.conn.Channel()
	if err != nil {
		return nil, &transport.Error{Code: transport.CodeUnavailable, Message: err.Error(), Cause: err}
	}
	defer ch.Close()
	if _, err := ch.QueueDeclarePassive(b.names.deadLetters(subscriber), true, false, false, false, nil); err != nil {
		var amqpErr *amqp.Error
		if errors.As(err, &amqpErr) && amqpErr.Code == amqp.NotFound {
			return nil, nil // no queue, no dead letters
		}
		return nil, &transport.Error{Code: transport.CodeUnavailable, Message: err.Error(), Cause: err}
	}
	var events []transport.Event
	for ctx.Err() == nil {
		d, ok, err := ch.Get(b.names.deadLetters(subscriber), false)
		if err != nil {
			return events, &transport.Error{Code: transport.CodeUnavailable, Message: err.Error(), Cause: err}
		}
		if !ok {
			break
		}
		ev, _ := decodeEvent(&d, 1<<62)
		ev.Attempt = 0
		if n, ok := d.Headers[wire.HeaderAttempt].(int64); ok {
			ev.Attempt = int(n)
		}
		events = append(events, ev)
		if err := d.Ack(false); err != nil {
			return events, &transport.Error{Code: transport.CodeUnavailable, Message: err.Error(), Cause: err}
		}
	}
	return events, nil
}
