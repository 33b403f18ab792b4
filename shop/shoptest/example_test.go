package shoptest_test

import (
	"fmt"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/shoptest"
)

// A test of a program that embeds the cart: the shop runs the cart and the
// services it calls; the admin creates a product, and a new customer puts
// two of it in their cart.
func Example() {
	t := newExampleT() // in a test: the test's *testing.T
	defer t.cleanup()  // in a test: done when it ends

	s := shoptest.Start(t, shoptest.Options{Services: []string{"cart"}})
	fmt.Println(s.Services)

	products := product.NewClient(s.Bus)
	carts := cart.NewClient(s.Bus)
	mug, err := products.Create(s.Admin(t), product.CreateRequest{
		Title:  "Blue mug",
		Status: shop.StatusPublished,
		Price:  shop.Money{Amount: 1290, Currency: "EUR"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ada := s.NewCustomer(t)
	c, err := carts.AddItem(ada, cart.AddItemRequest{ProductID: mug.ID, Quantity: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range c.Lines {
		fmt.Println(line.Quantity, "×", line.Title, line.Subtotal)
	}
	// Output:
	// [auth category attribute option product cart article]
	// 2 × Blue mug 25.80 EUR
}
