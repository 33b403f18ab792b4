package product_test

import (
	"context"
	"fmt"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/shoptest"
)

// Example creates products as an admin and pages through the catalogue,
// newest first. shoptest runs the product service with the catalogue
// services it calls (category, attribute, option) and auth.
func Example() {
	t, done := shoptest.ExampleTB() // in a test: the test's *testing.T
	defer done()
	s := shoptest.Start(t, shoptest.Options{Services: []string{product.ServiceName}})

	products := product.NewClient(s.Bus)
	admin := s.Admin(t)
	for _, title := range []string{"Oxford Shirt", "Linen Shirt", "Café Crème Mug"} {
		p, err := products.Create(admin, product.CreateRequest{
			Title:  title,
			Status: shop.StatusPublished,
			Price:  shop.Money{Amount: 4900, Currency: "EUR"},
		})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Println(p.Slug)
	}

	// Every product, newest first, two at a time.
	req := product.ListRequest{Sort: product.SortCreated, Desc: true, Limit: 2}
	for {
		page, err := products.List(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Print("page:")
		for _, p := range page.Items {
			fmt.Print(" ", p.Title)
		}
		fmt.Println()
		if page.NextCursor == "" {
			break
		}
		req.Cursor = page.NextCursor
	}
	// Output:
	// oxford-shirt
	// linen-shirt
	// cafe-creme-mug
	// page: Café Crème Mug Linen Shirt
	// page: Oxford Shirt
}
