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

// Dead-letter inspection. A subscriber's dead-letter queue
// "N.events.<subscriber>.dead" is read with basic.get on a channel of its
// own: a peek gets up to max messages without acknowledging them and then
// closes the channel, which gives them back to the queue (a classic queue
// puts them back where they were; the broker marks them redelivered). A
// quorum queue of RabbitMQ 3.x puts them behind the others, so on quorum
// queues a peek gets every ready message (at most
// transport.DeadLetterScanLimit) to give them all back in order. A
// replay or a discard gets every parked message in turn (at most
// transport.DeadLetterScanLimit), settles those it was asked for and gives
// the others back the same way. Meanwhile the messages it holds are
// invisible to another peek, replay or discard of the same queue.
//
// A replayed event is published, with publisher confirms, to the retry
// exchange N.retry with the subscriber's queue as routing key (the binding
// each subscriber queue has for its retries), so it reaches that queue
// only; the dead copy is acknowledged once the broker has confirmed the
// new one. It does not go through the default exchange: a subscriber
// drops what did not come through N.events or N.retry, and a service's
// broker account may write to N.retry only with its own queues as keys
// (deploy/internal/brokeraccess). For the same reason a parked message is
// replayed only if the broker's x-death header shows it was dead-lettered
// from a subscriber queue it had reached through N.events or N.retry: a
// message forged into a queue through the default exchange stays parked
// (a discard removes it).

// PeekDeadLetters implements transport.Bus. HeaderDeadReason is the
// broker's reason ("rejected"), with a note when the message cannot be
// replayed; HeaderDeadTime is when it was first parked.
func (b *Bus) PeekDeadLetters(ctx context.Context, subscriber string, max int) ([]transport.Event, error) {
	if err := transport.CheckName("subscriber", subscriber); err != nil {
		return nil, err
	}
	if err := transport.CheckPeekMax(max); err != nil {
		return nil, err
	}
	ctx, cancel := wire.CallContext(ctx, b.opts.CallTimeout)
	defer cancel()
	queue := b.names.deadLetters(subscriber)
	ch, ready, err := b.openQueue(ctx, queue)
	if ch == nil {
		return nil, err
	}
	defer b.giveBack(ctx, ch, queue, ready)
	// A quorum queue (before RabbitMQ 4.0) puts the messages given back
	// behind the others: a peek then gets every ready message, so that
	// all go back in their order.
	scan := max
	if b.opts.QueueType == QueueQuorum {
		scan = min(ready, transport.DeadLetterScanLimit)
	}
	var out []transport.Event
	for got := 0; got < scan || len(out) < max; got++ {
		if ctx.Err() != nil {
			return nil, transport.ContextError(ctx)
		}
		d, ok, err := ch.Get(queue, false)
		if err != nil {
			return nil, unavailable(err)
		}
		if !ok {
			break
		}
		if len(out) < max {
			out = append(out, b.deadEvent(&d))
		}
	}
	return out, nil
}

// ReplayDeadLetters implements transport.Bus.
func (b *Bus) ReplayDeadLetters(ctx context.Context, subscriber string, ids []string) (int, error) {
	queue := b.names.subscriber(subscriber)
	return b.takeDeadLetters(ctx, subscriber, ids, func(ctx context.Context, d *amqp.Delivery) (bool, error) {
		if !b.replayable(d) {
			b.logger.Warn("dead letter not replayed: it did not come through the events exchange", "queue", queue, "id", d.MessageId, "type", d.Type)
			return false, nil
		}
		return true, b.publishConfirmed(ctx, b.names.retry(), queue, replayOf(d))
	}, queue)
}

// DiscardDeadLetters implements transport.Bus.
func (b *Bus) DiscardDeadLetters(ctx context.Context, subscriber string, ids []string) (int, error) {
	return b.takeDeadLetters(ctx, subscriber, ids, func(context.Context, *amqp.Delivery) (bool, error) { return true, nil }, "")
}

// takeDeadLetters gets the subscriber's parked messages in turn; those
// whose message id is among ids are passed to f, and acknowledged (removed)
// if f says so. It returns how many were removed. When mustExist is set,
// nothing is done unless that queue exists (a replay's destination).
func (b *Bus) takeDeadLetters(ctx context.Context, subscriber string, ids []string, f func(context.Context, *amqp.Delivery) (bool, error), mustExist string) (int, error) {
	if err := transport.CheckName("subscriber", subscriber); err != nil {
		return 0, err
	}
	want, err := transport.CheckDeadLetterIDs(ids)
	if err != nil || len(want) == 0 {
		return 0, err
	}
	ctx, cancel := wire.CallContext(ctx, b.opts.CallTimeout)
	defer cancel()
	if mustExist != "" {
		ch, _, err := b.openQueue(ctx, mustExist)
		if ch == nil {
			return 0, err // no subscriber queue (it expired): its dead letters went with it
		}
		ch.Close()
	}
	queue := b.names.deadLetters(subscriber)
	ch, ready, err := b.openQueue(ctx, queue)
	if ch == nil {
		return 0, err
	}
	n := 0
	defer func() { b.giveBack(ctx, ch, queue, ready-n) }()
	for range transport.DeadLetterScanLimit {
		if ctx.Err() != nil {
			return n, transport.ContextError(ctx)
		}
		d, ok, err := ch.Get(queue, false)
		if err != nil {
			return n, unavailable(err)
		}
		if !ok {
			break
		}
		if !want[d.MessageId] {
			continue // held until the channel closes
		}
		take, err := f(ctx, &d)
		if err != nil {
			return n, err
		}
		if !take {
			continue
		}
		if err := d.Ack(false); err != nil {
			return n, unavailable(err)
		}
		n++
	}
	return n, nil
}

// openQueue opens a channel on which queue exists, and returns it with
// the number of messages ready in the queue. Without the queue it returns
// a nil channel and a nil error; when the broker cannot be reached, a nil
// channel and the error.
func (b *Bus) openQueue(ctx context.Context, queue string) (*amqp.Channel, int, error) {
	s, err := b.current(ctx)
	if err != nil {
		return nil, 0, err
	}
	ch, err := s.conn.Channel()
	if err != nil {
		return nil, 0, unavailable(err)
	}
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		ch.Close()
		var amqpErr *amqp.Error
		if errors.As(err, &amqpErr) && amqpErr.Code == amqp.NotFound {
			return nil, 0, nil
		}
		return nil, 0, unavailable(err)
	}
	return ch, q.Messages, nil
}

// giveBackWait bounds how long giveBack waits for the broker to put the
// messages back.
const giveBackWait = 2 * time.Second

// giveBack closes ch, which gives the messages got on it and not
// acknowledged back to queue, and waits (at most giveBackWait) until the
// queue has at least ready messages again: the broker puts them back
// asynchronously (a quorum queue noticeably so), and a peek or replay
// right after this one must find them.
func (b *Bus) giveBack(ctx context.Context, ch *amqp.Channel, queue string, ready int) {
	ch.Close()
	deadline := time.Now().Add(giveBackWait)
	for ready > 0 && ctx.Err() == nil && time.Now().Before(deadline) {
		c, n, err := b.openQueue(ctx, queue)
		if c == nil {
			return
		}
		c.Close()
		if err != nil || n >= ready {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func unavailable(err error) *transport.Error {
	return &transport.Error{Code: transport.CodeUnavailable, Message: err.Error(), Cause: err}
}

// deathHeaders are the headers the broker adds when it dead-letters a
// message; a replayed copy leaves them out.
func deathHeader(k string) bool {
	return k == "x-death" || strings.HasPrefix(k, "x-first-death-") || strings.HasPrefix(k, "x-last-death-")
}

// deadEvent reads a parked message as an event, with its failed
// deliveries in Attempt and why and when it was parked in its headers.
func (b *Bus) deadEvent(d *amqp.Delivery) transport.Event {
	ev, _ := decodeEvent(d, 1<<62)
	ev.Attempt = attemptOf(d.Headers)
	for k := range ev.Header {
		if deathHeader(k) {
			delete(ev.Header, k)
		}
	}
	if ev.Header == nil {
		ev.Header = map[string]string{}
	}
	reason, at := "unknown", time.Time{}
	if deaths, ok := d.Headers["x-death"].([]any); ok && len(deaths) > 0 {
		// Most recent first; the oldest says when it was first parked.
		if t, ok := deaths[0].(amqp.Table); ok {
			if r, ok := t["reason"].(string); ok {
				reason = r
			}
		}
		if t, ok := deaths[len(deaths)-1].(amqp.Table); ok {
			at, _ = t["time"].(time.Time)
		}
	}
	if !b.replayable(d) {
		reason += fmt.Sprintf(" (not replayable: it was not published to %s)", b.names.events())
	}
	ev.Header[transport.HeaderDeadReason] = reason
	if !at.IsZero() {
		ev.Header[transport.HeaderDeadTime] = at.UTC().Format(time.RFC3339)
	}
	return ev
}

// attemptOf reads the attempt header: the deliveries a parked event had.
func attemptOf(h amqp.Table) int {
	switch n := h[wire.HeaderAttempt].(type) {
	case int64:
		if n > 0 && n < 1<<20 {
			return int(n)
		}
	case int32:
		if n > 0 && n < 1<<20 {
			return int(n)
		}
	}
	return 1
}

// replayable reports whether a parked message was dead-lettered by a
// subscriber queue that got it through the events or retry exchange,
// according to the broker's x-death header, and is a well-formed event.
func (b *Bus) replayable(d *amqp.Delivery) bool {
	deaths, ok := d.Headers["x-death"].([]any)
	if !ok || len(deaths) == 0 || d.MessageId == "" || transport.CheckPattern(d.Type) != nil {
		return false
	}
	for _, x := range deaths {
		t, ok := x.(amqp.Table)
		if !ok {
			return false
		}
		ex, _ := t["exchange"].(string)
		if ex != b.names.events() && ex != b.names.retry() {
			return false
		}
	}
	return true
}

// replayOf is a parked message as it is published again: the same
// properties, body and headers but the broker's death records, and the
// attempt count back at 1.
func replayOf(d *amqp.Delivery) amqp.Publishing {
	msg := amqp.Publishing{
		ContentType:  d.ContentType,
		DeliveryMode: amqp.Persistent,
		MessageId:    d.MessageId,
		Type:         d.Type,
		Timestamp:    d.Timestamp,
		Headers:      amqp.Table{},
		Body:         d.Body,
	}
	for k, v := range d.Headers {
		if !deathHeader(k) {
			msg.Headers[k] = v
		}
	}
	msg.Headers[wire.HeaderAttempt] = int64(1)
	return msg
}
