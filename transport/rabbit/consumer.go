package rabbit

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/shopbus/shopbus/transport"
)

// consumer is a queue consumer the bus keeps attached across reconnections.
type consumer struct {
	bus     *Bus
	queue   string
	opts    transport.ConsumerOptions
	declare func(ch *amqp.Channel) error // (re)declares the queue and its bindings
	// handle handles one delivery. It returns true to have the delivery
	// acknowledged at once, false when it settled the delivery itself.
	handle func(ch *amqp.Channel, d amqp.Delivery) (ack bool)
	// handleBatch, when set instead of handle, handles and settles up to
	// batch deliveries at once, in runs workers (see startBatches).
	handleBatch func(ds []amqp.Delivery)
	runs, batch int
	attached    atomic.Bool

	mu     sync.Mutex // guards ch, tag, closed, and serialises attach
	ch     *amqp.Channel
	tag    string
	closed bool
	wg     sync.WaitGroup // the workers of the current attachment
}

func newID() string { return uuid.NewString() }

// register adds c to the bus and attaches it if the bus is connected.
func (b *Bus) register(c *consumer) (transport.Subscription, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, errClosed()
	}
	b.consumers[c] = true
	s := b.sess
	b.mu.Unlock()
	if s == nil {
		return c, nil // attached when the broker is back; Ready reports it
	}
	if err := c.attach(s); err != nil {
		b.mu.Lock()
		delete(b.consumers, c)
		b.mu.Unlock()
		return nil, err
	}
	return c, nil
}

// attach opens a channel on s, declares the queue and starts the workers.
func (c *consumer) attach(s *session) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.attached.Load() {
		return nil
	}
	c.wg.Wait() // workers of a lost attachment finish first
	ch, err := s.consume.Channel()
	if err != nil {
		return c.attachFailed(err)
	}
	if err := ch.Qos(c.opts.Concurrency, 0, false); err != nil {
		return c.attachFailed(err)
	}
	if err := c.declare(ch); err != nil {
		ch.Close()
		return c.attachFailed(err)
	}
	tag := "shopbus-" + newID()
	deliveries, err := ch.Consume(c.queue, tag, false, false, false, false, nil)
	if err != nil {
		ch.Close()
		return c.attachFailed(err)
	}
	closes := ch.NotifyClose(make(chan *amqp.Error, 1))
	cancels := ch.NotifyCancel(make(chan string, 1))
	go func() {
		for range cancels {
			c.bus.logger.Warn("broker cancelled consumer", "queue", c.queue)
			ch.Close() // re-attached by the bus's watch loop
		}
	}()
	go func() {
		for err := range closes {
			c.bus.learnLimit(err) // a reply the broker refused for its size
		}
		c.attached.Store(false)
	}()
	c.ch, c.tag = ch, tag
	c.attached.Store(true)
	if c.handleBatch != nil {
		c.startBatches(deliveries)
		return nil
	}
	// Each delivery is acknowledged as soon as it is handled (for a
	// request: its reply published), never held back behind slower ones, so
	// a consumer that dies leaves the broker only what it had not finished.
	for range c.opts.Concurrency {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			for d := range deliveries {
				if c.handle(ch, d) {
					d.Ack(false) // an error means the channel is gone: the broker requeues
				}
			}
		}()
	}
	return nil
}

// startBatches starts c.runs workers that each take a delivery, then
// without waiting the ones already received behind it, up to c.batch, and
// hand them to handleBatch. The client library passes deliveries on one
// at a time to whichever worker waits, so a reader moves them into a
// buffer first, where a worker finds those that arrived while it was
// busy. The buffer holds the prefetch (Concurrency): the broker sends no
// more than that unsettled, so the reader never waits for room long.
func (c *consumer) startBatches(deliveries <-chan amqp.Delivery) {
	waiting := make(chan amqp.Delivery, c.opts.Concurrency)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer close(waiting)
		for d := range deliveries {
			waiting <- d
		}
	}()
	for range c.runs {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			for d := range waiting {
				ds := append(make([]amqp.Delivery, 0, c.batch), d)
				ds = takeWaiting(ds, waiting, c.batch)
				c.handleBatch(ds)
			}
		}()
	}
}

// takeWaiting appends to ds the deliveries waiting in ch, without
// waiting for more, until ds holds n.
func takeWaiting(ds []amqp.Delivery, ch <-chan amqp.Delivery, n int) []amqp.Delivery {
	for len(ds) < n {
		select {
		case d, ok := <-ch:
			if !ok {
				return ds
			}
			ds = append(ds, d)
		default:
			return ds
		}
	}
	return ds
}

func (c *consumer) attachFailed(err error) error {
	c.bus.logger.Warn("cannot attach consumer", "queue", c.queue, "err", err)
	return &transport.Error{Code: transport.CodeUnavailable, Message: fmt.Sprintf("cannot consume %s: %v", c.queue, err), Cause: err}
}

// Close implements transport.Subscription: it cancels the consumer, lets
// handlers in progress finish and settle, then closes the channel.
func (c *consumer) Close() error {
	c.bus.mu.Lock()
	delete(c.bus.consumers, c)
	c.bus.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if c.ch != nil {
		c.ch.Cancel(c.tag, false) // deliveries close once the broker confirms
		done := make(chan struct{})
		go func() { c.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(c.opts.HandlerTimeout + 5*time.Second):
			c.bus.logger.Warn("consumer handlers did not finish", "queue", c.queue)
		}
		c.ch.Close()
	}
	c.attached.Store(false)
	return nil
}

// withTimeout runs f with a context bounded by d.
func withTimeout(d time.Duration, f func(ctx context.Context)) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	f(ctx)
}
