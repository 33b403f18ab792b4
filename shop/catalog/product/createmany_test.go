package product_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/shop"
	ct "github.com/shopbus/shopbus/shop/catalog/internal/catalogtest"
	"github.com/shopbus/shopbus/shop/catalog/option"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/transport"
)

// TestCreateMany makes several products in one call: each as Create makes
// it (slug, SKU, variants with their prices, categories, attributes), each
// announced once; a product that is invalid or in conflict gets its own
// error and the others are made; a repeat of the request makes nothing
// more; bad shapes and callers are refused.
func TestCreateMany(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		w := setup(t, bus)
		ps := w.Products
		rec := ct.Record(t, bus, "recorder", "product.product.*")
		taken := ct.Must(ps.Create(w.Admin, product.CreateRequest{Title: "Taken", Slug: "taken", Price: eur(1)}))(t)

		shirt := w.shirt()
		plain := product.CreateRequest{Title: "Plain Tee", Price: eur(900), Status: shop.StatusPublished, CategoryIDs: []string{w.sale.ID}}
		badCategory := product.CreateRequest{Title: "Lost", Price: eur(1), CategoryIDs: []string{"no-such-category"}}
		badAttribute := product.CreateRequest{Title: "Heavy", Price: eur(1), Attributes: map[string]any{"weight": "heavy"}}
		badGroup := product.CreateRequest{Title: "Sleeves", Price: eur(1), OptionGroups: []string{"sleeve"}}
		slugTaken := product.CreateRequest{Title: "Other", Slug: "taken", Price: eur(1)}
		twin := product.CreateRequest{Title: "Plain Tee", Price: eur(800)} // same title: a suffixed slug
		req := product.CreateManyRequest{Items: []product.CreateRequest{shirt, badCategory, plain, badAttribute, slugTaken, badGroup, twin}}
		ctx := transport.WithRequestID(w.Admin, transport.NewRequestID())
		res := ct.Must(ps.CreateMany(ctx, req))(t)
		if len(res) != len(req.Items) {
			t.Fatalf("%d results for %d products", len(res), len(req.Items))
		}
		wantErr := func(i int, code transport.Code, field string) {
			t.Helper()
			r := res[i]
			if r.Product != nil || r.Error == nil || r.Error.Code != code {
				t.Fatalf("result %d: %+v, want a %s error", i, r, code)
			}
			if field != "" {
				ct.WantField(t, r.Error, field)
			}
		}
		wantErr(1, transport.CodeInvalid, "category_ids")
		wantErr(3, transport.CodeInvalid, "attributes.weight")
		wantErr(4, transport.CodeConflict, "")
		wantErr(5, transport.CodeInvalid, "option_groups[0]")

		// The made ones are what Create makes.
		made := map[int]product.Product{}
		for _, i := range []int{0, 2, 6} {
			if res[i].Error != nil || res[i].Product == nil {
				t.Fatalf("result %d: %+v, want a product", i, res[i])
			}
			made[i] = *res[i].Product
		}
		p := made[0]
		if p.Slug != "oxford-shirt" || p.SKU != "OXFORD-SHIRT" || len(p.Variants) != 6 || p.Version != 1 || p.Attributes["weight"] != float64(180) {
			t.Fatalf("shirt %+v", p)
		}
		for _, v := range p.Variants {
			if own := v.Options["size"] == "l" && v.Options["colour"] == "blue"; own != v.OwnPrice || own && v.Price != eur(5400) {
				t.Fatalf("variant %+v", v)
			}
		}
		pv := ct.Must(w.Options.GetVariants(context.Background(), option.ProductRequest{ProductID: p.ID}))(t)
		if len(pv.Variants) != 6 || pv.Variants[0].ID != p.Variants[0].ID {
			t.Fatalf("option service variants %+v", pv)
		}
		if made[2].Slug != "plain-tee" || made[2].Status != shop.StatusPublished || made[2].PublishedAt.IsZero() || made[6].Slug != "plain-tee-2" {
			t.Fatalf("plain %+v, twin %+v", made[2], made[6])
		}
		for _, m := range made {
			got := ct.Must(ps.Get(context.Background(), product.GetRequest{ID: m.ID}))(t)
			if got.Slug != m.Slug || got.Version != 1 || len(got.Variants) != len(m.Variants) {
				t.Fatalf("get %+v, want %+v", got, m)
			}
			h := ct.Must(ps.History(w.Admin, shop.HistoryRequest{ID: m.ID}))(t)
			if len(h.Changes) != 1 || h.Changes[0].Action != product.MethodCreateMany || h.Changes[0].Email == "" {
				t.Fatalf("history of %s: %+v", m.Slug, h)
			}
		}
		// The refused ones left their slugs free.
		ct.Must(ps.Create(w.Admin, product.CreateRequest{Title: "Lost", Price: eur(1)}))(t) // "lost", not "lost-2"
		if got := ct.Must(ps.GetBySlug(context.Background(), product.GetBySlugRequest{Slug: "lost"}))(t); got.Title != "Lost" {
			t.Fatalf("lost: %+v", got)
		}

		// One created event per product made.
		for _, m := range made {
			ct.Wait(t, rec, shop.EventProductCreated, func(e shop.ProductChanged) bool { return e.Product.ID == m.ID })
		}

		// The same request again: the same products, nothing new.
		again := ct.Must(ps.CreateMany(ctx, req))(t)
		for _, i := range []int{0, 2, 6} {
			if again[i].Product == nil || again[i].Product.ID != made[i].ID {
				t.Fatalf("repeat, result %d: %+v, want %s", i, again[i], made[i].ID)
			}
		}
		time.Sleep(200 * time.Millisecond)
		count := map[string]int{}
		for _, ev := range rec.Events() {
			if ev.Key != shop.EventProductCreated {
				continue
			}
			var pc shop.ProductChanged
			if err := json.Unmarshal(ev.Body, &pc); err != nil {
				t.Fatal(err)
			}
			count[pc.Product.ID]++
		}
		for _, m := range made {
			if count[m.ID] != 1 {
				t.Fatalf("%d created events for %s, want 1", count[m.ID], m.Slug)
			}
		}
		if n := len(count); n != 5 { // taken, lost, and the three made
			t.Fatalf("created events for %d products, want 5: %v", n, count)
		}
		if b := ct.Must(w.ProductServer.EventBacklog(context.Background()))(t); b.Pending != 0 {
			t.Fatalf("backlog %d, want 0", b.Pending)
		}

		// Refusals.
		_, err := ps.CreateMany(w.Admin, product.CreateManyRequest{})
		ct.WantField(t, err, "items")
		_, err = ps.CreateMany(w.Admin, product.CreateManyRequest{Items: make([]product.CreateRequest, product.MaxCreateMany+1)})
		ct.WantField(t, err, "items")
		one := product.CreateManyRequest{Items: []product.CreateRequest{{Title: "Nobody's", Price: eur(1)}}}
		_, err = ps.CreateMany(context.Background(), one)
		ct.WantCode(t, err, transport.CodeUnauthenticated)
		_, err = ps.CreateMany(w.Customer, one)
		ct.WantCode(t, err, transport.CodeForbidden)
		if _, err := ps.GetBySlug(context.Background(), product.GetBySlugRequest{Slug: "nobodys"}); err == nil {
			t.Fatal("a refused create_many made its product")
		}
		if slices.ContainsFunc(res, func(r product.CreateResult) bool { return r.Product != nil && r.Product.ID == taken.ID }) {
			t.Fatal("create_many returned an existing product as made")
		}
	})
}
