package rabbit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/shopbus/shopbus/internal/wire"
	"github.com/shopbus/shopbus/transport"
	"go.opentelemetry.io/otel/trace"
)

// session is the live connections: conn with the call channels and the
// confirm-mode channel for events, and consume for the consumers of
// requests and events. Publishing and consuming on connections of their
// own is what RabbitMQ recommends: the broker's flow control, which
// blocks a publishing connection, then never stalls consumers, and each
// connection gets its own reader on either side, so the two directions
// proceed in parallel. The session is replaced after the loss of either.
type session struct {
	url     string // the node connected to
	conn    *amqp.Connection
	consume *amqp.Connection
	calls   []*amqp.Channel // each consumes direct reply-to
	confirm *amqp.Channel   // publisher confirms, for events and retries
	lost    chan struct{}   // closed when the connection is gone
	once    sync.Once
	// refused is the last ACCESS_REFUSED a channel was closed with: a
	// publish this account may not make (see accessRefused).
	refused atomic.Pointer[amqp.Error]
}

// connect connects to the first node that answers, trying them in turn
// from b.node (which run moves past a node whose connection was lost).
// Both connections of a session go to one node.
func (b *Bus) connect() (*session, error) {
	var errs []error
	start := b.node.Load()
	for i := range uint64(len(b.urls)) {
		n := (start + i) % uint64(len(b.urls))
		s, err := b.connectTo(b.urls[n])
		if err == nil {
			b.node.Store(n)
			return s, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", redact(b.urls[n]), err))
	}
	return nil, errors.Join(errs...)
}

func (b *Bus) connectTo(url string) (*session, error) {
	cfg := amqp.Config{
		Heartbeat:  10 * time.Second,
		Locale:     "en_US",
		Properties: amqp.Table{"connection_name": b.connectionName()},
		Dial:       amqp.DefaultDial(5 * time.Second),
	}
	if b.opts.TLS != nil {
		// amqp091 sets ServerName in the config it is given: a clone per
		// connection keeps one node's name from sticking to the others.
		cfg.TLSClientConfig = b.opts.TLS.Clone()
	}
	conn, err := amqp.DialConfig(url, cfg)
	if err != nil {
		return nil, dialFailed(err)
	}
	s := &session{url: url, conn: conn, lost: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			s.close()
		}
	}()
	b.watchConnection(s, conn)
	cfg.Properties = amqp.Table{"connection_name": b.connectionName() + " (consumers)"}
	if b.opts.TLS != nil {
		cfg.TLSClientConfig = b.opts.TLS.Clone()
	}
	if s.consume, err = amqp.DialConfig(url, cfg); err != nil {
		return nil, dialFailed(err)
	}
	b.watchConnection(s, s.consume)

	if err := declareTopology(conn, b.names); err != nil {
		return nil, err
	}
	for range b.opts.Channels {
		ch, err := b.openCallChannel(s)
		if err != nil {
			return nil, err
		}
		s.calls = append(s.calls, ch)
	}
	s.confirm, err = conn.Channel()
	if err != nil {
		return nil, err
	}
	if err := s.confirm.Confirm(false); err != nil {
		return nil, err
	}
	b.watchChannel(s, s.confirm)
	ok = true
	return s, nil
}

// dialFailed explains a failed TLS handshake, whose errors from crypto/tls
// do not say that the broker's certificate is the problem.
func dialFailed(err error) error {
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	var alert tls.AlertError
	switch {
	case errors.As(err, &unknownCA):
		return fmt.Errorf("TLS: the broker's certificate is not signed by a trusted CA (set the CA file): %w", err)
	case errors.As(err, &hostname):
		return fmt.Errorf("TLS: the broker's certificate is not valid for the server name %q (set the server name): %w", hostname.Host, err)
	case errors.As(err, &invalid):
		return fmt.Errorf("TLS: the broker's certificate is invalid: %w", err)
	case errors.As(err, &verify):
		return fmt.Errorf("TLS: cannot verify the broker's certificate: %w", err)
	case errors.As(err, &alert) || remoteTLSAlert(err):
		return fmt.Errorf("TLS: the broker refused the handshake (does it require a client certificate its CA signed?): %w", err)
	}
	return err
}

// tlsRefused reports whether err, from connect, says that the TLS
// handshake with every node failed over certificates: the broker's, which
// this bus does not trust, or this bus's, which the broker refused.
func tlsRefused(err error) bool {
	if errs, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range errs.Unwrap() {
			if !tlsRefused(e) {
				return false
			}
		}
		return len(errs.Unwrap()) > 0
	}
	var verify *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var alert tls.AlertError
	return errors.As(err, &verify) || errors.As(err, &unknownCA) || errors.As(err, &hostname) ||
		errors.As(err, &invalid) || errors.As(err, &alert) || remoteTLSAlert(err)
}

// remoteTLSAlert reports whether err is the broker's TLS alert as amqp091
// reports it when it arrives after the handshake (TLS 1.3 checks the
// client's certificate then): an *amqp.Error holding only the text.
func remoteTLSAlert(err error) bool {
	var amqpErr *amqp.Error
	return errors.As(err, &amqpErr) && strings.Contains(amqpErr.Reason, "remote error: tls:")
}

// watchConnection drains conn's notifications (amqp091 deadlocks on an
// undrained one) and ends s when conn is gone.
func (b *Bus) watchConnection(s *session, conn *amqp.Connection) {
	closes := conn.NotifyClose(make(chan *amqp.Error, 1))
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 4))
	go func() {
		for err := range closes {
			b.logger.Warn("broker closed the connection", "err", err)
		}
		s.close() // the other connection goes too: the session is replaced whole
		s.once.Do(func() { close(s.lost) })
	}()
	go func() {
		for bl := range blocked {
			b.logger.Warn("broker flow control", "blocked", bl.Active, "reason", bl.Reason)
		}
	}()
}

func (b *Bus) connectionName() string {
	if b.opts.Name != "" {
		return b.opts.Name
	}
	return "shopbus"
}

// declareTopology declares the namespace's exchanges. An account that may
// not declare them (a least-privilege account, whose broker has them from
// a definitions file: deploy/brokeraccess) checks that they exist instead.
func declareTopology(conn *amqp.Connection, n names) error {
	err := declareExchanges(conn, n, false)
	var amqpErr *amqp.Error
	if !errors.As(err, &amqpErr) || amqpErr.Code != amqp.AccessRefused {
		return err
	}
	if err := declareExchanges(conn, n, true); err != nil {
		return fmt.Errorf("this account may not declare the exchanges %s, %s and %s, and they do not exist (load the broker's definitions): %w", n.events(), n.retry(), n.dead(), err)
	}
	return nil
}

// declareExchanges declares the exchanges, or only checks that they exist.
func declareExchanges(conn *amqp.Connection, n names, passive bool) error {
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	declare := ch.ExchangeDeclare
	if passive {
		declare = ch.ExchangeDeclarePassive
	}
	if err := declare(n.events(), amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		return err
	}
	// Retries are a topic exchange so that topic permissions can limit
	// each account to its own queues' names as routing keys.
	if err := declare(n.retry(), amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		return err
	}
	return declare(n.dead(), amqp.ExchangeDirect, true, false, false, false, nil)
}

// openCallChannel opens a channel and starts consuming direct reply-to on
// it before anything is published, so no reply can be lost.
func (b *Bus) openCallChannel(s *session) (*amqp.Channel, error) {
	ch, err := s.conn.Channel()
	if err != nil {
		return nil, err
	}
	replies, err := ch.Consume(replyTo, "", true, false, false, false, nil)
	if err != nil {
		return nil, err
	}
	b.watchChannel(s, ch)
	go func() {
		for d := range replies {
			b.pending.deliver(d.CorrelationId, decodeReply(&d))
		}
	}()
	// Requests are published mandatory: one the broker cannot route (no
	// queue for the service yet: it has never started) comes back at once
	// as unavailable, which callers retry, instead of vanishing and leaving
	// its caller waiting for the whole deadline. Drained until the channel
	// closes (amqp091 closes it then).
	returns := ch.NotifyReturn(make(chan amqp.Return, 16))
	go func() {
		for r := range returns {
			b.pending.deliver(r.CorrelationId, reply{err: unroutable(r)})
		}
	}()
	return ch, nil
}

// unroutable is the error of a request the broker returned: no queue
// takes its routing key. Nothing ran, so the caller may retry it.
func unroutable(r amqp.Return) *transport.Error {
	return &transport.Error{Code: transport.CodeUnavailable,
		Message: fmt.Sprintf("no queue %s (its service has not started yet): %s", truncate(r.RoutingKey, 200), r.ReplyText),
		Cause:   transport.ErrNotStarted}
}

// watchChannel treats a channel closed by the broker as a lost session: the
// simplest recovery that re-creates every channel and consumer.
func (b *Bus) watchChannel(s *session, ch *amqp.Channel) {
	closes := ch.NotifyClose(make(chan *amqp.Error, 1))
	go func() {
		for err := range closes {
			if err != nil {
				b.learnLimit(err)
				if err.Code == amqp.AccessRefused {
					s.refused.Store(err)
				}
				b.logger.Warn("broker closed a channel; reconnecting", "err", err)
				s.close()
			}
		}
	}()
}

func (s *session) close() {
	s.conn.Close()
	if s.consume != nil {
		s.consume.Close()
	}
}

// deadlineExceeded is the error of a call whose deadline passed, unless
// ctx was cancelled first.
func deadlineExceeded(ctx context.Context) error {
	if ctx.Err() != nil {
		return transport.ContextError(ctx)
	}
	return &transport.Error{Code: transport.CodeDeadlineExceeded, Message: "deadline exceeded", Cause: context.DeadlineExceeded}
}

func decodeReply(d *amqp.Delivery) reply {
	if d.Type == wire.TypeError {
		code, _ := d.Headers[wire.HeaderError].(string)
		return reply{err: wire.DecodeError(code, d.Body)}
	}
	return reply{body: d.Body}
}

// Call implements transport.Bus.
func (b *Bus) Call(ctx context.Context, method string, body []byte) ([]byte, error) {
	service, err := transport.ServiceOf(method)
	if err != nil {
		return nil, err
	}
	ctx, span := wire.StartCall(ctx, wire.SystemRabbitMQ, method, b.requestQueue(service), body)
	out, err := b.call(ctx, span, service, method, body)
	wire.EndCall(span, err)
	return out, err
}

// call makes a call of method of service; span is its span.
func (b *Bus) call(ctx context.Context, span trace.Span, service, method string, body []byte) (_ []byte, err error) {
	if len(body) > b.maxBody() {
		return nil, b.checkBody(body)
	}
	// Every call has a deadline: the context's or the default. Without one
	// in ctx, a plain timer bounds the wait (cheaper than a derived context
	// on this hot path).
	deadline, ctxDeadline := ctx.Deadline()
	if !ctxDeadline {
		deadline = time.Now().Add(b.opts.CallTimeout)
	}
	s := b.live()
	if s == nil { // the broker is away: wait for it until the deadline
		wctx, cancel := context.WithDeadline(ctx, deadline)
		defer cancel()
		if s, err = b.current(wctx); err != nil {
			return nil, err
		}
	}
	remaining := time.Until(deadline)
	if remaining <= 0 {
		return nil, deadlineExceeded(ctx)
	}
	var timeout <-chan time.Time
	if !ctxDeadline {
		t := getTimer(remaining)
		defer putTimer(t)
		timeout = t.C
	}
	id := b.ids.next()
	headers := getTable()
	defer putTable(headers) // amqp091 encodes it before Publish returns
	headers[wire.HeaderDeadline] = deadline.UnixMilli()
	for k, v := range wire.OutgoingHeaders(ctx) {
		headers[k] = v
	}
	rid := transport.CallRequestID(ctx, method, body)
	if rid != "" {
		headers[wire.HeaderRequestID] = rid
	}
	wire.CallSent(span, id, rid)
	replyCh := b.pending.add(id)
	received := false
	defer func() {
		b.pending.remove(id)
		if received {
			b.pending.recycle(replyCh)
		}
	}()
	ch := s.calls[b.next.Add(1)%uint64(len(s.calls))]
	err = ch.PublishWithContext(ctx, "", b.requestQueue(service), true, false, amqp.Publishing{
		ContentType:   wire.ContentType,
		CorrelationId: id,
		ReplyTo:       replyTo,
		Type:          method,
		Expiration:    expiration(remaining),
		Headers:       headers,
		Body:          body,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, transport.ContextError(ctx)
		}
		return nil, &transport.Error{Code: transport.CodeUnavailable, Message: "cannot publish request: " + err.Error(), Cause: err}
	}
	select {
	case r := <-replyCh:
		received = true
		if r.err != nil {
			return nil, r.err
		}
		return r.body, nil
	case <-ctx.Done():
		return nil, transport.ContextError(ctx)
	case <-timeout:
		return nil, deadlineExceeded(ctx)
	case <-s.lost:
		if e := b.refusedForSize(len(body)); e != nil {
			return nil, e // the broker refused it, closing the channel
		}
		return nil, &transport.Error{Code: transport.CodeUnavailable, Message: "connection to the broker lost; the call may or may not have run"}
	}
}

// Calls reuse their timers and header tables: each would otherwise cost a
// few allocations on the hottest path (the garbage collector's work shows
// at tens of thousands of calls a second).
var (
	timers sync.Pool // of *time.Timer, stopped
	tables = sync.Pool{New: func() any { return amqp.Table{} }}
)

// getTimer returns a timer firing after d.
func getTimer(d time.Duration) *time.Timer {
	if t, ok := timers.Get().(*time.Timer); ok {
		t.Reset(d) // since Go 1.23 a stopped timer's channel holds no stale value
		return t
	}
	return time.NewTimer(d)
}

func putTimer(t *time.Timer) {
	t.Stop()
	timers.Put(t)
}

func getTable() amqp.Table { return tables.Get().(amqp.Table) }

func putTable(t amqp.Table) {
	clear(t)
	tables.Put(t)
}

// requestQueue returns the request queue of service, remembering the names
// it has built.
func (b *Bus) requestQueue(service string) string {
	if q, ok := b.queueNames.Load(service); ok {
		return q.(string)
	}
	q := b.names.requests(service)
	b.queueNames.Store(service, q)
	return q
}
