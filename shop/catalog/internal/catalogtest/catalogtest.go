// Package catalogtest starts the catalog services for tests: the real
// auth, category, attribute, option and product services, each on a test
// database of its own, served on the test's bus and subscribed to each
// other's events as in production. It also records events.
package catalogtest

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/shopbus/shopbus/internal/idem/idemtest"
	"github.com/shopbus/shopbus/internal/shoptest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop/catalog/attribute"
	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/shop/catalog/option"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/transport"
)

// Catalog is the running catalog of one test.
type Catalog struct {
	Auth *shoptest.Auth
	// Admin and Customer carry the session tokens of an admin and a customer.
	Admin, Customer context.Context

	CategoryServer *category.Server
	// CategoryDB is the category service's database, for tests that must
	// wait for its read model of products; the other services' databases
	// follow it.
	CategoryDB      *mongo.Database
	AttributeServer *attribute.Server
	AttributeDB     *mongo.Database
	OptionServer    *option.Server
	OptionDB        *mongo.Database
	ProductServer   *product.Server
	ProductDB       *mongo.Database

	// Clients calling the services over the bus.
	Categories *category.Client
	Attributes *attribute.Client
	Options    *option.Client
	Products   *product.Client
}

// Config tunes Start.
type Config struct {
	// MaxVariants is the option service's cap (default its own default).
	MaxVariants int
	// Now is every service's clock (default time.Now).
	Now func() time.Time
}

// Start starts the catalog on bus until the test ends.
func Start(t testing.TB, bus transport.Bus, cfg Config) *Catalog {
	t.Helper()
	a := shoptest.StartAuth(t, bus)
	c := &Catalog{
		Auth: a, Admin: a.Admin, Customer: a.Customer,
		Categories: category.NewClient(bus),
		Attributes: attribute.NewClient(bus),
		Options:    option.NewClient(bus),
		Products:   product.NewClient(bus),
	}
	var err error
	c.CategoryDB = testenv.MongoDB(t, "category")
	if c.CategoryServer, err = category.New(c.CategoryDB, category.Options{Auth: a.Client, Events: bus, Now: cfg.Now}); err != nil {
		t.Fatalf("category.New: %v", err)
	}
	c.AttributeDB = testenv.MongoDB(t, "attribute")
	if c.AttributeServer, err = attribute.New(c.AttributeDB, attribute.Options{Auth: a.Client, Now: cfg.Now}); err != nil {
		t.Fatalf("attribute.New: %v", err)
	}
	c.OptionDB = testenv.MongoDB(t, "option")
	if c.OptionServer, err = option.New(c.OptionDB, option.Options{Auth: a.Client, MaxVariants: cfg.MaxVariants, Now: cfg.Now}); err != nil {
		t.Fatalf("option.New: %v", err)
	}
	c.ProductDB = testenv.MongoDB(t, "product")
	if c.ProductServer, err = product.New(c.ProductDB, product.Options{
		Auth: a.Client, Events: bus, Now: cfg.Now,
		Categories: c.Categories, Attributes: c.Attributes, Variants: c.Options,
	}); err != nil {
		t.Fatalf("product.New: %v", err)
	}
	subs := []func() (transport.Subscription, error){
		func() (transport.Subscription, error) { return category.Bind(bus, c.CategoryServer) },
		func() (transport.Subscription, error) { return attribute.Bind(bus, c.AttributeServer) },
		func() (transport.Subscription, error) { return option.Bind(bus, c.OptionServer) },
		func() (transport.Subscription, error) { return product.Bind(bus, c.ProductServer) },
		func() (transport.Subscription, error) {
			return category.Subscribe(bus, c.CategoryServer, transport.WithRetryDelay(10*time.Millisecond))
		},
		func() (transport.Subscription, error) {
			return product.Subscribe(bus, c.ProductServer, transport.WithRetryDelay(10*time.Millisecond))
		},
	}
	for _, start := range subs {
		sub, err := start()
		if err != nil {
			t.Fatalf("catalogtest: %v", err)
		}
		t.Cleanup(func() { _ = sub.Close() })
	}
	return c
}

// Recorder keeps the events delivered to one subscription.
type Recorder struct {
	mu     sync.Mutex
	events []transport.Event
}

// Record subscribes a Recorder to pattern on bus under subscriber name
// (one per test and bus).
func Record(t testing.TB, bus transport.Bus, name, pattern string) *Recorder {
	t.Helper()
	r := &Recorder{}
	sub, err := bus.Subscribe(name, pattern, transport.EventHandlerFunc(func(_ context.Context, ev transport.Event) error {
		r.mu.Lock()
		r.events = append(r.events, ev)
		r.mu.Unlock()
		return nil
	}))
	if err != nil {
		t.Fatalf("catalogtest: subscribe recorder: %v", err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return r
}

// Events returns the events received so far.
func (r *Recorder) Events() []transport.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]transport.Event(nil), r.events...)
}

// Wait returns the first event with key whose decoded body satisfies
// match, waiting up to five seconds for it; it fails the test otherwise.
func Wait[T any](t testing.TB, r *Recorder, key string, match func(T) bool) T {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, ev := range r.Events() {
			if ev.Key != key {
				continue
			}
			var body T
			if err := json.Unmarshal(ev.Body, &body); err != nil {
				t.Fatalf("catalogtest: event %s has a malformed body: %v", key, err)
			}
			if match(body) {
				return body
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("catalogtest: no matching %s event within 5s; got %d events", key, len(r.Events()))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Eventually retries check until it returns nil, for up to five seconds,
// and fails the test with its last error otherwise.
func Eventually(t testing.TB, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after 5s: %v", what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// WantCode fails the test unless err carries code.
func WantCode(t testing.TB, err error, code transport.Code) {
	t.Helper()
	if transport.CodeOf(err) != code {
		t.Fatalf("got error %v, want code %s", err, code)
	}
}

// WantField fails the test unless err is invalid with a field error for
// field, and returns that field's message.
func WantField(t testing.TB, err error, field string) string {
	t.Helper()
	var e *transport.Error
	if !errors.As(err, &e) || e.Code != transport.CodeInvalid {
		t.Fatalf("got error %v, want invalid with field %q", err, field)
	}
	msg := e.Field(field)
	if msg == "" {
		t.Fatalf("got error %v, want a field error for %q", err, field)
	}
	return msg
}

// Must returns a function that fails the test if err is not nil and
// otherwise returns v, so that a call's two results can be checked inline:
//
//	cat := catalogtest.Must(client.Get(ctx, req))(t)
func Must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return v
	}
}

// ApplyOnce sends c twice with one request id (see idemtest.Twice) and
// also checks that the first call changed db: a case that changes nothing
// proves nothing.
func ApplyOnce(t *testing.T, bus transport.Bus, db *mongo.Database, c idemtest.Case) {
	t.Helper()
	before := idemtest.Snapshot(t, db)
	idemtest.Twice(t, bus, db, c, idemtest.Options{})
	if maps.Equal(before, idemtest.Snapshot(t, db)) {
		t.Errorf("%s: the first call changed nothing", c.Method)
	}
}

// JSON returns v encoded as JSON, for a request body.
func JSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("catalogtest: encode %T: %v", v, err)
	}
	return string(b)
}
