// Package bustest runs a test on every transport: the in-process bus and
// RabbitMQ. Service tests use it so that each rule is checked on both.
package bustest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/inproc"
	"github.com/shopbus/shopbus/transport/rabbit"
)

// Each runs fn once per transport, as subtests named "inproc" and "rabbit".
// Each run gets a fresh bus, closed when the subtest ends.
func Each(t *testing.T, fn func(t *testing.T, bus transport.Bus)) {
	for _, kind := range Kinds {
		t.Run(kind, func(t *testing.T) { fn(t, New(t, kind)) })
	}
}

// Kinds names the transports Each runs on.
var Kinds = []string{"inproc", "rabbit"}

// New returns a fresh bus of the named kind, closed when t ends. A RabbitMQ
// bus gets a namespace of its own, so that test processes running at the
// same time on one broker never consume each other's queues.
func New(t testing.TB, kind string) transport.Bus {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	switch kind {
	case "inproc":
		b := inproc.New(inproc.Options{Logger: quiet})
		t.Cleanup(func() { b.Close() })
		return b
	case "rabbit":
		url := testenv.AMQPURL(t)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		b, err := rabbit.Dial(ctx, rabbit.Options{URL: url, Namespace: Namespace(), Name: t.Name(), Logger: quiet, ExpireUnused: 10 * time.Minute})
		if err != nil {
			t.Fatalf("bustest: %v", err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	t.Fatalf("bustest: unknown bus kind %q", kind)
	return nil
}

// Namespace returns a fresh RabbitMQ namespace for one test.
func Namespace() string { return "test-" + uuid.NewString()[:8] }
