package order_test

import (
	"fmt"
	"time"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/inventory"
	"github.com/shopbus/shopbus/shop/order"
	"github.com/shopbus/shopbus/shop/shoptest"
	"github.com/shopbus/shopbus/transport"
)

// Example checks a customer's cart out: a quote first, then the order,
// which reserves the stock, takes the payment (shoptest's shop uses the
// fake provider, which approves) and commits the stock.
func Example() {
	t, done := shoptest.ExampleTB() // in a test: the test's *testing.T
	defer done()
	s := shoptest.Start(t, shoptest.Options{Services: []string{order.ServiceName}})

	admin := s.Admin(t)
	mug, err := product.NewClient(s.Bus).Create(admin, product.CreateRequest{
		Title:  "Blue mug",
		Status: shop.StatusPublished,
		Price:  shop.Money{Amount: 1250, Currency: "EUR"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inventory.NewClient(s.Bus).SetStock(admin, inventory.SetStockRequest{SKU: mug.SKU, OnHand: 5}); err != nil {
		t.Fatal(err)
	}
	ada := s.NewCustomer(t)
	if _, err := cart.NewClient(s.Bus).AddItem(ada, cart.AddItemRequest{ProductID: mug.ID, Quantity: 2}); err != nil {
		t.Fatal(err)
	}

	orders := order.NewClient(s.Bus)
	req := order.PlaceRequest{
		Email:          "ada@example.com",
		Address:        order.Address{Name: "Ada Lovelace", Line1: "Hauptstraße 1", PostalCode: "10115", City: "Berlin", Country: "DE"},
		ShippingMethod: "standard",
	}
	q, err := orders.Quote(ada, req)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("quote: %+v\n", q.Totals[0])

	// One request id for the order: placing it again (a retry) with the
	// same id places nothing more.
	o, err := orders.Place(transport.WithRequestID(ada, transport.NewRequestID()), req)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !o.Settled; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("order %s not settled: %s", o.ID, o.Status)
		}
		if o, err = orders.Get(ada, order.GetRequest{ID: o.ID}); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Println(o.Status, o.Lines[0].Quantity, "×", o.Lines[0].Title)
	// Output:
	// quote: {Currency:EUR Items:2500 Shipping:490 Total:2990 Tax:477 TaxRate:1900}
	// paid 2 × Blue mug
}
