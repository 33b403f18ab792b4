package filter_test

import (
	"context"
	"fmt"
	"time"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/filter"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/shoptest"
)

// Example queries the filter service, which learns the catalogue from the
// product and category events: a product an admin creates is found a
// moment later. shoptest runs the product service next to it.
func Example() {
	t, done := shoptest.ExampleTB() // in a test: the test's *testing.T
	defer done()
	s := shoptest.Start(t, shoptest.Options{Services: []string{product.ServiceName, filter.ServiceName}})

	admin := s.Admin(t)
	products := product.NewClient(s.Bus)
	for i, title := range []string{"Red shirt", "Blue shirt", "Green shirt"} {
		if _, err := products.Create(admin, product.CreateRequest{
			Title:  title,
			Status: shop.StatusPublished,
			Price:  shop.Money{Amount: int64(1500 - 100*i), Currency: "EUR"},
		}); err != nil {
			t.Fatal(err)
		}
	}

	filters := filter.NewClient(s.Bus)
	q := filter.Query{Text: "shirt", Sort: filter.SortPriceAsc}
	var res filter.Result
	for deadline := time.Now().Add(10 * time.Second); res.Total < 3; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the filter service has %d of 3 products", res.Total)
		}
		var err error
		if res, err = filters.Query(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	for _, it := range res.Items {
		fmt.Println(it.Title, it.Price)
	}
	fmt.Println(res.Price.Min, "to", res.Price.Max)
	// Output:
	// Green shirt 13.00 EUR
	// Blue shirt 14.00 EUR
	// Red shirt 15.00 EUR
	// 13.00 EUR to 15.00 EUR
}

// The query engine on its own: apply product events, then query with
// facets. The counts for color ignore the color filter itself.
func ExampleIndex() {
	x := filter.NewIndex()
	for i, color := range []string{"red", "red", "blue", "green"} {
		x.ApplyProduct(shop.ProductChanged{Product: shop.ProductSnapshot{
			ID:         fmt.Sprint("p", i),
			Title:      color + " shirt",
			Status:     shop.StatusPublished,
			Price:      shop.Money{Amount: int64(1000 + 100*i), Currency: "EUR"},
			Attributes: map[string]any{"color": color, "size": []any{"m", "l"}[i%2]},
			Version:    1,
		}})
	}
	res, _ := x.Query(filter.Query{
		Attributes: []filter.AttributeFilter{{Code: "color", Values: []string{"red"}}},
		Sort:       filter.SortPriceAsc,
	})
	for _, it := range res.Items {
		fmt.Println(it.Title, it.Price)
	}
	for _, f := range res.Facets {
		fmt.Print(f.Code, ":")
		for _, v := range f.Values {
			fmt.Printf(" %s=%d", v.Value, v.Count)
		}
		fmt.Println()
	}
	// Output:
	// red shirt 10.00 EUR
	// red shirt 11.00 EUR
	// color: blue=1 green=1 red=2
	// size: l=1 m=1
}
