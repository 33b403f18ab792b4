package seo_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/content/seo"
	"github.com/shopbus/shopbus/transport"
)

// TestHandleEventsAsOneByOne applies a batch of events with HandleEvents
// (new products inserted together, the others applied on their own: two
// versions of one product, a product taking over a path, an article, a
// malformed event) and the same events one at a time with HandleEvent to
// another server: the metadata and the paths are the same, the malformed
// event alone fails, and the batch again changes nothing.
func TestHandleEventsAsOneByOne(t *testing.T) {
	bus := bustest.New(t, "inproc")
	f := start(t, bus, seo.Options{TitleSuffix: " | Shop"})
	one, err := seo.New(testenv.MongoDB(t, "seo_one_"+t.Name()), seo.Options{Auth: f.Client, BaseURL: base, TitleSuffix: " | Shop"})
	if err != nil {
		t.Fatal(err)
	}
	ev := func(key string, body any) transport.Event {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		return transport.Event{ID: transport.NewRequestID(), Key: key, Body: b, Time: time.Now()}
	}
	created := func(p shop.ProductSnapshot) transport.Event {
		return ev(shop.EventProductCreated, shop.ProductChanged{Product: p})
	}
	ctx := context.Background()
	// Before the batch: "old" holds /products/shared.
	for _, srv := range []*seo.Server{f.srv, one} {
		if err := srv.HandleEvent(ctx, created(product("old", "shared", "Old", "", 1))); err != nil {
			t.Fatal(err)
		}
	}
	renamed := product("p5", "five-b", "Five B", "", 2)
	batch := []transport.Event{
		created(product("p1", "one", "One", "First <b>product</b>.", 1)),
		created(product("p2", "two", "Two", "", 1)),
		ev(shop.EventProductCreated, map[string]any{"product": 5}), // malformed
		created(product("p5", "five", "Five", "", 1)),
		created(product("p3", "three", "Three", "", 1)),
		ev(shop.EventProductUpdated, shop.ProductChanged{Product: renamed, OldSlug: "five"}),
		created(product("p4", "shared", "Four", "", 1)), // takes the path over
		ev(shop.EventArticleCreated, shop.ArticleChanged{Article: shop.ArticleSnapshot{ID: "a1", Slug: "news", Title: "News", Status: shop.StatusPublished, Version: 1}}),
	}
	for round := range 2 {
		errs := f.srv.HandleEvents(ctx, batch)
		if len(errs) != len(batch) {
			t.Fatalf("%d results for %d events", len(errs), len(batch))
		}
		for i, err := range errs {
			if (err != nil) != (i == 2) {
				t.Fatalf("round %d, event %d: %v", round, i, err)
			}
		}
	}
	for i, e := range batch {
		if err := one.HandleEvent(ctx, e); (err != nil) != (i == 2) {
			t.Fatalf("one by one, event %d: %v", i, err)
		}
	}
	for _, c := range []struct {
		kind seo.Kind
		id   string
	}{{seo.KindProduct, "p1"}, {seo.KindProduct, "p2"}, {seo.KindProduct, "p3"}, {seo.KindProduct, "p4"}, {seo.KindProduct, "p5"}, {seo.KindProduct, "old"}, {seo.KindArticle, "a1"}} {
		batched, err1 := f.srv.Get(f.Admin, seo.GetRequest{Kind: c.kind, EntityID: c.id})
		single, err2 := one.Get(f.Admin, seo.GetRequest{Kind: c.kind, EntityID: c.id})
		batched.UpdatedAt, single.UpdatedAt = time.Time{}, time.Time{} // when each server wrote it
		if err1 != nil || err2 != nil || !reflect.DeepEqual(batched, single) {
			t.Errorf("%s %s: batched %+v (%v), one by one %+v (%v)", c.kind, c.id, batched, err1, single, err2)
		}
	}
	for _, path := range []string{"/products/one", "/products/five", "/products/five-b", "/products/shared", "/articles/news"} {
		batched, err1 := f.srv.Resolve(f.Admin, seo.ResolveRequest{Path: path})
		single, err2 := one.Resolve(f.Admin, seo.ResolveRequest{Path: path})
		for _, r := range []*seo.Resolution{&batched, &single} {
			if r.Metadata != nil {
				m := *r.Metadata
				m.UpdatedAt = time.Time{}
				r.Metadata = &m
			}
		}
		if !reflect.DeepEqual(batched, single) || (err1 == nil) != (err2 == nil) {
			t.Errorf("%s: batched %+v (%v), one by one %+v (%v)", path, batched, err1, single, err2)
		}
	}
	if m, err := f.srv.Get(f.anon, seo.GetRequest{Kind: seo.KindProduct, EntityID: "p4"}); err != nil || m.Path != "/products/shared" {
		t.Fatalf("p4: %+v, %v; want the path taken over", m, err)
	}
}
