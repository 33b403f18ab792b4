package seeder_test

import (
	"fmt"
	"log"

	"github.com/shopbus/shopbus/shop/seeder"
	"github.com/shopbus/shopbus/shop/shoptest"
)

// Example asks the seeder, as an admin, to fill a shop with a few
// products and what goes with them, and prints what it did. Running it
// again with the same seed creates nothing: it finds everything there.
// (shoptest.Options.SeedProducts does the same in one line.)
func Example() {
	t, done := shoptest.ExampleTB() // in a test: the test's *testing.T
	defer done()
	s := shoptest.Start(t, shoptest.Options{Services: []string{seeder.ServiceName}})

	client := seeder.NewClient(s.Bus)
	admin := s.Admin(t)
	for range 2 {
		rep, err := client.Run(admin, seeder.RunRequest{Seed: 42, Products: 3})
		if err != nil {
			t.Fatal(err)
		}
		c := rep.Counts[seeder.KindProducts]
		fmt.Println(rep.Products, "products:", c.Created, "created,", c.Existing, "existing")
	}
	// Output:
	// 3 products: 3 created, 0 existing
	// 3 products: 0 created, 3 existing
}

// ExampleNewDataset shows what a seed creates, without any service.
func ExampleNewDataset() {
	ds, err := seeder.NewDataset(42, 1000)
	if err != nil {
		log.Fatal(err)
	}
	p := ds.Product(0)
	fmt.Println(len(ds.Categories) > 0, ds.Articles, p.Request.Price.Currency, p.Request.Status)
	// Output: true 53 EUR published
}
