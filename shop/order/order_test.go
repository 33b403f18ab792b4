package order_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/shoptest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/inventory"
	"github.com/shopbus/shopbus/shop/order"
	"github.com/shopbus/shopbus/transport"
)

// clock is real time plus an offset tests advance to run leases out.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// env is the order service with the real services it talks to (auth,
// product, cart, inventory) on one bus, each on its own test database,
// and the fake payment provider.
type env struct {
	bus      transport.Bus
	auth     *shoptest.Auth
	products *product.Client
	carts    *cart.Client
	inv      *inventory.Client
	db       *mongo.Database
	srv      *order.Server
	orders   *order.Client
	pay      *order.FakePayment
	clock    *clock
	events   *recorder
}

// recorder keeps the keys of the order events published, by order.
type recorder struct {
	mu   sync.Mutex
	keys map[string][]string
}

func (r *recorder) of(id string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.keys[id])
}

func start(t testing.TB, bus transport.Bus, opts order.Options) *env {
	t.Helper()
	e := &env{bus: bus, clock: &clock{}, pay: order.NewFakePayment(), events: &recorder{keys: map[string][]string{}}}
	e.auth = shoptest.StartAuth(t, bus)
	prod, err := product.New(testenv.MongoDB(t, "product_"+t.Name()), product.Options{Auth: e.auth.Client, Events: bus, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	bind(t, func() (transport.Subscription, error) { return product.Bind(bus, prod) })
	cs, err := cart.New(testenv.MongoDB(t, "cart_"+t.Name()), cart.Options{Auth: e.auth.Client, Products: product.NewClient(bus), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	bind(t, func() (transport.Subscription, error) { return cart.Bind(bus, cs) })
	bind(t, func() (transport.Subscription, error) { return cart.Subscribe(bus, cs) })
	bind(t, func() (transport.Subscription, error) { return cart.SubscribeOrders(bus, cs) })
	inv, err := inventory.New(testenv.MongoDB(t, "inventory_"+t.Name()), inventory.Options{Auth: e.auth.Client, Events: bus, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	bind(t, func() (transport.Subscription, error) { return inventory.Bind(bus, inv) })
	bind(t, func() (transport.Subscription, error) {
		return bus.Subscribe("test-orders", "order.#", transport.EventHandlerFunc(func(_ context.Context, ev transport.Event) error {
			var oc shop.OrderChanged
			if err := json.Unmarshal(ev.Body, &oc); err != nil {
				return err
			}
			e.events.mu.Lock()
			defer e.events.mu.Unlock()
			if !slices.Contains(e.events.keys[oc.OrderID], ev.Key) {
				e.events.keys[oc.OrderID] = append(e.events.keys[oc.OrderID], ev.Key)
			}
			return nil
		}))
	})
	e.db = testenv.MongoDB(t, "order_"+t.Name())
	e.srv = e.newServer(t, bus, opts)
	bind(t, func() (transport.Subscription, error) { return order.Bind(bus, e.srv) })
	e.products, e.carts, e.inv, e.orders = product.NewClient(bus), cart.NewClient(bus), inventory.NewClient(bus), order.NewClient(bus)
	return e
}

// newServer returns an order server on e's database, wired to e's
// services, fake provider and clock (the operator is e's admin).
func (e *env) newServer(t testing.TB, bus transport.Bus, opts order.Options) *order.Server {
	t.Helper()
	opts.Auth = e.auth.Client
	opts.Carts = cart.NewClient(bus)
	opts.Products = product.NewClient(bus)
	opts.Stock = inventory.NewClient(bus)
	if opts.Payment == nil {
		opts.Payment = e.pay
	}
	opts.Events = bus
	opts.Operator = func(context.Context) (string, error) { return shop.TokenFrom(e.auth.Admin), nil }
	opts.Now = e.clock.Now
	opts.Logger = quiet()
	srv, err := order.New(e.db, opts)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

func bind(t testing.TB, f func() (transport.Subscription, error)) {
	t.Helper()
	sub, err := f()
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

// product creates a published product priced in EUR cents with stock units on hand.
func (e *env) product(t testing.TB, title string, cents, stock int64) product.Product {
	t.Helper()
	p := must(e.products.Create(e.auth.Admin, product.CreateRequest{Title: title, Status: shop.StatusPublished, Price: shop.Money{Amount: cents, Currency: "EUR"}}))(t)
	must(e.inv.SetStock(e.auth.Admin, inventory.SetStockRequest{SKU: p.SKU, OnHand: stock}))(t)
	return p
}

func (e *env) add(t testing.TB, ctx context.Context, p product.Product, q int) {
	t.Helper()
	must(e.carts.AddItem(ctx, cart.AddItemRequest{ProductID: p.ID, Quantity: q}))(t)
}

// wantStock checks a SKU's units on hand and reserved.
func (e *env) wantStock(t testing.TB, sku string, onHand, reserved int64) {
	t.Helper()
	st := must(e.inv.Get(context.Background(), inventory.GetRequest{SKU: sku}))(t)
	if st.OnHand != onHand || st.Reserved != reserved {
		t.Fatalf("stock of %s: %d on hand, %d reserved; want %d and %d", sku, st.OnHand, st.Reserved, onHand, reserved)
	}
}

func request() order.PlaceRequest {
	return order.PlaceRequest{
		Email:          "ada@example.com",
		Address:        order.Address{Name: "Ada Lovelace", Line1: "Hauptstraße 1", PostalCode: "10115", City: "Berlin", Country: "DE"},
		ShippingMethod: "standard",
	}
}

// place places the request under a fresh key.
func (e *env) place(t testing.TB, ctx context.Context, r order.PlaceRequest) order.Order {
	t.Helper()
	return must(e.orders.Place(transport.WithRequestID(ctx, transport.NewRequestID()), r))(t)
}

// eventually polls cond until it holds or 15 seconds pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCheckout(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		e := start(t, bus, order.Options{})
		mug := e.product(t, "Mug", 1250, 5)
		tea := e.product(t, "Tea", 499, 1)
		customer := e.auth.Customer
		e.add(t, customer, mug, 2)

		// Bad input names every field.
		bad := request()
		bad.Email, bad.Address.Country, bad.Address.City, bad.ShippingMethod = "not-an-email", "US", " ", "teleport"
		err := wantCode(t, e.place2(customer, bad), transport.CodeInvalid)
		for _, f := range []string{"email", "address.country", "address.city", "shipping_method"} {
			if !slices.ContainsFunc(err.Fields, func(fe transport.FieldError) bool { return fe.Field == f }) {
				t.Errorf("no field error for %s: %+v", f, err.Fields)
			}
		}
		wantCode(t, e.place2(context.Background(), request()), transport.CodeUnauthenticated)

		// A quote: what the order would be, nothing stored or reserved.
		want := order.Total{Currency: "EUR", Items: 2500, Shipping: 490, Total: 2990, Tax: 477, TaxRate: 1900} // 2990 × 19/119 = 477.39
		q := must(e.orders.Quote(customer, request()))(t)
		if q.ID != "" || q.Status != "" || len(q.Totals) != 1 || q.Totals[0] != want || len(q.Lines) != 1 || q.Lines[0].Subtotal.Amount != 2500 {
			t.Fatalf("quote %+v", q)
		}
		if page := must(e.orders.List(customer, order.ListRequest{}))(t); len(page.Orders) != 0 {
			t.Fatalf("a quote stored an order: %+v", page.Orders)
		}
		e.wantStock(t, mug.SKU, 5, 0)
		wantCode(t, func() error { _, err := e.orders.Quote(customer, bad); return err }(), transport.CodeInvalid)

		key := transport.WithRequestID(customer, transport.NewRequestID())
		o := must(e.orders.Place(key, request()))(t)
		if o.Status != order.StatusPaid || !o.Settled || o.Payment != order.PaymentCaptured || o.Reason != "" {
			t.Fatalf("order %+v", o)
		}
		if len(o.Totals) != 1 || o.Totals[0] != want || len(o.Lines) != 1 || o.Lines[0].SKU != mug.SKU || o.Lines[0].Quantity != 2 {
			t.Fatalf("order lines %+v totals %+v, want %+v", o.Lines, o.Totals, want)
		}
		e.wantStock(t, mug.SKU, 3, 0)
		// The same key again: the same order, one authorisation.
		again := must(e.orders.Place(key, request()))(t)
		if again.ID != o.ID || again.Version != o.Version {
			t.Fatalf("repeat placed %+v, first %+v", again, o)
		}
		if n := e.pay.Authorizations(o.ID); n != 1 {
			t.Fatalf("%d authorisations, want 1", n)
		}
		e.wantStock(t, mug.SKU, 3, 0)
		// The confirmed event empties the cart of what was ordered.
		eventually(t, "the cart is cleared", func() bool {
			c := must(e.carts.Get(customer, cart.CartRequest{}))(t)
			return len(c.Lines) == 0
		})
		eventually(t, "placed and confirmed are announced", func() bool {
			return slices.Equal(e.events.of(o.ID), []string{shop.EventOrderPlaced, shop.EventOrderConfirmed})
		})

		// Only its owner (and an admin) sees it.
		other, _ := e.auth.NewCustomer(t, "", "")
		wantCode(t, errOf(e.orders.Get(other, order.GetRequest{ID: o.ID})), transport.CodeNotFound)
		must(e.orders.Get(e.auth.Admin, order.GetRequest{ID: o.ID}))(t)
		if page := must(e.orders.List(other, order.ListRequest{}))(t); len(page.Orders) != 0 {
			t.Fatalf("another customer lists %d orders", len(page.Orders))
		}
		e.add(t, customer, tea, 1)
		second := e.place(t, customer, request())
		page := must(e.orders.List(customer, order.ListRequest{Limit: 1}))(t)
		if len(page.Orders) != 1 || page.Orders[0].ID != second.ID || page.Next != 1 {
			t.Fatalf("first page %+v", page)
		}
		page = must(e.orders.List(e.auth.Admin, order.ListRequest{Status: order.StatusPaid, UserID: e.auth.CustomerUser.UserID}))(t)
		if len(page.Orders) != 2 || page.Next != 0 {
			t.Fatalf("admin's page %+v", page)
		}
		wantCode(t, errOf(e.orders.List(customer, order.ListRequest{UserID: e.auth.AdminUser.UserID})), transport.CodeForbidden)

		// Shipping: admins only, one step at a time.
		wantCode(t, errOf(e.orders.SetStatus(customer, order.SetStatusRequest{ID: o.ID, Status: order.StatusShipped})), transport.CodeForbidden)
		wantCode(t, errOf(e.orders.SetStatus(e.auth.Admin, order.SetStatusRequest{ID: o.ID, Status: order.StatusDelivered})), transport.CodeConflict)
		if s := must(e.orders.SetStatus(e.auth.Admin, order.SetStatusRequest{ID: o.ID, Status: order.StatusShipped}))(t); s.Status != order.StatusShipped {
			t.Fatalf("shipped: %+v", s)
		}
		wantCode(t, errOf(e.orders.Cancel(customer, order.CancelRequest{ID: o.ID})), transport.CodeConflict)
		must(e.orders.SetStatus(e.auth.Admin, order.SetStatusRequest{ID: o.ID, Status: order.StatusDelivered}))(t)
		eventually(t, "shipped is announced", func() bool { return slices.Contains(e.events.of(o.ID), shop.EventOrderShipped) })

		// Cancel before shipping: refunded, the units back on hand.
		c := must(e.orders.Cancel(customer, order.CancelRequest{ID: second.ID}))(t)
		if c.Status != order.StatusCancelled || c.Payment != order.PaymentRefunded || !c.Settled || c.Reason != "cancelled by the customer" {
			t.Fatalf("cancelled %+v", c)
		}
		e.wantStock(t, tea.SKU, 1, 0)
		if again := must(e.orders.Cancel(customer, order.CancelRequest{ID: second.ID}))(t); again.Version != c.Version {
			t.Fatalf("cancel again changed the order: %+v", again)
		}
		e.wantStock(t, tea.SKU, 1, 0)
		eventually(t, "cancelled is announced", func() bool { return slices.Contains(e.events.of(second.ID), shop.EventOrderCancelled) })
		methods := must(e.orders.ShippingMethods(context.Background(), order.ShippingMethodsRequest{}))(t)
		if len(methods) != 2 || methods[0].Code != "standard" {
			t.Fatalf("shipping methods %+v", methods)
		}
	})
}

func (e *env) place2(ctx context.Context, r order.PlaceRequest) error {
	_, err := e.orders.Place(transport.WithRequestID(ctx, transport.NewRequestID()), r)
	return err
}

func errOf[T any](_ T, err error) error { return err }

// TestCheckoutFailures: each way a checkout fails leaves the order failed
// with a reason, the stock released, no payment standing, the cart as it
// was; a price change must be confirmed.
func TestCheckoutFailures(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		e := start(t, bus, order.Options{PaymentTimeout: 300 * time.Millisecond})
		mug := e.product(t, "Mug", 1250, 5)
		customer := e.auth.Customer
		e.add(t, customer, mug, 2)
		cases := []struct {
			mode      order.FakeMode
			reason    string
			authorize int
			payment   string
		}{
			{order.FakeDecline, "the payment was declined", 0, order.PaymentVoided},
			{order.FakeFail, "the payment failed: the payment provider reported an error", 0, order.PaymentVoided},
			{order.FakeTimeout, "the payment failed: the payment provider did not answer in time", 1, order.PaymentVoided},
		}
		for _, c := range cases {
			e.pay.SetMode(c.mode)
			o := e.place(t, customer, request())
			if o.Status != order.StatusFailed || o.Reason != c.reason || !o.Settled || o.Payment != c.payment {
				t.Fatalf("%s: order %+v", c.mode, o)
			}
			if n := e.pay.Authorizations(o.ID); n != c.authorize {
				t.Fatalf("%s: %d authorisations, want %d", c.mode, n, c.authorize)
			}
			if st := e.pay.State(o.ID); st != order.PaymentVoided {
				t.Fatalf("%s: payment %q, want voided", c.mode, st)
			}
			res := must(e.inv.GetReservation(e.auth.Admin, inventory.OrderRequest{OrderID: o.ID}))(t)
			if res.State != inventory.StateReleased {
				t.Fatalf("%s: reservation %+v", c.mode, res)
			}
			e.wantStock(t, mug.SKU, 5, 0)
			eventually(t, "failed is announced", func() bool { return slices.Contains(e.events.of(o.ID), shop.EventOrderFailed) })
		}
		e.pay.SetMode(order.FakeApprove)

		// Stock gone between cart and checkout.
		must(e.inv.SetStock(e.auth.Admin, inventory.SetStockRequest{SKU: mug.SKU, OnHand: 1}))(t)
		o := e.place(t, customer, request())
		if o.Status != order.StatusFailed || o.Reason != "out of stock: Mug (only 1 left)" || e.pay.Authorizations(o.ID) != 0 {
			t.Fatalf("short order %+v", o)
		}
		e.wantStock(t, mug.SKU, 1, 0)
		must(e.inv.SetStock(e.auth.Admin, inventory.SetStockRequest{SKU: mug.SKU, OnHand: 5}))(t)

		// A price changed since the shopper saw it: named, and no order.
		price := shop.Money{Amount: 1300, Currency: "EUR"}
		must(e.products.Update(e.auth.Admin, product.UpdateRequest{ID: mug.ID, Price: &price}))(t)
		eventually(t, "the cart sees the new price", func() bool {
			return must(e.carts.Get(customer, cart.CartRequest{}))(t).Lines[0].PriceChanged
		})
		err := wantCode(t, e.place2(customer, request()), transport.CodeConflict)
		if len(err.Fields) != 1 || err.Fields[0].Field != "lines[0].unit_price" || !strings.Contains(err.Fields[0].Message, "was 12.50 EUR, now 13.00 EUR") {
			t.Fatalf("price change: %+v", err)
		}
		r := request()
		r.AcceptPrices = true
		o = e.place(t, customer, r)
		if o.Status != order.StatusPaid || o.Lines[0].UnitPrice != price || o.Totals[0].Total != 2*1300+490 {
			t.Fatalf("order at accepted prices %+v", o)
		}
		e.wantStock(t, mug.SKU, 3, 0)
		// Now the cart is empty: nothing to order.
		eventually(t, "the cart is cleared", func() bool { return len(must(e.carts.Get(customer, cart.CartRequest{}))(t).Lines) == 0 })
		wantCode(t, e.place2(customer, request()), transport.CodeInvalid)
	})
}

func TestTaxIncluded(t *testing.T) {
	for _, c := range []struct {
		gross int64
		rate  int
		want  int64
	}{
		{2990, 1900, 477}, // 477.39
		{119, 1900, 19},   // exactly 19
		{1050, 2000, 175}, // exactly 175
		{10, 2000, 2},     // 1.67 → 2
		{3, 2000, 1},      // 0.5 → 1 (half up)
		{0, 2000, 0},      // nothing
		{1000, 0, 0},      // no tax
		{shop.MaxAmount * 90_000, 2500, shop.MaxAmount * 90_000 / 5}, // no overflow
	} {
		if got := order.TaxIncluded(c.gross, c.rate); got != c.want {
			t.Errorf("TaxIncluded(%d, %d) = %d, want %d", c.gross, c.rate, got, c.want)
		}
	}
}
