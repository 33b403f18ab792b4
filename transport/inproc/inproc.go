// Package inproc is a transport.Bus inside one process: the bus that runs
// every service in one binary and makes tests fast. It keeps the semantics
// of the RabbitMQ bus (package rabbit): durable request queues shared by
// competing consumers, deadlines that drop stale requests, the same error
// codes and size limits, bodies copied as if they crossed a wire, trace
// context and metadata carried in headers, and durable event queues with
// retries and a dead-letter queue. The transporttest suite holds both to it.
package inproc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/shopbus/shopbus/internal/wire"
	"github.com/shopbus/shopbus/transport"
)

// Options configure a Bus. The zero value means the defaults.
type Options struct {
	// CallTimeout bounds calls whose context has no deadline.
	CallTimeout time.Duration
	// MaxMessageSize is the largest body accepted (default 1 MiB).
	MaxMessageSize int
	// QueueLength is how many requests may wait in one service's queue
	// before callers block (default 4096).
	QueueLength int
	// Logger receives handler panics and failures (default slog.Default()).
	Logger *slog.Logger
	// MaxDeadLetters bounds each subscriber's dead-letter queue (default
	// DefaultMaxDeadLetters): the bus lives in the process's memory, so a
	// flood of events a subscriber cannot handle must not grow it without
	// end. Beyond the bound the oldest parked event is dropped, with a
	// warning naming it. (RabbitMQ keeps parked events on the broker's
	// disk; see the rabbit package.)
	MaxDeadLetters int
}

// DefaultMaxDeadLetters is Options.MaxDeadLetters's default.
const DefaultMaxDeadLetters = 10_000

// Bus is the in-process transport.Bus. Create it with New.
type Bus struct {
	opts   Options
	logger *slog.Logger

	mu          sync.Mutex
	queues      map[string]*requestQueue // by service
	subscribers map[string]*eventQueue   // by subscriber
	closed      bool
	done        chan struct{}
	consumers   sync.WaitGroup
}

var _ transport.Bus = (*Bus)(nil)

// New returns an in-process bus.
func New(opts Options) *Bus {
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = transport.DefaultCallTimeout
	}
	if opts.MaxMessageSize <= 0 {
		opts.MaxMessageSize = transport.DefaultMaxMessageSize
	}
	if opts.QueueLength <= 0 {
		opts.QueueLength = 4096
	}
	if opts.MaxDeadLetters <= 0 {
		opts.MaxDeadLetters = DefaultMaxDeadLetters
	}
	return &Bus{
		opts:        opts,
		logger:      wire.Logger(opts.Logger),
		queues:      map[string]*requestQueue{},
		subscribers: map[string]*eventQueue{},
		done:        make(chan struct{}),
	}
}

// call is one request waiting in a queue.
type call struct {
	req      transport.Request
	headers  map[string]string
	deadline time.Time
	reply    chan result
}

type result struct {
	body []byte
	err  *transport.Error
}

type requestQueue struct {
	ch chan *call
}

func (b *Bus) queue(service string) (*requestQueue, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errClosed()
	}
	q := b.queues[service]
	if q == nil {
		q = &requestQueue{ch: make(chan *call, b.opts.QueueLength)}
		b.queues[service] = q
	}
	return q, nil
}

func errClosed() *transport.Error {
	return &transport.Error{Code: transport.CodeUnavailable, Message: "bus closed", Cause: transport.ErrBusClosed}
}

// Call implements transport.Bus.
func (b *Bus) Call(ctx context.Context, method string, body []byte) (reply []byte, err error) {
	service, err := transport.ServiceOf(method)
	if err != nil {
		return nil, err
	}
	ctx, span := wire.StartCall(ctx, wire.SystemInProc, method, service, body)
	defer func() { wire.EndCall(span, err) }()
	if len(body) > b.opts.MaxMessageSize {
		return nil, wire.CheckRequest(body, b.opts.MaxMessageSize)
	}
	q, err := b.queue(service)
	if err != nil {
		return nil, err
	}
	ctx, cancel := wire.CallContext(ctx, b.opts.CallTimeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	c := &call{
		req:      transport.Request{Method: method, ID: uuid.NewString(), Body: clone(body)},
		headers:  wire.OutgoingHeaders(ctx),
		deadline: deadline,
		reply:    make(chan result, 1),
	}
	rid := transport.CallRequestID(ctx, method, body)
	if rid != "" {
		if c.headers == nil {
			c.headers = map[string]string{}
		}
		c.headers[wire.HeaderRequestID] = rid
	}
	wire.CallSent(span, c.req.ID, rid)
	select {
	case q.ch <- c:
	case <-ctx.Done():
		return nil, transport.ContextError(ctx)
	case <-b.done:
		return nil, errClosed()
	}
	select {
	case r := <-c.reply:
		if r.err != nil {
			return nil, r.err
		}
		return r.body, nil
	case <-ctx.Done():
		return nil, transport.ContextError(ctx)
	case <-b.done:
		return nil, errClosed()
	}
}

// Serve implements transport.Bus.
func (b *Bus) Serve(service string, h transport.Handler, opts ...transport.ConsumerOption) (transport.Subscription, error) {
	if err := transport.CheckName("service", service); err != nil {
		return nil, err
	}
	o := transport.ApplyConsumerOptions(opts)
	q, err := b.queue(service)
	if err != nil {
		return nil, err
	}
	s := b.newSub()
	for range o.Concurrency {
		s.wg.Add(1)
		b.consumers.Add(1)
		go func() {
			defer b.consumers.Done()
			defer s.wg.Done()
			for {
				select {
				case c := <-q.ch:
					b.answer(service, h, o, c)
				case <-s.stop:
					return
				case <-b.done:
					return
				}
			}
		}()
	}
	return s, nil
}

func (b *Bus) answer(service string, h transport.Handler, o transport.ConsumerOptions, c *call) {
	if time.Now().After(c.deadline) {
		return // the caller has given up: drop it, as the broker drops expired messages
	}
	req := c.req
	id, bad := wire.RequestID(c.headers, req.ID)
	if bad == nil {
		bad = wire.CheckRequest(req.Body, b.opts.MaxMessageSize)
	}
	if bad != nil {
		c.reply <- result{err: bad}
		return
	}
	req.RequestID = id
	ctx, cancel := wire.HandlerContext(c.deadline, o.MaxDeadline, c.headers, id)
	defer cancel()
	req.Header = wire.AppHeaders(c.headers)
	ctx, span := wire.StartHandler(ctx, wire.SystemInProc, service, &req)
	body, err := wire.Serve(ctx, h, &req, b.opts.MaxMessageSize, b.logger)
	wire.EndHandler(span, err)
	c.reply <- result{body: clone(body), err: err}
}

// sub is one attached consumer.
type sub struct {
	stop    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
	onClose func() // if set, runs once the consumers have stopped
}

func (b *Bus) newSub() *sub {
	return &sub{stop: make(chan struct{})}
}

// Close implements transport.Subscription.
func (s *sub) Close() error {
	first := false
	s.once.Do(func() { close(s.stop); first = true })
	s.wg.Wait()
	if first && s.onClose != nil {
		s.onClose()
	}
	return nil
}

// Ready implements transport.Bus: an in-process bus is ready until closed.
func (b *Bus) Ready() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("inproc: bus closed")
	}
	return nil
}

// Close implements transport.Bus.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.done)
	for _, q := range b.subscribers {
		q.wake()
	}
	b.mu.Unlock()
	b.consumers.Wait()
	return nil
}

// Pending returns how many requests wait in queues for a consumer.
func (b *Bus) Pending() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, q := range b.queues {
		n += len(q.ch)
	}
	return n
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// String names the bus in logs and test failures.
func (b *Bus) String() string { return fmt.Sprintf("inproc.Bus(%p)", b) }
