package storefront_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/catalog/attribute"
	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/shop/catalog/filter"
	"github.com/shopbus/shopbus/shop/catalog/option"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/content/article"
	"github.com/shopbus/shopbus/shop/content/seo"
	"github.com/shopbus/shopbus/shop/inventory"
	"github.com/shopbus/shopbus/storefront"
)

// BenchmarkArchitectureCost measures what the architecture costs the
// storefront: the home, category and product pages per second (8
// requests in flight, as a guest) of the test shop on the in-process bus,
// against the same pages of a second storefront that calls the same
// services, on the same databases, as Go values (directServices: no bus,
// no encoding, no hand-off to another goroutine). Rounds of the two
// alternate, so that the machine's load hits both alike. It reports the
// pages per second of each and, as "bus/direct", the worst ratio of the
// three pages (the target is at least 0.8).
//
//	go test ./storefront -run '^$' -bench ArchitectureCost -benchtime 20x
func BenchmarkArchitectureCost(b *testing.B) {
	f := newShopOn(b, bustest.New(b, "inproc"), storefront.Options{})
	waitFor(b, "seo metadata", func() bool {
		rec := serve(f.front, "/red-runner")
		return strings.Contains(rec.Body.String(), seoBaseURL+"/red-runner")
	})
	direct := directServices(b, f)
	pages := []struct{ name, path, want string }{
		{"home", "/", `<section class="latest-articles">`},
		{"category", "/shoes", `<span class="price-range">`},
		{"product", "/red-runner", seoBaseURL + "/red-runner"},
	}
	const inFlight, perRound = 8, 64
	type side struct {
		pages   int
		elapsed time.Duration
	}
	stats := map[string]*[2]side{} // page -> [bus, direct]
	for _, p := range pages {
		stats[p.name] = &[2]side{}
		for i, h := range []handler{f.front, direct} {
			if rec := serve(h, p.path); rec.Code != 200 || !strings.Contains(rec.Body.String(), p.want) {
				b.Fatalf("%s (side %d): %d without %s", p.path, i, rec.Code, p.want)
			}
		}
	}
	round := func(h handler, path, want string) (time.Duration, error) {
		var (
			wg       sync.WaitGroup
			next     = make(chan struct{}, perRound)
			errOnce  sync.Once
			firstErr error
		)
		for range perRound {
			next <- struct{}{}
		}
		close(next)
		start := time.Now()
		for range inFlight {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range next {
					if rec := serve(h, path); rec.Code != 200 || !strings.Contains(rec.Body.String(), want) {
						errOnce.Do(func() { firstErr = fmt.Errorf("%s: %d without %s", path, rec.Code, want) })
						return
					}
				}
			}()
		}
		wg.Wait()
		return time.Since(start), firstErr
	}
	b.ResetTimer()
	for i := range b.N {
		for _, p := range pages {
			s := stats[p.name]
			order := []int{0, 1}
			if i%2 == 1 {
				order = []int{1, 0}
			}
			for _, k := range order {
				h := handler(f.front)
				if k == 1 {
					h = direct
				}
				d, err := round(h, p.path, p.want)
				if err != nil {
					b.Fatal(err)
				}
				s[k].pages += perRound
				s[k].elapsed += d
			}
		}
	}
	b.StopTimer()
	worst := 0.0
	for _, p := range pages {
		s := stats[p.name]
		bus := float64(s[0].pages) / s[0].elapsed.Seconds()
		dir := float64(s[1].pages) / s[1].elapsed.Seconds()
		b.ReportMetric(bus, p.name+"-bus-pages/s")
		b.ReportMetric(dir, p.name+"-direct-pages/s")
		if r := bus / dir; worst == 0 || r < worst {
			worst = r
		}
	}
	b.ReportMetric(worst, "bus/direct")
}

// handler is a storefront.
type handler = http.Handler

// directServices returns a storefront calling the services its pages
// read (all but auth, cart and order) as Go values: a second instance of
// each on the shop's own databases, as a second replica would be, made
// once the shop is filled (the filter service loads its model when made).
func directServices(b *testing.B, f *fixture) handler {
	b.Helper()
	db := f.node.Database
	authn := auth.NewClient(f.bus)
	must := func(err error) {
		b.Helper()
		if err != nil {
			b.Fatal(err)
		}
	}
	cats, err := category.New(db("category"), category.Options{Auth: authn, Logger: quiet})
	must(err)
	attrs, err := attribute.New(db("attribute"), attribute.Options{Auth: authn})
	must(err)
	opts, err := option.New(db("option"), option.Options{Auth: authn, Logger: quiet})
	must(err)
	prods, err := product.New(db("product"), product.Options{Auth: authn, Categories: cats, Attributes: attrs, Variants: opts, Logger: quiet})
	must(err)
	filt, err := filter.New(db("filter"), filter.Options{Auth: authn, Products: filter.FromProductService(prods), Categories: filter.FromCategoryService(cats), Logger: quiet})
	must(err)
	arts, err := article.New(db("article"), article.Options{Auth: authn, Logger: quiet})
	must(err)
	meta, err := seo.New(db("seo"), seo.Options{Auth: authn, BaseURL: seoBaseURL, Logger: quiet})
	must(err)
	stock, err := inventory.New(db("inventory"), inventory.Options{Auth: authn, Logger: quiet})
	must(err)
	front, err := storefront.NewWithServices(storefront.Options{Bus: f.bus, Logger: quiet}, storefront.Services{
		Categories: cats, Attributes: attrs, Options: opts, Products: prods, Filter: filt,
		Articles: arts, SEO: meta, Inventory: stock,
	})
	must(err)
	return front
}
