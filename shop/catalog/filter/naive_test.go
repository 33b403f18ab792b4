package filter_test

// A naive, full-scan implementation of the filter semantics: the oracle of
// the randomised test and the baseline of the benchmark. It loops over every
// product, applies the filters with maps and counts facets in maps.

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/filter"
)

type naiveValue struct {
	kind byte // 's', 'n', 'b'
	text string
	num  float64
}

type naiveProduct struct {
	id, slug, title, lower, currency string
	price                            int64
	created                          int64
	published                        bool
	cats                             []string
	attrs                            map[string][]naiveValue
}

type naiveModel struct {
	products []naiveProduct
	cats     map[string]shop.CategorySnapshot
}

func newNaive(products []shop.ProductSnapshot, cats []shop.CategorySnapshot) *naiveModel {
	m := &naiveModel{cats: map[string]shop.CategorySnapshot{}}
	for _, c := range cats {
		m.cats[c.ID] = c
	}
	for _, p := range products {
		np := naiveProduct{
			id: p.ID, slug: p.Slug, title: p.Title, lower: strings.ToLower(p.Title), currency: p.Price.Currency,
			price: p.Price.Amount, created: p.UpdatedAt.UnixNano(), published: p.Status == shop.StatusPublished,
			cats: p.CategoryIDs, attrs: map[string][]naiveValue{},
		}
		for code, v := range p.Attributes {
			var vs []any
			if l, ok := v.([]any); ok {
				vs = l
			} else {
				vs = []any{v}
			}
			for _, e := range vs {
				var nv naiveValue
				switch e := e.(type) {
				case string:
					nv = naiveValue{kind: 's', text: e}
				case bool:
					nv = naiveValue{kind: 'b', text: strconv.FormatBool(e)}
				case float64:
					nv = naiveValue{kind: 'n', text: strconv.FormatFloat(e, 'g', -1, 64), num: e}
				default:
					continue
				}
				if !slices.Contains(np.attrs[code], nv) {
					np.attrs[code] = append(np.attrs[code], nv)
				}
			}
		}
		m.products = append(m.products, np)
	}
	return m
}

// under reports whether category c is root or below it.
func (m *naiveModel) under(c, root string) bool {
	if c == root {
		return true
	}
	cs, ok := m.cats[c]
	return ok && (slices.Contains(cs.Ancestors, root) || cs.ParentID == root)
}

func (m *naiveModel) inSubtree(p *naiveProduct, root string) bool {
	for _, c := range p.cats {
		if m.under(c, root) {
			return true
		}
	}
	return false
}

func matchesFilter(vals []naiveValue, f filter.AttributeFilter) bool {
	for _, v := range vals {
		for _, raw := range f.Values {
			switch v.kind {
			case 's', 'b':
				if v.text == raw {
					return true
				}
			case 'n':
				if n, err := strconv.ParseFloat(strings.TrimSpace(raw), 64); err == nil && n == v.num {
					return true
				}
			}
		}
		if v.kind == 'n' && (f.Min != nil || f.Max != nil) {
			if (f.Min == nil || v.num >= *f.Min) && (f.Max == nil || v.num <= *f.Max) {
				return true
			}
		}
	}
	return false
}

type naiveResult struct {
	total  int
	ids    []string // the page
	facets map[string]map[string]int
	cats   map[string]int
}

// query answers q by scanning every product. categoryID must be an id (the
// oracle does not resolve slugs).
func (m *naiveModel) query(q filter.Query) naiveResult {
	res := naiveResult{facets: map[string]map[string]int{}, cats: map[string]int{}}
	terms := strings.Fields(strings.ToLower(q.Text))
	var children []string
	for id, c := range m.cats {
		if c.ParentID == q.CategoryID {
			children = append(children, id)
		}
	}
	var hits []*naiveProduct
	pass := make([]bool, len(q.Attributes))
	for i := range m.products {
		p := &m.products[i]
		if !p.published {
			continue
		}
		if q.CategoryID != "" && !m.inSubtree(p, q.CategoryID) {
			continue
		}
		if q.Currency != "" && p.currency != q.Currency {
			continue
		}
		if q.Price != nil && (q.Price.Min != nil && p.price < *q.Price.Min || q.Price.Max != nil && p.price > *q.Price.Max) {
			continue
		}
		textOK := true
		for _, t := range terms {
			if !strings.Contains(p.lower, t) {
				textOK = false
				break
			}
		}
		if !textOK {
			continue
		}
		failed, failedAt := 0, -1
		for j, f := range q.Attributes {
			pass[j] = matchesFilter(p.attrs[f.Code], f)
			if !pass[j] {
				failed++
				failedAt = j
			}
		}
		if failed > 1 {
			continue
		}
		for code, vals := range p.attrs {
			j := slices.IndexFunc(q.Attributes, func(f filter.AttributeFilter) bool { return f.Code == code })
			if failed == 1 && j != failedAt {
				continue
			}
			fm := res.facets[code]
			if fm == nil {
				fm = map[string]int{}
				res.facets[code] = fm
			}
			for _, v := range vals {
				fm[v.text]++
			}
		}
		if failed == 0 {
			hits = append(hits, p)
			for _, c := range children {
				if m.inSubtree(p, c) {
					res.cats[c]++
				}
			}
		}
	}
	res.total = len(hits)
	slices.SortFunc(hits, func(a, b *naiveProduct) int {
		var c int
		switch q.Sort {
		case "", filter.SortNewest:
			c = cmp.Compare(b.created, a.created)
		case filter.SortPriceAsc:
			c = cmp.Compare(a.price, b.price)
		case filter.SortPriceDesc:
			c = cmp.Compare(b.price, a.price)
		case filter.SortTitle:
			c = strings.Compare(a.lower, b.lower)
		}
		return cmp.Or(c, strings.Compare(a.id, b.id))
	})
	limit := q.Limit
	if limit == 0 {
		limit = filter.DefaultLimit
	}
	for i := q.Offset; i < len(hits) && i < q.Offset+limit; i++ {
		res.ids = append(res.ids, hits[i].id)
	}
	return res
}

// ---- generated catalogues ----

var (
	colors    = []string{"red", "blue", "green", "black", "white", "yellow", "purple", "orange", "grey", "pink", "brown", "navy"}
	sizes     = []string{"xs", "s", "m", "l", "xl", "xxl", "3xl", "4xl"}
	materials = []string{"cotton", "wool", "silk", "linen", "leather", "denim", "polyester", "nylon", "cashmere", "bamboo"}
	words     = []string{"classic", "summer", "winter", "shirt", "jacket", "boots", "dress", "scarf", "trousers", "hat", "cosy", "light", "urban", "trail", "vintage", "slim", "oversized", "organic"}
)

// genCategories makes roots root-0..root-(r-1), each with k children, each
// child with g grandchildren.
func genCategories(r, k, g int) []shop.CategorySnapshot {
	var out []shop.CategorySnapshot
	for i := range r {
		root := fmt.Sprintf("root-%d", i)
		out = append(out, shop.CategorySnapshot{ID: root, Slug: root, Name: "Root " + strconv.Itoa(i), Version: 1})
		for j := range k {
			child := fmt.Sprintf("%s-%d", root, j)
			out = append(out, shop.CategorySnapshot{ID: child, Slug: child, Name: "Child " + child, ParentID: root, Ancestors: []string{root}, Version: 1})
			for l := range g {
				gc := fmt.Sprintf("%s-%d", child, l)
				out = append(out, shop.CategorySnapshot{ID: gc, Slug: gc, Name: "Leaf " + gc, ParentID: child, Ancestors: []string{root, child}, Version: 1})
			}
		}
	}
	return out
}

// genProduct makes product i, deterministically from rng. leaves are the
// categories products go into; brands is how many brands there are.
func genProduct(rng *rand.Rand, i int, leaves []string, brands int) shop.ProductSnapshot {
	status := shop.StatusPublished
	if rng.IntN(10) == 0 {
		status = shop.StatusDraft
	}
	cats := []string{leaves[rng.IntN(len(leaves))]}
	if rng.IntN(5) == 0 {
		cats = append(cats, leaves[rng.IntN(len(leaves))])
	}
	title := words[rng.IntN(len(words))] + " " + colors[rng.IntN(len(colors))] + " " + words[rng.IntN(len(words))] + " " + strconv.Itoa(i)
	attrs := map[string]any{
		"brand":    fmt.Sprintf("brand-%02d", rng.IntN(brands)),
		"color":    colors[rng.IntN(len(colors))],
		"size":     sizes[rng.IntN(len(sizes))],
		"material": materials[rng.IntN(len(materials))],
		"weight":   float64(100 + 10*rng.IntN(200)),
		"in_stock": rng.IntN(3) != 0,
	}
	if rng.IntN(3) == 0 {
		attrs["tags"] = []any{words[rng.IntN(len(words))], words[rng.IntN(len(words))]}
	}
	if rng.IntN(4) == 0 {
		delete(attrs, "material")
	}
	return shop.ProductSnapshot{
		ID:          fmt.Sprintf("p-%06d", i),
		Slug:        fmt.Sprintf("product-%06d", i),
		Title:       title,
		Status:      status,
		Price:       shop.Money{Amount: int64(100 + rng.IntN(100000)), Currency: "EUR"},
		CategoryIDs: cats,
		Attributes:  attrs,
		Images:      []string{fmt.Sprintf("https://img.example/%d.jpg", i)},
		Version:     1,
		UpdatedAt:   time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(1_000_000)) * time.Second),
	}
}

func leavesOf(cats []shop.CategorySnapshot) []string {
	var leaves []string
	for _, c := range cats {
		isParent := slices.ContainsFunc(cats, func(o shop.CategorySnapshot) bool { return o.ParentID == c.ID })
		if !isParent {
			leaves = append(leaves, c.ID)
		}
	}
	return leaves
}

func ptr[T any](v T) *T { return &v }
