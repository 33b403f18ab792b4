package main

import (
	"errors"
	"testing"

	"github.com/shopbus/shopbus/host"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/shoptest"
)

// startShop runs this program's cart with the services it calls (auth,
// and product with the catalogue services product calls) on a shop of
// the test's own; amqpURL, when set, is the RabbitMQ broker to run it on.
func startShop(t *testing.T, amqpURL string) *shoptest.Shop {
	t.Helper()
	return shoptest.Start(t, shoptest.Options{
		Services: []string{auth.ServiceName, product.ServiceName},
		Extra:    []host.Service{CartService()}, // replaces the built-in cart
		AMQPURL:  amqpURL,
	})
}

// checkCart has the admin create a product and a new customer add it to
// their cart, read the cart back, and be refused more than MaxPerLine.
func checkCart(t *testing.T, s *shoptest.Shop) {
	t.Helper()
	mug, err := product.NewClient(s.Bus).Create(s.Admin(t), product.CreateRequest{
		Title:  "Blue mug",
		Status: shop.StatusPublished,
		Price:  shop.Money{Amount: 1290, Currency: "EUR"},
	})
	if err != nil {
		t.Fatalf("the admin creates a product: %v", err)
	}

	carts := cart.NewClient(s.Bus)
	ada := s.NewCustomer(t)
	if _, err := carts.AddItem(ada, cart.AddItemRequest{ProductID: mug.ID, Quantity: 2}); err != nil {
		t.Fatalf("add 2 mugs: %v", err)
	}
	c, err := carts.Get(ada, cart.CartRequest{})
	if err != nil {
		t.Fatalf("read the cart back: %v", err)
	}
	if len(c.Lines) != 1 || c.Lines[0].ProductID != mug.ID || c.Lines[0].Quantity != 2 || c.Totals["EUR"] != 2580 {
		t.Errorf("the cart holds %+v, want 2 × Blue mug for 25.80 EUR", c)
	}

	// This program's own rule, enforced over the bus.
	_, err = carts.AddItem(ada, cart.AddItemRequest{ProductID: mug.ID, Quantity: MaxPerLine})
	var e *shop.Error
	if !errors.Is(err, shop.ErrInvalid) || !errors.As(err, &e) || len(e.Fields) != 1 || e.Fields[0].Field != "quantity" {
		t.Errorf("adding %d more mugs to 2: %v, want invalid quantity", MaxPerLine, err)
	}
	if c, _ := carts.Get(ada, cart.CartRequest{}); len(c.Lines) != 1 || c.Lines[0].Quantity != 2 {
		t.Errorf("after the refusal the cart holds %+v", c.Lines)
	}
	// Without a session there is no customer's cart.
	if _, err := carts.Get(t.Context(), cart.CartRequest{}); err == nil {
		t.Error("a caller without a session or cart id reads a cart")
	}
}

// TestCart runs the cart on the in-process bus (or on SHOP_AMQP_URL's
// broker, when it is set).
func TestCart(t *testing.T) {
	checkCart(t, startShop(t, ""))
}

// TestCartOnRabbitMQ runs the same on RabbitMQ: SHOP_AMQP_URL's broker, or
// one in a container of the test's own (shoptest.AMQPURL).
func TestCartOnRabbitMQ(t *testing.T) {
	checkCart(t, startShop(t, shoptest.AMQPURL(t)))
}
