package cart_test

import (
	"context"
	"fmt"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/shoptest"
)

// Example walks a guest through shopping, logging in and keeping the
// guest's cart. shoptest runs the cart with the services it calls (auth
// and product, with the catalogue services product calls).
func Example() {
	t, done := shoptest.ExampleTB() // in a test: the test's *testing.T
	defer done()
	s := shoptest.Start(t, shoptest.Options{Services: []string{cart.ServiceName}})

	mug, err := product.NewClient(s.Bus).Create(s.Admin(t), product.CreateRequest{
		Title:  "Blue mug",
		Status: shop.StatusPublished,
		Price:  shop.Money{Amount: 1290, Currency: "EUR"},
	})
	if err != nil {
		t.Fatal(err)
	}

	carts := cart.NewClient(s.Bus)
	// A guest adds a product: the service makes a cart and returns its id.
	guest, err := carts.AddItem(context.Background(), cart.AddItemRequest{ProductID: mug.ID, Quantity: 2})
	if err != nil {
		t.Fatal(err)
	}
	// The guest logs in; the shop merges the guest cart into the user's.
	ada := s.NewCustomer(t)
	mine, err := carts.Merge(ada, cart.MergeRequest{GuestCartID: guest.ID})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range mine.Lines {
		fmt.Println(l.Quantity, "×", l.Title, l.Subtotal)
	}
	fmt.Println("total:", shop.Money{Amount: mine.Totals["EUR"], Currency: "EUR"})
	// Output:
	// 2 × Blue mug 25.80 EUR
	// total: 25.80 EUR
}
