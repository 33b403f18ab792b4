package main

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/shoptest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/transport"
)

// TestRun runs the embedded cart next to the real auth and product
// services it depends on, and uses it through its bus client as a shop
// would: a guest fills a cart, logs in and keeps it, and a price change
// reaches the cart through the product events.
func TestRun(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		quiet := slog.New(slog.DiscardHandler)
		a := shoptest.StartAuth(t, bus) // an admin and a customer, logged in
		prodSrv, err := product.New(testenv.MongoDB(t, "product"), product.Options{Auth: a.Client, Events: bus, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		sub, err := product.Bind(bus, prodSrv)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sub.Close() })
		products := product.NewClient(bus)
		shirt, err := products.Create(a.Admin, product.CreateRequest{
			Title: "Linen shirt", Status: shop.StatusPublished, Price: shop.Money{Amount: 2500, Currency: "EUR"},
		})
		if err != nil {
			t.Fatal(err)
		}

		ctx, stop := context.WithCancel(context.Background())
		defer stop()
		db := testenv.MongoDB(t, "cart")
		done := make(chan error, 1)
		go func() { done <- run(ctx, bus, db, quiet) }()

		carts := cart.NewClient(bus)
		// The cart serves once run has bound it: a user without a cart
		// gets an empty one.
		waitFor(t, "the cart service", func() bool {
			c, err := call(a.Customer, time.Second, carts.Get, cart.CartRequest{})
			return err == nil && len(c.Lines) == 0
		})

		guest, err := carts.AddItem(context.Background(), cart.AddItemRequest{ProductID: shirt.ID, Quantity: 2})
		if err != nil {
			t.Fatal(err)
		}
		if guest.ID == "" || len(guest.Lines) != 1 || guest.Lines[0].Title != "Linen shirt" || guest.Totals["EUR"] != 5000 {
			t.Fatalf("guest cart = %+v, want a new cart with 2 linen shirts for 50.00 EUR", guest)
		}
		mine, err := carts.Merge(a.Customer, cart.MergeRequest{GuestCartID: guest.ID})
		if err != nil {
			t.Fatal(err)
		}
		if mine.UserID != a.CustomerUser.UserID || len(mine.Lines) != 1 || mine.Lines[0].Quantity != 2 {
			t.Fatalf("merged cart = %+v, want the customer's cart with the guest's 2 shirts", mine)
		}
		if _, err := carts.Get(context.Background(), cart.CartRequest{CartID: guest.ID}); !errors.Is(err, shop.ErrNotFound) {
			t.Errorf("guest cart after the merge: %v, want not_found", err)
		}

		// A new price reaches the cart through product.product.updated.
		price := shop.Money{Amount: 3000, Currency: "EUR"}
		if _, err := products.Update(a.Admin, product.UpdateRequest{ID: shirt.ID, Price: &price}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the new price in the cart", func() bool {
			c, err := carts.Get(a.Customer, cart.CartRequest{})
			return err == nil && len(c.Lines) == 1 && c.Lines[0].PriceChanged && c.Lines[0].UnitPrice == price && c.Totals["EUR"] == 6000
		})

		// Cancelling the context stops run, which stops serving.
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("run returned %v after cancellation, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("run did not return within 10 s of cancellation")
		}
		if _, err := call(a.Customer, 300*time.Millisecond, carts.Get, cart.CartRequest{}); !errors.Is(err, shop.ErrDeadlineExceeded) {
			t.Errorf("a call after run returned: %v, want deadline_exceeded (nobody serves the cart)", err)
		}
	})
}

// call calls method with a timeout.
func call[Req, Res any](ctx context.Context, timeout time.Duration, method func(context.Context, Req) (Res, error), r Req) (Res, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return method(ctx, r)
}

// waitFor polls cond until it holds, failing the test after 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s after 20 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
