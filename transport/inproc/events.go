package inproc

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/shopbus/shopbus/internal/wire"
	"github.com/shopbus/shopbus/transport"
)

// eventsExchange names the in-process bus's events in spans (the
// messaging.destination.name of a publish).
const eventsExchange = "events"

// eventQueue is a subscriber's durable queue: it outlives its consumers,
// as a durable RabbitMQ queue does, and keeps its bindings and parked events.
type eventQueue struct {
	patterns map[string]bool
	items    []transport.Event // waiting deliveries; Attempt counts earlier deliveries
	dead     []deadEvent       // parked, oldest first
	signal   chan struct{}
	// consumers counts attached subscriptions; with expiry set, the queue
	// is removed once it has had none for that long (generation tells a
	// timer whether the queue was used since it was set).
	consumers  int
	expiry     time.Duration
	generation int
}

func (q *eventQueue) wake() {
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// Publish implements transport.Bus.
func (b *Bus) Publish(ctx context.Context, ev transport.Event) (err error) {
	if err := transport.CheckPattern(ev.Key); err != nil {
		return err
	}
	if e := wire.CheckRequest(ev.Body, b.opts.MaxMessageSize); e != nil {
		return e
	}
	if err := ctx.Err(); err != nil {
		return transport.ContextError(ctx)
	}
	if ev.ID == "" {
		ev.ID = uuid.NewString()
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	ctx, span := wire.StartPublish(ctx, wire.SystemInProc, eventsExchange, &ev)
	defer func() { wire.EndSpan(span, err) }()
	headers := wire.TraceHeaders(ctx)
	for k, v := range ev.Header {
		if headers == nil {
			headers = map[string]string{}
		}
		headers[k] = v
	}
	ev.Header = headers
	ev.Attempt = 0

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errClosed()
	}
	for _, q := range b.subscribers {
		for p := range q.patterns {
			if transport.MatchTopic(p, ev.Key) {
				c := ev
				c.Body = clone(ev.Body)
				q.items = append(q.items, c)
				q.wake()
				break
			}
		}
	}
	return nil
}

// Subscribe implements transport.Bus.
func (b *Bus) Subscribe(subscriber, pattern string, h transport.EventHandler, opts ...transport.ConsumerOption) (transport.Subscription, error) {
	if err := transport.CheckName("subscriber", subscriber); err != nil {
		return nil, err
	}
	if err := transport.CheckPattern(pattern); err != nil {
		return nil, err
	}
	o := transport.ApplyConsumerOptions(opts)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, errClosed()
	}
	q := b.subscribers[subscriber]
	if q == nil {
		q = &eventQueue{patterns: map[string]bool{}, signal: make(chan struct{}, 1)}
		b.subscribers[subscriber] = q
	}
	q.patterns[pattern] = true
	q.consumers++
	q.generation++
	q.expiry = o.QueueExpiry
	b.mu.Unlock()

	s := b.newSub()
	s.onClose = func() { b.detached(subscriber, q) }
	runs, batch := o.EventRuns(h)
	for range runs {
		s.wg.Add(1)
		b.consumers.Add(1)
		go func() {
			defer b.consumers.Done()
			defer s.wg.Done()
			b.consume(subscriber, q, h, o, batch, s.stop)
		}()
	}
	return s, nil
}

// detached notes that a subscription of q ended; a queue with an expiry
// that stays unused for that long is removed.
func (b *Bus) detached(subscriber string, q *eventQueue) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q.consumers--
	if q.consumers > 0 || q.expiry <= 0 {
		return
	}
	q.generation++
	gen := q.generation
	time.AfterFunc(q.expiry, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.subscribers[subscriber] == q && q.consumers == 0 && q.generation == gen {
			delete(b.subscribers, subscriber)
		}
	})
}

// consume takes the waiting events of q, up to batch at a time, hands
// them to h and settles each: a failed one goes back to the tail of the
// queue after RetryDelay, or is parked once it has had MaxAttempts.
func (b *Bus) consume(subscriber string, q *eventQueue, h transport.EventHandler, o transport.ConsumerOptions, batch int, stop chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-b.done:
			return
		default:
		}
		evs := b.pop(q, batch)
		if len(evs) == 0 {
			select {
			case <-q.signal:
				continue
			case <-stop:
				return
			case <-b.done:
				return
			}
		}
		for i := range evs {
			evs[i].Attempt++
		}
		errs := wire.ProcessEvents(wire.SystemInProc, subscriber, subscriber, h, evs, o.HandlerTimeout, b.logger)
		var retry []transport.Event
		for i, err := range errs {
			switch {
			case err == nil:
			case evs[i].Attempt >= o.MaxAttempts:
				b.park(subscriber, q, evs[i], err)
			default:
				retry = append(retry, evs[i])
			}
		}
		if len(retry) == 0 {
			continue
		}
		// Wait before the retry, but never lose the events when stopping.
		t := time.NewTimer(o.RetryDelay)
		select {
		case <-t.C:
		case <-stop:
		case <-b.done:
		}
		t.Stop()
		b.mu.Lock()
		q.items = append(q.items, retry...)
		q.wake()
		b.mu.Unlock()
	}
}

// park puts ev, whose last delivery failed with err, in q's dead letters,
// dropping the oldest beyond MaxDeadLetters.
func (b *Bus) park(subscriber string, q *eventQueue, ev transport.Event, err error) {
	b.logger.Warn("event parked in dead-letter queue", "key", ev.Key, "id", ev.ID, "attempts", ev.Attempt, "err", err)
	b.mu.Lock()
	defer b.mu.Unlock()
	if over := len(q.dead) - b.opts.MaxDeadLetters + 1; over > 0 {
		for _, d := range q.dead[:over] {
			b.logger.Warn("dead-letter queue full: oldest parked event dropped", "subscriber", subscriber,
				"max", b.opts.MaxDeadLetters, "key", d.ev.Key, "id", d.ev.ID)
		}
		q.dead = append(q.dead[:0], q.dead[over:]...)
		clear(q.dead[len(q.dead):cap(q.dead)])
	}
	q.dead = append(q.dead, deadEvent{ev: ev, reason: err.Error(), at: time.Now()})
}

// pop takes up to n of the events waiting in q, oldest first.
func (b *Bus) pop(q *eventQueue, n int) []transport.Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	n = min(n, len(q.items))
	if n == 0 {
		return nil
	}
	evs := make([]transport.Event, n)
	copy(evs, q.items)
	clear(q.items[:n])
	q.items = q.items[n:]
	if len(q.items) > 0 {
		q.wake() // let another consumer take the next ones
	}
	return evs
}

// DrainDeadLetters implements transport.Bus.
func (b *Bus) DrainDeadLetters(ctx context.Context, subscriber string) ([]transport.Event, error) {
	if err := transport.CheckName("subscriber", subscriber); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.subscribers[subscriber]
	if q == nil || len(q.dead) == 0 {
		return nil, nil
	}
	dead := make([]transport.Event, len(q.dead))
	for i, d := range q.dead {
		dead[i] = d.ev
	}
	q.dead = nil
	return dead, nil
}
