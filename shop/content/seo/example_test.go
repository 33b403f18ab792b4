package seo_test

import (
	"context"
	"fmt"

	"github.com/shopbus/shopbus/shop/content/seo"
	"github.com/shopbus/shopbus/shop/shoptest"
)

// Example gives a page its metadata, resolves its path as the storefront
// does for every request, and moves the page: its old path then redirects
// to the new one.
func Example() {
	t, done := shoptest.ExampleTB() // in a test: the test's *testing.T
	defer done()
	s := shoptest.Start(t, shoptest.Options{Services: []string{seo.ServiceName}})

	meta := seo.NewClient(s.Bus)
	admin := s.Admin(t)
	if _, err := meta.Put(admin, seo.PutRequest{Kind: seo.KindPage, EntityID: "about", Path: "/about", Title: "About us"}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := meta.Resolve(ctx, seo.ResolveRequest{Path: "/about"})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(res.Metadata.Title)

	if _, err := meta.Put(admin, seo.PutRequest{Kind: seo.KindPage, EntityID: "about", Path: "/about-us", Title: "About us"}); err != nil {
		t.Fatal(err)
	}
	res, err = meta.Resolve(ctx, seo.ResolveRequest{Path: "/about"})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(res.Status, res.Redirect)
	// Output:
	// About us
	// 301 /about-us
}
