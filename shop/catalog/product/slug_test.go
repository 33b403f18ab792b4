package product_test

import (
	"context"
	"log/slog"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/category"
	ct "github.com/shopbus/shopbus/shop/catalog/internal/catalogtest"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/content/article"
	"github.com/shopbus/shopbus/transport"
)

// counted counts the questions a service of the slug space is asked.
type counted struct {
	shop.SlugHolder
	n atomic.Int64
}

func (c *counted) HoldsSlug(ctx context.Context, r shop.SlugRequest) (shop.SlugHeld, error) {
	c.n.Add(1)
	return c.SlugHolder.HoldsSlug(ctx, r)
}

func (c *counted) HoldsSlugs(ctx context.Context, r shop.SlugsRequest) (shop.SlugsHeld, error) {
	c.n.Add(1)
	return c.SlugHolder.HoldsSlugs(ctx, r)
}

// sharedShop is a product service sharing its slug space with the
// category and article services, as in host/builtin.go, counting the
// questions it asks them.
type sharedShop struct {
	*ct.Catalog
	products           *product.Server
	articles           *article.Client
	askedCat, askedArt *counted
}

func startShared(t *testing.T, bus transport.Bus) *sharedShop {
	t.Helper()
	c := ct.Start(t, bus, ct.Config{})
	quiet := slog.New(slog.DiscardHandler)
	art := ct.Must(article.New(testenv.MongoDB(t, "article"), article.Options{Auth: c.Auth.Client, Logger: quiet}))(t)
	sub := ct.Must(article.Bind(bus, art))(t)
	t.Cleanup(func() { _ = sub.Close() })
	s := &sharedShop{Catalog: c, articles: article.NewClient(bus),
		askedCat: &counted{SlugHolder: c.Categories}, askedArt: &counted{SlugHolder: article.NewClient(bus)}}
	s.products = ct.Must(product.New(testenv.MongoDB(t, "shared_product"), product.Options{
		Auth: c.Auth.Client, Events: bus, Logger: quiet,
		Categories: c.Categories, Attributes: c.Attributes, Variants: c.Options,
		SharedSlugs: shop.SlugSpace{"category": s.askedCat, "article": s.askedArt},
	}))(t)
	return s
}

func (s *sharedShop) asked() int64 { return s.askedCat.n.Load() + s.askedArt.n.Load() }

// TestSameTitleConstantClaims: 60 products titled "Кофе" get "кофе",
// "кофе-2", … "кофе-60", and from the second on each create asks the
// other services of the slug space once (one claim checked), not once per
// product before it.
func TestSameTitleConstantClaims(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		s := startShared(t, bus)
		for i := 1; i <= 60; i++ {
			before := s.asked()
			p := ct.Must(s.products.Create(transport.WithRequestID(s.Admin, transport.NewRequestID()),
				product.CreateRequest{Title: "Кофе", Price: eur(500)}))(t)
			want := "кофе"
			if i > 1 {
				want += "-" + strconv.Itoa(i)
			}
			if p.Slug != want {
				t.Fatalf("product %d: slug %q, want %q", i, p.Slug, want)
			}
			if asked := s.asked() - before; asked != 2 { // one claim, two services
				t.Fatalf("product %d asked the slug space %d times, want 2", i, asked)
			}
		}
		got := ct.Must(s.products.GetBySlug(s.Admin, product.GetBySlugRequest{Slug: "кофе-60"}))(t)
		if got.Title != "Кофе" {
			t.Fatalf("by slug: %+v", got)
		}
	})
}

// TestSlugsAgree: a product, a category and an article of one title get
// one slug (shop.Slugify), and share the space: the second of them to
// claim it is numbered.
func TestSlugsAgree(t *testing.T) {
	bus := bustest.New(t, "inproc")
	s := startShared(t, bus)
	for _, title := range []string{"Müller & Söhne", "Кофе молотый", "Καφές", "東京タワー", "قهوة"} {
		ctx := transport.WithRequestID(s.Admin, transport.NewRequestID())
		a := ct.Must(s.articles.Create(ctx, article.CreateRequest{Title: title}))(t)
		p := ct.Must(s.products.Create(transport.WithRequestID(s.Admin, transport.NewRequestID()),
			product.CreateRequest{Title: title, Price: eur(500)}))(t)
		want := shop.Slugify(title)
		if a.Slug != want || p.Slug != want+"-2" {
			t.Errorf("%q: article %q, product %q; want %q and %q", title, a.Slug, p.Slug, want, want+"-2")
		}
	}
	// Nothing usable in the title: the fallback, for products and articles.
	p := ct.Must(s.products.Create(transport.WithRequestID(s.Admin, transport.NewRequestID()),
		product.CreateRequest{Title: "🎉 !!!", Price: eur(500)}))(t)
	if p.Slug != "product" {
		t.Errorf("emoji title: slug %q", p.Slug)
	}
	// An explicit slug held by a category is refused; a non-ASCII one is fine.
	c := ct.Must(s.Categories.Create(s.Admin, category.CreateRequest{Name: "Чай"}))(t)
	if c.Slug != "чай" {
		t.Fatalf("category slug %q", c.Slug)
	}
	_, err := s.products.Create(transport.WithRequestID(s.Admin, transport.NewRequestID()),
		product.CreateRequest{Title: "Tea", Slug: "чай", Price: eur(500)})
	ct.WantCode(t, err, transport.CodeConflict)
	_, err = s.products.Create(transport.WithRequestID(s.Admin, transport.NewRequestID()),
		product.CreateRequest{Title: "Tea", Slug: "Чай", Price: eur(500)})
	ct.WantField(t, err, "slug")
	if p := ct.Must(s.products.Create(transport.WithRequestID(s.Admin, transport.NewRequestID()),
		product.CreateRequest{Title: "Tea", Slug: "чай-зелёный", Price: eur(500)}))(t); p.Slug != "чай-зелёный" {
		t.Errorf("explicit slug %q", p.Slug)
	}
}

// TestCreateManySlugsTogether: CreateMany asks each other service of the
// slug space once for all the products whose slugs are free (not once per
// product), and its products get the slugs Creates one after the other
// would give them: a title repeated is numbered in order, a slug an
// article holds is numbered, an explicit slug a category holds is a
// conflict for that product alone.
func TestCreateManySlugsTogether(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		s := startShared(t, bus)
		ct.Must(s.articles.Create(transport.WithRequestID(s.Admin, transport.NewRequestID()), article.CreateRequest{Title: "Lamp"}))(t)
		ct.Must(s.Categories.Create(s.Admin, category.CreateRequest{Name: "Chairs"}))(t)
		var items []product.CreateRequest
		for i := range 20 {
			items = append(items, product.CreateRequest{Title: "Table " + strconv.Itoa(i), Price: eur(500)})
		}
		items = append(items,
			product.CreateRequest{Title: "Stool", Price: eur(500)},
			product.CreateRequest{Title: "Lamp", Price: eur(500)},
			product.CreateRequest{Title: "Stool", Price: eur(500)},
			product.CreateRequest{Title: "Chairs", Slug: "chairs", Price: eur(500)})
		before := s.asked()
		res := ct.Must(s.products.CreateMany(transport.WithRequestID(s.Admin, transport.NewRequestID()), product.CreateManyRequest{Items: items}))(t)
		// Together: one question to each of the two services (2). Then,
		// one after the other as Create would: "lamp" again and "lamp-2"
		// (4), and "stool-2" (2). One question per product would be 48.
		if asked := s.asked() - before; asked > 8 {
			t.Errorf("CreateMany of %d products asked the slug space %d times", len(items), asked)
		}
		want := map[int]string{0: "table-0", 19: "table-19", 20: "stool", 21: "lamp-2", 22: "stool-2"}
		for i, slug := range want {
			if res[i].Product == nil || res[i].Product.Slug != slug {
				t.Errorf("item %d: %+v, want slug %q", i, res[i], slug)
			}
		}
		if e := res[23].Error; e == nil || e.Code != transport.CodeConflict {
			t.Errorf("explicit slug of a category: %+v, want a conflict", res[23])
		}
	})
}

// TestHoldsSlugsOverTheBus: product.holds_slugs names the slugs products
// hold, in the order asked, as holds_slug answers each; more than
// shop.MaxSlugsAsked is invalid.
func TestHoldsSlugsOverTheBus(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		ct.Must(c.Products.Create(transport.WithRequestID(c.Admin, transport.NewRequestID()), product.CreateRequest{Title: "Desk lamp", Price: eur(900)}))(t)
		ct.Must(c.Products.Create(transport.WithRequestID(c.Admin, transport.NewRequestID()), product.CreateRequest{Title: "Floor lamp", Price: eur(900)}))(t)
		asked := []string{"floor-lamp", "free", "desk-lamp", "Desk-Lamp", "floor-lamp"}
		got := ct.Must(c.Products.HoldsSlugs(context.Background(), shop.SlugsRequest{Slugs: asked}))(t)
		if len(got.Held) != 2 || got.Held[0] != "floor-lamp" || got.Held[1] != "desk-lamp" {
			t.Fatalf("HoldsSlugs = %q, want floor-lamp, desk-lamp", got.Held)
		}
		for _, slug := range asked[:4] {
			one := ct.Must(c.Products.HoldsSlug(context.Background(), shop.SlugRequest{Slug: slug}))(t)
			if want := slug == "floor-lamp" || slug == "desk-lamp"; one.Held != want {
				t.Errorf("HoldsSlug(%q) = %v, want %v", slug, one.Held, want)
			}
		}
		_, err := c.Products.HoldsSlugs(context.Background(), shop.SlugsRequest{Slugs: make([]string, shop.MaxSlugsAsked+1)})
		ct.WantCode(t, err, transport.CodeInvalid)
	})
}
