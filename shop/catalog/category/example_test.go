package category_test

import (
	"context"
	"fmt"

	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/shop/shoptest"
)

// Example builds a small tree through the client as an admin and reads a
// category's breadcrumbs as the storefront does.
func Example() {
	t, done := shoptest.ExampleTB() // in a test: the test's *testing.T
	defer done()
	s := shoptest.Start(t, shoptest.Options{Services: []string{category.ServiceName}})

	cats := category.NewClient(s.Bus)
	admin := s.Admin(t) // writes need an admin
	men, err := cats.Create(admin, category.CreateRequest{Name: "Men"})
	if err != nil {
		t.Fatal(err)
	}
	shoes, err := cats.Create(admin, category.CreateRequest{Name: "Men's Shoes", ParentID: men.ID})
	if err != nil {
		t.Fatal(err)
	}
	crumbs, err := cats.Ancestors(context.Background(), category.AncestorsRequest{ID: shoes.ID})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range crumbs {
		fmt.Println(c.Name, "/", c.Slug)
	}
	fmt.Println(shoes.Name, "/", shoes.Slug)
	// Output:
	// Men / men
	// Men's Shoes / mens-shoes
}
