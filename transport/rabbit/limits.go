package rabbit

import (
	"fmt"
	"regexp"
	"strconv"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/shopbus/shopbus/internal/wire"
	"github.com/shopbus/shopbus/transport"
)

// The broker refuses a message whose body exceeds its max_message_size by
// closing the channel it was published on with PRECONDITION_FAILED, e.g.
// "PRECONDITION_FAILED - message size 1572866 is larger than configured
// max size 1048576" (RabbitMQ 3.8 and later).
var brokerSizeRefusal = regexp.MustCompile(`message size \d+ is larger than (?:configured )?max size (\d+)`)

// brokerLimit returns the broker's max_message_size from the error it
// closed a channel with, if that is why it closed it.
func brokerLimit(err *amqp.Error) (int64, bool) {
	if err == nil || err.Code != amqp.PreconditionFailed {
		return 0, false
	}
	m := brokerSizeRefusal.FindStringSubmatch(err.Reason)
	if m == nil {
		return 0, false
	}
	n, perr := strconv.ParseInt(m[1], 10, 64)
	return n, perr == nil && n > 0
}

// learnLimit records the broker's max_message_size when err says the
// broker refused a message over it. From then on the bus refuses larger
// bodies before publishing them: each refusal by the broker closes a
// channel, which costs the bus its session. The broker's limit should be
// at least Options.MaxMessageSize (the configurations shipped in deploy/
// set both to 1 MiB); this is the safety net when they disagree.
func (b *Bus) learnLimit(err *amqp.Error) {
	n, ok := brokerLimit(err)
	if !ok {
		return
	}
	for {
		old := b.brokerMax.Load()
		if old > 0 && old <= n {
			return
		}
		if b.brokerMax.CompareAndSwap(old, n) {
			break
		}
	}
	if n < int64(b.opts.MaxMessageSize) {
		b.logger.Error("the broker refuses messages above its max_message_size, which is below this bus's MaxMessageSize: larger bodies are now refused before publishing",
			"broker_max_message_size", n, "bus_max_message_size", b.opts.MaxMessageSize)
	}
}

// maxBody is the largest body the bus publishes: Options.MaxMessageSize,
// or the broker's max_message_size once learned, if smaller.
func (b *Bus) maxBody() int {
	limit := b.opts.MaxMessageSize
	if n := b.brokerMax.Load(); n > 0 && n < int64(limit) {
		limit = int(n)
	}
	return limit
}

// refusedForSize returns the error of a body of size bytes that the
// broker has refused for its size, or nil if it would accept it.
func (b *Bus) refusedForSize(size int) *transport.Error {
	n := b.brokerMax.Load()
	if n <= 0 || int64(size) <= n {
		return nil
	}
	return transport.Invalid("message too large", "body", fmt.Sprintf("%d bytes exceeds the broker's max_message_size of %d", size, n))
}

// checkBody judges a body before it is published.
func (b *Bus) checkBody(body []byte) *transport.Error {
	if e := b.refusedForSize(len(body)); e != nil {
		return e
	}
	return wire.CheckRequest(body, b.opts.MaxMessageSize)
}
