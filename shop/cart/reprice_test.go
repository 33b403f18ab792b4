package cart_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/transport"
)

// priceEvent is the product.product.updated event of p at version
// p.Version+bump with price cents.
func priceEvent(p product.Product, bump, cents int64) transport.Event {
	s := p.Snapshot()
	s.Version += bump
	s.Price.Amount = cents
	body, _ := json.Marshal(shop.ProductChanged{Product: s})
	return transport.Event{ID: transport.NewRequestID(), Key: shop.EventProductUpdated, Body: body}
}

// checkRepriced checks that each of ids holds p at cents, flagged, with
// the price before, and that each cart was written exactly once.
// checkRepriced checks that the carts ids (every every-th of them: each
// read through the version log costs a write on the embedded store) hold
// p at cents, changed exactly once.
func checkRepriced(t *testing.T, e *env, p product.Product, ids []string, cents int64, every int) {
	t.Helper()
	var sample []string
	only := map[string]bool{}
	for i := 0; i < len(ids); i += every {
		sample = append(sample, ids[i])
		only[ids[i]] = true
	}
	lines := cart.StoredLines(t, e.srv, p.ID, only)
	wrong := 0
	for _, id := range sample {
		cl, ok := lines[id]
		l := cl.Line
		if !ok || cl.CartVersion != 2 || l.UnitPrice.Amount != cents || !l.PriceChanged ||
			l.PreviousPrice == nil || *l.PreviousPrice != p.Price || l.Subtotal.Amount != 2*cents {
			if wrong++; wrong <= 3 {
				t.Errorf("cart %s: %+v (found %v)", id, cl, ok)
			}
		}
	}
	if wrong > 0 {
		t.Fatalf("%d of %d carts checked not repriced exactly once", wrong, len(sample))
	}
}

// TestPriceChangeReaches20000Carts: one price change of a product held by
// 20,000 carts updates all of them within the event handler's deadline on
// the embedded store. The carts are stored directly (SeedGuestCarts):
// made through AddItem they would take minutes.
func TestPriceChangeReaches20000Carts(t *testing.T) {
	if testing.Short() {
		t.Skip("20,000 carts")
	}
	e := start(t, bustest.New(t, "inproc"), cart.Options{})
	mug, tea := e.product(t, "Mug", 1250), e.product(t, "Tea", 499)
	seeding := time.Now()
	ids := cart.SeedGuestCarts(t, e.srv, "many", 20_000, mug, &tea)
	t.Logf("20,000 carts stored in %v", time.Since(seeding))

	// The deadline the product event handler runs under.
	deadline := cart.ProductEventTimeout
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	written := 0
	cart.SetRepricePageHook(t, func(n int) { written += n })
	started := time.Now()
	if err := e.srv.HandleEvent(ctx, priceEvent(mug, 1, 1400)); err != nil {
		t.Fatalf("after %v, %d carts written: %v", time.Since(started), written, err)
	}
	t.Logf("20,000 carts repriced in %v (deadline %v)", time.Since(started), deadline)

	if written != len(ids) {
		t.Fatalf("the handler wrote %d carts, want %d", written, len(ids))
	}
	checkRepriced(t, e, mug, ids, 1400, 10)
	// Through the service, as the customer sees it; the other line untouched.
	c, err := e.cart.Get(e.guest, cart.CartRequest{CartID: ids[12345]})
	if err != nil {
		t.Fatal(err)
	}
	if l := line(t, c, mug.ID, ""); l.UnitPrice.Amount != 1400 || !l.PriceChanged || l.PreviousPrice.Amount != 1250 {
		t.Fatalf("line %+v", l)
	}
	if l := line(t, c, tea.ID, ""); l.PriceChanged || l.UnitPrice.Amount != 499 || c.Totals["EUR"] != 2*1400+499 {
		t.Fatalf("cart %+v", c)
	}
}

// TestPriceChangeStoppedMidway: a handler stopped after its first pages
// (its deadline, a crash) leaves those carts repriced; the redelivered
// event reprices the rest, and no cart is written twice.
func TestPriceChangeStoppedMidway(t *testing.T) {
	e := start(t, bustest.New(t, "inproc"), cart.Options{})
	mug := e.product(t, "Mug", 1250)
	t0 := time.Now()
	ids := cart.SeedGuestCarts(t, e.srv, "midway", 3_000, mug, nil)
	t.Logf("seeded in %v", time.Since(t0))
	ev := priceEvent(mug, 1, 990)

	ctx, cancel := context.WithCancel(context.Background())
	written, pages := 0, 0
	cart.SetRepricePageHook(t, func(n int) {
		written += n
		if pages++; pages == 3 {
			cancel() // stopped after three pages
		}
	})
	started := time.Now()
	err := e.srv.HandleEvent(ctx, ev)
	t.Logf("stopped after %d carts in %v", written, time.Since(started))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("stopped handler returned %v", err)
	}
	done := 0
	for _, cl := range cart.StoredLines(t, e.srv, mug.ID, nil) {
		if cl.Line.UnitPrice.Amount == 990 {
			done++
		}
	}
	if done != written || done == 0 || done >= len(ids) {
		t.Fatalf("after the stop: %d carts repriced, %d written by the pages seen", done, written)
	}

	// The redelivery (same event) does the rest.
	written = 0
	started = time.Now()
	if err := e.srv.HandleEvent(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	t.Logf("redelivery: %d carts in %v", written, time.Since(started))
	if written != len(ids)-done {
		t.Fatalf("redelivery wrote %d carts, want the %d left", written, len(ids)-done)
	}
	checkRepriced(t, e, mug, ids, 990, 1)
	// Once more: nothing left to write.
	written = 0
	if err := e.srv.HandleEvent(context.Background(), ev); err != nil || written != 0 {
		t.Fatalf("a repeat wrote %d carts (%v)", written, err)
	}
}

// TestProductListsFollowCarts: a cart is on a product's list once a line
// of it is added (AddItem, Merge); a product event takes off carts that no
// longer hold the product; a database from before the lists gets them when
// the service starts.
func TestProductListsFollowCarts(t *testing.T) {
	e := start(t, bustest.New(t, "inproc"), cart.Options{})
	mug, tea := e.product(t, "Mug", 1250), e.product(t, "Tea", 499)
	ctx := e.auth.Customer
	userCart, err := e.cart.AddItem(ctx, cart.AddItemRequest{ProductID: mug.ID, Quantity: 1})
	if err != nil {
		t.Fatal(err)
	}
	g, err := e.cart.AddItem(e.guest, cart.AddItemRequest{ProductID: tea.ID, Quantity: 1})
	if err != nil {
		t.Fatal(err)
	}
	listed := func(p product.Product) map[string]bool {
		m := map[string]bool{}
		for _, id := range cart.ListedCarts(t, e.srv, p.ID) {
			m[id] = true
		}
		return m
	}
	if l := listed(mug); !l[userCart.ID] || len(l) != 1 {
		t.Fatalf("mug listed in %v", l)
	}
	if _, err := e.cart.Merge(ctx, cart.MergeRequest{GuestCartID: g.ID}); err != nil {
		t.Fatal(err)
	}
	if l := listed(tea); !l[userCart.ID] {
		t.Fatalf("tea merged into %s, listed in %v", userCart.ID, l)
	}

	// The line goes: the next event of the product unlists the cart (and
	// the merged guest cart, gone too).
	if _, err := e.cart.RemoveItem(ctx, cart.RemoveItemRequest{ProductID: tea.ID}); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.HandleEvent(context.Background(), priceEvent(tea, 1, 550)); err != nil {
		t.Fatal(err)
	}
	if l := listed(tea); len(l) != 0 {
		t.Fatalf("tea still listed in %v", l)
	}
	// Back in the cart: listed again, and the next event reaches it.
	if _, err := e.cart.AddItem(ctx, cart.AddItemRequest{ProductID: tea.ID, Quantity: 1}); err != nil {
		t.Fatal(err)
	}
	if l := listed(tea); !l[userCart.ID] {
		t.Fatalf("tea added again, listed in %v", l)
	}
	tea.Version++ // the event above
	if err := e.srv.HandleEvent(context.Background(), priceEvent(tea, 1, 600)); err != nil {
		t.Fatal(err)
	}
	c, err := e.cart.Get(ctx, cart.CartRequest{})
	if err != nil || line(t, c, tea.ID, "").UnitPrice.Amount != 600 {
		t.Fatalf("tea after its price change: %+v, %v", c, err)
	}

	// A database from before the lists: a new service lists its carts.
	cart.UnlistAll(t, e.srv)
	srv, err := cart.New(e.db, cart.Options{Auth: e.auth.Client, Products: e.products, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if l := cart.ListedCarts(t, srv, mug.ID); len(l) != 1 || l[0] != userCart.ID {
		t.Fatalf("after the start, mug listed in %v", l)
	}
	if err := srv.HandleEvent(context.Background(), priceEvent(mug, 1, 1300)); err != nil {
		t.Fatal(err)
	}
	c, err = e.cart.Get(ctx, cart.CartRequest{})
	if err != nil || !line(t, c, mug.ID, "").PriceChanged {
		t.Fatalf("mug after its price change: %+v, %v", c, err)
	}
}
