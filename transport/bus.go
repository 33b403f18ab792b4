package transport

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// Defaults shared by every Bus implementation.
const (
	// DefaultCallTimeout bounds a call whose context has no deadline.
	DefaultCallTimeout = 30 * time.Second
	// DefaultMaxMessageSize is the largest request, reply or event body accepted.
	DefaultMaxMessageSize = 1 << 20
	// DefaultConcurrency is how many requests or events one consumer handles at once.
	DefaultConcurrency = 16
	// DefaultMaxAttempts is how many times an event is delivered before it is
	// parked in the subscriber's dead-letter queue.
	DefaultMaxAttempts = 5
	// DefaultRetryDelay is the pause before a failed event is delivered again.
	DefaultRetryDelay = 100 * time.Millisecond
)

// Bus carries requests to services and events to subscribers. The RabbitMQ
// implementation (package rabbit) and the in-process one (package inproc)
// behave the same way; package transporttest holds the suite that proves it.
//
// A method is named "<service>.<name>", for example "auth.login": the part
// before the first dot selects the service's request queue.
type Bus interface {
	// Call sends body to method and waits for the reply. Every call has a
	// deadline: the context's, or the bus's default call timeout. Failures
	// are *Error values: the handler's own error, or CodeInvalid,
	// CodeDeadlineExceeded, CodeUnavailable, CodeInternal from the bus.
	Call(ctx context.Context, method string, body []byte) ([]byte, error)

	// Serve consumes the request queue of service and answers each request
	// with h. It returns once the consumer is attached; Close on the result
	// detaches it. Requests already in the queue wait for the next consumer.
	Serve(service string, h Handler, opts ...ConsumerOption) (Subscription, error)

	// Publish sends an event to every subscription whose pattern matches its
	// key. It returns once the event is safely stored (publisher confirm).
	// An empty ID or Time is filled in.
	Publish(ctx context.Context, ev Event) error

	// Subscribe delivers events whose key matches pattern to h, at least once.
	// subscriber names the durable queue: subscriptions with the same name
	// share one queue (and so split its events); events published while no
	// consumer is attached wait in it. pattern uses topic syntax: words
	// separated by dots, "*" matches one word and "#" zero or more.
	// A delivery whose handler fails is retried; after MaxAttempts it is
	// parked in the subscriber's dead-letter queue.
	Subscribe(subscriber, pattern string, h EventHandler, opts ...ConsumerOption) (Subscription, error)

	// DrainDeadLetters removes and returns the events parked for subscriber.
	DrainDeadLetters(ctx context.Context, subscriber string) ([]Event, error)

	// PeekDeadLetters returns up to max (1 to MaxPeekDeadLetters) of the
	// events parked for subscriber, oldest first, and leaves them parked.
	// Attempt is how many deliveries failed; the HeaderDeadReason and
	// HeaderDeadTime headers say why and when the event was parked, when
	// the bus knows. An unknown subscriber has none. On RabbitMQ a peek
	// takes the events from the queue and gives them back: the broker
	// marks them redelivered, and a peek running at the same time as
	// another peek, a replay or a discard of the same subscriber may not
	// see the events the other holds meanwhile.
	PeekDeadLetters(ctx context.Context, subscriber string, max int) ([]Event, error)

	// ReplayDeadLetters puts the events parked for subscriber whose ID is
	// among ids back into that subscriber's queue (and no other
	// subscriber's), with their ID, key, time, body and headers, their
	// Attempt starting again at 1. Each is removed from the dead-letter
	// queue only once the bus has stored its copy in the subscriber's
	// queue, so a failure in between can deliver an event twice (handlers
	// dedupe by ID) but never loses it. It returns how many events were
	// replayed: ids that are not parked are ignored. At most
	// MaxDeadLetterIDs ids are accepted.
	ReplayDeadLetters(ctx context.Context, subscriber string, ids []string) (int, error)

	// DiscardDeadLetters removes the events parked for subscriber whose ID
	// is among ids and returns how many it removed; ids that are not
	// parked are ignored. At most MaxDeadLetterIDs ids are accepted.
	DiscardDeadLetters(ctx context.Context, subscriber string, ids []string) (int, error)

	// Ready returns nil when the bus is connected and every consumer is
	// attached, and an error saying what is missing otherwise.
	Ready() error

	// Close detaches every consumer and releases the bus. Calls in flight
	// fail with CodeUnavailable.
	Close() error
}

// Limits of the dead-letter methods of Bus.
const (
	// MaxPeekDeadLetters is the most events one PeekDeadLetters returns.
	MaxPeekDeadLetters = 1000
	// MaxDeadLetterIDs is the most ids one ReplayDeadLetters or
	// DiscardDeadLetters accepts.
	MaxDeadLetterIDs = 1000
	// DeadLetterScanLimit bounds how many parked events one
	// ReplayDeadLetters or DiscardDeadLetters looks at, oldest first: the
	// ids of events parked behind that many others are not found.
	DeadLetterScanLimit = 100_000
)

// Headers of an event PeekDeadLetters returns, when the bus knows them.
const (
	// HeaderDeadReason says why the event was parked: the last handler
	// error on the in-process bus, the broker's reason on RabbitMQ
	// ("rejected": its deliveries failed or it was malformed).
	HeaderDeadReason = "x-shop-dead-reason"
	// HeaderDeadTime is when the event was parked, in RFC 3339 format.
	HeaderDeadTime = "x-shop-dead-time"
)

// CheckDeadLetterIDs validates the ids given to ReplayDeadLetters or
// DiscardDeadLetters and returns them as a set. It is for Bus
// implementations.
func CheckDeadLetterIDs(ids []string) (map[string]bool, error) {
	if len(ids) > MaxDeadLetterIDs {
		return nil, Invalid("too many event ids", "ids", "at most "+strconv.Itoa(MaxDeadLetterIDs))
	}
	set := make(map[string]bool, len(ids))
	for _, id := range ids {
		if id == "" || len(id) > 255 {
			return nil, Invalid("malformed event id", "ids", "each must be 1-255 characters")
		}
		set[id] = true
	}
	return set, nil
}

// CheckPeekMax validates the max given to PeekDeadLetters. It is for Bus
// implementations.
func CheckPeekMax(max int) error {
	if max < 1 || max > MaxPeekDeadLetters {
		return Invalid("malformed limit", "max", "must be 1-"+strconv.Itoa(MaxPeekDeadLetters))
	}
	return nil
}

// Subscription is an attached consumer.
type Subscription interface {
	// Close detaches the consumer, waiting for handlers in progress to finish.
	Close() error
}

// Request is one request as a handler sees it.
type Request struct {
	// Method is the full method name, e.g. "auth.login".
	Method string
	// ID is the caller's correlation id.
	ID string
	// RequestID identifies the request across redeliveries and the
	// caller's retries (see WithRequestID): the request id header, or the
	// correlation id when there is none.
	RequestID string
	// Body is the JSON request body.
	Body []byte
	// Header holds the caller's metadata (see WithHeader).
	Header map[string]string
}

// Handler answers requests. Implementations must be safe for concurrent use.
type Handler interface {
	ServeBus(ctx context.Context, req *Request) ([]byte, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, req *Request) ([]byte, error)

// ServeBus calls f.
func (f HandlerFunc) ServeBus(ctx context.Context, req *Request) ([]byte, error) {
	return f(ctx, req)
}

// Event is a fact a service announces. Delivery is at least once: handlers
// use ID to ignore repeats.
type Event struct {
	// ID identifies the event across redeliveries. Publish sets a UUID when empty.
	ID string
	// Key is the routing key "<service>.<entity>.<verb>", e.g. "product.product.updated".
	Key string
	// Time is when the event happened. Publish sets it when zero.
	Time time.Time
	// Body is the JSON payload.
	Body []byte
	// Header holds metadata such as trace context. Publish adds the trace
	// context of its ctx but never the caller's request headers (WithHeader):
	// a session token must not reach every subscriber.
	Header map[string]string
	// Attempt counts deliveries to this subscriber, starting at 1. Set on receipt.
	Attempt int
}

// EventHandler handles delivered events. Returning an error asks for a
// retry. Implementations must be safe for concurrent use.
type EventHandler interface {
	HandleEvent(ctx context.Context, ev Event) error
}

// EventHandlerFunc adapts a function to EventHandler.
type EventHandlerFunc func(ctx context.Context, ev Event) error

// HandleEvent calls f.
func (f EventHandlerFunc) HandleEvent(ctx context.Context, ev Event) error { return f(ctx, ev) }

// BatchEventHandler is an EventHandler that can also handle several
// events at once, say with one bulk write. A consumer whose Batch option
// is above 1 hands it the events already waiting when it takes one (at
// most Batch), in one HandleEvents call; when the subscriber keeps up,
// that is one event per call. Each event is then settled on its own, as
// if handled alone: acknowledged when its error is nil, else retried
// with its Attempt raised and parked after MaxAttempts, so one failing
// event never fails its neighbours. HandleEvent is what the consumer
// calls with Batch 1 (the default), and what wrappers fall back to.
type BatchEventHandler interface {
	EventHandler
	// HandleEvents handles evs (1 to the consumer's Batch events, in the
	// order delivered) and returns one error per event, in the same
	// order: nil for each event handled. A result of another length
	// fails every event of the batch. The context's deadline
	// (HandlerTimeout) bounds the whole batch; each event's own metadata
	// is in its Header.
	HandleEvents(ctx context.Context, evs []Event) []error
}

// ConsumerOptions tune one consumer. The zero value means the defaults.
type ConsumerOptions struct {
	// Concurrency is how many messages are handled at once (the prefetch).
	Concurrency int
	// MaxAttempts is how many deliveries an event gets before it is
	// parked; a request delivered more often than this (it crashed its
	// consumers each time) is parked too.
	MaxAttempts int
	// RetryDelay is the pause before a failed event is delivered again.
	RetryDelay time.Duration
	// HandlerTimeout bounds one event handler run (requests are bounded by
	// the caller's deadline). Zero means one minute.
	HandlerTimeout time.Duration
	// MaxDeadline caps the deadline a request handler runs under, whatever
	// deadline the caller claims (a request may say a year). Zero means
	// DefaultMaxDeadline.
	MaxDeadline time.Duration
	// QueueExpiry, when set, makes an event subscriber's queue (and its
	// dead letters) go away once it has had no consumer for that long:
	// for per-replica subscriptions of replicas that may never come back.
	// Zero keeps the queue for good.
	QueueExpiry time.Duration
	// Batch is the most events an event consumer hands at once to a
	// handler that is a BatchEventHandler (other handlers always get one
	// event per call). 0 or 1 means one at a time. It is capped at
	// Concurrency and at MaxBatch. Concurrency still bounds the events a
	// consumer holds at once (the prefetch on RabbitMQ): with Batch above
	// 1 they are handled by Concurrency/Batch (rounded up) handler runs
	// at once, so that events wait for a busy handler and the next run
	// takes them together; Concurrency 32 with Batch 16, say, gives two
	// runs of up to 16 events.
	Batch int
}

// MaxBatch is the most events one HandleEvents call gets
// (ConsumerOptions.Batch's cap).
const MaxBatch = 100

// ConsumerOption sets a ConsumerOptions field.
type ConsumerOption func(*ConsumerOptions)

// WithConcurrency sets how many messages a consumer handles at once.
func WithConcurrency(n int) ConsumerOption { return func(o *ConsumerOptions) { o.Concurrency = n } }

// WithMaxAttempts sets how many deliveries an event gets before it is parked.
func WithMaxAttempts(n int) ConsumerOption { return func(o *ConsumerOptions) { o.MaxAttempts = n } }

// WithRetryDelay sets the pause before a failed event is delivered again.
func WithRetryDelay(d time.Duration) ConsumerOption {
	return func(o *ConsumerOptions) { o.RetryDelay = d }
}

// WithHandlerTimeout bounds one event handler run.
func WithHandlerTimeout(d time.Duration) ConsumerOption {
	return func(o *ConsumerOptions) { o.HandlerTimeout = d }
}

// WithMaxDeadline caps the deadline a request handler runs under (see
// ConsumerOptions.MaxDeadline).
func WithMaxDeadline(d time.Duration) ConsumerOption {
	return func(o *ConsumerOptions) { o.MaxDeadline = d }
}

// DefaultMaxDeadline is the longest a request handler runs by default.
const DefaultMaxDeadline = 30 * time.Second

// WithQueueExpiry makes an event subscriber's queue go away once it has had
// no consumer for d (see ConsumerOptions.QueueExpiry).
func WithQueueExpiry(d time.Duration) ConsumerOption {
	return func(o *ConsumerOptions) { o.QueueExpiry = d }
}

// WithBatch sets how many waiting events a consumer hands at once to a
// BatchEventHandler (see ConsumerOptions.Batch).
func WithBatch(n int) ConsumerOption { return func(o *ConsumerOptions) { o.Batch = n } }

// BatchDefaults returns opts behind the options of a batching subscriber
// (one whose handler is a BatchEventHandler), so that opts win: a Batch of
// batch, or of half the Concurrency opts set (at most batch), and a
// Concurrency of twice the batch unless opts set one, so that two handler
// runs go at once (see ConsumerOptions.Batch).
func BatchDefaults(batch int, opts []ConsumerOption) []ConsumerOption {
	var set ConsumerOptions
	for _, opt := range opts {
		opt(&set)
	}
	switch {
	case set.Batch > 0:
		batch = set.Batch
	case set.Concurrency > 0:
		batch = max(1, min(batch, set.Concurrency/2))
	}
	defaults := []ConsumerOption{WithBatch(batch)}
	if set.Concurrency <= 0 && batch > 1 {
		defaults = append(defaults, WithConcurrency(2*batch))
	}
	return append(defaults, opts...)
}

// ApplyConsumerOptions returns the options with defaults filled in. It is
// for Bus implementations.
func ApplyConsumerOptions(opts []ConsumerOption) ConsumerOptions {
	var o ConsumerOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.RetryDelay < 0 {
		o.RetryDelay = 0
	} else if o.RetryDelay == 0 {
		o.RetryDelay = DefaultRetryDelay
	}
	if o.HandlerTimeout <= 0 {
		o.HandlerTimeout = time.Minute
	}
	if o.MaxDeadline <= 0 {
		o.MaxDeadline = DefaultMaxDeadline
	}
	if o.QueueExpiry < 0 {
		o.QueueExpiry = 0
	}
	o.Batch = max(1, min(o.Batch, o.Concurrency, MaxBatch))
	return o
}

// EventRuns returns how an event consumer runs h: runs handler calls at
// once, each with up to batch events. A BatchEventHandler under a Batch
// above 1 gets Concurrency/Batch (rounded up) runs of up to Batch events;
// any other handler, Concurrency runs of one event. o has its defaults
// filled in (ApplyConsumerOptions). It is for Bus implementations.
func (o ConsumerOptions) EventRuns(h EventHandler) (runs, batch int) {
	if _, ok := h.(BatchEventHandler); !ok || o.Batch <= 1 {
		return o.Concurrency, 1
	}
	return (o.Concurrency + o.Batch - 1) / o.Batch, o.Batch
}

// ServiceOf returns the service part of a method name ("auth" for
// "auth.login"), or an invalid error when the name is malformed.
func ServiceOf(method string) (string, error) {
	service, name, ok := strings.Cut(method, ".")
	if !ok || !validName(service) || name == "" || len(method) > 255 {
		return "", Invalid("malformed method name", "method", "must look like <service>.<name>: "+quote(method))
	}
	return service, nil
}

// CheckName validates a service or subscriber name: 1 to 64 characters of
// lower-case letters, digits, '-' and '_'.
func CheckName(kind, name string) error {
	if !validName(name) {
		return Invalid("malformed "+kind+" name", kind, "use 1-64 of a-z, 0-9, '-', '_': "+quote(name))
	}
	return nil
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// CheckPattern validates a topic pattern or routing key: dot-separated words.
func CheckPattern(pattern string) error {
	if pattern == "" || len(pattern) > 255 {
		return Invalid("malformed pattern", "pattern", "must be 1-255 characters")
	}
	for _, w := range strings.Split(pattern, ".") {
		if w == "" {
			return Invalid("malformed pattern", "pattern", "empty word in "+quote(pattern))
		}
	}
	return nil
}

func quote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return "\"" + s + "\""
}
