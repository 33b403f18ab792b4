package inproc

import (
	"context"
	"maps"
	"time"

	"github.com/shopbus/shopbus/transport"
)

// deadEvent is an event parked in a subscriber's dead-letter queue, with
// why and when.
type deadEvent struct {
	ev     transport.Event // Attempt: the deliveries that failed
	reason string          // the last handler error
	at     time.Time
}

// PeekDeadLetters implements transport.Bus. The events carry the last
// handler error in transport.HeaderDeadReason.
func (b *Bus) PeekDeadLetters(ctx context.Context, subscriber string, max int) ([]transport.Event, error) {
	if err := transport.CheckName("subscriber", subscriber); err != nil {
		return nil, err
	}
	if err := transport.CheckPeekMax(max); err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, transport.ContextError(ctx)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.subscribers[subscriber]
	if q == nil {
		return nil, nil
	}
	var out []transport.Event
	for _, d := range q.dead[:min(max, len(q.dead))] {
		ev := d.ev
		ev.Body = clone(ev.Body)
		ev.Header = maps.Clone(ev.Header)
		if ev.Header == nil {
			ev.Header = map[string]string{}
		}
		ev.Header[transport.HeaderDeadReason] = d.reason
		ev.Header[transport.HeaderDeadTime] = d.at.UTC().Format(time.RFC3339Nano)
		out = append(out, ev)
	}
	return out, nil
}

// ReplayDeadLetters implements transport.Bus: the events go to the tail
// of the subscriber's queue.
func (b *Bus) ReplayDeadLetters(ctx context.Context, subscriber string, ids []string) (int, error) {
	return b.takeDeadLetters(ctx, subscriber, ids, func(q *eventQueue, d deadEvent) {
		ev := d.ev
		ev.Attempt = 0 // counted up on delivery
		q.items = append(q.items, ev)
		q.wake()
	})
}

// DiscardDeadLetters implements transport.Bus.
func (b *Bus) DiscardDeadLetters(ctx context.Context, subscriber string, ids []string) (int, error) {
	return b.takeDeadLetters(ctx, subscriber, ids, func(*eventQueue, deadEvent) {})
}

// takeDeadLetters removes the subscriber's parked events whose id is among
// ids, handing each to f, and returns how many it took.
func (b *Bus) takeDeadLetters(ctx context.Context, subscriber string, ids []string, f func(q *eventQueue, d deadEvent)) (int, error) {
	if err := transport.CheckName("subscriber", subscriber); err != nil {
		return 0, err
	}
	want, err := transport.CheckDeadLetterIDs(ids)
	if err != nil {
		return 0, err
	}
	if ctx.Err() != nil {
		return 0, transport.ContextError(ctx)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, errClosed()
	}
	q := b.subscribers[subscriber]
	if q == nil || len(want) == 0 {
		return 0, nil
	}
	n := 0
	kept := q.dead[:0]
	for i, d := range q.dead {
		if i < transport.DeadLetterScanLimit && want[d.ev.ID] {
			f(q, d)
			n++
			continue
		}
		kept = append(kept, d)
	}
	clear(q.dead[len(kept):])
	q.dead = kept
	return n, nil
}
