package filter_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/attribute"
	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/shop/catalog/filter"
	"github.com/shopbus/shopbus/shop/catalog/internal/catalogtest"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/transport"
)

// TestWithCatalogServices runs the filter against the real category,
// attribute and product services: their events feed it, and a second
// filter server rebuilt from the product and category services answers
// the same.
func TestWithCatalogServices(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		cat := catalogtest.Start(t, bus, catalogtest.Config{})
		admin := cat.Admin
		opts := filter.Options{
			Auth:       cat.Auth.Client,
			Products:   filter.FromProductService(cat.Products),
			Categories: filter.FromCategoryService(cat.Categories),
			Logger:     quiet(),
		}
		srv, err := filter.New(testenv.MongoDB(t, "filter"), opts)
		if err != nil {
			t.Fatal(err)
		}
		sub, err := filter.Bind(bus, srv)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sub.Close() })
		events, err := filter.Subscribe(bus, srv)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { events.Close() })
		client := filter.NewClient(bus)

		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		clothing, err := cat.Categories.Create(admin, category.CreateRequest{Name: "Clothing"})
		must(err)
		shirts, err := cat.Categories.Create(admin, category.CreateRequest{Name: "Shirts", ParentID: clothing.ID})
		must(err)
		_, err = cat.Attributes.Create(admin, attribute.CreateRequest{Code: "color", Name: "Colour", Type: attribute.TypeEnum, Values: []string{"red", "blue"}})
		must(err)
		_, err = cat.Attributes.Create(admin, attribute.CreateRequest{Code: "weight", Name: "Weight", Type: attribute.TypeNumber, Unit: "g"})
		must(err)
		eur := func(a int64) shop.Money { return shop.Money{Amount: a, Currency: "EUR"} }
		red, err := cat.Products.Create(admin, product.CreateRequest{Title: "Red Shirt", Status: shop.StatusPublished, Price: eur(1999),
			CategoryIDs: []string{shirts.ID}, Attributes: map[string]any{"color": "red", "weight": 200}})
		must(err)
		_, err = cat.Products.Create(admin, product.CreateRequest{Title: "Blue Shirt", Price: eur(2999), // a draft
			CategoryIDs: []string{shirts.ID}, Attributes: map[string]any{"color": "blue"}})
		must(err)
		coat, err := cat.Products.Create(admin, product.CreateRequest{Title: "Blue Coat", Status: shop.StatusPublished, Price: eur(9999),
			CategoryIDs: []string{clothing.ID}, Attributes: map[string]any{"color": "blue", "weight": 900}})
		must(err)

		res := eventually(t, client, filter.Query{CategorySlug: clothing.Slug}, func(r filter.Result) bool {
			return r.Total == 2 && len(r.Categories) == 1 && r.Categories[0].Count == 1
		})
		eqSlice(t, "newest first", ids(res), []string{coat.ID, red.ID})
		eqMap(t, "color facet", facetCounts(res, "color"), map[string]int{"blue": 1, "red": 1})

		// Changes through the product service reach the filter.
		price := eur(1500)
		_, err = cat.Products.Update(admin, product.UpdateRequest{ID: red.ID, Price: &price})
		must(err)
		res = eventually(t, client, filter.Query{Sort: filter.SortPriceAsc}, func(r filter.Result) bool {
			return len(r.Items) == 2 && r.Items[0].Price.Amount == 1500
		})
		eq(t, "slug", res.Items[0].Slug, red.Slug)
		_, err = cat.Products.Unpublish(admin, product.GetRequest{ID: coat.ID})
		must(err)
		eventually(t, client, filter.Query{}, func(r filter.Result) bool { return r.Total == 1 })
		_, err = cat.Products.Publish(admin, product.GetRequest{ID: coat.ID})
		must(err)
		_, err = cat.Products.Delete(admin, product.GetRequest{ID: red.ID})
		must(err)
		eventually(t, client, filter.Query{}, func(r filter.Result) bool { return r.Total == 1 && r.Items[0].ID == coat.ID })

		// A filter server on an empty database, rebuilt from the services,
		// answers as the event-fed one does.
		rebuilt, err := filter.New(testenv.MongoDB(t, "filter_rebuilt"), opts)
		if err != nil {
			t.Fatal(err)
		}
		rr, err := rebuilt.Rebuild(admin, filter.RebuildRequest{})
		if err != nil {
			t.Fatal(err)
		}
		eq(t, "rebuild", rr, filter.RebuildResult{Products: 2, Applied: 2, Categories: 2, CategoriesApplied: 2})
		for _, q := range []filter.Query{{}, {CategoryID: clothing.ID}, {CategoryID: shirts.ID}, {Text: "shirt"}} {
			want, err := client.Query(context.Background(), q)
			must(err)
			got, err := rebuilt.Query(context.Background(), q)
			must(err)
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(want)
			eq(t, "rebuilt answer", string(gb), string(wb))
		}
	})
}
