package host_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shopbus/shopbus/host"
	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/content/article"
	"github.com/shopbus/shopbus/transport"
)

// adminContext logs the node's admin in and returns a context carrying the
// session token.
func adminContext(t *testing.T, bus transport.Bus) context.Context {
	t.Helper()
	ctx := context.Background()
	s, err := auth.NewClient(bus).Login(ctx, auth.LoginRequest{Email: adminEmail, Password: adminPassword})
	if err != nil {
		t.Fatalf("admin login: %v", err)
	}
	return shop.WithToken(ctx, s.Token)
}

// slugConflict fails t unless err is a conflict on the field "slug" whose
// message names kind.
func slugConflict(t *testing.T, what string, err error, kind string) {
	t.Helper()
	var e *shop.Error
	if !errors.As(err, &e) || !errors.Is(err, shop.ErrConflict) || len(e.Fields) != 1 || e.Fields[0].Field != "slug" ||
		!strings.Contains(e.Fields[0].Message, kind) {
		t.Fatalf("%s: got %v, want a conflict on slug naming the %s", what, err, kind)
	}
}

// The storefront serves products, categories and articles at /{slug}: the
// three services, as the host wires them, keep their slugs apart.
func TestSlugsAreUniqueAcrossPageServices(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		n := newNode(t, bus, nil)
		run(t, n)
		waitReady(t, n)
		ctx := adminContext(t, bus)
		cats, prods, arts := category.NewClient(bus), product.NewClient(bus), article.NewClient(bus)
		eur := shop.Money{Amount: 1999, Currency: "EUR"}

		lamps, err := cats.Create(ctx, category.CreateRequest{Name: "Lamps"})
		if err != nil || lamps.Slug != "lamps" {
			t.Fatalf("create category: %+v, %v", lamps, err)
		}

		// A given slug another kind of page holds is refused, naming it.
		_, err = prods.Create(ctx, product.CreateRequest{Title: "Desk lamp", Slug: "lamps", Price: eur})
		slugConflict(t, "product with the category's slug", err, "category")

		// A generated slug skips what the others hold.
		p, err := prods.Create(ctx, product.CreateRequest{Title: "Lamps", Price: eur})
		if err != nil || p.Slug != "lamps-2" {
			t.Fatalf("product titled like the category: %+v, %v; want slug lamps-2", p, err)
		}
		a, err := arts.Create(ctx, article.CreateRequest{Title: "Lamps", Body: "How to choose one."})
		if err != nil || a.Slug != "lamps-3" {
			t.Fatalf("article titled like both: %+v, %v; want slug lamps-3", a, err)
		}

		// A draft article holds its slug too; so does a rename's target.
		guide, err := arts.Create(ctx, article.CreateRequest{Title: "Guide", Slug: "reading-guide"})
		if err != nil || guide.Status != article.StatusDraft {
			t.Fatalf("draft article: %+v, %v", guide, err)
		}
		_, err = cats.Update(ctx, category.UpdateRequest{ID: lamps.ID, Slug: ptr("reading-guide")})
		slugConflict(t, "category renamed to a draft article's slug", err, "article")
		_, err = arts.Update(ctx, article.UpdateRequest{ID: guide.ID, Slug: ptr("lamps-2")})
		slugConflict(t, "article renamed to a product's slug", err, "product")

		// Anyone may ask who holds a slug; a malformed slug is nobody's.
		for _, c := range []struct {
			holder shop.SlugHolder
			slug   string
			want   bool
		}{
			{prods, "lamps-2", true}, {prods, "lamps", false}, {cats, "lamps", true},
			{arts, "reading-guide", true}, {arts, "lamps-2", false}, {cats, "Not a slug!", false},
		} {
			got, err := c.holder.HoldsSlug(context.Background(), shop.SlugRequest{Slug: c.slug})
			if err != nil || got.Held != c.want {
				t.Errorf("%T.HoldsSlug(%q) = %v, %v; want %v", c.holder, c.slug, got.Held, err, c.want)
			}
		}

		// A slug given up by a rename is free for the others.
		if p, err = prods.Update(ctx, product.UpdateRequest{ID: p.ID, Slug: ptr("table-lamps")}); err != nil || p.Slug != "table-lamps" {
			t.Fatalf("rename product: %+v, %v", p, err)
		}
		if c, err := cats.Update(ctx, category.UpdateRequest{ID: lamps.ID, Slug: ptr("lamps-2")}); err != nil || c.Slug != "lamps-2" {
			t.Fatalf("category takes the product's old slug: %+v, %v", c, err)
		}
	})
}

// A slug that cannot be checked is not claimed: with the article service
// missing, a product write fails and leaves nothing behind.
func TestSlugCheckNeedsTheOtherServices(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		var services []host.Service
		for _, s := range host.Catalogue() {
			if s.Name != article.ServiceName {
				services = append(services, s)
			}
		}
		n := newNode(t, bus, services)
		run(t, n)
		waitReady(t, n)
		prods := product.NewClient(bus)

		ctx, cancel := context.WithTimeout(adminContext(t, bus), 2*time.Second)
		defer cancel()
		_, err := prods.Create(ctx, product.CreateRequest{Title: "Lamp", Slug: "lamp", Price: shop.Money{Amount: 100, Currency: "EUR"}})
		if !errors.Is(err, shop.ErrUnavailable) && !errors.Is(err, shop.ErrDeadlineExceeded) {
			t.Fatalf("create while article is missing: got %v, want unavailable or deadline_exceeded", err)
		}
		// The create claims the slug in its own store first and releases it
		// when the check fails: the handler may still be giving up when the
		// caller's deadline has passed.
		deadline := time.Now().Add(15 * time.Second)
		for {
			held, err := prods.HoldsSlug(context.Background(), shop.SlugRequest{Slug: "lamp"})
			if err == nil && !held.Held {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after the failed create, product holds lamp: %v, %v", held.Held, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		page, err := prods.List(context.Background(), product.ListRequest{})
		if err != nil || len(page.Items) != 0 {
			t.Fatalf("after the failed create, products: %+v, %v", page, err)
		}
	})
}

func ptr[T any](v T) *T { return &v }
