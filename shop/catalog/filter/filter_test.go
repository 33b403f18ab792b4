package filter_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/shoptest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/filter"
	"github.com/shopbus/shopbus/transport"
)

type fixture struct {
	bus      transport.Bus
	db       *mongo.Database
	srv      *filter.Server
	client   *filter.Client
	admin    context.Context // carries an admin session
	customer context.Context // carries a customer session
	opts     filter.Options
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newFixture runs the real auth service and the filter service on bus, the
// filter subscribed to events, and logs in an admin and a customer.
func newFixture(t *testing.T, bus transport.Bus, opts filter.Options) *fixture {
	t.Helper()
	a := shoptest.StartAuth(t, bus)
	opts.Auth = a.Client
	opts.Logger = quiet()
	f := &fixture{
		bus:      bus,
		db:       testenv.MongoDB(t, "filter"),
		client:   filter.NewClient(bus),
		admin:    a.Admin,
		customer: a.Customer,
		opts:     opts,
	}
	f.start(t)
	return f
}

// start opens a Server on the fixture's database (loading what it holds)
// and serves it on the bus.
func (f *fixture) start(t *testing.T) {
	t.Helper()
	srv, err := filter.New(f.db, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := filter.Bind(f.bus, srv)
	if err != nil {
		t.Fatal(err)
	}
	events, err := filter.Subscribe(f.bus, srv, transport.WithMaxAttempts(3), transport.WithRetryDelay(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	f.srv = srv
	t.Cleanup(func() { events.Close(); sub.Close() })
}

func publish(t *testing.T, bus transport.Bus, key string, body any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Publish(context.Background(), transport.Event{Key: key, Body: b}); err != nil {
		t.Fatalf("publish %s: %v", key, err)
	}
}

func publishProduct(t *testing.T, bus transport.Bus, p shop.ProductSnapshot) {
	t.Helper()
	publish(t, bus, shop.EventProductUpdated, shop.ProductChanged{Product: p, Occurred: p.UpdatedAt})
}

func deleteProduct(t *testing.T, bus transport.Bus, p shop.ProductSnapshot) {
	t.Helper()
	publish(t, bus, shop.EventProductDeleted, shop.ProductChanged{Product: p, Deleted: true, Occurred: p.UpdatedAt})
}

func publishCategory(t *testing.T, bus transport.Bus, c shop.CategorySnapshot) {
	t.Helper()
	publish(t, bus, shop.EventCategoryUpdated, shop.CategoryChanged{Category: c})
}

// waitHandled waits until srv has handled n events (applied or ignored).
func waitHandled(t *testing.T, srv *filter.Server, n int64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := srv.EventStats()
		if st.Applied+st.Ignored >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("events handled: %+v, want %d", st, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// eventually polls the query until check accepts the result.
func eventually(t *testing.T, c filter.Service, q filter.Query, check func(filter.Result) bool) filter.Result {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := c.Query(context.Background(), q)
		if err == nil && check(res) {
			return res
		}
		if time.Now().After(deadline) {
			t.Fatalf("query %+v: never as expected; last %+v, %v", q, res, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ids(res filter.Result) []string {
	out := []string{}
	for _, it := range res.Items {
		out = append(out, it.ID)
	}
	return out
}

func facetCounts(res filter.Result, code string) map[string]int {
	for _, f := range res.Facets {
		if f.Code == code {
			m := map[string]int{}
			for _, v := range f.Values {
				m[v.Value] = v.Count
			}
			return m
		}
	}
	return nil
}

func facet(res filter.Result, code string) *filter.Facet {
	for i := range res.Facets {
		if res.Facets[i].Code == code {
			return &res.Facets[i]
		}
	}
	return nil
}

func catCounts(res filter.Result) map[string]int {
	m := map[string]int{}
	for _, c := range res.Categories {
		m[c.Slug] = c.Count
	}
	return m
}

func mustQuery(t *testing.T, c filter.Service, q filter.Query) filter.Result {
	t.Helper()
	res, err := c.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("Query(%+v): %v", q, err)
	}
	return res
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func eqSlice(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func eqMap(t *testing.T, what string, got, want map[string]int) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) { // fmt prints maps sorted
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// ---- the catalogue of the rule tests ----

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var testCategories = []shop.CategorySnapshot{
	{ID: "c-clothing", Slug: "clothing", Name: "Clothing", Version: 1},
	{ID: "c-shirts", Slug: "shirts", Name: "Shirts", ParentID: "c-clothing", Ancestors: []string{"c-clothing"}, Version: 1},
	{ID: "c-shoes", Slug: "shoes", Name: "Shoes", ParentID: "c-clothing", Ancestors: []string{"c-clothing"}, Version: 1},
	{ID: "c-boots", Slug: "boots", Name: "Boots", ParentID: "c-shoes", Ancestors: []string{"c-clothing", "c-shoes"}, Version: 1},
	{ID: "c-garden", Slug: "garden", Name: "Garden", Version: 1},
	{ID: "c-empty", Slug: "empty", Name: "Empty", ParentID: "c-clothing", Ancestors: []string{"c-clothing"}, Version: 1},
}

func prod(id, title string, price int64, cats []string, attrs map[string]any, age int) shop.ProductSnapshot {
	return shop.ProductSnapshot{
		ID: id, Slug: strings.ReplaceAll(strings.ToLower(title), " ", "-"), Title: title,
		Status: shop.StatusPublished, Price: shop.Money{Amount: price, Currency: "EUR"},
		CategoryIDs: cats, Attributes: attrs, Images: []string{"https://img.test/" + id + ".jpg"},
		Version: 1, UpdatedAt: t0.Add(-time.Duration(age) * time.Hour),
	}
}

func testProducts() []shop.ProductSnapshot {
	draft := prod("p6", "Draft Red Shirt", 999, []string{"c-shirts"}, map[string]any{"color": "red"}, 0)
	draft.Status = shop.StatusDraft
	return []shop.ProductSnapshot{
		prod("p1", "Red Cotton Shirt", 1999, []string{"c-shirts"}, map[string]any{"color": "red", "size": "m", "weight": 200.0, "in_stock": true}, 6),
		prod("p2", "Blue Linen Shirt", 2999, []string{"c-shirts"}, map[string]any{"color": "blue", "size": "l", "weight": 180.0, "in_stock": true}, 5),
		prod("p3", "Red Leather Boots", 8999, []string{"c-boots"}, map[string]any{"color": "red", "size": "42", "weight": 900.0, "in_stock": true}, 4),
		prod("p4", "Black Running Shoes", 5999, []string{"c-shoes"}, map[string]any{"color": "black", "size": "l", "weight": 600.0, "in_stock": false}, 3),
		prod("p5", "Garden Hose", 2500, []string{"c-garden"}, map[string]any{"color": "green", "weight": 1500.0, "in_stock": true}, 2),
		draft,
		prod("p7", "Red Wool Shirt", 1999, []string{"c-shirts", "c-garden"}, map[string]any{"color": "red", "size": "s", "in_stock": true}, 1),
	}
}

// loadCatalogue publishes the test catalogue as events and waits until the
// read model shows it.
func loadCatalogue(t *testing.T, f *fixture) {
	t.Helper()
	for _, c := range testCategories {
		publishCategory(t, f.bus, c)
	}
	for _, p := range testProducts() {
		publishProduct(t, f.bus, p)
	}
	eventually(t, f.client, filter.Query{}, func(r filter.Result) bool {
		return r.Total == 6 && len(r.Categories) == 2 && r.Categories[0].Count == 5
	})
}

// TestQuery checks the query rules through the bus client.
func TestQuery(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := newFixture(t, bus, filter.Options{})
		loadCatalogue(t, f)
		c := f.client

		t.Run("everything published", func(t *testing.T) {
			res := mustQuery(t, c, filter.Query{Sort: filter.SortPriceAsc})
			eq(t, "total", res.Total, 6)
			eqSlice(t, "ids by price (ties by id)", ids(res), []string{"p1", "p7", "p5", "p2", "p4", "p3"})
			eqMap(t, "root categories", catCounts(res), map[string]int{"clothing": 5, "garden": 2})
			eq(t, "Category", res.Category == nil, true)
			eq(t, "limit", res.Limit, filter.DefaultLimit)
			got := res.Items[0]
			want := filter.Summary{ID: "p1", Slug: "red-cotton-shirt", Title: "Red Cotton Shirt", Price: shop.Money{Amount: 1999, Currency: "EUR"}, Image: "https://img.test/p1.jpg"}
			eq(t, "summary", got, want)
			eqMap(t, "color facet", facetCounts(res, "color"), map[string]int{"black": 1, "blue": 1, "green": 1, "red": 3})
			eqMap(t, "in_stock facet", facetCounts(res, "in_stock"), map[string]int{"false": 1, "true": 5})
			eq(t, "in_stock kind", facet(res, "in_stock").Kind, filter.KindBool)
			eq(t, "color kind", facet(res, "color").Kind, filter.KindString)
			wf := facet(res, "weight")
			eq(t, "weight kind", wf.Kind, filter.KindNumber)
			eq(t, "weight min", *wf.Min, 180.0)
			eq(t, "weight max", *wf.Max, 1500.0)
			var wv []string
			for _, v := range wf.Values {
				wv = append(wv, v.Value)
			}
			eqSlice(t, "weight values sorted numerically", wv, []string{"180", "200", "600", "900", "1500"})
			eq(t, "price min", res.Price.Min, shop.Money{Amount: 1999, Currency: "EUR"})
			eq(t, "price max", res.Price.Max, shop.Money{Amount: 8999, Currency: "EUR"})
			var codes []string
			for _, f := range res.Facets {
				codes = append(codes, f.Code)
			}
			eqSlice(t, "facets by code", codes, []string{"color", "in_stock", "size", "weight"})
		})

		t.Run("category subtree", func(t *testing.T) {
			res := mustQuery(t, c, filter.Query{CategoryID: "c-clothing", Sort: filter.SortPriceAsc})
			eq(t, "total", res.Total, 5)
			eqSlice(t, "ids", ids(res), []string{"p1", "p7", "p2", "p4", "p3"})
			eqMap(t, "subcategories", catCounts(res), map[string]int{"empty": 0, "shirts": 3, "shoes": 2})
			eq(t, "category", *res.Category, filter.CategoryCount{ID: "c-clothing", Slug: "clothing", Name: "Clothing", Count: 5})
			eqMap(t, "color facet in clothing", facetCounts(res, "color"), map[string]int{"black": 1, "blue": 1, "red": 3})

			res = mustQuery(t, c, filter.Query{CategorySlug: "shoes"})
			eq(t, "shoes total (boots below count)", res.Total, 2)
			eqMap(t, "shoes subcategories", catCounts(res), map[string]int{"boots": 1})
			res = mustQuery(t, c, filter.Query{CategorySlug: "garden"})
			eqSlice(t, "garden (a product in two categories)", ids(res), []string{"p7", "p5"})
		})

		t.Run("attribute filters", func(t *testing.T) {
			res := mustQuery(t, c, filter.Query{Attributes: []filter.AttributeFilter{{Code: "color", Values: []string{"red"}}}, Sort: filter.SortTitle})
			eqSlice(t, "red", ids(res), []string{"p1", "p3", "p7"})
			// The counts for color ignore the color filter itself.
			eqMap(t, "color facet", facetCounts(res, "color"), map[string]int{"black": 1, "blue": 1, "green": 1, "red": 3})
			eqMap(t, "size facet under red", facetCounts(res, "size"), map[string]int{"42": 1, "m": 1, "s": 1})
			eqMap(t, "categories under red", catCounts(res), map[string]int{"clothing": 3, "garden": 1})
			if fv := facet(res, "color").Values; !slices.ContainsFunc(fv, func(v filter.FacetValue) bool { return v.Value == "red" && v.Selected }) {
				t.Errorf("red not marked selected: %+v", fv)
			}

			// Values of one attribute OR-ed, attributes AND-ed.
			q := filter.Query{Attributes: []filter.AttributeFilter{
				{Code: "color", Values: []string{"red", "blue"}},
				{Code: "size", Values: []string{"m", "l"}},
			}, Sort: filter.SortPriceAsc}
			res = mustQuery(t, c, q)
			eqSlice(t, "(red|blue)&(m|l)", ids(res), []string{"p1", "p2"})
			eqMap(t, "color counts under the size filter", facetCounts(res, "color"), map[string]int{"black": 1, "blue": 1, "red": 1})
			eqMap(t, "size counts under the color filter", facetCounts(res, "size"), map[string]int{"42": 1, "l": 1, "m": 1, "s": 1})
			eqMap(t, "weight counts under both", facetCounts(res, "weight"), map[string]int{"180": 1, "200": 1})

			// A picked value nobody has shows with a zero count.
			res = mustQuery(t, c, filter.Query{Attributes: []filter.AttributeFilter{{Code: "color", Values: []string{"purple"}}}})
			eq(t, "purple total", res.Total, 0)
			eqMap(t, "color facet with purple", facetCounts(res, "color"), map[string]int{"black": 1, "blue": 1, "green": 1, "purple": 0, "red": 3})
			eq(t, "no size facet for an empty result", facet(res, "size") == nil, true)
			res = mustQuery(t, c, filter.Query{Attributes: []filter.AttributeFilter{{Code: "fabric", Values: []string{"silk"}}}})
			eq(t, "unknown attribute total", res.Total, 0)
			eqMap(t, "unknown attribute facet", facetCounts(res, "fabric"), map[string]int{"silk": 0})

			// Booleans and numbers by value.
			res = mustQuery(t, c, filter.Query{Attributes: []filter.AttributeFilter{{Code: "in_stock", Values: []string{"false"}}}})
			eqSlice(t, "in_stock=false", ids(res), []string{"p4"})
			res = mustQuery(t, c, filter.Query{Attributes: []filter.AttributeFilter{{Code: "weight", Values: []string{"200.0", "1.5e3"}}}, Sort: filter.SortTitle})
			eqSlice(t, "weight in {200, 1500}", ids(res), []string{"p5", "p1"})
		})

		t.Run("numeric range", func(t *testing.T) {
			q := filter.Query{Attributes: []filter.AttributeFilter{{Code: "weight", Min: ptr(180.0), Max: ptr(600.0)}}, Sort: filter.SortPriceAsc}
			res := mustQuery(t, c, q)
			eqSlice(t, "180 <= weight <= 600", ids(res), []string{"p1", "p2", "p4"})
			wf := facet(res, "weight")
			eq(t, "weight min (own filter excluded)", *wf.Min, 180.0)
			eq(t, "weight max (own filter excluded)", *wf.Max, 1500.0)
			res = mustQuery(t, c, filter.Query{Attributes: []filter.AttributeFilter{{Code: "weight", Min: ptr(601.0)}}, Sort: filter.SortPriceAsc})
			eqSlice(t, "weight >= 601", ids(res), []string{"p5", "p3"})
			res = mustQuery(t, c, filter.Query{Attributes: []filter.AttributeFilter{{Code: "color", Min: ptr(0.0)}}})
			eq(t, "a range over a text attribute matches nothing", res.Total, 0)
		})

		t.Run("price range", func(t *testing.T) {
			res := mustQuery(t, c, filter.Query{Price: &filter.PriceRange{Min: ptr(int64(1999)), Max: ptr(int64(2999))}, Sort: filter.SortPriceDesc})
			eqSlice(t, "1999 <= price <= 2999, bounds included", ids(res), []string{"p2", "p5", "p1", "p7"})
			eq(t, "price stats ignore the price filter", res.Price.Max.Amount, int64(8999))
			eqMap(t, "color facet under price", facetCounts(res, "color"), map[string]int{"blue": 1, "green": 1, "red": 2})
			res = mustQuery(t, c, filter.Query{Price: &filter.PriceRange{Min: ptr(int64(3000))}, Currency: "EUR", Sort: filter.SortPriceAsc})
			eqSlice(t, "price >= 3000", ids(res), []string{"p4", "p3"})
			res = mustQuery(t, c, filter.Query{Currency: "USD"})
			eq(t, "no USD products", res.Total, 0)
			eq(t, "no price stats", res.Price == nil, true)
		})

		t.Run("text", func(t *testing.T) {
			res := mustQuery(t, c, filter.Query{Text: "RED shi", Sort: filter.SortTitle})
			eqSlice(t, "every word, any case, prefix", ids(res), []string{"p1", "p7"})
			res = mustQuery(t, c, filter.Query{Text: "oot"})
			eqSlice(t, "substring", ids(res), []string{"p3"})
			res = mustQuery(t, c, filter.Query{Text: "draft"})
			eq(t, "drafts stay invisible", res.Total, 0)
			res = mustQuery(t, c, filter.Query{Text: "red", Attributes: []filter.AttributeFilter{{Code: "color", Values: []string{"black"}}}})
			eqMap(t, "color counts under the text", facetCounts(res, "color"), map[string]int{"black": 0, "red": 3})
		})

		t.Run("sorting", func(t *testing.T) {
			eqSlice(t, "newest (default)", ids(mustQuery(t, c, filter.Query{})), []string{"p7", "p5", "p4", "p3", "p2", "p1"})
			eqSlice(t, "title", ids(mustQuery(t, c, filter.Query{Sort: filter.SortTitle})), []string{"p4", "p2", "p5", "p1", "p3", "p7"})
			eqSlice(t, "price desc", ids(mustQuery(t, c, filter.Query{Sort: filter.SortPriceDesc})), []string{"p3", "p4", "p2", "p5", "p1", "p7"})
		})

		t.Run("paging", func(t *testing.T) {
			res := mustQuery(t, c, filter.Query{Sort: filter.SortPriceAsc, Offset: 2, Limit: 2})
			eqSlice(t, "offset 2 limit 2", ids(res), []string{"p5", "p2"})
			eq(t, "total stays", res.Total, 6)
			eq(t, "offset echoed", res.Offset, 2)
			res = mustQuery(t, c, filter.Query{Sort: filter.SortPriceAsc, Offset: 10})
			eq(t, "past the end", len(res.Items), 0)

			var walked []string
			q := filter.Query{Sort: filter.SortPriceAsc, Limit: 4}
			res = mustQuery(t, c, q)
			walked = append(walked, ids(res)...)
			if res.NextCursor == "" {
				t.Fatal("no cursor after a full first page")
			}
			q.Cursor = res.NextCursor
			res = mustQuery(t, c, q)
			walked = append(walked, ids(res)...)
			eq(t, "last page has no cursor", res.NextCursor, "")
			eqSlice(t, "cursor walk", walked, []string{"p1", "p7", "p5", "p2", "p4", "p3"})

			// A cursor of another sort is refused.
			_, err := c.Query(context.Background(), filter.Query{Sort: filter.SortTitle, Cursor: q.Cursor})
			if !errors.Is(err, shop.ErrInvalid) {
				t.Errorf("cursor of another sort: %v", err)
			}
		})

		t.Run("unknown category", func(t *testing.T) {
			for _, q := range []filter.Query{{CategoryID: "c-nope"}, {CategorySlug: "nope"}} {
				if _, err := c.Query(context.Background(), q); !errors.Is(err, shop.ErrNotFound) {
					t.Errorf("Query(%+v) = %v, want not_found", q, err)
				}
			}
			res := mustQuery(t, c, filter.Query{CategorySlug: "empty"})
			eq(t, "an empty category is found", res.Total, 0)
		})

		t.Run("invalid queries", func(t *testing.T) {
			cases := []struct {
				q     filter.Query
				field string
			}{
				{filter.Query{Limit: filter.MaxLimit + 1}, "limit"},
				{filter.Query{Limit: -1}, "limit"},
				{filter.Query{Offset: -1}, "offset"},
				{filter.Query{Sort: "random"}, "sort"},
				{filter.Query{Attributes: []filter.AttributeFilter{{Code: "$where", Values: []string{"1"}}}}, "attributes[0].code"},
				{filter.Query{Attributes: []filter.AttributeFilter{{Code: "", Values: []string{"1"}}}}, "attributes[0].code"},
				{filter.Query{Attributes: []filter.AttributeFilter{{Code: "color"}}}, "attributes[0]"},
				{filter.Query{Attributes: []filter.AttributeFilter{{Code: "color", Values: []string{"a"}}, {Code: "color", Values: []string{"b"}}}}, "attributes[1].code"},
				{filter.Query{Attributes: []filter.AttributeFilter{{Code: "weight", Min: ptr(5.0), Max: ptr(1.0)}}}, "attributes[0].max"},
				{filter.Query{Attributes: []filter.AttributeFilter{{Code: "color", Values: []string{"a\x00b"}}}}, "attributes[0].values[0]"},
				{filter.Query{Attributes: []filter.AttributeFilter{{Code: "color", Values: []string{strings.Repeat("x", filter.MaxValueLength+1)}}}}, "attributes[0].values[0]"},
				{filter.Query{Price: &filter.PriceRange{Min: ptr(int64(10)), Max: ptr(int64(5))}}, "price.max"},
				{filter.Query{Price: &filter.PriceRange{Min: ptr(int64(-1))}}, "price.min"},
				{filter.Query{Currency: "eur"}, "currency"},
				{filter.Query{Text: "a\x00"}, "text"},
				{filter.Query{Text: strings.Repeat("x", filter.MaxTextLength+1)}, "text"},
				{filter.Query{CategoryID: "a", CategorySlug: "b"}, "category_slug"},
				{filter.Query{Cursor: "not a cursor"}, "cursor"},
				{filter.Query{Cursor: "eyJzIjoibmV3ZXN0IiwiaSI6InAxIn0", Offset: 1}, "cursor"},
			}
			for _, tc := range cases {
				_, err := c.Query(context.Background(), tc.q)
				var e *transport.Error
				if !errors.As(err, &e) || e.Code != transport.CodeInvalid || e.Field(tc.field) == "" {
					t.Errorf("Query(%+v) = %v, want invalid on %s", tc.q, err, tc.field)
				}
			}
			// A body of the wrong type is refused by the decoder.
			_, err := bus.Call(context.Background(), filter.MethodQuery, []byte(`{"limit":"ten"}`))
			if !errors.Is(err, shop.ErrInvalid) {
				t.Errorf("limit as a string: %v", err)
			}
		})
	})
}

// TestEvents checks that product and category events reach the read model,
// idempotently, and that the model survives a restart.
func TestEvents(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := newFixture(t, bus, filter.Options{})
		c := f.client
		cat := shop.CategorySnapshot{ID: "c-tools", Slug: "tools", Name: "Tools", Version: 1}
		publishCategory(t, bus, cat)
		p := prod("e1", "Hammer", 1500, []string{"c-tools"}, map[string]any{"material": "steel"}, 0)
		publishProduct(t, bus, p)
		res := eventually(t, c, filter.Query{CategorySlug: "tools"}, func(r filter.Result) bool { return r.Total == 1 })
		eq(t, "title", res.Items[0].Title, "Hammer")
		waitHandled(t, f.srv, 2)

		// A newer version replaces the product everywhere in the index.
		v2 := p
		v2.Version, v2.Title, v2.Price.Amount = 2, "Claw Hammer", 1700
		v2.Attributes = map[string]any{"material": "titanium"}
		publishProduct(t, bus, v2)
		res = eventually(t, c, filter.Query{Text: "claw"}, func(r filter.Result) bool { return r.Total == 1 })
		eq(t, "price", res.Items[0].Price.Amount, int64(1700))
		eqMap(t, "material facet", facetCounts(res, "material"), map[string]int{"titanium": 1})
		eq(t, "old title gone", mustQuery(t, c, filter.Query{Text: "hammer", Attributes: []filter.AttributeFilter{{Code: "material", Values: []string{"steel"}}}}).Total, 0)

		// Redelivery of the same event and an older one after a newer one
		// change nothing.
		waitHandled(t, f.srv, 3)
		before := f.srv.EventStats()
		publishProduct(t, bus, v2)
		publishProduct(t, bus, p)
		waitHandled(t, f.srv, before.Applied+before.Ignored+2)
		after := f.srv.EventStats()
		eq(t, "applied by the repeats", after.Applied, before.Applied)
		res = mustQuery(t, c, filter.Query{})
		eq(t, "still v2", res.Items[0].Title, "Claw Hammer")

		// Unpublishing hides it; publishing again shows it.
		v3 := v2
		v3.Version, v3.Status = 3, shop.StatusDraft
		publishProduct(t, bus, v3)
		eventually(t, c, filter.Query{}, func(r filter.Result) bool { return r.Total == 0 })
		v4 := v3
		v4.Version, v4.Status = 4, shop.StatusPublished
		publishProduct(t, bus, v4)
		eventually(t, c, filter.Query{}, func(r filter.Result) bool { return r.Total == 1 })

		// A category rename and a new subcategory show up.
		cat2 := cat
		cat2.Version, cat2.Name, cat2.Slug = 2, "Hand Tools", "hand-tools"
		publishCategory(t, bus, cat2)
		sub := shop.CategorySnapshot{ID: "c-saws", Slug: "saws", Name: "Saws", ParentID: "c-tools", Ancestors: []string{"c-tools"}, Version: 1}
		publishCategory(t, bus, sub)
		publishProduct(t, bus, prod("e2", "Saw", 900, []string{"c-saws"}, nil, 0))
		res = eventually(t, c, filter.Query{CategorySlug: "hand-tools"}, func(r filter.Result) bool {
			return r.Total == 2 && len(r.Categories) == 1 && r.Categories[0].Count == 1
		})
		eq(t, "category name", res.Category.Name, "Hand Tools")
		if _, err := c.Query(context.Background(), filter.Query{CategorySlug: "tools"}); !errors.Is(err, shop.ErrNotFound) {
			t.Errorf("old slug: %v", err)
		}

		// Deletion removes; a late older update does not bring it back.
		deleteProduct(t, bus, v4)
		eventually(t, c, filter.Query{CategorySlug: "hand-tools"}, func(r filter.Result) bool { return r.Total == 1 })
		waitHandled(t, f.srv, 11)
		before = f.srv.EventStats()
		publishProduct(t, bus, v2)
		publishProduct(t, bus, v4)
		waitHandled(t, f.srv, before.Applied+before.Ignored+2)
		eq(t, "still deleted", mustQuery(t, c, filter.Query{Text: "hammer"}).Total, 0)

		// A category deletion removes it from the navigation.
		publish(t, bus, shop.EventCategoryDeleted, shop.CategoryChanged{Category: sub, Deleted: true})
		eventually(t, c, filter.Query{CategorySlug: "hand-tools"}, func(r filter.Result) bool { return len(r.Categories) == 0 })

		// The read model is persisted: a new server on the same database
		// answers the same.
		want := mustQuery(t, c, filter.Query{CategoryID: "c-tools"})
		srv2, err := filter.New(f.db, filter.Options{Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		got, err := srv2.Query(context.Background(), filter.Query{CategoryID: "c-tools"})
		if err != nil {
			t.Fatal(err)
		}
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		eq(t, "reloaded answer", string(gb), string(wb))
		if ok, _ := srv2.Index().ApplyProduct(shop.ProductChanged{Product: v4}); ok {
			t.Error("reloaded model lost the tombstone: an older update applied")
		}
	})
}

// waitParked drains the filter's dead-letter queue until it gave n events
// or 15 s passed, and returns what it drained.
func waitParked(t *testing.T, bus transport.Bus, n int) []transport.Event {
	t.Helper()
	var parked []transport.Event
	deadline := time.Now().Add(15 * time.Second)
	for len(parked) < n && time.Now().Before(deadline) {
		evs, err := bus.DrainDeadLetters(context.Background(), filter.ServiceName)
		if err != nil {
			t.Fatal(err)
		}
		parked = append(parked, evs...)
		time.Sleep(20 * time.Millisecond)
	}
	return parked
}

// TestMalformedEventsAreParked checks that an undecodable or id-less event
// ends in the dead-letter queue instead of being lost or looping.
func TestMalformedEventsAreParked(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := newFixture(t, bus, filter.Options{})
		publish(t, bus, shop.EventProductUpdated, map[string]any{"product": "not an object"})
		publish(t, bus, shop.EventCategoryCreated, shop.CategoryChanged{Category: shop.CategorySnapshot{Name: "no id"}})
		publish(t, bus, shop.EventProductCreated, map[string]any{"product": map[string]any{"id": "x", "price": "free"}})
		eq(t, "parked events", len(waitParked(t, bus, 3)), 3)
		eq(t, "failed deliveries (3 events x 3 attempts)", f.srv.EventStats().Failed, int64(9))
		// The service still works.
		publishProduct(t, bus, prod("ok", "Fine", 100, nil, nil, 0))
		eventually(t, f.client, filter.Query{}, func(r filter.Result) bool { return r.Total == 1 })
	})
}

// TestRebuild checks the rebuild from the product (and category) source,
// and who may run it.
func TestRebuild(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		// The source: what the product service holds now, served two per
		// page.
		var source []filter.SourceProduct
		var categories []shop.CategorySnapshot
		productSource := filter.ProductSourceFunc(func(ctx context.Context, cursor string) ([]filter.SourceProduct, string, error) {
			return pageOf(source, cursor)
		})
		categorySource := filter.CategorySourceFunc(func(ctx context.Context, cursor string) ([]shop.CategorySnapshot, string, error) {
			return pageOf(categories, cursor)
		})
		f := newFixture(t, bus, filter.Options{Products: productSource, Categories: categorySource})
		c := f.client

		// Who may rebuild.
		if _, err := c.Rebuild(context.Background(), filter.RebuildRequest{}); !errors.Is(err, shop.ErrUnauthenticated) {
			t.Errorf("rebuild without a session: %v", err)
		}
		if _, err := c.Rebuild(f.customer, filter.RebuildRequest{}); !errors.Is(err, shop.ErrForbidden) {
			t.Errorf("rebuild as a customer: %v", err)
		}
		if _, err := c.Rebuild(shop.WithToken(context.Background(), "forged-token"), filter.RebuildRequest{}); !errors.Is(err, shop.ErrUnauthenticated) {
			t.Errorf("rebuild with a forged token: %v", err)
		}

		// The read model learnt some products from events, then missed
		// some: r2 was deleted, r1 changed, r3 and r4 appeared.
		cat := shop.CategorySnapshot{ID: "c-a", Slug: "a", Name: "A", Version: 1}
		publishCategory(t, bus, cat)
		old := shop.CategorySnapshot{ID: "c-old", Slug: "old", Name: "Old", Version: 1}
		publishCategory(t, bus, old)
		r1 := prod("r1", "One", 100, []string{"c-a"}, map[string]any{"color": "red"}, 3)
		r2 := prod("r2", "Two", 200, []string{"c-a"}, nil, 2)
		publishProduct(t, bus, r1)
		publishProduct(t, bus, r2)
		eventually(t, c, filter.Query{}, func(r filter.Result) bool { return r.Total == 2 })
		waitHandled(t, f.srv, 4)

		r1v2 := r1
		r1v2.Version, r1v2.Attributes = 2, map[string]any{"color": "blue"}
		r3 := prod("r3", "Three", 300, []string{"c-b"}, nil, 1)
		r4 := prod("r4", "Four", 400, []string{"c-a"}, nil, 0)
		r4.Status = shop.StatusDraft
		r5 := prod("r5", "Five", 500, []string{"c-b"}, nil, 0)
		for _, p := range []shop.ProductSnapshot{r1v2, r3, r4, r5, r1v2} { // r1 listed twice: harmless
			source = append(source, filter.SourceProduct{Snapshot: p})
		}
		categories = []shop.CategorySnapshot{cat, {ID: "c-b", Slug: "b", Name: "B", Version: 1}}

		res, err := c.Rebuild(f.admin, filter.RebuildRequest{})
		if err != nil {
			t.Fatal(err)
		}
		eq(t, "result", res, filter.RebuildResult{Products: 5, Applied: 4, Removed: 1, Categories: 2, CategoriesApplied: 1, CategoriesRemoved: 1})
		q := mustQuery(t, c, filter.Query{Sort: filter.SortPriceAsc})
		eqSlice(t, "after rebuild", ids(q), []string{"r1", "r3", "r5"})
		eqMap(t, "color facet", facetCounts(q, "color"), map[string]int{"blue": 1})
		eqMap(t, "root categories", catCounts(q), map[string]int{"a": 1, "b": 2})

		// Rebuilding again changes nothing.
		res, err = c.Rebuild(f.admin, filter.RebuildRequest{})
		if err != nil {
			t.Fatal(err)
		}
		eq(t, "second result", res, filter.RebuildResult{Products: 5, Categories: 2})

		// A failing source fails the rebuild, with nothing removed.
		failing := filter.ProductSourceFunc(func(ctx context.Context, cursor string) ([]filter.SourceProduct, string, error) {
			if cursor == "" {
				return source[:2], "next", nil
			}
			return nil, "", errors.New("product service down")
		})
		f.opts.Products = failing
		srv2, err := filter.New(f.db, f.opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := srv2.Rebuild(f.admin, filter.RebuildRequest{}); !errors.Is(err, shop.ErrUnavailable) {
			t.Errorf("rebuild from a failing source: %v", err)
		}
		if got, _ := srv2.Query(context.Background(), filter.Query{}); got.Total != 3 {
			t.Errorf("after a failed rebuild: %d products, want 3", got.Total)
		}

		// Without a source, rebuild is unavailable.
		f.opts.Products = nil
		srv3, err := filter.New(f.db, f.opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := srv3.Rebuild(f.admin, filter.RebuildRequest{}); !errors.Is(err, shop.ErrUnavailable) {
			t.Errorf("rebuild without a source: %v", err)
		}
	})
}

// pageOf serves items two at a time; the cursor is the next index.
func pageOf[T any](items []T, cursor string) ([]T, string, error) {
	start := 0
	if cursor != "" {
		if _, err := fmt.Sscan(cursor, &start); err != nil {
			return nil, "", err
		}
	}
	end := min(start+2, len(items))
	next := ""
	if end < len(items) {
		next = fmt.Sprint(end)
	}
	return items[start:end], next, nil
}

// startReplica starts a filter server on db subscribed on bus under the
// subscriber name given, as a replica does.
func startReplica(t *testing.T, db *mongo.Database, bus transport.Bus, name string) *filter.Server {
	t.Helper()
	srv, err := filter.New(db, filter.Options{Subscriber: name, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := filter.Subscribe(bus, srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	return srv
}

// TestReplicas runs two servers on one database, as replicas do: each
// with a subscriber name of its own gets every event, and a replica that
// missed a newer version never overwrites it in the database with an older
// one, but takes the stored one.
func TestReplicas(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		db := testenv.MongoDB(t, "filter_replicas")
		start := func(bus transport.Bus, name string) *filter.Server { return startReplica(t, db, bus, name) }
		a := start(bus, "filter-a")
		b := start(bus, "filter-b")
		for i := range 3 {
			publishProduct(t, bus, prod(fmt.Sprint("m", i), "Mug", 500, nil, nil, i))
		}
		for _, srv := range []*filter.Server{a, b} {
			eventually(t, srv, filter.Query{}, func(r filter.Result) bool { return r.Total == 3 })
		}

		// Replica c holds version 1 of m0 and hears of version 2 only
		// after the others stored version 3.
		other := bustest.New(t, "inproc")
		c := start(other, "filter")
		v2 := prod("m0", "Mug v2", 500, nil, nil, 0)
		v2.Version = 2
		v3 := v2
		v3.Version, v3.Title = 3, "Mug v3"
		publishProduct(t, bus, v3)
		eventually(t, a, filter.Query{Text: "v3"}, func(r filter.Result) bool { return r.Total == 1 })
		publishProduct(t, other, v2)
		waitHandled(t, c, 1)
		eq(t, "c takes the newer stored version", mustQuery(t, c, filter.Query{Text: "mug v"}).Items[0].Title, "Mug v3")

		fresh, err := filter.New(db, filter.Options{Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		eq(t, "stored version", mustQuery(t, fresh, filter.Query{Text: "mug v"}).Items[0].Title, "Mug v3")
	})
}
