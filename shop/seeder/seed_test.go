package seeder_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/shoptest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/catalog/attribute"
	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/shop/catalog/option"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/content/article"
	"github.com/shopbus/shopbus/shop/content/seo"
	invsvc "github.com/shopbus/shopbus/shop/inventory"
	"github.com/shopbus/shopbus/shop/seeder"
	"github.com/shopbus/shopbus/transport"
)

var quiet = slog.New(slog.DiscardHandler)

// testShop is the real services of a shop, on one bus, for one test.
type testShop struct {
	bus             transport.Bus
	auth            *shoptest.Auth
	admin, customer context.Context

	categories *category.Client
	attributes *attribute.Client
	options    *option.Client
	products   *product.Client
	articles   *article.Client
	seo        *seo.Client
	stock      *invsvc.Client
}

// startShop starts auth, category, attribute, option, product, article,
// seo and inventory on bus, each on a fresh test database, subscribed to each other's
// events as in production.
func startShop(t testing.TB, bus transport.Bus) *testShop {
	t.Helper()
	return startShopOn(t, bus, testenv.MongoDB)
}

// startShopOn is startShop with the services' databases from database
// (testenv.MongoDB, or a handle on them through another client).
func startShopOn(t testing.TB, bus transport.Bus, database func(testing.TB, string) *mongo.Database) *testShop {
	t.Helper()
	a := shoptest.StartAuth(t, bus)
	s := &testShop{
		bus: bus, auth: a, admin: a.Admin, customer: a.Customer,
		categories: category.NewClient(bus), attributes: attribute.NewClient(bus), options: option.NewClient(bus),
		products: product.NewClient(bus), articles: article.NewClient(bus), seo: seo.NewClient(bus),
		stock: invsvc.NewClient(bus),
	}
	must := func(sub transport.Subscription, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Close() })
	}
	fast := transport.WithRetryDelay(10 * time.Millisecond)

	cat, err := category.New(database(t, "seed_category"), category.Options{Auth: a.Client, Events: bus, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	must(category.Bind(bus, cat))
	must(category.Subscribe(bus, cat, fast))

	attr, err := attribute.New(database(t, "seed_attribute"), attribute.Options{Auth: a.Client})
	if err != nil {
		t.Fatal(err)
	}
	must(attribute.Bind(bus, attr))

	opt, err := option.New(database(t, "seed_option"), option.Options{Auth: a.Client, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	must(option.Bind(bus, opt))

	prod, err := product.New(database(t, "seed_product"), product.Options{
		Auth: a.Client, Events: bus, Logger: quiet,
		Categories: s.categories, Attributes: s.attributes, Variants: s.options,
	})
	if err != nil {
		t.Fatal(err)
	}
	must(product.Bind(bus, prod))
	must(product.Subscribe(bus, prod, fast))

	art, err := article.New(database(t, "seed_article"), article.Options{Auth: a.Client, Events: bus, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	must(article.Bind(bus, art))

	meta, err := seo.New(database(t, "seed_seo"), seo.Options{Auth: a.Client, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	must(seo.Bind(bus, meta))
	must(seo.Subscribe(bus, meta, fast))

	inv, err := invsvc.New(database(t, "seed_inventory"), invsvc.Options{Auth: a.Client, Events: bus, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	must(invsvc.Bind(bus, inv))
	return s
}

// progressLog records progress callbacks.
type progressLog struct {
	mu      sync.Mutex
	calls   []seeder.Progress
	busy    bool
	overlap bool
}

func (l *progressLog) record(p seeder.Progress) {
	l.mu.Lock()
	if l.busy {
		l.overlap = true
	}
	l.busy = true
	l.calls = append(l.calls, p)
	l.mu.Unlock()
	time.Sleep(time.Millisecond) // give an overlapping call a chance to show
	l.mu.Lock()
	l.busy = false
	l.mu.Unlock()
}

func (l *progressLog) last(kind seeder.Kind) (seeder.Progress, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var last seeder.Progress
	n := 0
	for _, p := range l.calls {
		if p.Kind == kind {
			if p.Done < last.Done {
				panic(fmt.Sprintf("progress of %s went back from %d to %d", kind, last.Done, p.Done))
			}
			last = p
			n++
		}
	}
	return last, n
}

// startSeeder serves a seeder with a database of its own on the shop's bus.
func startSeeder(t testing.TB, s *testShop, progress func(seeder.Progress)) *seeder.Server {
	t.Helper()
	srv, err := seeder.New(testenv.MongoDB(t, "seed_seeder"), seeder.Options{
		Bus:        s.bus,
		AdminEmail: shoptest.AdminEmail, AdminPassword: shoptest.AdminPassword,
		Demo:          true,
		Concurrency:   4,
		Progress:      progress,
		ProgressEvery: 5,
		Logger:        quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := seeder.Bind(s.bus, srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return srv
}

// inventory is what a shop holds, read through the services' list and
// get APIs, with ids replaced by slugs so that shops can be compared.
type inventory struct {
	Categories      []string
	Attributes      []string
	AttributeGroups []string
	OptionGroups    []string
	Products        []string
	Variants        int
	Stock           []string // "SKU=on hand/available@version" of every product's and variant's SKU
	Articles        []string
	SEO             []string
	DemoCustomer    bool
}

func takeInventory(t *testing.T, s *testShop, ds *seeder.Dataset) inventory {
	t.Helper()
	ctx, cancel := context.WithTimeout(s.admin, 30*time.Second)
	defer cancel()
	var inv inventory

	tree, err := s.categories.Tree(ctx, category.TreeRequest{})
	if err != nil {
		t.Fatalf("category tree: %v", err)
	}
	slugOf := map[string]string{}
	var walk func(nodes []category.Node, parent string)
	walk = func(nodes []category.Node, parent string) {
		for _, n := range nodes {
			slugOf[n.ID] = n.Slug
			inv.Categories = append(inv.Categories, fmt.Sprintf("%s|%s|%s|%d", n.Slug, n.Name, parent, len(n.Ancestors)))
			walk(n.Children, n.Slug)
		}
	}
	walk(tree, "")
	slices.Sort(inv.Categories)

	attrs, err := s.attributes.List(ctx, attribute.ListRequest{})
	if err != nil {
		t.Fatalf("attributes: %v", err)
	}
	for _, a := range attrs {
		inv.Attributes = append(inv.Attributes, fmt.Sprintf("%s|%s|%s|%s|%v", a.Code, a.Name, a.Type, a.Unit, a.Values))
	}
	groups, err := s.attributes.ListGroups(ctx, attribute.ListRequest{})
	if err != nil {
		t.Fatalf("attribute groups: %v", err)
	}
	for _, g := range groups {
		inv.AttributeGroups = append(inv.AttributeGroups, fmt.Sprintf("%s|%s|%v", g.Code, g.Name, g.Attributes))
	}
	ogs, err := s.options.ListGroups(ctx, option.ListGroupsRequest{})
	if err != nil {
		t.Fatalf("option groups: %v", err)
	}
	for _, g := range ogs {
		inv.OptionGroups = append(inv.OptionGroups, fmt.Sprintf("%s|%s|%v", g.Code, g.Name, g.Values))
	}

	req := product.ListRequest{Limit: product.MaxPageSize}
	for {
		page, err := s.products.List(ctx, req)
		if err != nil {
			t.Fatalf("products: %v", err)
		}
		for _, p := range page.Items {
			var cats []string
			for _, id := range p.CategoryIDs {
				cats = append(cats, slugOf[id])
			}
			var skus []string
			for _, v := range p.Variants {
				skus = append(skus, fmt.Sprintf("%s=%d", v.SKU, v.Price.Amount))
			}
			slices.Sort(skus)
			attrs, _ := json.Marshal(p.Attributes)
			inv.Products = append(inv.Products, fmt.Sprintf("%s|%s|%s|%s|%v|%v|%s", p.Slug, p.Title, p.Price, p.Status, cats, skus, attrs))
			inv.Variants += len(p.Variants)
			for _, st := range stockOf(t, s, p) {
				inv.Stock = append(inv.Stock, fmt.Sprintf("%s=%d/%d@%d", st.SKU, st.OnHand, st.Available, st.Version))
			}
		}
		if page.NextCursor == "" {
			break
		}
		req.Cursor = page.NextCursor
	}
	slices.Sort(inv.Products)
	slices.Sort(inv.Stock)

	areq := article.ListRequest{Status: "any", Limit: article.MaxLimit}
	for {
		page, err := s.articles.List(ctx, areq)
		if err != nil {
			t.Fatalf("articles: %v", err)
		}
		for _, a := range page.Articles {
			inv.Articles = append(inv.Articles, fmt.Sprintf("%s|%s|%s|%v|%s", a.Slug, a.Title, a.Status, a.Tags, a.PublishedAt.Format(time.RFC3339)))
		}
		if page.NextCursor == "" {
			break
		}
		areq.Cursor = page.NextCursor
	}
	slices.Sort(inv.Articles)

	// Explicit SEO metadata: the pages, and the first products.
	for _, pg := range ds.Pages {
		if m, err := s.seo.Get(ctx, seo.GetRequest{Kind: seo.KindPage, EntityID: pg.EntityID}); err == nil {
			inv.SEO = append(inv.SEO, fmt.Sprintf("page/%s|%s|%s|%v", pg.EntityID, m.Path, m.Title, m.Explicit))
		}
	}
	for i := range min(seeder.SEOProducts, ds.Products) {
		slug := ds.Product(i).Request.Slug
		p, err := s.products.GetBySlug(ctx, product.GetBySlugRequest{Slug: slug})
		if err != nil {
			continue
		}
		if m, err := s.seo.Get(ctx, seo.GetRequest{Kind: seo.KindProduct, EntityID: p.ID}); err == nil && len(m.Explicit) > 0 {
			inv.SEO = append(inv.SEO, fmt.Sprintf("product/%s|%s|%v", slug, m.Title, m.Explicit))
		}
	}

	_, err = s.auth.Client.Login(context.Background(), auth.LoginRequest{Email: seeder.DefaultDemoEmail, Password: seeder.DefaultDemoPassword})
	inv.DemoCustomer = err == nil
	return inv
}

// stockOf returns the stock records of p's own SKU and its variants'.
func stockOf(t *testing.T, s *testShop, p product.Product) []invsvc.Stock {
	t.Helper()
	skus := []string{p.SKU}
	for _, v := range p.Variants {
		skus = append(skus, v.SKU)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := s.stock.GetMany(ctx, invsvc.GetManyRequest{SKUs: skus})
	if err != nil {
		t.Fatalf("stock of %s: %v", p.Slug, err)
	}
	return got
}

func wantCode(t *testing.T, err error, code transport.Code, field string) {
	t.Helper()
	var e *transport.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("got %v, want %s", err, code)
	}
	if field != "" && e.Field(field) == "" {
		t.Fatalf("got %v, want a field error for %q", err, field)
	}
}

func TestRunIsIdempotent(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		const seedValue, n = 7, 12
		s := startShop(t, bus)
		var progress progressLog
		srv := startSeeder(t, s, progress.record)
		client := seeder.NewClient(bus)
		ds := mustDataset(t, seedValue, n)
		ctx, cancel := context.WithTimeout(s.admin, 2*time.Minute)
		defer cancel()

		rep1, err := client.Run(ctx, seeder.RunRequest{Seed: seedValue, Products: n})
		if err != nil {
			t.Fatalf("first run: %v", err)
		}
		inv1 := takeInventory(t, s, ds)

		// What the first run says it created is what the services hold,
		// and what the dataset describes.
		want := map[seeder.Kind]seeder.Count{
			seeder.KindUsers:           {Created: 1, Existing: 1}, // the demo customer; the admin exists
			seeder.KindAttributes:      {Created: len(ds.Attributes)},
			seeder.KindAttributeGroups: {Created: len(ds.AttributeGroups)},
			seeder.KindOptionGroups:    {Created: len(ds.OptionGroups)},
			seeder.KindCategories:      {Created: len(ds.Categories)},
			seeder.KindProducts:        {Created: n},
			seeder.KindVariants:        {Created: inv1.Variants},
			seeder.KindStock:           {Created: n + inv1.Variants}, // every product's SKU and every variant's
			seeder.KindArticles:        {Created: ds.Articles},
			seeder.KindSEO:             {Created: len(ds.Pages) + seeder.SEOProducts},
		}
		if !reflect.DeepEqual(rep1.Counts, want) {
			t.Errorf("first report counts:\n got %v\nwant %v", rep1.Counts, want)
		}
		if rep1.Seed != seedValue || rep1.Products != n || rep1.RunID == "" || rep1.FinishedAt.Before(rep1.StartedAt) {
			t.Errorf("first report: %+v", rep1)
		}
		if len(inv1.Categories) != len(ds.Categories) || len(inv1.Products) != n || len(inv1.Articles) != ds.Articles ||
			len(inv1.Attributes) != len(ds.Attributes) || len(inv1.AttributeGroups) != len(ds.AttributeGroups) ||
			len(inv1.OptionGroups) != len(ds.OptionGroups) || len(inv1.SEO) != len(ds.Pages)+seeder.SEOProducts || !inv1.DemoCustomer {
			t.Fatalf("the services hold %+v", inv1)
		}
		wantVariants := 0
		for i := range n {
			p := ds.Product(i)
			wantVariants += p.Variants
			if !slices.ContainsFunc(inv1.Products, func(s string) bool {
				return strings.HasPrefix(s, p.Request.Slug+"|"+p.Request.Title+"|"+p.Request.Price.String()+"|published|["+p.CategorySlug+"]")
			}) {
				t.Errorf("product %d (%s) is not in the shop as the dataset describes it", i, p.Request.Slug)
			}
		}
		if inv1.Variants != wantVariants || wantVariants == 0 {
			t.Errorf("variants: %d in the shop, %d in the dataset", inv1.Variants, wantVariants)
		}
		checkStock(t, s, ds)
		var depth3 bool
		for _, c := range inv1.Categories {
			depth3 = depth3 || strings.HasSuffix(c, "|2") // two ancestors
		}
		if !depth3 {
			t.Errorf("no category three levels deep: %v", inv1.Categories)
		}

		// Progress: every kind reported, finished, never going back, calls not overlapping.
		for _, k := range []seeder.Kind{seeder.KindUsers, seeder.KindCategories, seeder.KindProducts, seeder.KindArticles, seeder.KindSEO} {
			last, calls := progress.last(k)
			if calls < 2 || last.Done != last.Total || last.Total == 0 {
				t.Errorf("progress of %s: %d calls, last %+v", k, calls, last)
			}
		}
		if last, calls := progress.last(seeder.KindProducts); calls < n/5+1 || last.Created != n {
			t.Errorf("product progress: %d calls, last %+v", calls, last)
		}
		if progress.overlap {
			t.Error("progress callbacks overlapped")
		}

		// The second run creates nothing and changes nothing.
		rep2, err := client.Run(ctx, seeder.RunRequest{Seed: seedValue, Products: n})
		if err != nil {
			t.Fatalf("second run: %v", err)
		}
		for _, k := range seeder.Kinds {
			got, first := rep2.Counts[k], rep1.Counts[k]
			if got.Created != 0 || got.Different != 0 || got.Existing != first.Total() {
				t.Errorf("second run, %s: %+v; the first made %+v", k, got, first)
			}
		}
		if rep2.RunID == rep1.RunID {
			t.Error("two runs share an id")
		}
		if inv2 := takeInventory(t, s, ds); !reflect.DeepEqual(inv1, inv2) {
			t.Errorf("the second run changed the shop:\n%+v\n%+v", inv1, inv2)
		}

		// Both runs are recorded, newest first.
		runs, err := client.Runs(ctx, seeder.RunsRequest{})
		if err != nil {
			t.Fatalf("runs: %v", err)
		}
		if len(runs) != 2 || runs[0].RunID != rep2.RunID || runs[1].RunID != rep1.RunID ||
			runs[0].Status != seeder.StatusDone || !reflect.DeepEqual(runs[0].Counts, rep2.Counts) {
			t.Fatalf("runs: %+v", runs)
		}

		// Ensure skips a seed that is done, and grows the shop when asked
		// for more products: the first n are the same.
		if rep, ran, err := srv.Ensure(ctx, seeder.RunRequest{Seed: seedValue, Products: n - 2}); err != nil || ran || rep.RunID != rep2.RunID {
			t.Fatalf("Ensure of a done seed: ran %v, %v, report %+v", ran, err, rep)
		}
		rep3, ran, err := srv.Ensure(ctx, seeder.RunRequest{Seed: seedValue, Products: n + 1})
		if err != nil || !ran {
			t.Fatalf("Ensure with one more product: ran %v, %v", ran, err)
		}
		if c := rep3.Counts[seeder.KindProducts]; c.Created != 1 || c.Existing != n || c.Different != 0 {
			t.Errorf("growing by one product: %+v", c)
		}
		if c := rep3.Counts[seeder.KindCategories]; c.Created != 0 || c.Existing != len(ds.Categories) {
			t.Errorf("growing recreated categories: %+v", c)
		}
		if c := rep3.Counts[seeder.KindStock]; c.Created != 1+ds.Product(n).Variants || c.Existing != n+inv1.Variants || c.Different != 0 {
			t.Errorf("growing by one product, stock: %+v", c)
		}
	})
}

func TestRunLeavesChangedEntitiesAlone(t *testing.T) {
	bus := bustest.New(t, "inproc")
	s := startShop(t, bus)
	startSeeder(t, s, nil)
	client := seeder.NewClient(bus)
	ctx, cancel := context.WithTimeout(s.admin, time.Minute)
	defer cancel()
	req := seeder.RunRequest{Seed: 3, Products: 4}
	if _, err := client.Run(ctx, req); err != nil {
		t.Fatal(err)
	}
	ds := mustDataset(t, 3, 4)
	p, err := s.products.GetBySlug(ctx, product.GetBySlugRequest{Slug: ds.Product(1).Request.Slug})
	if err != nil {
		t.Fatal(err)
	}
	edited := "Edited by an admin"
	if _, err := s.products.Update(ctx, product.UpdateRequest{ID: p.ID, Title: &edited}); err != nil {
		t.Fatal(err)
	}
	rep, err := client.Run(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if c := rep.Counts[seeder.KindProducts]; c.Created != 0 || c.Existing != 4 || c.Different != 1 {
		t.Errorf("products after an edit: %+v", c)
	}
	if got, err := s.products.Get(ctx, product.GetRequest{ID: p.ID}); err != nil || got.Title != edited {
		t.Errorf("the run overwrote the admin's edit: %q, %v", got.Title, err)
	}

	// Stock that changed since (a sale, an admin's count) is left alone.
	sku := p.SKU
	if len(p.Variants) > 0 {
		sku = p.Variants[0].SKU
	}
	before := stockOf(t, s, product.Product{SKU: sku})[0]
	if _, err := s.stock.SetStock(ctx, invsvc.SetStockRequest{SKU: sku, OnHand: before.OnHand + 7}); err != nil {
		t.Fatal(err)
	}
	rep, err = client.Run(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if c := rep.Counts[seeder.KindStock]; c.Created != 0 || c.Different != 1 || c.Existing == 0 {
		t.Errorf("stock after a change: %+v", c)
	}
	if after := stockOf(t, s, product.Product{SKU: sku})[0]; after.OnHand != before.OnHand+7 {
		t.Errorf("the run overwrote the changed stock of %s: %d on hand, want %d", sku, after.OnHand, before.OnHand+7)
	}
}

// checkStock checks that every SKU of the dataset's products has the
// dataset's stock, and that the shop shows every stock level: some
// products plentiful, some low, some sold out, as their sellable SKUs
// (the variants', else the product's own) say.
func checkStock(t *testing.T, s *testShop, ds *seeder.Dataset) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	levels := map[seeder.StockLevel]int{}
	for i := range ds.Products {
		p, err := s.products.GetBySlug(ctx, product.GetBySlugRequest{Slug: ds.Product(i).Request.Slug})
		if err != nil {
			t.Fatal(err)
		}
		var variants []string
		for _, v := range p.Variants {
			variants = append(variants, v.SKU)
		}
		amounts, own := ds.Stock(i, variants)
		want := map[string]int64{p.SKU: own}
		for j, sku := range variants {
			want[sku] = amounts[j]
		}
		got := map[string]int64{}
		for _, st := range stockOf(t, s, p) {
			got[st.SKU] = st.OnHand
			if st.Available != st.OnHand || st.Reserved != 0 {
				t.Errorf("%s: %+v", st.SKU, st)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("product %d: stock %v, want %v", i, got, want)
		}
		sellable := variants
		if len(sellable) == 0 {
			sellable = []string{p.SKU}
		}
		var level seeder.StockLevel
		switch {
		case !slices.ContainsFunc(sellable, func(sku string) bool { return got[sku] != 0 }):
			level = seeder.StockSoldOut
		case !slices.ContainsFunc(sellable, func(sku string) bool { return got[sku] < 1 || got[sku] > 5 }):
			level = seeder.StockLow
		case !slices.ContainsFunc(sellable, func(sku string) bool { return got[sku] != 0 && (got[sku] < 20 || got[sku] > 100) }):
			level = seeder.StockPlenty
		}
		if level != ds.StockLevel(i) {
			t.Errorf("product %d: stock %v reads as %q, want %q", i, got, level, ds.StockLevel(i))
		}
		levels[level]++
	}
	if levels[seeder.StockPlenty] == 0 || levels[seeder.StockLow] == 0 || levels[seeder.StockSoldOut] == 0 {
		t.Errorf("stock levels in the shop: %v; want each", levels)
	}
}

func TestRunIsDeterministic(t *testing.T) {
	for _, kind := range bustest.Kinds {
		t.Run(kind, func(t *testing.T) {
			const n = 5
			seedAndInventory := func(seedValue int64) inventory {
				bus := bustest.New(t, kind)
				s := startShop(t, bus)
				startSeeder(t, s, nil)
				ctx, cancel := context.WithTimeout(s.admin, time.Minute)
				defer cancel()
				if _, err := seeder.NewClient(bus).Run(ctx, seeder.RunRequest{Seed: seedValue, Products: n}); err != nil {
					t.Fatalf("seed %d: %v", seedValue, err)
				}
				return takeInventory(t, s, mustDataset(t, seedValue, n))
			}
			a, b, c := seedAndInventory(11), seedAndInventory(11), seedAndInventory(12)
			if !reflect.DeepEqual(a, b) {
				t.Errorf("two shops seeded with 11 differ:\n%+v\n%+v", a, b)
			}
			if len(a.Products) != n || len(a.Categories) == 0 {
				t.Fatalf("seeded shop: %+v", a)
			}
			if slices.Equal(a.Products, c.Products) || slices.Equal(a.Categories, c.Categories) || slices.Equal(a.Articles, c.Articles) {
				t.Errorf("seeds 11 and 12 gave the same shop:\n%v\n%v", a.Products, c.Products)
			}
		})
	}
}

func TestRunRejects(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		s := startShop(t, bus)
		startSeeder(t, s, nil)
		client := seeder.NewClient(bus)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin := shop.WithToken(ctx, shop.TokenFrom(s.admin))

		_, err := client.Run(admin, seeder.RunRequest{Products: -1})
		wantCode(t, err, transport.CodeInvalid, "products")
		_, err = client.Run(admin, seeder.RunRequest{Products: seeder.MaxProducts + 1})
		wantCode(t, err, transport.CodeInvalid, "products")
		_, err = client.Run(shop.WithToken(ctx, shop.TokenFrom(s.customer)), seeder.RunRequest{Products: 1})
		wantCode(t, err, transport.CodeForbidden, "")
		_, err = client.Run(ctx, seeder.RunRequest{Products: 1})
		wantCode(t, err, transport.CodeUnauthenticated, "")
		_, err = client.Runs(shop.WithToken(ctx, shop.TokenFrom(s.customer)), seeder.RunsRequest{})
		wantCode(t, err, transport.CodeForbidden, "")
		_, err = client.Runs(admin, seeder.RunsRequest{Limit: -1})
		wantCode(t, err, transport.CodeInvalid, "limit")
		// A wrongly typed body is invalid too, naming the field.
		_, err = bus.Call(admin, seeder.MethodRun, []byte(`{"seed":"seven"}`))
		wantCode(t, err, transport.CodeInvalid, "seed")

		// None of that wrote anything.
		if runs, err := client.Runs(admin, seeder.RunsRequest{}); err != nil || len(runs) != 0 {
			t.Errorf("runs after rejected requests: %v, %v", runs, err)
		}
		if roots, err := s.categories.ListChildren(ctx, category.ListChildrenRequest{}); err != nil || len(roots) != 0 {
			t.Errorf("categories after rejected requests: %v, %v", roots, err)
		}
	})
}

// A seeder without admin credentials writes with its caller's token;
// SeedOnStart seeds once.
func TestRunWithCallerToken(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		s := startShop(t, bus)
		srv, err := seeder.New(testenv.MongoDB(t, "seed_seeder"), seeder.Options{Bus: bus, Logger: quiet, DemoEmail: "someone@shop.test"})
		if err != nil {
			t.Fatal(err)
		}
		sub, err := seeder.Bind(bus, srv)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Close() })
		ctx, cancel := context.WithTimeout(s.admin, time.Minute)
		defer cancel()
		rep, err := seeder.NewClient(bus).Run(ctx, seeder.RunRequest{Seed: 1, Products: 2})
		if err != nil {
			t.Fatal(err)
		}
		if c := rep.Counts[seeder.KindProducts]; c.Created != 2 {
			t.Errorf("products: %+v", c)
		}
		// Without Options.Demo no account with a public password exists.
		if _, err := s.auth.Client.Login(ctx, auth.LoginRequest{Email: "someone@shop.test", Password: seeder.DefaultDemoPassword}); !errors.Is(err, shop.ErrUnauthenticated) {
			t.Errorf("a seeder without Demo: the demo customer's login gives %v, want unauthenticated", err)
		}

		// SeedOnStart has no credentials here: it logs the failure and
		// returns nil; a done seed is skipped.
		if err := srv.SeedOnStart(seeder.RunRequest{Seed: 2, Products: 1})(context.Background()); err != nil {
			t.Errorf("SeedOnStart: %v", err)
		}
		if err := srv.SeedOnStart(seeder.RunRequest{Seed: 1, Products: 2})(context.Background()); err != nil {
			t.Errorf("SeedOnStart: %v", err)
		}
		runs, err := srv.Runs(ctx, seeder.RunsRequest{})
		if err != nil || len(runs) != 2 || runs[0].Status != seeder.StatusFailed || runs[0].Error == "" || runs[1].Status != seeder.StatusDone {
			t.Fatalf("runs: %+v, %v", runs, err)
		}
	})
}

func TestNewNeedsServices(t *testing.T) {
	if _, err := seeder.New(nil, seeder.Options{}); err == nil {
		t.Error("New without a bus or clients succeeded")
	}
	bus := bustest.New(t, "inproc")
	if _, err := seeder.New(nil, seeder.Options{Bus: bus, AdminEmail: "a@b.c"}); !errors.Is(err, shop.ErrInvalid) {
		t.Errorf("New with an admin e-mail but no password: %v", err)
	}
	srv, err := seeder.New(nil, seeder.Options{Bus: bus, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	// Without credentials or a caller token a run cannot write.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = srv.Seed(ctx, seeder.RunRequest{Products: 1})
	wantCode(t, err, transport.CodeUnauthenticated, "")
}
