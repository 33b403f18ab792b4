package storefront_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/content/article"
	"github.com/shopbus/shopbus/shop/inventory"
	"github.com/shopbus/shopbus/storefront"
	"github.com/shopbus/shopbus/transport"
)

// BenchmarkStorefront runs the shop of the tests (every service on the
// embedded FerretDB) on each bus, the in-process one and RabbitMQ, with
// the storefront called directly (no HTTP client in the way), as a guest.
//
// ProductPage compares a product page with the bus calls it makes, each
// timed alone in the same run: the page fans its calls out at once, so its
// p50 must stay within 1.5 times the p50 of the slowest of them
// (the "ratio" metric; the benchmark fails above 1.5 once it has enough
// samples). Home, Category and Product report pages per second with 8
// requests in flight.
//
//	go test ./storefront -run '^$' -bench . -benchtime 2s
func BenchmarkStorefront(b *testing.B) {
	for _, kind := range bustest.Kinds {
		b.Run(kind, func(b *testing.B) {
			f := newShopOn(b, bustest.New(b, kind), storefront.Options{})
			// Let the seo service learn the pages, so that the page's seo
			// calls take their usual path.
			waitFor(b, "seo metadata", func() bool {
				rec := serve(f.front, "/red-runner")
				return strings.Contains(rec.Body.String(), seoBaseURL+"/red-runner")
			})
			b.Run("ProductPage", func(b *testing.B) { benchProductPage(b, f, false) })
			b.Run("ProductPageFirstVisit", func(b *testing.B) { benchProductPage(b, f, true) })
			// Each page must be whole, not a degraded one.
			for _, p := range []struct{ name, path, want string }{
				{"Home", "/", `<section class="latest-articles">`},
				{"Category", "/shoes", `<span class="price-range">`},
				{"Product", "/red-runner", seoBaseURL + "/red-runner"},
			} {
				b.Run(p.name, func(b *testing.B) { benchPages(b, f, p.path, p.want) })
			}
		})
	}
}

// serve serves one GET request and returns the recorder, checking for 200.
func serve(h http.Handler, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec
}

// call is one bus call of the product page.
type call struct {
	name string
	do   func(ctx context.Context) error
}

// benchProductPage compares the product page with its calls. A page for
// a slug seen before asks only the product service (the others cannot
// change the outcome) and, at the same time, the inventory service for
// the stock of the product's SKUs; with first, the storefront forgets the
// slug before each page, which then asks the product, category and
// article services at once, and the inventory once the product is found.
func benchProductPage(b *testing.B, f *fixture, first bool) {
	const slug = "red-runner"
	bus := transport.Bus(f.bus)
	prods, cats, arts, inv := product.NewClient(bus), category.NewClient(bus), article.NewClient(bus), inventory.NewClient(bus)
	// What a guest's product page asks every time. Navigation,
	// definitions and the seo service's metadata of the page are cached
	// (NavTTL, DefinitionsTTL, SEOCacheTTL): asked once in a while, in
	// parallel with these.
	calls := []call{
		{"product.get_by_slug", func(ctx context.Context) error {
			_, err := prods.GetBySlug(ctx, product.GetBySlugRequest{Slug: slug})
			return err
		}},
		{"inventory.get_many", func(ctx context.Context) error {
			_, err := inv.GetMany(ctx, inventory.GetManyRequest{SKUs: []string{f.products[slug].SKU}})
			return err
		}},
	}
	if first {
		calls = append(calls,
			call{"category.get_by_slug", func(ctx context.Context) error {
				_, err := cats.GetBySlug(ctx, category.GetBySlugRequest{Slug: slug})
				return ignoreNotFound(err)
			}},
			call{"article.get_by_slug", func(ctx context.Context) error {
				_, err := arts.GetBySlug(ctx, article.GetBySlugRequest{Slug: slug})
				return ignoreNotFound(err)
			}})
	}
	ctx := context.Background()
	for range 20 { // warm up
		serve(f.front, "/"+slug)
	}

	page := make([]time.Duration, 0, b.N)
	single := make([][]time.Duration, len(calls))
	together := make([]time.Duration, 0, b.N) // all the calls at once, by hand
	b.ResetTimer()
	for range b.N {
		if first {
			f.front.ForgetSlugs()
		}
		start := time.Now()
		rec := serve(f.front, "/"+slug)
		page = append(page, time.Since(start))
		if rec.Code != 200 {
			b.Fatalf("product page: %d", rec.Code)
		}
		for i, c := range calls {
			start := time.Now()
			if err := c.do(ctx); err != nil {
				b.Fatalf("%s: %v", c.name, err)
			}
			single[i] = append(single[i], time.Since(start))
		}
		start = time.Now()
		var wg sync.WaitGroup
		for _, c := range calls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = c.do(ctx)
			}()
		}
		wg.Wait()
		together = append(together, time.Since(start))
	}
	b.StopTimer()
	pageP50 := p50(page)
	var slowest time.Duration
	slowestName := ""
	var each []string
	for i, c := range calls {
		each = append(each, fmt.Sprintf("%s %v", c.name, p50(single[i])))
		if d := p50(single[i]); d > slowest {
			slowest, slowestName = d, c.name
		}
	}
	ratio := float64(pageP50) / float64(slowest)
	atOnce := p50(together)
	ratioAtOnce := float64(pageP50) / float64(atOnce)
	b.ReportMetric(float64(pageP50.Microseconds()), "page-p50-µs")
	b.ReportMetric(float64(slowest.Microseconds()), "slowest-call-p50-µs")
	b.ReportMetric(float64(atOnce.Microseconds()), "calls-at-once-p50-µs")
	b.ReportMetric(ratio, "ratio")
	b.ReportMetric(ratioAtOnce, "ratio-at-once")
	b.Logf("product page p50 %v; slowest single call %s p50 %v; ratio %.2f; the calls at once by hand p50 %v, ratio %.2f (%d samples); calls' p50: %s",
		pageP50, slowestName, slowest, ratio, atOnce, ratioAtOnce, b.N, strings.Join(each, ", "))
	// The page's calls compete for the machine's two cores (and the
	// store) as they would if made at once by hand: that is the floor.
	if !first && b.N >= 50 && ratioAtOnce > 1.5 {
		b.Errorf("the product page's p50 (%v) is %.2f times its calls' made at once by hand (%v): its calls are not made at once", pageP50, ratioAtOnce, atOnce)
	}
}

func benchPages(b *testing.B, f *fixture, path, want string) {
	if rec := serve(f.front, path); rec.Code != 200 || !strings.Contains(rec.Body.String(), want) {
		b.Fatalf("%s: %d without %s", path, rec.Code, want)
	}
	b.SetParallelism(4) // 8 requests in flight on 2 cores
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if rec := serve(f.front, path); rec.Code != 200 || !strings.Contains(rec.Body.String(), want) {
				b.Errorf("%s: %d without %s", path, rec.Code, want)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pages/s")
}

func p50(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func ignoreNotFound(err error) error {
	if transport.CodeOf(err) == transport.CodeNotFound {
		return nil
	}
	return err
}
