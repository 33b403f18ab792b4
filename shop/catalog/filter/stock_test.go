package filter_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/filter"
	"github.com/shopbus/shopbus/transport"
)

func publishStock(t *testing.T, bus transport.Bus, sku string, available, version int64) {
	t.Helper()
	publish(t, bus, shop.EventStockChanged, shop.StockChanged{SKU: sku, Available: available, OnHand: available, Version: version, Occurred: t0})
}

// withVariants gives p variants sold under skus.
func withVariants(p shop.ProductSnapshot, skus ...string) shop.ProductSnapshot {
	p.Variants = nil
	for i, sku := range skus {
		p.Variants = append(p.Variants, shop.VariantSnapshot{ID: fmt.Sprint(p.ID, "-v", i), SKU: sku, Options: map[string]string{"size": fmt.Sprint(i)}, Price: p.Price})
	}
	return p
}

// stockCatalogue is a shirt sold in two variants, a mug and a lamp sold
// under their own SKUs, a chair in two variants and a draft.
func stockCatalogue() []shop.ProductSnapshot {
	shirt := withVariants(prod("k1", "Shirt", 1999, []string{"c-shirts"}, map[string]any{"kind": "apparel"}, 4), "SHIRT-S", "SHIRT-M")
	shirt.SKU = "SHIRT" // the base of its variants: never sold itself
	mug := prod("k2", "Mug", 900, []string{"c-garden"}, map[string]any{"kind": "kitchen"}, 3)
	mug.SKU = "MUG"
	lamp := prod("k3", "Lamp", 4900, []string{"c-garden"}, map[string]any{"kind": "kitchen"}, 2)
	lamp.SKU = "LAMP"
	chair := withVariants(prod("k4", "Chair", 9900, []string{"c-garden"}, map[string]any{"kind": "home"}, 1), "CHAIR-A", "CHAIR-B")
	draft := prod("k5", "Draft", 100, []string{"c-garden"}, map[string]any{"kind": "home"}, 0)
	draft.SKU, draft.Status = "DRAFT", shop.StatusDraft
	return []shop.ProductSnapshot{shirt, mug, lamp, chair, draft}
}

// TestInStock checks Query.InStock on events through the bus: a shop
// without stock events keeps every product; stock events in any order and
// repeated; a product in stock through one variant; facet, category and
// price counts over the products in stock; a product whose variants
// replace its own SKU; the read model surviving a restart; a malformed
// stock event parked.
func TestInStock(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := newFixture(t, bus, filter.Options{})
		c := f.client
		for _, cat := range testCategories {
			publishCategory(t, bus, cat)
		}
		cat := stockCatalogue()
		for _, p := range cat {
			publishProduct(t, bus, p)
		}
		eventually(t, c, filter.Query{}, func(r filter.Result) bool { return r.Total == 4 && len(r.Categories) == 2 })

		// No stock event yet: the shop does not track stock, and in_stock
		// takes nothing away.
		res := mustQuery(t, c, filter.Query{InStock: true})
		eq(t, "products in stock without any stock event", res.Total, 4)
		eq(t, "stock known", res.StockKnown, false)

		// Stock events, newest first for some SKUs, repeated for others.
		// Final state: the shirt's two variants sold out, the mug's own
		// SKU has 2, the lamp never heard of, the chair in stock through
		// one variant, the shirt's base SKU in stock (it is not sold).
		publishStock(t, bus, "SHIRT-M", 0, 3)
		publishStock(t, bus, "SHIRT-M", 5, 2) // older: ignored whenever it comes
		publishStock(t, bus, "SHIRT-M", 0, 3) // a repeat
		publishStock(t, bus, "SHIRT-S", 0, 1)
		publishStock(t, bus, "SHIRT", 40, 1)
		publishStock(t, bus, "MUG", 2, 4)
		publishStock(t, bus, "MUG", 0, 3)
		publishStock(t, bus, "CHAIR-A", 0, 1)
		publishStock(t, bus, "CHAIR-B", 4, 2)
		publishStock(t, bus, "CHAIR-B", 0, 1)
		publishStock(t, bus, "DRAFT", 9, 1)
		publishStock(t, bus, "UNSOLD", 9, 1) // no product sells it
		// The same event delivered twice (same id) is handled once.
		body, _ := json.Marshal(shop.StockChanged{SKU: "CHAIR-A", Available: 0, Version: 1})
		for range 2 {
			if err := bus.Publish(context.Background(), transport.Event{ID: "stock-chair-a-1", Key: shop.EventStockChanged, Body: body}); err != nil {
				t.Fatal(err)
			}
		}
		res = eventually(t, c, filter.Query{InStock: true, Sort: filter.SortPriceAsc}, func(r filter.Result) bool {
			return r.Total == 2 && f.srv.EventStats().Applied+f.srv.EventStats().Ignored >= int64(len(testCategories)+len(cat)+13)
		})
		eqSlice(t, "in stock", ids(res), []string{"k2", "k4"})
		eq(t, "stock known", res.StockKnown, true)
		// Facets, subcategories and prices count over the products in stock.
		eqMap(t, "kind facet in stock", facetCounts(res, "kind"), map[string]int{"home": 1, "kitchen": 1})
		eqMap(t, "categories in stock", catCounts(res), map[string]int{"clothing": 0, "garden": 2})
		if res.Price == nil || res.Price.Min.Amount != 900 || res.Price.Max.Amount != 9900 {
			t.Errorf("price range in stock: %+v", res.Price)
		}
		all := mustQuery(t, c, filter.Query{})
		eq(t, "without in_stock", all.Total, 4)
		eqMap(t, "kind facet of all", facetCounts(all, "kind"), map[string]int{"apparel": 1, "home": 1, "kitchen": 2})
		// Combined with another filter.
		res = mustQuery(t, c, filter.Query{InStock: true, Attributes: []filter.AttributeFilter{{Code: "kind", Values: []string{"kitchen"}}}})
		eqSlice(t, "kitchen in stock", ids(res), []string{"k2"})
		eqMap(t, "kind facet, kitchen picked", facetCounts(res, "kind"), map[string]int{"home": 1, "kitchen": 1})
		if !f.srv.Index().InStock("k4") || f.srv.Index().InStock("k1") || f.srv.Index().InStock("k5") {
			t.Error("Index.InStock disagrees with the query")
		}

		// A variant of the shirt comes back; the chair's last one sells out.
		publishStock(t, bus, "SHIRT-S", 3, 2)
		publishStock(t, bus, "CHAIR-B", 0, 3)
		eventually(t, c, filter.Query{InStock: true}, func(r filter.Result) bool {
			return slices.Equal(ids(r), []string{"k2", "k1"}) // newest first
		})

		// The mug gets variants: its own SKU no longer counts.
		mug := withVariants(cat[1], "MUG-RED")
		mug.Version = 2
		publishProduct(t, bus, mug)
		eventually(t, c, filter.Query{InStock: true}, func(r filter.Result) bool { return slices.Equal(ids(r), []string{"k1"}) })
		publishStock(t, bus, "MUG-RED", 1, 1)
		eventually(t, c, filter.Query{InStock: true}, func(r filter.Result) bool { return slices.Equal(ids(r), []string{"k2", "k1"}) })

		// A malformed stock event is parked, not applied nor lost.
		publish(t, bus, shop.EventStockChanged, map[string]any{"available": 3, "version": 9})
		publish(t, bus, shop.EventStockChanged, map[string]any{"sku": "LAMP", "available": "many", "version": 9})
		eq(t, "parked stock events", len(waitParked(t, bus, 2)), 2)
		eq(t, "the lamp is still not in stock", f.srv.Index().InStock("k3"), false)

		// A restart keeps it: a new server on the same database answers the
		// same, and takes no older stock.
		want := mustQuery(t, c, filter.Query{InStock: true})
		srv2, err := filter.New(f.db, filter.Options{Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		got, err := srv2.Query(context.Background(), filter.Query{InStock: true})
		if err != nil {
			t.Fatal(err)
		}
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		eq(t, "reloaded answer", string(gb), string(wb))
		if ok, _ := srv2.Index().ApplyStock(shop.StockChanged{SKU: "SHIRT-S", Available: 0, Version: 1}); ok {
			t.Error("reloaded model took an older stock event")
		}
		if ok, _ := srv2.Index().ApplyStock(shop.StockChanged{SKU: "SHIRT-S", Available: 0, Version: 5}); !ok {
			t.Error("reloaded model refused a newer stock event")
		}
		eqSlice(t, "after the shirt sold out again", ids(mustQuery(t, srv2, filter.Query{InStock: true})), []string{"k2"})
	})
}

// TestStockReplicas: replicas share the database; a replica that hears
// of an older stock event after another stored a newer one takes the
// stored one, and never overwrites it.
func TestStockReplicas(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		db := testenv.MongoDB(t, "filter_stock_replicas")
		start := func(bus transport.Bus, name string) *filter.Server { return startReplica(t, db, bus, name) }
		a := start(bus, "filter-a")
		mug := prod("m1", "Mug", 500, nil, nil, 0)
		mug.SKU = "MUG"
		publishProduct(t, bus, mug)
		publishStock(t, bus, "MUG", 3, 1)
		eventually(t, a, filter.Query{InStock: true}, func(r filter.Result) bool { return r.Total == 1 && r.StockKnown })

		// Replica b, on a bus of its own, holds the mug in stock (version
		// 1) and hears of version 2 only after a stored version 3.
		other := bustest.New(t, "inproc")
		b := start(other, "filter")
		eq(t, "b loaded the stock", mustQuery(t, b, filter.Query{InStock: true}).Total, 1)
		publishStock(t, bus, "MUG", 0, 3)
		eventually(t, a, filter.Query{InStock: true}, func(r filter.Result) bool { return r.Total == 0 })
		publishStock(t, other, "MUG", 7, 2)
		waitHandled(t, b, 1)
		eq(t, "b takes the newer stored stock", mustQuery(t, b, filter.Query{InStock: true}).Total, 0)
		fresh, err := filter.New(db, filter.Options{Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		eq(t, "stored stock", mustQuery(t, fresh, filter.Query{InStock: true}).Total, 0)
	})
}

// TestIndexInStockRandom applies random product and stock changes in a
// random order, with repeats, and checks Query.InStock against the rule
// computed from the newest version of everything.
func TestIndexInStockRandom(t *testing.T) {
	for round := range 20 {
		rng := rand.New(rand.NewPCG(uint64(round), 7))
		const products, skus = 40, 60
		var events []func(x *filter.Index)
		newest := map[string]shop.ProductSnapshot{}
		stock := map[string]shop.StockChanged{}
		for i := range products {
			id := fmt.Sprint("p", i)
			for v := int64(1); v <= 1+rng.Int64N(3); v++ {
				p := prod(id, "P", 100, nil, map[string]any{"n": float64(i % 3)}, 0)
				p.Version = v
				p.SKU = fmt.Sprint("S", rng.IntN(skus))
				if rng.IntN(2) == 0 {
					var vs []string
					for range 1 + rng.IntN(3) {
						vs = append(vs, fmt.Sprint("S", rng.IntN(skus)))
					}
					p = withVariants(p, vs...)
				}
				if rng.IntN(8) == 0 {
					p.Status = shop.StatusDraft
				}
				if cur, ok := newest[id]; !ok || cur.Version < v {
					newest[id] = p
				}
				events = append(events, func(x *filter.Index) { _, _ = x.ApplyProduct(shop.ProductChanged{Product: p}) })
			}
		}
		for s := range skus {
			if rng.IntN(5) == 0 {
				continue // never heard of
			}
			sku := fmt.Sprint("S", s)
			for v := int64(1); v <= 1+rng.Int64N(4); v++ {
				ev := shop.StockChanged{SKU: sku, Available: rng.Int64N(3), Version: v}
				if cur, ok := stock[sku]; !ok || cur.Version < v {
					stock[sku] = ev
				}
				events = append(events, func(x *filter.Index) { _, _ = x.ApplyStock(ev) })
			}
		}
		// Repeats, then a random order.
		for range len(events) / 4 {
			events = append(events, events[rng.IntN(len(events))])
		}
		rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
		x := filter.NewIndex()
		for _, ev := range events {
			ev(x)
		}

		var want []string
		for id, p := range newest {
			if p.Status != shop.StatusPublished {
				continue
			}
			sold := []string{p.SKU}
			if len(p.Variants) > 0 {
				sold = nil
				for _, v := range p.Variants {
					sold = append(sold, v.SKU)
				}
			}
			if slices.ContainsFunc(sold, func(sku string) bool { return stock[sku].Available > 0 }) {
				want = append(want, id)
			}
		}
		slices.Sort(want)
		res, err := x.Query(filter.Query{InStock: true, Sort: filter.SortTitle, Limit: filter.MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		got := ids(res)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("round %d: in stock %v, want %v", round, got, want)
		}
		// Facets count over the products in stock.
		counts := map[string]int{}
		for _, id := range want {
			counts[fmt.Sprint(newest[id].Attributes["n"])]++
		}
		eqMap(t, fmt.Sprintf("round %d: facet n", round), facetCounts(res, "n"), counts)
	}
}

// BenchmarkFilterInStock measures the stock read model on the catalogue
// of BenchmarkFilterQuery, each product sold under its own SKU or (every
// second one) under six variants' SKUs, 400,000 SKUs in all, with a stock
// event for every SKU (about one in ten sold out). It reports the memory
// the SKUs and their stock add to the model, the time to apply the stock
// events, and the p50 of the three-facet queries with and without
// InStock.
func BenchmarkFilterInStock(b *testing.B) {
	cats := genCategories(5, 10, 0)
	leaves := leavesOf(cats)
	build := func(withSKUs bool) (*filter.Index, float64) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		x := filter.NewIndex()
		for _, c := range cats {
			if _, err := x.ApplyCategory(shop.CategoryChanged{Category: c}); err != nil {
				b.Fatal(err)
			}
		}
		rng := rand.New(rand.NewPCG(benchSeed, benchSeed))
		for i := range benchProducts {
			p := genProduct(rng, i, leaves, benchBrands)
			if withSKUs {
				p.SKU = fmt.Sprintf("SKU-%06d", i)
				if i%2 == 0 {
					var skus []string
					for v := range 6 {
						skus = append(skus, fmt.Sprintf("SKU-%06d-%d", i, v))
					}
					p = withVariants(p, skus...)
				}
			}
			if _, err := x.ApplyProduct(shop.ProductChanged{Product: p}); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		return x, float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / (1 << 20)
	}
	plain, plainMB := build(false)
	x, skusMB := build(true)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	rng := rand.New(rand.NewPCG(1, 2))
	events := 0
	for i := range benchProducts {
		skus := []string{fmt.Sprintf("SKU-%06d", i)}
		if i%2 == 0 {
			skus = skus[:0]
			for v := range 6 {
				skus = append(skus, fmt.Sprintf("SKU-%06d-%d", i, v))
			}
		}
		for _, sku := range skus {
			avail := int64(0)
			if rng.IntN(10) != 0 {
				avail = 1 + rng.Int64N(100)
			}
			if _, err := x.ApplyStock(shop.StockChanged{SKU: sku, Available: avail, Version: 1}); err != nil {
				b.Fatal(err)
			}
			events++
		}
	}
	applyS := time.Since(start).Seconds()
	runtime.GC()
	runtime.ReadMemStats(&after)
	stockMB := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / (1 << 20)
	runtime.KeepAlive(plain)

	queries := benchQueries()
	measure := func(inStock bool) float64 {
		var times []time.Duration
		for i := range 200 {
			q := queries[i%len(queries)]
			q.InStock = inStock
			start := time.Now()
			if _, err := x.Query(q); err != nil {
				b.Fatal(err)
			}
			times = append(times, time.Since(start))
		}
		return float64(p50(times).Microseconds()) / 1000
	}
	var all, inStock float64
	for b.Loop() {
		all, inStock = measure(false), measure(true)
	}
	if res, _ := x.Query(filter.Query{InStock: true}); res.Total == 0 || res.Total == benchProducts {
		b.Fatalf("in stock: %d of %d products: the benchmark measures nothing", res.Total, benchProducts)
	}
	b.ReportMetric(skusMB-plainMB, "skus-MB")
	b.ReportMetric(stockMB, "stock-MB")
	b.ReportMetric(applyS*1e6/float64(events), "apply-us/event")
	b.ReportMetric(all, "p50-ms")
	b.ReportMetric(inStock, "in-stock-p50-ms")
}
