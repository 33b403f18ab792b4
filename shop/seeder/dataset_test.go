package seeder_test

import (
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/attribute"
	"github.com/shopbus/shopbus/shop/catalog/option"
	"github.com/shopbus/shopbus/shop/seeder"
	"github.com/shopbus/shopbus/transport"
)

func mustDataset(t *testing.T, s int64, n int) *seeder.Dataset {
	t.Helper()
	ds, err := seeder.NewDataset(s, n)
	if err != nil {
		t.Fatalf("NewDataset(%d, %d): %v", s, n, err)
	}
	return ds
}

func TestDatasetDeterministic(t *testing.T) {
	a, b, c := mustDataset(t, 42, 200), mustDataset(t, 42, 200), mustDataset(t, 43, 200)
	if !reflect.DeepEqual(a.Categories, b.Categories) {
		t.Error("the same seed gave different category trees")
	}
	for i := range a.Products {
		if !reflect.DeepEqual(a.Product(i), b.Product(i)) {
			t.Fatalf("the same seed gave different product %d:\n%+v\n%+v", i, a.Product(i), b.Product(i))
		}
	}
	for i := range a.Articles {
		if !reflect.DeepEqual(a.Article(i), b.Article(i)) {
			t.Fatalf("the same seed gave different article %d", i)
		}
	}
	// Another seed: a different shop (almost every product differs).
	same := 0
	for i := range a.Products {
		pa, pc := a.Product(i).Request, c.Product(i).Request
		if pa.Slug == pc.Slug || pa.Price == pc.Price && pa.Title == pc.Title {
			same++
		}
	}
	if same > a.Products/10 {
		t.Errorf("seeds 42 and 43 share %d of %d products", same, a.Products)
	}
	if reflect.DeepEqual(a.Categories, c.Categories) {
		t.Error("seeds 42 and 43 gave the same category tree")
	}
	// A larger run of the same seed starts with the same products.
	big := mustDataset(t, 42, 1000)
	for i := range a.Products {
		if !reflect.DeepEqual(a.Product(i), big.Product(i)) {
			t.Fatalf("product %d differs between 200 and 1000 products", i)
		}
	}
	if !reflect.DeepEqual(a.Categories, big.Categories) {
		t.Error("the category tree depends on the number of products")
	}
}

func TestDatasetValid(t *testing.T) {
	defs := map[string]attribute.CreateRequest{}
	for _, seedValue := range []int64{0, 1, -7, 1 << 40} {
		ds := mustDataset(t, seedValue, 2000)
		for _, a := range ds.Attributes {
			defs[a.Code] = a
		}
		// Three levels; unique, valid slugs; parents first.
		seen := map[string]seeder.CategorySpec{}
		levels := map[int]int{}
		for _, c := range ds.Categories {
			if !validSlug(c.Slug) || seen[c.Slug].Slug != "" {
				t.Fatalf("seed %d: bad or duplicate category slug %q", seedValue, c.Slug)
			}
			if c.Level > 1 {
				p, ok := seen[c.ParentSlug]
				if !ok || p.Level != c.Level-1 {
					t.Fatalf("seed %d: category %q comes before its parent %q", seedValue, c.Slug, c.ParentSlug)
				}
			} else if c.ParentSlug != "" {
				t.Fatalf("root %q has a parent", c.Slug)
			}
			seen[c.Slug] = c
			levels[c.Level]++
		}
		if levels[1] < 3 || levels[2] < levels[1]*2 || levels[3] < levels[2]*2 || len(levels) != 3 {
			t.Fatalf("seed %d: category levels %v", seedValue, levels)
		}

		slugs, skus := map[string]bool{}, map[string]bool{}
		for i := range ds.Products {
			p := ds.Product(i)
			r := p.Request
			if c := seen[p.CategorySlug]; c.Level != 3 {
				t.Fatalf("product %d filed under %q, not a leaf", i, p.CategorySlug)
			}
			if !validSlug(r.Slug) || slugs[r.Slug] {
				t.Fatalf("product %d: bad or duplicate slug %q", i, r.Slug)
			}
			slugs[r.Slug] = true
			if len(r.SKU) > option.MaxSKUBaseLen || !option.ValidSKUBase(r.SKU) || skus[r.SKU] {
				t.Fatalf("product %d: bad or duplicate SKU %q", i, r.SKU)
			}
			skus[r.SKU] = true
			if r.Price.Validate("price") != nil || r.Price.Amount <= 0 || r.Price.Currency != seeder.Currency {
				t.Fatalf("product %d: price %+v", i, r.Price)
			}
			if r.Status != shop.StatusPublished || r.Title == "" || len(r.Title) > 200 || r.Description == "" {
				t.Fatalf("product %d: %+v", i, r)
			}
			for code, v := range r.Attributes {
				def, ok := defs[code]
				if !ok {
					t.Fatalf("product %d: unknown attribute %q", i, code)
				}
				if !valueFits(def, v) {
					t.Fatalf("product %d: %s=%v does not fit %+v", i, code, v, def)
				}
			}
			want := 1
			for _, g := range r.OptionGroups {
				want *= len(r.OptionValues[g])
			}
			if len(r.OptionGroups) == 0 {
				want = 0
			}
			if p.Variants != want {
				t.Fatalf("product %d: Variants %d, want %d", i, p.Variants, want)
			}
			for _, vp := range r.VariantPrices {
				if vp.Price.Amount <= r.Price.Amount || vp.Options["size"] != "xl" {
					t.Fatalf("product %d: variant price %+v for base %v", i, vp, r.Price)
				}
			}
		}
		for i := range ds.Articles {
			a := ds.Article(i)
			if !validSlug(a.Slug) || slugs["a:"+a.Slug] || len(a.Tags) < 2 || a.Status != "published" || a.PublishedAt.IsZero() {
				t.Fatalf("article %d: %+v", i, a)
			}
			slugs["a:"+a.Slug] = true
			if !strings.Contains(a.Body, "](/products/") {
				t.Errorf("article %d links no product", i)
			}
		}
	}
}

func TestDatasetSizes(t *testing.T) {
	for _, n := range []int{-1, seeder.MaxProducts + 1} {
		_, err := seeder.NewDataset(1, n)
		var e *transport.Error
		if !errors.As(err, &e) || e.Code != transport.CodeInvalid || e.Field("products") == "" {
			t.Errorf("NewDataset(1, %d): %v, want invalid products", n, err)
		}
	}
	if ds := mustDataset(t, 1, 0); ds.Products != seeder.DefaultProducts || ds.Articles != seeder.ArticlesFor(seeder.DefaultProducts) {
		t.Errorf("default size: %d products, %d articles", ds.Products, ds.Articles)
	}
	ds := mustDataset(t, 1, seeder.MaxProducts)
	if ds.Articles != seeder.MaxArticles {
		t.Errorf("articles of the largest run: %d", ds.Articles)
	}
	last := ds.Product(seeder.MaxProducts - 1)
	if !strings.HasSuffix(last.Request.Slug, "-100000") {
		t.Errorf("last product slug %q", last.Request.Slug)
	}
}

func validSlug(s string) bool { return shop.ValidSlug(s, 96) }

func valueFits(def attribute.CreateRequest, v any) bool {
	switch def.Type {
	case attribute.TypeText:
		s, ok := v.(string)
		return ok && s != ""
	case attribute.TypeEnum:
		s, ok := v.(string)
		return ok && slices.Contains(def.Values, s)
	case attribute.TypeNumber:
		f, ok := v.(float64)
		return ok && f > 0
	case attribute.TypeBoolean:
		_, ok := v.(bool)
		return ok
	}
	return false
}

// TestDatasetStock checks the stock a dataset gives: deterministic,
// independent of the order of the variants' SKUs, in the level's range,
// the product's own SKU the sum of its variants', and every level
// present, including plentiful products with one variant sold out (never
// all of them).
func TestDatasetStock(t *testing.T) {
	a, b := mustDataset(t, 42, 200), mustDataset(t, 42, 200)
	levels := map[seeder.StockLevel]int{}
	partlyOut := 0
	for i := range a.Products {
		spec := a.Product(i)
		var skus []string
		for j := range spec.Variants {
			skus = append(skus, spec.Request.SKU+"-V"+strconv.Itoa(j))
		}
		variants, own := a.Stock(i, skus)
		again, ownAgain := b.Stock(i, skus)
		if !slices.Equal(variants, again) || own != ownAgain {
			t.Fatalf("product %d: stock %v %d, then %v %d", i, variants, own, again, ownAgain)
		}
		reversed := slices.Clone(skus)
		slices.Reverse(reversed)
		back, _ := a.Stock(i, reversed)
		slices.Reverse(back)
		if !slices.Equal(back, variants) {
			t.Errorf("product %d: the amounts depend on the order of the SKUs: %v, reversed %v", i, variants, back)
		}
		level := a.StockLevel(i)
		levels[level]++
		sellable := variants
		if len(skus) == 0 {
			sellable = []int64{own}
		} else {
			var sum int64
			for _, v := range variants {
				sum += v
			}
			if own != sum {
				t.Errorf("product %d: own SKU %d, variants %v", i, own, variants)
			}
		}
		zero := 0
		for _, u := range sellable {
			ok := false
			switch level {
			case seeder.StockSoldOut:
				ok = u == 0
			case seeder.StockLow:
				ok = u >= 1 && u <= 5
			case seeder.StockPlenty:
				ok = u == 0 || u >= 20 && u <= 100
			}
			if !ok {
				t.Errorf("product %d, %s: %d units", i, level, u)
			}
			if u == 0 {
				zero++
			}
		}
		if level == seeder.StockPlenty && zero == len(sellable) {
			t.Errorf("plentiful product %d is sold out: %v", i, sellable)
		}
		if level == seeder.StockPlenty && zero > 0 {
			partlyOut++
		}
	}
	if levels[seeder.StockSoldOut] != 8 || levels[seeder.StockLow] != 20 || levels[seeder.StockPlenty] != 172 || partlyOut == 0 {
		t.Errorf("levels %v, %d plentiful products with a variant sold out", levels, partlyOut)
	}
	// The default shop shows every level.
	d := mustDataset(t, seeder.DefaultSeed, 0)
	seen := map[seeder.StockLevel]bool{}
	for i := range d.Products {
		seen[d.StockLevel(i)] = true
	}
	if len(seen) != 3 {
		t.Errorf("the default shop's stock levels: %v", seen)
	}
}
