package product_test

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/category"
	ct "github.com/shopbus/shopbus/shop/catalog/internal/catalogtest"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/transport"
)

// all pages through List and returns every product id in order.
func all(t *testing.T, ps product.Service, r product.ListRequest) []string {
	t.Helper()
	var ids []string
	for pages := 0; ; pages++ {
		if pages > 50 {
			t.Fatal("too many pages")
		}
		page := ct.Must(ps.List(context.Background(), r))(t)
		if len(page.Items) > r.Limit && r.Limit > 0 {
			t.Fatalf("page of %d items, limit %d", len(page.Items), r.Limit)
		}
		for _, p := range page.Items {
			ids = append(ids, p.ID)
		}
		if page.NextCursor == "" {
			return ids
		}
		r.Cursor = page.NextCursor
	}
}

func TestList(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		ps := c.Products
		cat := ct.Must(c.Categories.Create(c.Admin, category.CreateRequest{Name: "Kitchen"}))(t)
		var made []product.Product
		for i, spec := range []struct {
			title string
			price int64
		}{
			{"banana slicer", 500}, {"Apple corer", 1500}, {"cherry pitter", 500}, {"Dough scraper", 250},
			{"egg timer", 1500}, {"Apple peeler", 900}, {"fish spatula", 1200},
		} {
			r := product.CreateRequest{Title: spec.title, Price: eur(spec.price)}
			if i%2 == 0 {
				r.CategoryIDs = []string{cat.ID}
				r.Status = shop.StatusPublished
			}
			made = append(made, ct.Must(ps.Create(c.Admin, r))(t))
		}
		sorted := func(less func(a, b product.Product) int, desc bool) []string {
			s := slices.Clone(made)
			slices.SortFunc(s, func(a, b product.Product) int {
				c := less(a, b)
				if c == 0 {
					c = strings.Compare(a.ID, b.ID)
				}
				if desc {
					c = -c
				}
				return c
			})
			var ids []string
			for _, p := range s {
				ids = append(ids, p.ID)
			}
			return ids
		}
		byCreated := func(a, b product.Product) int { return a.CreatedAt.Compare(b.CreatedAt) }
		byTitle := func(a, b product.Product) int {
			return strings.Compare(strings.ToLower(a.Title), strings.ToLower(b.Title))
		}
		byPrice := func(a, b product.Product) int { return cmp.Compare(a.Price.Amount, b.Price.Amount) }
		for _, tc := range []struct {
			sort string
			less func(a, b product.Product) int
		}{
			{product.SortCreated, byCreated}, {product.SortTitle, byTitle}, {product.SortPrice, byPrice},
		} {
			for _, desc := range []bool{false, true} {
				for _, limit := range []int{2, 3, 100} {
					got := all(t, ps, product.ListRequest{Sort: tc.sort, Desc: desc, Limit: limit})
					if want := sorted(tc.less, desc); !slices.Equal(got, want) {
						t.Fatalf("sort %s desc %v limit %d:\n got %v\nwant %v", tc.sort, desc, limit, got, want)
					}
				}
			}
		}
		// The default is by creation time, oldest first.
		if got := all(t, ps, product.ListRequest{}); !slices.Equal(got, sorted(byCreated, false)) {
			t.Fatalf("default order %v", got)
		}

		// Filters.
		published := all(t, ps, product.ListRequest{Status: shop.StatusPublished, Sort: product.SortTitle, Limit: 2})
		inCat := all(t, ps, product.ListRequest{CategoryID: cat.ID, Sort: product.SortTitle, Limit: 3})
		want := []string{made[0].ID, made[2].ID, made[4].ID, made[6].ID} // banana, cherry, egg, fish
		if !slices.Equal(published, want) || !slices.Equal(inCat, want) {
			t.Fatalf("published %v, in category %v, want %v", published, inCat, want)
		}
		drafts := all(t, ps, product.ListRequest{Status: shop.StatusDraft})
		if len(drafts) != 3 {
			t.Fatalf("drafts %v", drafts)
		}

		// Deleted products leave the listing.
		ct.Must(ps.Delete(c.Admin, product.GetRequest{ID: made[1].ID}))(t)
		if got := all(t, ps, product.ListRequest{Limit: 4}); len(got) != 6 || slices.Contains(got, made[1].ID) {
			t.Fatalf("after delete %v", got)
		}

		// Bad requests.
		first := ct.Must(ps.List(context.Background(), product.ListRequest{Sort: product.SortPrice, Limit: 2}))(t)
		for _, tc := range []struct {
			req   product.ListRequest
			field string
		}{
			{product.ListRequest{Sort: "popularity"}, "sort"},
			{product.ListRequest{Limit: -1}, "limit"},
			{product.ListRequest{Limit: product.MaxPageSize + 1}, "limit"},
			{product.ListRequest{Status: "archived"}, "status"},
			{product.ListRequest{CategoryID: "$gt"}, "category_id"},
			{product.ListRequest{Cursor: "!!!"}, "cursor"},
			{product.ListRequest{Cursor: "eyJzIjoicHJpY2UiLCJpIjoiJGd0In0"}, "cursor"}, // {"s":"price","i":"$gt"}
			{product.ListRequest{Sort: product.SortTitle, Limit: 2, Cursor: first.NextCursor}, "cursor"},
			{product.ListRequest{Sort: product.SortPrice, Limit: 2, Desc: true, Cursor: first.NextCursor}, "cursor"},
			{product.ListRequest{Sort: product.SortPrice, Limit: 2, Status: shop.StatusDraft, Cursor: first.NextCursor}, "cursor"},
		} {
			_, err := ps.List(context.Background(), tc.req)
			ct.WantField(t, err, tc.field)
		}
	})
}
