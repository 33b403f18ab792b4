// Package rabbit is the RabbitMQ transport.Bus, over amqp091-go.
//
// Requests go to one durable queue per service ("shop.<service>", in the
// default namespace "shop") on the
// default exchange and come back through RabbitMQ's direct reply-to: each
// channel of a small pool consumes "amq.rabbitmq.reply-to" once, before it
// publishes anything, and one goroutine per channel hands replies to the
// waiting calls by correlation id. Events go to the durable topic exchange
// "shop.events" with publisher confirms; each subscriber has a durable queue
// "shop.events.<subscriber>" whose failed deliveries are retried and then
// dead-lettered through "shop.dead" into "shop.events.<subscriber>.dead".
//
// The bus survives the broker: when the connection drops it fails the calls
// in flight with CodeUnavailable, reconnects with exponential backoff and
// jitter, declares its topology again and re-attaches every consumer. Calls
// made meanwhile wait for the broker until their deadline. CONTRACT.md at
// the root of the module specifies the wire format.
package rabbit

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/shopbus/shopbus/internal/wire"
	"github.com/shopbus/shopbus/transport"
)

// DefaultNamespace prefixes the name of every broker object the bus declares.
const DefaultNamespace = "shop"

const replyTo = "amq.rabbitmq.reply-to"

// Names of the broker objects a bus declares in its namespace (see CONTRACT.md).
type names struct{ ns string }

func (n names) events() string                 { return n.ns + ".events" }
func (n names) dead() string                   { return n.ns + ".dead" }
func (n names) retry() string                  { return n.ns + ".retry" }
func (n names) requests(service string) string { return n.ns + "." + service }
func (n names) subscriber(sub string) string   { return n.ns + ".events." + sub }
func (n names) deadLetters(sub string) string  { return n.subscriber(sub) + ".dead" }
func (n names) deadRequests(svc string) string { return n.requests(svc) + ".dead" }

// Options configure a Bus. The zero value means the defaults.
type Options struct {
	// URL is the broker's AMQP URL, e.g. amqp://guest:guest@localhost:5672/:
	// the shorthand for a cluster of one node.
	URL string
	// URLs are the AMQP URLs of the nodes of one cluster. The bus connects
	// to them in shuffled order; when its connection drops it reconnects
	// to the next node that answers. URL, when set too, is one more node.
	URLs []string
	// TLS configures the TLS connections to amqps:// URLs: the CAs that
	// sign the broker's certificate (RootCAs; nil means the system's),
	// a client certificate (Certificates) and the name to verify in the
	// broker's certificate (ServerName; empty means each URL's host). It
	// is cloned for every connection. Nil means amqp091's defaults, which
	// read cacertfile, certfile, keyfile and server_name_indication from
	// the URL's query. Setting it for an amqp:// URL is an error: the
	// connection would not be encrypted.
	TLS *tls.Config
	// QueueType is the type of every durable queue the bus declares
	// (requests, events, dead letters): QueueClassic (the default) or
	// QueueQuorum, replicated across a cluster's nodes by Raft. A queue
	// that exists with another type is a start-up error naming it (see
	// CONTRACT.md for the migration).
	QueueType string
	// Name is shown as the connection name in the management UI.
	Name string
	// Namespace prefixes every queue and exchange name (default "shop"), so
	// that several shops, or parallel test runs, can share one broker.
	Namespace string
	// CallTimeout bounds calls whose context has no deadline (default 30 s).
	CallTimeout time.Duration
	// MaxMessageSize is the largest body accepted (default 1 MiB).
	MaxMessageSize int
	// ExpireUnused, when set, makes the broker delete a queue of this bus
	// that has had no consumer for that long (RabbitMQ's x-expires). It is
	// meant for tests and ephemeral environments; production leaves it 0.
	ExpireUnused time.Duration
	// Channels is the size of the pool of channels calls are made on
	// (default 2). Each channel has its own reply consumer; on a 2-core
	// machine 1, 2 and 4 measured within noise of each other at 64 calls in
	// flight (BENCHMARKS.md).
	Channels int
	// MinBackoff and MaxBackoff bound the pause between reconnection
	// attempts (defaults 100 ms and 5 s); jitter picks within [d/2, d].
	MinBackoff, MaxBackoff time.Duration
	// Logger receives connection changes, dropped messages and panics.
	Logger *slog.Logger
}

// Queue types (Options.QueueType).
const (
	QueueClassic = "classic"
	QueueQuorum  = "quorum"
)

// Bus is the RabbitMQ transport.Bus. Create it with Dial.
type Bus struct {
	opts   Options
	logger *slog.Logger
	names  names
	urls   []string      // the nodes, shuffled
	node   atomic.Uint64 // index in urls of the node to try first

	mu        sync.Mutex
	sess      *session           // nil while disconnected
	connected chan struct{}      // closed while sess != nil
	consumers map[*consumer]bool // every consumer to keep attached
	closed    bool

	pending pendingCalls
	ids     *idSource
	next    atomic.Uint64 // round-robin over the call channels
	// queueNames caches request queue names by service (see requestQueue).
	queueNames sync.Map
	// brokerMax is the broker's max_message_size once it refused a
	// message for its size, 0 until then (see learnLimit).
	brokerMax atomic.Int64
	stop      chan struct{}
	done      chan struct{}
	// refused receives the error of a first connection that every node
	// refused for its TLS certificates: Dial fails at once rather than
	// retry a configuration error until its deadline.
	refused chan error
	lastErr error // the last connection error, guarded by mu
}

var _ transport.Bus = (*Bus)(nil)

// Dial connects to the broker and returns a Bus. It waits for the first
// connection until ctx is done; after that the bus reconnects by itself.
func Dial(ctx context.Context, opts Options) (*Bus, error) {
	urls := slices.Clone(opts.URLs)
	if opts.URL != "" {
		urls = append(urls, opts.URL)
	}
	if len(urls) == 0 {
		return nil, transport.Invalid("no broker URL", "url", "must be set, e.g. amqp://guest:guest@localhost:5672/")
	}
	for _, u := range urls {
		uri, err := amqp.ParseURI(u)
		if err != nil {
			return nil, transport.Invalid("malformed broker URL", "url", err.Error())
		}
		if opts.TLS != nil && uri.Scheme != "amqps" {
			return nil, transport.Invalid("TLS configured for a plain broker URL", "url", redact(u)+" is not amqps://: the connection would not be encrypted")
		}
	}
	rand.Shuffle(len(urls), func(i, j int) { urls[i], urls[j] = urls[j], urls[i] })
	switch opts.QueueType {
	case "":
		opts.QueueType = QueueClassic
	case QueueClassic, QueueQuorum:
	default:
		return nil, transport.Invalid("unknown queue type", "queue_type", "must be classic or quorum, not "+strconv.Quote(opts.QueueType))
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = transport.DefaultCallTimeout
	}
	if opts.MaxMessageSize <= 0 {
		opts.MaxMessageSize = transport.DefaultMaxMessageSize
	}
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if err := transport.CheckName("namespace", opts.Namespace); err != nil {
		return nil, err
	}
	if opts.Channels <= 0 {
		opts.Channels = 2
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 100 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(5*time.Second, opts.MinBackoff)
	}
	b := &Bus{
		urls:      urls,
		opts:      opts,
		logger:    wire.Logger(opts.Logger),
		names:     names{opts.Namespace},
		connected: make(chan struct{}),
		consumers: map[*consumer]bool{},
		pending:   pendingCalls{m: map[string]chan reply{}},
		ids:       newIDSource(),
		stop:      make(chan struct{}),
		refused:   make(chan error, 1),
		done:      make(chan struct{}),
	}
	go b.run()
	select {
	case <-b.connectedCh():
		return b, nil
	case err := <-b.refused:
		b.Close()
		return nil, &transport.Error{Code: transport.CodeUnavailable, Message: "cannot connect to the broker at " + b.nodes() + ": " + err.Error(), Cause: err}
	case <-ctx.Done():
		b.Close()
		msg := "cannot reach the broker at " + b.nodes()
		b.mu.Lock()
		if b.lastErr != nil {
			msg += ": " + b.lastErr.Error()
		}
		b.mu.Unlock()
		return nil, &transport.Error{Code: transport.CodeUnavailable, Message: msg, Cause: ctx.Err()}
	}
}

// nodes lists the broker nodes, without passwords, for messages.
func (b *Bus) nodes() string {
	out := make([]string, len(b.urls))
	for i, u := range b.urls {
		out[i] = redact(u)
	}
	return strings.Join(out, ", ")
}

func redact(url string) string {
	u, err := amqp.ParseURI(url)
	if err != nil {
		return "(malformed URL)"
	}
	u.Password = ""
	return fmt.Sprintf("%s://%s@%s:%d/%s", u.Scheme, u.Username, u.Host, u.Port, u.Vhost)
}

func (b *Bus) connectedCh() chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.connected
}

// live returns the live session, or nil while disconnected.
func (b *Bus) live() *session {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	return b.sess
}

// current returns the live session, waiting for one until ctx is done.
func (b *Bus) current(ctx context.Context) (*session, error) {
	for {
		b.mu.Lock()
		s, wait, closed := b.sess, b.connected, b.closed
		b.mu.Unlock()
		if closed {
			return nil, errClosed()
		}
		if s != nil {
			return s, nil
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, &transport.Error{Code: transport.CodeUnavailable, Message: "broker unavailable", Cause: ctx.Err()}
		case <-b.stop:
			return nil, errClosed()
		}
	}
}

func errClosed() *transport.Error {
	return &transport.Error{Code: transport.CodeUnavailable, Message: "bus closed", Cause: transport.ErrBusClosed}
}

// run keeps a session alive until Close: connect, attach, wait for loss, repeat.
func (b *Bus) run() {
	defer close(b.done)
	attempt := 0
	connected := false
	for {
		s, err := b.connect()
		if err != nil {
			b.mu.Lock()
			b.lastErr = err
			b.mu.Unlock()
			if !connected && tlsRefused(err) {
				select {
				case b.refused <- err:
				default:
				}
			}
			attempt++
			delay := backoff(b.opts.MinBackoff, b.opts.MaxBackoff, attempt)
			b.logger.Warn("broker connection failed", "nodes", b.nodes(), "attempt", attempt, "retry_in", delay, "err", err)
			select {
			case <-time.After(delay):
				continue
			case <-b.stop:
				return
			}
		}
		if attempt > 0 {
			b.logger.Info("broker connection restored", "url", redact(s.url), "attempts", attempt)
		}
		attempt, connected = 0, true
		b.mu.Lock()
		b.lastErr = nil
		b.sess = s
		close(b.connected)
		consumers := make([]*consumer, 0, len(b.consumers))
		for c := range b.consumers {
			consumers = append(consumers, c)
		}
		b.mu.Unlock()
		for _, c := range consumers {
			c.attach(s)
		}
		b.watch(s)

		b.mu.Lock()
		b.sess = nil
		b.connected = make(chan struct{})
		closed := b.closed
		b.mu.Unlock()
		b.pending.failAll()
		if closed {
			return
		}
		b.node.Add(1) // try another node first: this one may be down
		b.logger.Warn("broker connection lost; reconnecting", "url", redact(s.url))
	}
}

// watch blocks until the session is lost or the bus is closed, re-attaching
// consumers whose channel failed on a live connection meanwhile.
func (b *Bus) watch(s *session) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-s.lost:
			return
		case <-b.stop:
			s.close()
			<-s.lost
			return
		case <-tick.C:
			b.mu.Lock()
			var detached []*consumer
			for c := range b.consumers {
				if !c.attached.Load() {
					detached = append(detached, c)
				}
			}
			b.mu.Unlock()
			for _, c := range detached {
				c.attach(s)
			}
		}
	}
}

// backoff returns the pause before reconnection attempt n (from 1):
// exponential, capped, with jitter in [d/2, d].
func backoff(lo, hi time.Duration, n int) time.Duration {
	d := lo << min(n-1, 20)
	if d > hi || d <= 0 {
		d = hi
	}
	return d/2 + rand.N(d/2+1)
}

// Ready implements transport.Bus.
func (b *Bus) Ready() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("rabbit: bus closed")
	}
	if b.sess == nil {
		return errors.New("rabbit: not connected to the broker")
	}
	for c := range b.consumers {
		if !c.attached.Load() {
			return fmt.Errorf("rabbit: consumer of %s is detached", c.queue)
		}
	}
	return nil
}

// Pending returns how many calls are waiting for a reply.
func (b *Bus) Pending() int { return b.pending.len() }

// Close implements transport.Bus.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		<-b.done
		return nil
	}
	b.closed = true
	consumers := make([]*consumer, 0, len(b.consumers))
	for c := range b.consumers {
		consumers = append(consumers, c)
	}
	b.mu.Unlock()
	for _, c := range consumers {
		c.Close()
	}
	close(b.stop)
	<-b.done
	return nil
}

// pendingCalls maps correlation ids to the calls waiting for them.
type pendingCalls struct {
	mu    sync.Mutex
	m     map[string]chan reply
	spare sync.Pool // reply channels known to be empty
}

type reply struct {
	body []byte
	err  *transport.Error
}

func (p *pendingCalls) add(id string) chan reply {
	ch, ok := p.spare.Get().(chan reply)
	if !ok {
		ch = make(chan reply, 1)
	}
	p.mu.Lock()
	p.m[id] = ch
	p.mu.Unlock()
	return ch
}

// recycle keeps a reply channel for another call. Only a channel whose
// reply was received may be recycled: a removed entry gets no late reply,
// and its one reply has been taken.
func (p *pendingCalls) recycle(ch chan reply) { p.spare.Put(ch) }

func (p *pendingCalls) remove(id string) {
	p.mu.Lock()
	delete(p.m, id)
	p.mu.Unlock()
}

// deliver hands a reply to its call; replies nobody waits for are dropped.
func (p *pendingCalls) deliver(id string, r reply) bool {
	p.mu.Lock()
	ch, ok := p.m[id]
	delete(p.m, id)
	p.mu.Unlock()
	if ok {
		ch <- r
	}
	return ok
}

// failAll fails every waiting call: their replies were lost with the connection.
func (p *pendingCalls) failAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, ch := range p.m {
		ch <- reply{err: &transport.Error{Code: transport.CodeUnavailable, Message: "connection to the broker lost; the call may or may not have run"}}
		delete(p.m, id)
	}
}

func (p *pendingCalls) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.m)
}

func expiration(d time.Duration) string {
	ms := d.Milliseconds()
	if ms < 1 {
		ms = 1
	}
	return strconv.FormatInt(ms, 10)
}
