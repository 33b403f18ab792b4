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

// ExampleClient_PutRedirect sends a campaign path elsewhere for a while
// (302), and an old shop's address permanently to a page of the shop; a
// redirect to a redirect is stored where the chain ends.
func ExampleClient_PutRedirect() {
	t, done := shoptest.ExampleTB()
	defer done()
	s := shoptest.Start(t, shoptest.Options{Services: []string{seo.ServiceName}})

	meta := seo.NewClient(s.Bus)
	admin := s.Admin(t)
	if _, err := meta.PutRedirect(admin, seo.PutRedirectRequest{From: "/spring", To: "/search?q=spring", Status: seo.StatusFound}); err != nil {
		t.Fatal(err)
	}
	r, err := meta.PutRedirect(admin, seo.PutRedirectRequest{From: "/shop/item.php", To: "/spring"})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(r.From, "→", r.To, r.Status)

	res, err := meta.Resolve(context.Background(), seo.ResolveRequest{Path: "/spring"})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(res.Status, res.Redirect)

	page, err := meta.ListRedirects(admin, seo.ListRedirectsRequest{Prefix: "/s"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range page.Redirects {
		fmt.Println(r.From)
	}
	// Output:
	// /shop/item.php → /search?q=spring 302
	// 302 /search?q=spring
	// /shop/item.php
	// /spring
}
