package inproc_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/inproc"
	"github.com/shopbus/shopbus/transport/transporttest"
)

func TestConformance(t *testing.T) {
	transporttest.Run(t, func(t testing.TB) (transport.Bus, transport.Bus) {
		b := inproc.New(inproc.Options{})
		t.Cleanup(func() { b.Close() })
		return b, b
	})
}

// TestDeadLettersBounded: a subscriber that fails every event keeps at
// most Options.MaxDeadLetters of them parked, the newest, and the bus
// says which it dropped.
func TestDeadLettersBounded(t *testing.T) {
	logs := &strings.Builder{}
	var mu sync.Mutex
	b := inproc.New(inproc.Options{MaxDeadLetters: 3, Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, logs}, nil))})
	t.Cleanup(func() { b.Close() })
	var handled atomic.Int64
	sub, err := b.Subscribe("failing", "thing.#", transport.EventHandlerFunc(func(context.Context, transport.Event) error {
		handled.Add(1)
		return errors.New("cannot handle it")
	}), transport.WithMaxAttempts(1), transport.WithConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	ctx := context.Background()
	for i := range 5 {
		if err := b.Publish(ctx, transport.Event{ID: fmt.Sprint("e", i), Key: "thing.happened", Body: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for handled.Load() < 5 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	var ids []string
	for time.Now().Before(deadline) {
		dead, err := b.PeekDeadLetters(ctx, "failing", 100)
		if err != nil {
			t.Fatal(err)
		}
		ids = ids[:0]
		for _, ev := range dead {
			ids = append(ids, ev.ID)
		}
		if len(ids) == 3 && ids[2] == "e4" {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if want := []string{"e2", "e3", "e4"}; !slices.Equal(ids, want) {
		t.Fatalf("parked %v, want the newest three %v", ids, want)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range []string{"id=e0", "id=e1"} {
		if !strings.Contains(logs.String(), "oldest parked event dropped") || !strings.Contains(logs.String(), id) {
			t.Errorf("no warning naming the dropped %s:\n%s", id, logs.String())
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
