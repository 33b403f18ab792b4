package seo

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/testenv"
)

// BenchmarkSitemap serves the sitemap of a shop of 100,000 products and
// 200 categories, written straight into the service's own collection
// (seeding them through the shop would take many minutes): the index and
// every file, from memory, and the same after one change (a product
// renamed by this replica) before each request. every-file-after-a-change
// renames a product anywhere in the sitemap and then asks for the index
// and every file (the file the product left and the one it entered are
// rendered again), reporting p50, p99 and worst of all these requests and
// of the first one after each change. The baseline, measured once in the
// same run, is what every request cost before the sitemap was kept in
// memory: the scan of the published entities (the first request after a
// start still pays it). The last case asks through the bus client on the
// in-process bus, as the storefront does. It reports the p50 and worst
// request in ms, the scan in ms and their ratio (p50 ÷ scan).
func BenchmarkSitemap(b *testing.B) {
	const products, categories = 100_000, 200
	db := testenv.MongoDB(b, "seo_bench_sitemap")
	srv, err := New(db, Options{BaseURL: "https://shop.example"})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	updated := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	doc := func(i int) *entityDoc {
		kind, id, path := KindProduct, fmt.Sprintf("p%06d", i), fmt.Sprintf("/products/product-with-a-slug-%06d", i)
		if i >= products {
			kind, id, path = KindCategory, fmt.Sprintf("c%04d", i), fmt.Sprintf("/categories/category-%04d", i)
		}
		return &entityDoc{ID: entityKey(kind, id), Kind: kind, EntityID: id, Path: path, Version: 1, Published: true,
			Defaults: fieldsDoc{Title: "Product " + id, Description: "A product of the benchmark."},
			LastMod:  updated.Add(time.Duration(i) * time.Second), UpdatedAt: updated, Rev: 1}
	}
	batch := make([]any, 0, 2000)
	for i := range products + categories {
		batch = append(batch, doc(i))
		if len(batch) == cap(batch) || i == products+categories-1 {
			if _, err := srv.entities.InsertMany(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	start := time.Now()
	items, err := srv.scanSitemap(ctx)
	if err != nil {
		b.Fatal(err)
	}
	scan := time.Since(start)
	if len(items) != products+categories {
		b.Fatalf("scanned %d items", len(items))
	}
	main, err := srv.Sitemap(ctx, SitemapRequest{}) // builds the cache
	if err != nil || !main.Index || main.URLs != products+categories {
		b.Fatalf("index %+v, %v", main.Parts, err)
	}
	b.Logf("%d URLs in %d files; scan %v", main.URLs, main.Parts, scan)
	bus := bustest.New(b, "inproc")
	sub, err := Bind(bus, srv)
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	var svc Service = srv
	serve := func(b *testing.B, change bool) {
		var times []time.Duration
		rev := int64(1)
		for i := range b.N {
			if change {
				d := doc(i % products)
				rev++
				d.Path, d.Rev = fmt.Sprintf("/products/renamed-%06d", i), rev
				srv.sitemap.note(d)
			}
			name := SitemapIndexName
			if n := i % (main.Parts + 1); n > 0 {
				name = fmt.Sprintf(sitemapPartFmt, n)
			}
			t0 := time.Now()
			f, err := svc.Sitemap(ctx, SitemapRequest{Name: name})
			if err != nil || len(f.Body) == 0 {
				b.Fatalf("%s: %v", name, err)
			}
			times = append(times, time.Since(t0))
		}
		slices.Sort(times)
		p50 := times[len(times)/2]
		b.ReportMetric(float64(p50)/1e6, "p50-ms")
		b.ReportMetric(float64(times[len(times)-1])/1e6, "max-ms")
		b.ReportMetric(float64(scan)/1e6, "scan-ms")
		b.ReportMetric(float64(p50)/float64(scan), "x-scan")
	}
	// sweep changes a product, then asks for the index and every file,
	// timing each request: the worst case of a change is the file it
	// touched (before the files were kept apart, the first request after a
	// change paid for the whole sitemap, whichever file it asked for).
	sweep := func(b *testing.B) {
		var times, first []time.Duration
		rev := int64(1 << 20)
		for i := range b.N {
			// A product anywhere moves next to one in another file.
			d := doc((i * 7919) % products)
			rev++
			d.Path, d.Rev = fmt.Sprintf("/products/product-with-a-slug-%06d-moved-%d", (i*7919+products/2)%products, i), rev
			srv.sitemap.note(d)
			for n := range main.Parts + 1 {
				name := SitemapIndexName
				if n > 0 {
					name = fmt.Sprintf(sitemapPartFmt, n)
				}
				t0 := time.Now()
				f, err := svc.Sitemap(ctx, SitemapRequest{Name: name})
				if err != nil || len(f.Body) == 0 {
					b.Fatalf("%s: %v", name, err)
				}
				took := time.Since(t0)
				times = append(times, took)
				if n == 0 {
					first = append(first, took)
				}
			}
		}
		slices.Sort(times)
		slices.Sort(first)
		b.ReportMetric(float64(times[len(times)/2])/1e6, "p50-ms")
		b.ReportMetric(float64(times[len(times)*99/100])/1e6, "p99-ms")
		b.ReportMetric(float64(times[len(times)-1])/1e6, "max-ms")
		b.ReportMetric(float64(first[len(first)/2])/1e6, "first-p50-ms")
		b.ReportMetric(float64(first[len(first)-1])/1e6, "first-max-ms")
	}
	b.Run("cached", func(b *testing.B) { serve(b, false) })
	b.Run("after-a-change", func(b *testing.B) { serve(b, true) })
	b.Run("every-file-after-a-change", sweep)
	svc = NewClient(bus) // the storefront's way: JSON over the in-process bus
	b.Run("bus-after-a-change", func(b *testing.B) { serve(b, true) })
}
