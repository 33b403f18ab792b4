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
	if c.runs, c.batch = c.opts.EventRuns(h); c.batch > 1 {
		c.handleBatch = func(ds []amqp.Delivery) { b.deliver(subscriber, queue, h, c.opts, ds) }
	} else {
		c.handle = func(ch *amqp.Channel, d amqp.Delivery) bool {
			b.deliver(subscriber, queue, h, c.opts, []amqp.Delivery{d}) // settles every delivery itself
			return false
		}
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

// deliver handles event deliveries (one, or a batch for a
// BatchEventHandler) and settles each on its own: ack on success; on
// failure wait RetryDelay and republish it to the tail of the queue
// (through the retry exchange, routing key = the queue) with the attempt
// count raised; park it in the dead-letter queue once MaxAttempts
// deliveries have failed, or at once, without handling it, if it is
// malformed, did not come through the events or retry exchange, or has
// had more than MaxAttempts deliveries already.
func (b *Bus) deliver(subscriber, queue string, h transport.EventHandler, o transport.ConsumerOptions, ds []amqp.Delivery) {
	evs := make([]transport.Event, 0, len(ds))
	held := make([]amqp.Delivery, 0, len(ds))
	for _, d := range ds {
		ev, ok := b.acceptEvent(queue, d)
		if !ok {
			continue
		}
		if ev.Attempt > o.MaxAttempts {
			b.logger.Warn("event parked in dead-letter queue", "queue", queue, "key", ev.Key, "id", ev.ID, "attempts", ev.Attempt)
			d.Nack(false, false)
			continue
		}
		evs, held = append(evs, ev), append(held, d)
	}
	if len(evs) == 0 {
		return
	}
	errs := wire.ProcessEvents(wire.SystemRabbitMQ, subscriber, queue, h, evs, o.HandlerTimeout, b.logger)
	var retry []int
	for i, err := range errs {
		switch {
		case err == nil:
			held[i].Ack(false)
		case evs[i].Attempt >= o.MaxAttempts:
			b.logger.Warn("event parked in dead-letter queue", "queue", queue, "key", evs[i].Key, "id", evs[i].ID, "attempts", evs[i].Attempt, "err", err)
			held[i].Nack(false, false)
		default:
			retry = append(retry, i)
		}
	}
	if len(retry) == 0 {
		return
	}
	time.Sleep(o.RetryDelay)
	for _, i := range retry {
		b.retryEvent(queue, held[i], evs[i].Attempt+1)
	}
}

// acceptEvent decodes an event delivery, or dead-letters it and returns
// false when it is malformed or was not published to the events exchange
// (nor republished through the retry exchange).
func (b *Bus) acceptEvent(queue string, d amqp.Delivery) (transport.Event, bool) {
	if d.Exchange != b.names.events() && d.Exchange != b.names.retry() {
		// Put in the queue some other way (the default exchange lets any
		// account write into any queue): not an event whose publisher the
		// broker checked against its topic permissions.
		b.logger.Warn("event not published to the events exchange dead-lettered", "queue", queue, "exchange", d.Exchange, "type", d.Type)
		d.Nack(false, false)
		return transport.Event{}, false
	}
	ev, bad := decodeEvent(&d, b.opts.MaxMessageSize)
	if bad != nil {
		b.logger.Warn("malformed event dead-lettered", "queue", queue, "err", bad)
		d.Nack(false, false)
		return transport.Event{}, false
	}
	return ev, true
}

// retryEvent republishes the failed delivery d to the tail of queue as
// its delivery number attempt, then acknowledges d; if it cannot, it
// gives d back to the broker, which delivers it again.
func (b *Bus) retryEvent(queue string, d amqp.Delivery, attempt int) {
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
	retry.Headers[wire.HeaderAttempt] = int64(attempt)
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
