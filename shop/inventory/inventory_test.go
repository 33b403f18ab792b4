package inventory_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/shoptest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/inventory"
	"github.com/shopbus/shopbus/transport"
)

// clock is an adjustable clock for Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is the inventory service with a real auth service on one bus, each
// on its own test database.
type env struct {
	bus             transport.Bus
	auth            *shoptest.Auth
	db              *mongo.Database
	srv             *inventory.Server
	inv             *inventory.Client
	clock           *clock
	admin, customer context.Context
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func start(t testing.TB, bus transport.Bus, opts inventory.Options) *env {
	t.Helper()
	e := &env{bus: bus, clock: &clock{now: time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)}}
	e.auth = shoptest.StartAuth(t, bus)
	e.admin, e.customer = e.auth.Admin, e.auth.Customer
	e.db = testenv.MongoDB(t, "inventory_"+t.Name())
	e.srv = newServer(t, e.db, bus, e, opts)
	serve(t, bus, e.srv)
	e.inv = inventory.NewClient(bus)
	return e
}

// newServer returns an inventory server on db, wired to e's auth service
// and clock.
func newServer(t testing.TB, db *mongo.Database, bus transport.Bus, e *env, opts inventory.Options) *inventory.Server {
	t.Helper()
	opts.Auth = e.auth.Client
	opts.Events = bus
	if opts.Now == nil {
		opts.Now = e.clock.Now
	}
	opts.Logger = quiet()
	srv, err := inventory.New(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

func serve(t testing.TB, bus transport.Bus, h inventory.Service) {
	t.Helper()
	sub, err := inventory.Bind(bus, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
}

func must[T any](v T, err error) func(t testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func wantCode(t testing.TB, err error, code transport.Code) *transport.Error {
	t.Helper()
	var e *transport.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("got %v, want %s", err, code)
	}
	return e
}

func wantField(t testing.TB, err error, code transport.Code, field, message string) {
	t.Helper()
	e := wantCode(t, err, code)
	for _, f := range e.Fields {
		if f.Field == field && (message == "" || f.Message == message) {
			return
		}
	}
	t.Fatalf("%v: no field %s %q", err, field, message)
}

// stock returns the SKU's stock as the service reports it.
func (e *env) stock(t testing.TB, sku string) inventory.Stock {
	t.Helper()
	return must(e.inv.Get(context.Background(), inventory.GetRequest{SKU: sku}))(t)
}

func (e *env) wantStock(t testing.TB, sku string, onHand, reserved int64) {
	t.Helper()
	st := e.stock(t, sku)
	if st.OnHand != onHand || st.Reserved != reserved || st.Available != onHand-reserved {
		t.Fatalf("%s: on hand %d, reserved %d, available %d; want %d, %d, %d", sku, st.OnHand, st.Reserved, st.Available, onHand, reserved, onHand-reserved)
	}
}

func (e *env) set(t testing.TB, sku string, onHand int64) {
	t.Helper()
	must(e.inv.SetStock(e.admin, inventory.SetStockRequest{SKU: sku, OnHand: onHand}))(t)
}

func reserve(order string, lines ...inventory.Line) inventory.ReserveRequest {
	return inventory.ReserveRequest{OrderID: order, Lines: lines}
}

func line(sku string, q int64) inventory.Line { return inventory.Line{SKU: sku, Quantity: q} }

// events records the stock events published on bus.
type events struct {
	mu   sync.Mutex
	list []shop.StockChanged
}

func record(t testing.TB, bus transport.Bus) *events {
	t.Helper()
	ev := &events{}
	sub, err := bus.Subscribe("inventory-test", shop.EventStockChanged, transport.EventHandlerFunc(func(_ context.Context, e transport.Event) error {
		var sc shop.StockChanged
		if err := json.Unmarshal(e.Body, &sc); err != nil {
			return err
		}
		ev.mu.Lock()
		ev.list = append(ev.list, sc)
		ev.mu.Unlock()
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return ev
}

// waitFor waits until an event says sku is at version with available.
func (ev *events) waitFor(t testing.TB, sku string, version, available int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		ev.mu.Lock()
		ok := slices.ContainsFunc(ev.list, func(s shop.StockChanged) bool {
			return s.SKU == sku && s.Version == version && s.Available == available
		})
		ev.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	t.Fatalf("no event for %s at version %d with %d available; got %+v", sku, version, available, ev.list)
}

func TestStock(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		e := start(t, bus, inventory.Options{})
		ev := record(t, bus)
		anon := context.Background()

		st := must(e.inv.SetStock(e.admin, inventory.SetStockRequest{SKU: "MUG-RED", OnHand: 7}))(t)
		if st.SKU != "MUG-RED" || st.OnHand != 7 || st.Available != 7 || st.Reserved != 0 || st.Version != 1 {
			t.Fatalf("set stock: %+v", st)
		}
		ev.waitFor(t, "MUG-RED", 1, 7)
		st = must(e.inv.Adjust(e.admin, inventory.AdjustRequest{SKU: "MUG-RED", Delta: -2}))(t)
		if st.OnHand != 5 || st.Version != 2 {
			t.Fatalf("adjust: %+v", st)
		}
		ev.waitFor(t, "MUG-RED", 2, 5)
		// A SKU adjusted first starts from zero.
		st = must(e.inv.Adjust(e.admin, inventory.AdjustRequest{SKU: "lamp.1", Delta: 3}))(t)
		if st.OnHand != 3 || st.Version != 1 {
			t.Fatalf("adjust a new SKU: %+v", st)
		}
		// Setting what is there already changes nothing.
		if st := must(e.inv.SetStock(e.admin, inventory.SetStockRequest{SKU: "lamp.1", OnHand: 3}))(t); st.Version != 1 {
			t.Fatalf("an unchanged set wrote version %d", st.Version)
		}

		e.wantStock(t, "MUG-RED", 5, 0)
		_, err := e.inv.Get(anon, inventory.GetRequest{SKU: "NOPE"})
		wantCode(t, err, transport.CodeNotFound)
		many := must(e.inv.GetMany(anon, inventory.GetManyRequest{SKUs: []string{"lamp.1", "NOPE", "MUG-RED", "lamp.1"}}))(t)
		if len(many) != 2 || many[0].SKU != "lamp.1" || many[1].SKU != "MUG-RED" || many[1].Available != 5 {
			t.Fatalf("get many: %+v", many)
		}

		// Who may write.
		_, err = e.inv.SetStock(anon, inventory.SetStockRequest{SKU: "MUG-RED", OnHand: 1})
		wantCode(t, err, transport.CodeUnauthenticated)
		_, err = e.inv.Adjust(e.customer, inventory.AdjustRequest{SKU: "MUG-RED", Delta: 100})
		wantCode(t, err, transport.CodeForbidden)
		e.wantStock(t, "MUG-RED", 5, 0)

		// Bad input.
		_, err = e.inv.SetStock(e.admin, inventory.SetStockRequest{SKU: "$where", OnHand: 1})
		wantField(t, err, transport.CodeInvalid, "sku", "")
		_, err = e.inv.SetStock(e.admin, inventory.SetStockRequest{SKU: "A", OnHand: -1})
		wantField(t, err, transport.CodeInvalid, "on_hand", "")
		_, err = e.inv.SetStock(e.admin, inventory.SetStockRequest{SKU: "A", OnHand: inventory.MaxUnits + 1})
		wantField(t, err, transport.CodeInvalid, "on_hand", "")
		_, err = e.inv.Adjust(e.admin, inventory.AdjustRequest{SKU: "A", Delta: 0})
		wantField(t, err, transport.CodeInvalid, "delta", "")
		_, err = e.inv.Adjust(e.admin, inventory.AdjustRequest{SKU: "MUG-RED", Delta: -6})
		wantCode(t, err, transport.CodeConflict) // below zero
		_, err = e.inv.Adjust(e.admin, inventory.AdjustRequest{SKU: "MUG-RED", Delta: inventory.MaxUnits})
		wantCode(t, err, transport.CodeConflict) // above the cap
		_, err = e.inv.Get(anon, inventory.GetRequest{SKU: string(make([]byte, 65))})
		wantField(t, err, transport.CodeInvalid, "sku", "")
		_, err = e.inv.GetMany(anon, inventory.GetManyRequest{SKUs: make([]string, inventory.MaxLines+1)})
		wantField(t, err, transport.CodeInvalid, "skus", "")
		_, err = e.inv.GetMany(anon, inventory.GetManyRequest{SKUs: []string{"OK", "not ok"}})
		wantField(t, err, transport.CodeInvalid, "skus[1]", "")
		_, err = bus.Call(e.admin, inventory.MethodSetStock, []byte(`{"sku":"A","on_hand":"many"}`))
		wantField(t, err, transport.CodeInvalid, "on_hand", "")
		e.wantStock(t, "MUG-RED", 5, 0)

		// On hand never goes below what is reserved.
		must(e.inv.Reserve(e.customer, reserve("o1", line("MUG-RED", 4))))(t)
		_, err = e.inv.SetStock(e.admin, inventory.SetStockRequest{SKU: "MUG-RED", OnHand: 3})
		wantCode(t, err, transport.CodeConflict)
		_, err = e.inv.Adjust(e.admin, inventory.AdjustRequest{SKU: "MUG-RED", Delta: -2})
		wantCode(t, err, transport.CodeConflict)
		must(e.inv.Adjust(e.admin, inventory.AdjustRequest{SKU: "MUG-RED", Delta: -1}))(t)
		e.wantStock(t, "MUG-RED", 4, 4)
		ev.waitFor(t, "MUG-RED", 4, 0)

		// Nothing waits in the outbox once the bus confirmed.
		n, err := e.db.Collection("stock").CountDocuments(context.Background(), bson.D{{Key: "outbox_pending", Value: true}})
		if err != nil || n != 0 {
			t.Fatalf("%d documents with unpublished events (%v)", n, err)
		}
	})
}
