package filter_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/filter"
)

const (
	benchProducts = 100_000
	benchBrands   = 50
	benchSeed     = 42
)

var bench struct {
	once    sync.Once
	index   *filter.Index
	naive   *naiveModel
	queries []filter.Query
	modelMB float64
	buildS  float64
}

func setupBench(tb testing.TB) {
	bench.once.Do(func() {
		cats := genCategories(5, 10, 0) // 5 roots, 50 leaves
		leaves := leavesOf(cats)

		// The model, built directly (not through MongoDB), measured from
		// an empty heap to after its first queries (which build the sort
		// orders). Each snapshot is dropped once applied, so the heap
		// growth is what the index retains.
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		x := filter.NewIndex()
		for _, c := range cats {
			if _, err := x.ApplyCategory(shop.CategoryChanged{Category: c}); err != nil {
				tb.Fatal(err)
			}
		}
		rng := rand.New(rand.NewPCG(benchSeed, benchSeed))
		for i := range benchProducts {
			if _, err := x.ApplyProduct(shop.ProductChanged{Product: genProduct(rng, i, leaves, benchBrands)}); err != nil {
				tb.Fatal(err)
			}
		}
		for _, s := range []string{filter.SortNewest, filter.SortPriceAsc, filter.SortPriceDesc, filter.SortTitle} {
			if _, err := x.Query(filter.Query{Sort: s}); err != nil {
				tb.Fatal(err)
			}
		}
		bench.buildS = time.Since(start).Seconds()
		runtime.GC()
		runtime.ReadMemStats(&after)
		bench.modelMB = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / (1 << 20)
		bench.index = x

		// The same catalogue again for the naive baseline.
		rng = rand.New(rand.NewPCG(benchSeed, benchSeed))
		products := make([]shop.ProductSnapshot, benchProducts)
		for i := range products {
			products[i] = genProduct(rng, i, leaves, benchBrands)
		}
		bench.naive = newNaive(products, cats)

		bench.queries = benchQueries()
	})
}

// benchQueries returns queries with three active facets: brand (3
// values), color (2 values) and a weight range, inside a root category,
// sorted.
func benchQueries() []filter.Query {
	var queries []filter.Query
	qrng := rand.New(rand.NewPCG(7, 7))
	sorts := []string{filter.SortPriceAsc, filter.SortNewest, filter.SortTitle, filter.SortPriceDesc}
	for i := range 64 {
		lo := float64(100 + 10*qrng.IntN(100))
		queries = append(queries, filter.Query{
			CategoryID: fmt.Sprintf("root-%d", qrng.IntN(5)),
			Attributes: []filter.AttributeFilter{
				{Code: "brand", Values: []string{fmt.Sprintf("brand-%02d", qrng.IntN(benchBrands)), fmt.Sprintf("brand-%02d", qrng.IntN(benchBrands)), fmt.Sprintf("brand-%02d", qrng.IntN(benchBrands))}},
				{Code: "color", Values: []string{colors[qrng.IntN(len(colors))], colors[qrng.IntN(len(colors))]}},
				{Code: "weight", Min: ptr(lo), Max: ptr(lo + 800)},
			},
			Sort:  sorts[i%len(sorts)],
			Limit: 24,
		})
	}
	return queries
}

func p50(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkFilterQuery measures a faceted query with three active facets
// over 100,000 products, against a naive full scan of the same catalogue
// in the same run. It reports the p50 of both, the speed-up and the memory
// of the model.
func BenchmarkFilterQuery(b *testing.B) {
	setupBench(b)
	x, queries := bench.index, bench.queries

	// Baseline: the naive scan, a few runs (each takes tens of ms).
	var base []time.Duration
	for i := range 15 {
		q := queries[i%len(queries)]
		start := time.Now()
		r := bench.naive.query(q)
		base = append(base, time.Since(start))
		if got, err := x.Query(q); err != nil || got.Total != r.total {
			b.Fatalf("index and naive scan disagree on %+v: %d (%v) vs %d", q, got.Total, err, r.total)
		}
	}

	times := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		if _, err := x.Query(queries[i%len(queries)]); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(start))
	}
	b.StopTimer()
	p50ms := float64(p50(times).Microseconds()) / 1000
	baseMS := float64(p50(base).Microseconds()) / 1000
	b.ReportMetric(p50ms, "p50-ms")
	b.ReportMetric(baseMS, "baseline-p50-ms")
	b.ReportMetric(baseMS/p50ms, "speedup")
	b.ReportMetric(bench.modelMB, "model-MB")
	b.ReportMetric(bench.buildS, "build-s")
}

// BenchmarkFilterQueryShapes measures other query shapes over the same
// 100,000 products: p50 per shape.
func BenchmarkFilterQueryShapes(b *testing.B) {
	setupBench(b)
	shapes := []struct {
		name string
		q    filter.Query
	}{
		{"everything", filter.Query{}},
		{"leaf-category", filter.Query{CategoryID: "root-2-3", Sort: filter.SortPriceAsc}},
		{"text", filter.Query{Text: "summer red", Sort: filter.SortTitle}},
		{"one-facet-deep-page", filter.Query{Attributes: []filter.AttributeFilter{{Code: "color", Values: []string{"red"}}}, Offset: 2000}},
		{"price-range", filter.Query{Price: &filter.PriceRange{Min: ptr(int64(1000)), Max: ptr(int64(5000))}, Sort: filter.SortPriceDesc}},
	}
	for _, s := range shapes {
		b.Run(s.name, func(b *testing.B) {
			times := make([]time.Duration, 0, b.N)
			for b.Loop() {
				start := time.Now()
				if _, err := bench.index.Query(s.q); err != nil {
					b.Fatal(err)
				}
				times = append(times, time.Since(start))
			}
			b.ReportMetric(float64(p50(times).Microseconds())/1000, "p50-ms")
		})
	}
}
