package cart_test

import (
	"context"
	"testing"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/transport"
)

// TestConfirmedOrderLeavesTheCart: a confirmed order takes what it
// ordered out of its buyer's cart, once however often it is applied, and
// units added after checking out stay; a malformed event is refused.
func TestConfirmedOrderLeavesTheCart(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		e := start(t, bus, cart.Options{})
		mug, tea := e.product(t, "Mug", 1250), e.product(t, "Tea", 499)
		customer := e.auth.Customer
		for _, p := range []string{mug.ID, tea.ID} {
			if _, err := e.cart.AddItem(customer, cart.AddItemRequest{ProductID: p, Quantity: 3}); err != nil {
				t.Fatal(err)
			}
		}
		oc := shop.OrderChanged{OrderID: "order-1", UserID: e.auth.CustomerUser.UserID, Status: "paid", Lines: []shop.OrderLineSnapshot{
			{ProductID: mug.ID, SKU: mug.SKU, Quantity: 3}, {ProductID: tea.ID, SKU: tea.SKU, Quantity: 1},
		}}
		for range 2 {
			if err := e.srv.RemoveOrdered(context.Background(), oc); err != nil {
				t.Fatal(err)
			}
		}
		c, err := e.cart.Get(customer, cart.CartRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Lines) != 1 || line(t, c, tea.ID, "").Quantity != 2 {
			t.Fatalf("cart after the order: %+v", c.Lines)
		}
		// A user without a cart has nothing to remove.
		oc.UserID, oc.OrderID = "someone-else", "order-2"
		if err := e.srv.RemoveOrdered(context.Background(), oc); err != nil {
			t.Fatal(err)
		}
		if err := e.srv.HandleOrderEvent(context.Background(), transport.Event{Key: shop.EventOrderConfirmed, Body: []byte(`{"order_id":`)}); err == nil {
			t.Fatal("a malformed event was accepted")
		}
	})
}
