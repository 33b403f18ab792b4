package product_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/attribute"
	"github.com/shopbus/shopbus/shop/catalog/category"
	ct "github.com/shopbus/shopbus/shop/catalog/internal/catalogtest"
	"github.com/shopbus/shopbus/shop/catalog/option"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/transport"
)

func eur(amount int64) shop.Money { return shop.Money{Amount: amount, Currency: "EUR"} }

// world defines a category, attributes and option groups.
type world struct {
	*ct.Catalog
	shirts, sale category.Category
}

func setup(t testing.TB, bus transport.Bus) world {
	t.Helper()
	c := ct.Start(t, bus, ct.Config{})
	w := world{Catalog: c}
	w.shirts = ct.Must(c.Categories.Create(c.Admin, category.CreateRequest{Name: "Shirts"}))(t)
	w.sale = ct.Must(c.Categories.Create(c.Admin, category.CreateRequest{Name: "Sale", ParentID: w.shirts.ID}))(t)
	ct.Must(c.Attributes.Create(c.Admin, attribute.CreateRequest{Code: "material", Name: "Material", Type: attribute.TypeText}))(t)
	ct.Must(c.Attributes.Create(c.Admin, attribute.CreateRequest{Code: "weight", Name: "Weight", Type: attribute.TypeNumber, Unit: "g"}))(t)
	ct.Must(c.Attributes.Create(c.Admin, attribute.CreateRequest{Code: "fit", Name: "Fit", Type: attribute.TypeEnum, Values: []string{"slim", "regular"}}))(t)
	ct.Must(c.Options.CreateGroup(c.Admin, option.CreateGroupRequest{Code: "size", Name: "Size", Values: []option.Value{
		{Code: "s", Label: "S"}, {Code: "m", Label: "M"}, {Code: "l", Label: "L"}}}))(t)
	ct.Must(c.Options.CreateGroup(c.Admin, option.CreateGroupRequest{Code: "colour", Name: "Colour", Values: []option.Value{
		{Code: "red", Label: "Red"}, {Code: "blue", Label: "Blue"}}}))(t)
	return w
}

func (w world) shirt() product.CreateRequest {
	return product.CreateRequest{
		Title:        "Oxford Shirt",
		Description:  "Cotton, button-down collar.",
		Price:        eur(4900),
		CategoryIDs:  []string{w.shirts.ID, w.sale.ID},
		Attributes:   map[string]any{"material": "cotton", "weight": 180, "fit": "slim"},
		OptionGroups: []string{"size", "colour"},
		VariantPrices: []product.VariantPrice{
			{Options: map[string]string{"size": "l", "colour": "blue"}, Price: eur(5400)},
		},
		Images: []string{"https://cdn.example.com/oxford.jpg", "http://img.example.com/o2.png?w=200"},
	}
}

func TestCreateAndGet(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		w := setup(t, bus)
		ps := w.Products
		p := ct.Must(ps.Create(w.Admin, w.shirt()))(t)
		if p.Slug != "oxford-shirt" || p.SKU != "OXFORD-SHIRT" || p.Status != shop.StatusDraft || p.Version != 1 ||
			!slices.Equal(p.CategoryIDs, []string{w.shirts.ID, w.sale.ID}) || len(p.Images) != 2 {
			t.Fatalf("created %+v", p)
		}
		if p.Attributes["weight"] != float64(180) || p.Attributes["fit"] != "slim" {
			t.Fatalf("attributes %#v", p.Attributes)
		}
		if len(p.Variants) != 6 {
			t.Fatalf("%d variants, want 6", len(p.Variants))
		}
		for _, v := range p.Variants {
			want := eur(4900)
			if v.Options["size"] == "l" && v.Options["colour"] == "blue" {
				want = eur(5400)
				if !v.OwnPrice || v.SKU != "OXFORD-SHIRT-L-BLUE" {
					t.Fatalf("priced variant %+v", v)
				}
			}
			if v.Price != want || v.ID == "" {
				t.Fatalf("variant %+v, want price %v", v, want)
			}
		}
		// The option service holds the same variants.
		pv := ct.Must(w.Options.GetVariants(context.Background(), option.ProductRequest{ProductID: p.ID}))(t)
		if len(pv.Variants) != 6 || pv.Variants[0].ID != p.Variants[0].ID {
			t.Fatalf("option service variants %+v", pv)
		}

		got := ct.Must(ps.Get(context.Background(), product.GetRequest{ID: p.ID}))(t)
		if got.Title != p.Title || got.Price != p.Price || len(got.Variants) != 6 || got.Variants[5].Price != eur(5400) || !got.CreatedAt.Equal(p.CreatedAt) {
			t.Fatalf("get %+v", got)
		}
		bySlug := ct.Must(ps.GetBySlug(w.Customer, product.GetBySlugRequest{Slug: "oxford-shirt"}))(t)
		if bySlug.ID != p.ID {
			t.Fatalf("by slug %+v", bySlug)
		}
		_, err := ps.Get(context.Background(), product.GetRequest{ID: "missing"})
		ct.WantCode(t, err, transport.CodeNotFound)
		_, err = ps.GetBySlug(context.Background(), product.GetBySlugRequest{Slug: "missing"})
		ct.WantCode(t, err, transport.CodeNotFound)

		// A generated slug that is taken gets a suffix; a given one is a conflict.
		plain := ct.Must(ps.Create(w.Admin, product.CreateRequest{Title: "Oxford Shirt", Price: eur(100), Status: shop.StatusPublished}))(t)
		if plain.Slug != "oxford-shirt-2" || plain.Status != shop.StatusPublished || plain.PublishedAt.IsZero() || len(plain.Variants) != 0 {
			t.Fatalf("second %+v", plain)
		}
		_, err = ps.Create(w.Admin, product.CreateRequest{Title: "Other", Slug: "oxford-shirt", Price: eur(100)})
		ct.WantCode(t, err, transport.CodeConflict)
		// Variant SKUs are unique across products.
		dup := w.shirt()
		dup.Slug, dup.SKU = "another-oxford", "OXFORD-SHIRT"
		_, err = ps.Create(w.Admin, dup)
		ct.WantCode(t, err, transport.CodeConflict)
		// ... and the failed create left its slug free.
		ct.Must(ps.Create(w.Admin, product.CreateRequest{Title: "x", Slug: "another-oxford", Price: eur(1)}))(t)
	})
}

func TestValidation(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		w := setup(t, bus)
		ps := w.Products
		for _, tc := range []struct {
			name  string
			edit  func(r *product.CreateRequest)
			field string
		}{
			{"unknown category", func(r *product.CreateRequest) { r.CategoryIDs = []string{w.shirts.ID, "no-such-category"} }, "category_ids"},
			{"operator category", func(r *product.CreateRequest) { r.CategoryIDs = []string{"$ne"} }, "category_ids"},
			{"bad attribute value", func(r *product.CreateRequest) { r.Attributes["weight"] = "heavy" }, "attributes.weight"},
			{"bad enum value", func(r *product.CreateRequest) { r.Attributes["fit"] = "baggy" }, "attributes.fit"},
			{"unknown attribute", func(r *product.CreateRequest) { r.Attributes["colour"] = "red" }, "attributes.colour"},
			{"unknown option group", func(r *product.CreateRequest) { r.OptionGroups = []string{"size", "sleeve"} }, "option_groups[1]"},
			{"unknown option value", func(r *product.CreateRequest) { r.OptionValues = map[string][]string{"size": {"xxl"}} }, "option_values.size"},
			{"variant price for no variant", func(r *product.CreateRequest) {
				r.VariantPrices[0].Options = map[string]string{"size": "xl", "colour": "red"}
			}, "variant_prices[0].options"},
			{"variant price in another currency", func(r *product.CreateRequest) { r.VariantPrices[0].Price.Currency = "USD" }, "variant_prices[0].price.currency"},
			{"no title", func(r *product.CreateRequest) { r.Title = " " }, "title"},
			{"long title", func(r *product.CreateRequest) { r.Title = strings.Repeat("x", 201) }, "title"},
			{"NUL in title", func(r *product.CreateRequest) { r.Title = "a\x00" }, "title"},
			{"bad slug", func(r *product.CreateRequest) { r.Slug = "$where" }, "slug"},
			{"bad status", func(r *product.CreateRequest) { r.Status = "archived" }, "status"},
			{"bad sku", func(r *product.CreateRequest) { r.SKU = "lower case" }, "sku"},
			{"no currency", func(r *product.CreateRequest) { r.Price = shop.Money{Amount: 1} }, "price.currency"},
			{"negative price", func(r *product.CreateRequest) { r.Price = eur(-1) }, "price.amount"},
			{"price that could overflow a total", func(r *product.CreateRequest) { r.Price = eur(shop.MaxAmount + 1) }, "price.amount"},
			{"javascript image", func(r *product.CreateRequest) { r.Images = []string{"javascript:alert(1)"} }, "images[0]"},
			{"relative image", func(r *product.CreateRequest) { r.Images = []string{"https://ok.example/a.png", "/img/a.png"} }, "images[1]"},
			{"image with spaces", func(r *product.CreateRequest) { r.Images = []string{"https://x.example/a b.png"} }, "images[0]"},
		} {
			req := w.shirt()
			req.Attributes = map[string]any{"material": "cotton", "weight": 180, "fit": "slim"}
			tc.edit(&req)
			_, err := ps.Create(w.Admin, req)
			if err == nil {
				t.Fatalf("%s: created", tc.name)
			}
			ct.WantField(t, err, tc.field)
		}
		// Several cross-service problems come back together.
		req := w.shirt()
		req.CategoryIDs = []string{"gone"}
		req.Attributes = map[string]any{"weight": "heavy"}
		_, err := ps.Create(w.Admin, req)
		ct.WantField(t, err, "category_ids")
		ct.WantField(t, err, "attributes.weight")

		// Nothing was stored, and every option value is still free.
		page := ct.Must(ps.List(context.Background(), product.ListRequest{}))(t)
		if len(page.Items) != 0 {
			t.Fatalf("invalid creates stored %d products", len(page.Items))
		}
		ct.Must(w.Options.RemoveValue(w.Admin, option.ValueRequest{Group: "size", Code: "l"}))(t)
		req = w.shirt()
		req.VariantPrices = nil // L/blue is no more
		if p := ct.Must(ps.Create(w.Admin, req))(t); p.Slug != "oxford-shirt" || len(p.Variants) != 4 {
			t.Fatalf("created %+v", p)
		}
	})
}

func TestUpdate(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		w := setup(t, bus)
		rec := ct.Record(t, bus, "recorder", "product.#")
		ps := w.Products
		req := w.shirt()
		req.VariantPrices = nil
		p := ct.Must(ps.Create(w.Admin, req))(t)

		title, slug := "Oxford Shirt Deluxe", "oxford-deluxe"
		price := eur(5900)
		cats := []string{w.sale.ID}
		u := ct.Must(ps.Update(w.Admin, product.UpdateRequest{ID: p.ID, Title: &title, Slug: &slug, Price: &price, CategoryIDs: &cats}))(t)
		if u.Title != title || u.Slug != slug || u.Price != price || !slices.Equal(u.CategoryIDs, cats) || u.Version != 2 || u.SKU != "OXFORD-SHIRT" {
			t.Fatalf("updated %+v", u)
		}
		for _, v := range u.Variants {
			if v.Price != price { // variants without a price of their own follow the product
				t.Fatalf("variant %+v", v)
			}
		}
		_, err := ps.GetBySlug(context.Background(), product.GetBySlugRequest{Slug: "oxford-shirt"})
		ct.WantCode(t, err, transport.CodeNotFound)
		ev := ct.Wait(t, rec, shop.EventProductUpdated, func(e shop.ProductChanged) bool { return e.Product.Version == 2 })
		if ev.OldSlug != "oxford-shirt" || ev.Product.Slug != slug || ev.Product.Price != price || len(ev.Product.Variants) != 6 {
			t.Fatalf("event %+v", ev)
		}

		// A no-op update changes nothing.
		same := ct.Must(ps.Update(w.Admin, product.UpdateRequest{ID: p.ID, Title: &title}))(t)
		if same.Version != 2 {
			t.Fatalf("no-op update bumped the version: %d", same.Version)
		}

		// Restricting sizes regenerates: surviving combinations keep their ids.
		values := map[string][]string{"size": {"m"}}
		vp := []product.VariantPrice{{Options: map[string]string{"size": "m", "colour": "red"}, Price: eur(6100)}}
		r := ct.Must(ps.Update(w.Admin, product.UpdateRequest{ID: p.ID, OptionValues: &values, VariantPrices: &vp}))(t)
		if len(r.Variants) != 2 || r.Variants[0].ID != p.Variants[2].ID || r.Variants[0].Price != eur(6100) || r.Variants[1].Price != price {
			t.Fatalf("regenerated %+v", r.Variants)
		}
		// Size l is free again, m is not.
		ct.Must(w.Options.RemoveValue(w.Admin, option.ValueRequest{Group: "size", Code: "l"}))(t)
		_, err = w.Options.RemoveValue(w.Admin, option.ValueRequest{Group: "size", Code: "m"})
		ct.WantCode(t, err, transport.CodeConflict)

		// Changing the currency while variants have own prices needs new prices.
		usd := shop.Money{Amount: 7000, Currency: "USD"}
		_, err = ps.Update(w.Admin, product.UpdateRequest{ID: p.ID, Price: &usd})
		ct.WantCode(t, err, transport.CodeInvalid)

		// Bad updates are refused with field errors, and change nothing.
		bad := map[string]any{"fit": "baggy"}
		_, err = ps.Update(w.Admin, product.UpdateRequest{ID: p.ID, Attributes: &bad})
		ct.WantField(t, err, "attributes.fit")
		gone := []string{"gone"}
		_, err = ps.Update(w.Admin, product.UpdateRequest{ID: p.ID, CategoryIDs: &gone})
		ct.WantField(t, err, "category_ids")
		empty := ""
		_, err = ps.Update(w.Admin, product.UpdateRequest{ID: p.ID, Slug: &empty})
		ct.WantField(t, err, "slug")
		_, err = ps.Update(w.Admin, product.UpdateRequest{ID: "missing", Title: &title})
		ct.WantCode(t, err, transport.CodeNotFound)

		// Dropping the option groups drops the variants and frees their values.
		none := []string{}
		d := ct.Must(ps.Update(w.Admin, product.UpdateRequest{ID: p.ID, OptionGroups: &none}))(t)
		if len(d.Variants) != 0 || len(d.OptionGroups) != 0 {
			t.Fatalf("after dropping groups %+v", d)
		}
		ct.Must(w.Options.RemoveValue(w.Admin, option.ValueRequest{Group: "size", Code: "m"}))(t)
		if got := ct.Must(ps.Get(context.Background(), product.GetRequest{ID: p.ID}))(t); got.Version != d.Version {
			t.Fatalf("refused updates changed the product: %d != %d", got.Version, d.Version)
		}
	})
}

func TestPublishDeleteAndEvents(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		w := setup(t, bus)
		rec := ct.Record(t, bus, "recorder", "product.product.*")
		ps := w.Products
		p := ct.Must(ps.Create(w.Admin, w.shirt()))(t)

		created := ct.Wait(t, rec, shop.EventProductCreated, func(e shop.ProductChanged) bool { return e.Product.ID == p.ID })
		snap := created.Product
		if snap.Version != 1 || snap.Slug != p.Slug || snap.Title != p.Title || snap.Status != shop.StatusDraft || snap.Price != p.Price ||
			!slices.Equal(snap.CategoryIDs, p.CategoryIDs) || snap.Attributes["weight"] != float64(180) || len(snap.Variants) != 6 ||
			len(snap.Images) != 2 || snap.Variants[5].Price != eur(5400) || snap.Variants[5].Options["colour"] != "blue" || created.Occurred.IsZero() {
			t.Fatalf("created event %+v", created)
		}

		pub := ct.Must(ps.Publish(w.Admin, product.GetRequest{ID: p.ID}))(t)
		if pub.Status != shop.StatusPublished || pub.Version != 2 || pub.PublishedAt.IsZero() {
			t.Fatalf("published %+v", pub)
		}
		again := ct.Must(ps.Publish(w.Admin, product.GetRequest{ID: p.ID}))(t)
		if again.Version != 2 {
			t.Fatalf("publishing twice bumped the version")
		}
		ct.Wait(t, rec, shop.EventProductUpdated, func(e shop.ProductChanged) bool {
			return e.Product.Version == 2 && e.Product.Status == shop.StatusPublished
		})
		unpub := ct.Must(ps.Unpublish(w.Admin, product.GetRequest{ID: p.ID}))(t)
		if unpub.Status != shop.StatusDraft || unpub.Version != 3 {
			t.Fatalf("unpublished %+v", unpub)
		}
		ct.Wait(t, rec, shop.EventProductUpdated, func(e shop.ProductChanged) bool {
			return e.Product.Version == 3 && e.Product.Status == shop.StatusDraft
		})

		del := ct.Must(ps.Delete(w.Admin, product.GetRequest{ID: p.ID}))(t)
		if del.Version != 4 {
			t.Fatalf("deleted %+v", del)
		}
		dev := ct.Wait(t, rec, shop.EventProductDeleted, func(e shop.ProductChanged) bool { return e.Product.ID == p.ID })
		if !dev.Deleted || dev.Product.Version != 4 || dev.Product.Slug != p.Slug {
			t.Fatalf("deleted event %+v", dev)
		}
		_, err := ps.Get(context.Background(), product.GetRequest{ID: p.ID})
		ct.WantCode(t, err, transport.CodeNotFound)
		_, err = ps.Delete(w.Admin, product.GetRequest{ID: p.ID})
		ct.WantCode(t, err, transport.CodeNotFound)
		// Its variants, SKUs and slug are free.
		_, err = w.Options.GetVariants(context.Background(), option.ProductRequest{ProductID: p.ID})
		ct.WantCode(t, err, transport.CodeNotFound)
		if p2 := ct.Must(ps.Create(w.Admin, w.shirt()))(t); p2.Slug != p.Slug || p2.Variants[0].SKU != p.Variants[0].SKU {
			t.Fatalf("re-created %+v", p2)
		}

		// Versions grow one by one for each product.
		var versions []int64
		for _, e := range rec.Events() {
			if strings.Contains(string(e.Body), p.ID) {
				versions = append(versions, ct.Must(decode(e))(t).Product.Version)
			}
		}
		slices.Sort(versions)
		if !slices.Equal(slices.Compact(versions), []int64{1, 2, 3, 4}) {
			t.Fatalf("versions %v", versions)
		}

		// A malformed category event is retried, then parked.
		if err := bus.Publish(context.Background(), transport.Event{Key: shop.EventCategoryDeleted, Body: []byte(`{"category": "not an object"}`)}); err != nil {
			t.Fatal(err)
		}
		ct.Eventually(t, "malformed event parked", func() error {
			dead, err := bus.DrainDeadLetters(context.Background(), product.ServiceName)
			if err != nil {
				return err
			}
			if len(dead) != 1 {
				return fmt.Errorf("%d dead letters", len(dead))
			}
			return nil
		})
	})
}

func TestAdminRequired(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		w := setup(t, bus)
		ps := w.Products
		p := ct.Must(ps.Create(w.Admin, product.CreateRequest{Title: "Mug", Price: eur(900)}))(t)
		title := "Cup"
		for _, tc := range []struct {
			ctx  context.Context
			code transport.Code
		}{
			{context.Background(), transport.CodeUnauthenticated},
			{shop.WithToken(context.Background(), "forged"), transport.CodeUnauthenticated},
			{w.Customer, transport.CodeForbidden},
		} {
			_, err := ps.Create(tc.ctx, product.CreateRequest{Title: "Mug", Price: eur(900)})
			ct.WantCode(t, err, tc.code)
			_, err = ps.Update(tc.ctx, product.UpdateRequest{ID: p.ID, Title: &title})
			ct.WantCode(t, err, tc.code)
			_, err = ps.Publish(tc.ctx, product.GetRequest{ID: p.ID})
			ct.WantCode(t, err, tc.code)
			_, err = ps.Unpublish(tc.ctx, product.GetRequest{ID: p.ID})
			ct.WantCode(t, err, tc.code)
			_, err = ps.Delete(tc.ctx, product.GetRequest{ID: p.ID})
			ct.WantCode(t, err, tc.code)
		}
		got := ct.Must(ps.Get(w.Customer, product.GetRequest{ID: p.ID}))(t)
		if got.Version != 1 || got.Title != "Mug" {
			t.Fatalf("refused writes changed %+v", got)
		}
	})
}

func TestRefileOnCategoryDelete(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		w := setup(t, bus)
		p := ct.Must(w.Products.Create(w.Admin, product.CreateRequest{Title: "Tee", Price: eur(1000), CategoryIDs: []string{w.sale.ID}}))(t)
		root := ct.Must(w.Categories.Create(w.Admin, category.CreateRequest{Name: "Root"}))(t)
		q := ct.Must(w.Products.Create(w.Admin, product.CreateRequest{Title: "Cap", Price: eur(1000), CategoryIDs: []string{root.ID, w.shirts.ID}}))(t)
		ct.Eventually(t, "category service knows the products", func() error {
			_, err := w.Categories.Delete(w.Admin, category.DeleteRequest{ID: w.sale.ID})
			if errors.Is(err, shop.ErrConflict) {
				return nil
			}
			return fmt.Errorf("delete = %v", err)
		})
		ct.Must(w.Categories.Delete(w.Admin, category.DeleteRequest{ID: w.sale.ID, Reparent: true}))(t)
		ct.Must(w.Categories.Delete(w.Admin, category.DeleteRequest{ID: root.ID, Reparent: true}))(t)
		for _, tc := range []struct {
			id   string
			want []string
		}{{p.ID, []string{w.shirts.ID}}, {q.ID, []string{w.shirts.ID}}} {
			ct.Eventually(t, "re-filed", func() error {
				got, err := w.Products.Get(context.Background(), product.GetRequest{ID: tc.id})
				if err != nil {
					return err
				}
				if !slices.Equal(got.CategoryIDs, tc.want) {
					return fmt.Errorf("categories %v, want %v", got.CategoryIDs, tc.want)
				}
				return nil
			})
		}
	})
}

func decode(e transport.Event) (shop.ProductChanged, error) {
	var pc shop.ProductChanged
	err := json.Unmarshal(e.Body, &pc)
	return pc, err
}

func TestConcurrentCreatesGetDistinctSlugs(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		const n = 8
		slugs := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := c.Products.Create(c.Admin, product.CreateRequest{Title: "Same Title", Price: eur(100)})
				slugs[i], errs[i] = p.Slug, err
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		slices.Sort(slugs)
		if len(slices.Compact(slices.Clone(slugs))) != n || !slices.Contains(slugs, "same-title") || !slices.Contains(slugs, "same-title-8") {
			t.Fatalf("slugs %v", slugs)
		}
	})
}

func TestPublishPending(t *testing.T) {
	bus := bustest.New(t, "inproc")
	c := ct.Start(t, bus, ct.Config{})
	db := testenv.MongoDB(t, t.Name())
	// While the broker fails, changes are stored with their events.
	silent := ct.Must(product.New(db, product.Options{Auth: c.Auth.Client, Events: brokerAway{}}))(t)
	p := ct.Must(silent.Create(c.Admin, product.CreateRequest{Title: "Kettle", Price: eur(3000)}))(t)
	ct.Must(silent.Publish(c.Admin, product.GetRequest{ID: p.ID}))(t)
	q := ct.Must(silent.Create(c.Admin, product.CreateRequest{Title: "Toaster", Price: eur(3000)}))(t)
	ct.Must(silent.Delete(c.Admin, product.GetRequest{ID: q.ID}))(t)

	rec := ct.Record(t, bus, "recorder", "product.#")
	loud := ct.Must(product.New(db, product.Options{Auth: c.Auth.Client, Events: bus}))(t)
	if b := ct.Must(loud.EventBacklog(context.Background()))(t); b.Pending != 4 || b.Oldest.IsZero() {
		t.Fatalf("backlog %+v, want the 4 stored events", b)
	}
	if n := ct.Must(loud.PublishPending(context.Background()))(t); n != 4 {
		t.Fatalf("published %d pending events, want 4", n)
	}
	if b := ct.Must(loud.EventBacklog(context.Background()))(t); b.Pending != 0 {
		t.Fatalf("backlog %+v after publishing, want none", b)
	}
	ev := ct.Wait(t, rec, shop.EventProductUpdated, func(e shop.ProductChanged) bool { return e.Product.ID == p.ID })
	if ev.Product.Version != 2 || ev.Product.Status != shop.StatusPublished {
		t.Fatalf("pending update %+v", ev)
	}
	ct.Wait(t, rec, shop.EventProductDeleted, func(e shop.ProductChanged) bool { return e.Product.ID == q.ID && e.Deleted })
	if n := ct.Must(loud.PublishPending(context.Background()))(t); n != 0 {
		t.Fatalf("republished %d events", n)
	}
	// The tombstone is gone once announced; the listing never showed it.
	if page := ct.Must(loud.List(context.Background(), product.ListRequest{}))(t); len(page.Items) != 1 || page.Items[0].ID != p.ID {
		t.Fatalf("listing %+v", page.Items)
	}
}

// brokerAway is a publisher whose broker is unreachable.
type brokerAway struct{}

func (brokerAway) Publish(context.Context, transport.Event) error {
	return shop.Unavailable("broker away")
}
