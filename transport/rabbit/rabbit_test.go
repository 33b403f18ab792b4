package rabbit_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/rabbit"
	"github.com/shopbus/shopbus/transport/transporttest"
)

func dial(t testing.TB, url string) *rabbit.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := rabbit.Dial(ctx, rabbit.Options{URL: url, Name: t.Name(), MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second, ExpireUnused: 10 * time.Minute, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestConformance(t *testing.T) {
	url := testenv.AMQPURL(t)
	transporttest.Run(t, func(t testing.TB) (transport.Bus, transport.Bus) {
		return dial(t, url), dial(t, url)
	})
}

func TestDialRejectsBadURL(t *testing.T) {
	ctx := context.Background()
	for _, url := range []string{"", "http://nope", "amqp://[::1"} {
		_, err := rabbit.Dial(ctx, rabbit.Options{URL: url})
		if transport.CodeOf(err) != transport.CodeInvalid {
			t.Errorf("Dial(%q) = %v, want invalid", url, err)
		}
	}
	// A well-formed URL where no broker listens fails at the context's deadline.
	ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err := rabbit.Dial(ctx, rabbit.Options{URL: "amqp://guest:guest@127.0.0.1:1/"})
	if transport.CodeOf(err) != transport.CodeUnavailable {
		t.Errorf("Dial to a closed port = %v, want unavailable", err)
	}
}
