package filter_test

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/filter"
)

// randomQuery draws a query over the generated catalogue.
func randomQuery(rng *rand.Rand, cats []shop.CategorySnapshot, brands int) filter.Query {
	var q filter.Query
	if rng.IntN(3) > 0 {
		q.CategoryID = cats[rng.IntN(len(cats))].ID
	}
	pick := func(domain []string) []string {
		n := 1 + rng.IntN(3)
		var out []string
		for range n {
			out = append(out, domain[rng.IntN(len(domain))])
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	var brandNames []string
	for i := range brands {
		brandNames = append(brandNames, fmt.Sprintf("brand-%02d", i))
	}
	candidates := []func() filter.AttributeFilter{
		func() filter.AttributeFilter { return filter.AttributeFilter{Code: "color", Values: pick(colors)} },
		func() filter.AttributeFilter { return filter.AttributeFilter{Code: "size", Values: pick(sizes)} },
		func() filter.AttributeFilter {
			return filter.AttributeFilter{Code: "brand", Values: pick(append(brandNames, "no-such-brand"))}
		},
		func() filter.AttributeFilter {
			return filter.AttributeFilter{Code: "in_stock", Values: []string{[]string{"true", "false"}[rng.IntN(2)]}}
		},
		func() filter.AttributeFilter { return filter.AttributeFilter{Code: "tags", Values: pick(words)} },
		func() filter.AttributeFilter {
			lo := float64(100 + 10*rng.IntN(200))
			f := filter.AttributeFilter{Code: "weight", Min: ptr(lo), Max: ptr(lo + float64(10*rng.IntN(60)))}
			if rng.IntN(3) == 0 {
				f.Min = nil
			}
			if rng.IntN(3) == 0 {
				f.Values = []string{"150", "200.0"}
			}
			return f
		},
		func() filter.AttributeFilter {
			return filter.AttributeFilter{Code: "no_such_attribute", Values: []string{"x"}}
		},
	}
	rng.Shuffle(len(candidates), func(i, j int) { candidates[i], candidates[j] = candidates[j], candidates[i] })
	nAttr := rng.IntN(4)
	if rng.IntN(20) == 0 {
		nAttr = len(candidates)
	}
	for _, c := range candidates[:nAttr] {
		q.Attributes = append(q.Attributes, c())
	}
	if rng.IntN(3) == 0 {
		q.Price = &filter.PriceRange{Min: ptr(int64(rng.IntN(50000))), Max: ptr(int64(50000 + rng.IntN(50000)))}
		if rng.IntN(2) == 0 {
			q.Price.Min = nil
		}
	}
	if rng.IntN(4) == 0 {
		w := words[rng.IntN(len(words))]
		q.Text = w[:1+rng.IntN(len(w))]
		if rng.IntN(2) == 0 {
			q.Text += " " + colors[rng.IntN(len(colors))]
		}
	}
	q.Sort = []string{"", filter.SortNewest, filter.SortPriceAsc, filter.SortPriceDesc, filter.SortTitle}[rng.IntN(5)]
	q.Limit = []int{0, 1, 5, 100}[rng.IntN(4)]
	q.Offset = []int{0, 0, 3, 40}[rng.IntN(4)]
	return q
}

func compareWithNaive(t *testing.T, x *filter.Index, m *naiveModel, q filter.Query) {
	t.Helper()
	got, err := x.Query(q)
	if err != nil {
		t.Fatalf("Query(%+v): %v", q, err)
	}
	want := m.query(q)
	if got.Total != want.total {
		t.Fatalf("Query(%+v): total %d, naive %d", q, got.Total, want.total)
	}
	var ids []string
	for _, it := range got.Items {
		ids = append(ids, it.ID)
	}
	if !slices.Equal(ids, want.ids) {
		t.Fatalf("Query(%+v): page %v, naive %v", q, ids, want.ids)
	}
	facets := map[string]map[string]int{}
	for _, f := range got.Facets {
		for _, v := range f.Values {
			if v.Count > 0 {
				if facets[f.Code] == nil {
					facets[f.Code] = map[string]int{}
				}
				facets[f.Code][v.Value] = v.Count
			}
		}
	}
	if !maps.EqualFunc(facets, want.facets, maps.Equal) {
		t.Fatalf("Query(%+v): facets\n%v\nnaive\n%v", q, facets, want.facets)
	}
	cats := map[string]int{}
	for _, c := range got.Categories {
		if c.Count > 0 {
			cats[c.ID] = c.Count
		}
	}
	if !maps.Equal(cats, want.cats) {
		t.Fatalf("Query(%+v): categories %v, naive %v", q, cats, want.cats)
	}
}

// TestIndexMatchesNaiveScan checks the engine against the full-scan oracle
// on random catalogues and queries, before and after random changes.
func TestIndexMatchesNaiveScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n, brands = 800, 12
	cats := genCategories(2, 3, 2)
	leaves := leavesOf(cats)
	products := make([]shop.ProductSnapshot, n)
	x := filter.NewIndex()
	for i := range products {
		products[i] = genProduct(rng, i, leaves, brands)
		if i == n/2 { // categories arrive in the middle of the products
			for _, c := range cats {
				if _, err := x.ApplyCategory(shop.CategoryChanged{Category: c}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if _, err := x.ApplyProduct(shop.ProductChanged{Product: products[i]}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(rounds int) {
		m := newNaive(products, cats)
		for range rounds {
			compareWithNaive(t, x, m, randomQuery(rng, cats, brands))
		}
		// Every product in the whole catalogue, by cursor.
		for _, sort := range []string{filter.SortNewest, filter.SortPriceAsc, filter.SortPriceDesc, filter.SortTitle} {
			q := filter.Query{Sort: sort, Limit: 100}
			var ids []string
			for page := 0; ; page++ {
				res, err := x.Query(q)
				if err != nil {
					t.Fatal(err)
				}
				for _, it := range res.Items {
					ids = append(ids, it.ID)
				}
				if res.NextCursor == "" {
					break
				}
				q.Cursor = res.NextCursor
			}
			want := m.query(filter.Query{Sort: sort, Limit: n})
			if !slices.Equal(ids, want.ids) {
				t.Fatalf("cursor walk by %s: %d ids, naive %d", sort, len(ids), len(want.ids))
			}
		}
	}
	check(400)

	// Random changes: updates (new version, new values), unpublishing,
	// deletions, stale versions; then check again.
	for step := range 400 {
		if step%100 == 50 {
			// Move a middle category, with its subtree, under another
			// root: the category service announces every moved category.
			mid := fmt.Sprintf("root-%d-%d", rng.IntN(2), rng.IntN(3))
			to := fmt.Sprintf("root-%d", rng.IntN(2))
			for j, c := range cats {
				switch {
				case c.ID == mid:
					c.ParentID, c.Ancestors = to, []string{to}
				case c.ParentID == mid:
					c.Ancestors = []string{to, mid}
				default:
					continue
				}
				c.Version++
				cats[j] = c
				if ok, err := x.ApplyCategory(shop.CategoryChanged{Category: c}); !ok || err != nil {
					t.Fatalf("move %s: %v, %v", c.ID, ok, err)
				}
			}
		}
		i := rng.IntN(n)
		p := products[i]
		if p.Status == "gone" {
			continue
		}
		switch rng.IntN(5) {
		case 0: // delete: the event carries the product as it was
			if _, err := x.ApplyProduct(shop.ProductChanged{Product: p, Deleted: true}); err != nil {
				t.Fatal(err)
			}
			products[i].Status = "gone"
		case 1: // stale: an older version changes nothing
			old := genProduct(rng, i, leaves, brands)
			old.Version = p.Version - 1
			if applied, _ := x.ApplyProduct(shop.ProductChanged{Product: old}); applied {
				t.Fatalf("older version %d applied over %d", old.Version, p.Version)
			}
		default:
			np := genProduct(rng, i, leaves, brands)
			np.Version = p.Version + 1
			np.UpdatedAt = p.UpdatedAt.Add(time.Hour)
			if applied, _ := x.ApplyProduct(shop.ProductChanged{Product: np}); !applied {
				t.Fatalf("newer version not applied")
			}
			np.UpdatedAt = p.UpdatedAt // newest sorts by first-seen time
			products[i] = np
		}
	}
	check(400)
}

func TestIndexIdempotence(t *testing.T) {
	x := filter.NewIndex()
	p := shop.ProductSnapshot{ID: "p1", Title: "Red Shirt", Status: shop.StatusPublished, Price: shop.Money{Amount: 1000, Currency: "EUR"}, Version: 2}
	if ok, err := x.ApplyProduct(shop.ProductChanged{Product: p}); !ok || err != nil {
		t.Fatalf("first apply = %v, %v", ok, err)
	}
	if ok, _ := x.ApplyProduct(shop.ProductChanged{Product: p}); ok {
		t.Fatal("same version applied twice")
	}
	old := p
	old.Version, old.Title = 1, "Old Title"
	if ok, _ := x.ApplyProduct(shop.ProductChanged{Product: old}); ok {
		t.Fatal("older version applied")
	}
	if ok, _ := x.ApplyProduct(shop.ProductChanged{Product: p, Deleted: true}); !ok {
		t.Fatal("deletion at the same version not applied")
	}
	if x.Len() != 0 {
		t.Fatalf("Len after delete = %d", x.Len())
	}
	// A redelivered older update cannot resurrect the product.
	if ok, _ := x.ApplyProduct(shop.ProductChanged{Product: p}); ok {
		t.Fatal("update at the deleted version applied")
	}
	if ok, _ := x.ApplyProduct(shop.ProductChanged{Product: old}); ok || x.Len() != 0 {
		t.Fatal("older version resurrected a deleted product")
	}
	if _, err := x.ApplyProduct(shop.ProductChanged{}); !errors.Is(err, shop.ErrInvalid) {
		t.Fatalf("snapshot without id: %v", err)
	}
}

// TestIndexConcurrent applies changes while queries run (run it with -race)
// and then checks the result against the naive scan.
func TestIndexConcurrent(t *testing.T) {
	const n, brands = 300, 5
	cats := genCategories(2, 2, 1)
	leaves := leavesOf(cats)
	x := filter.NewIndex()
	for _, c := range cats {
		x.ApplyCategory(shop.CategoryChanged{Category: c})
	}
	products := make([]shop.ProductSnapshot, n)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range products {
		products[i] = genProduct(rng, i, leaves, brands)
		x.ApplyProduct(shop.ProductChanged{Product: products[i]})
	}
	// Each writer owns a share of the products and leaves its last version.
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for range 200 {
				i := w + 3*rng.IntN(n/3)
				np := genProduct(rng, i, leaves, brands)
				np.Version = products[i].Version + 1
				np.UpdatedAt = products[i].UpdatedAt
				if _, err := x.ApplyProduct(shop.ProductChanged{Product: np}); err != nil {
					t.Error(err)
				}
				products[i] = np
			}
		}()
	}
	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 10))
			for range 200 {
				if _, err := x.Query(randomQuery(rng, cats, brands)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	m := newNaive(products, cats)
	for range 200 {
		compareWithNaive(t, x, m, randomQuery(rng, cats, brands))
	}
}

// TestFacetValueLimit checks that a facet lists at most MaxFacetValues
// values, the most frequent and the picked ones.
func TestFacetValueLimit(t *testing.T) {
	x := filter.NewIndex()
	n := filter.MaxFacetValues + 50
	for i := range n {
		attrs := map[string]any{"serial": float64(i)}
		if i%2 == 0 {
			attrs["serial"] = []any{float64(i), "even"}
		}
		x.ApplyProduct(shop.ProductChanged{Product: shop.ProductSnapshot{ID: fmt.Sprint(i), Status: shop.StatusPublished, Attributes: attrs, Version: 1}})
	}
	res, err := x.Query(filter.Query{Attributes: []filter.AttributeFilter{{Code: "serial", Values: []string{"7"}}}})
	if err != nil {
		t.Fatal(err)
	}
	f := res.Facets[0]
	if len(f.Values) != filter.MaxFacetValues || f.Omitted != n+1-filter.MaxFacetValues {
		t.Fatalf("%d values, %d omitted", len(f.Values), f.Omitted)
	}
	if f.Kind != filter.KindString {
		t.Errorf("kind of a mixed attribute = %s", f.Kind)
	}
	var sawEven, sawSeven bool
	for _, v := range f.Values {
		sawEven = sawEven || v.Value == "even" && v.Count == (n+1)/2
		sawSeven = sawSeven || v.Value == "7" && v.Selected && v.Count == 1
	}
	if !sawEven || !sawSeven {
		t.Errorf("the most frequent or the picked value is missing: %+v", f.Values[:5])
	}
	if *f.Min != 0 || *f.Max != float64(n-1) {
		t.Errorf("min, max = %v, %v, want them over every value", *f.Min, *f.Max)
	}
}
