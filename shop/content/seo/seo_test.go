package seo_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/shoptest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/content/article"
	"github.com/shopbus/shopbus/shop/content/seo"
	"github.com/shopbus/shopbus/transport"
)

const base = "https://shop.test"

// fixture is the SEO service on a test bus, subscribed to its events, with
// the real auth service.
type fixture struct {
	*shoptest.Auth
	bus    transport.Bus
	db     *mongo.Database
	srv    *seo.Server
	client *seo.Client
	anon   context.Context
}

func start(t *testing.T, bus transport.Bus, opts seo.Options) *fixture {
	t.Helper()
	a := shoptest.StartAuth(t, bus)
	opts.Auth = a.Client
	if opts.BaseURL == "" {
		opts.BaseURL = base
	}
	db := testenv.MongoDB(t, "seo_"+t.Name())
	srv, err := seo.New(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := seo.Bind(bus, srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	events, err := seo.Subscribe(bus, srv, transport.WithMaxAttempts(2), transport.WithRetryDelay(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = events.Close() })
	return &fixture{Auth: a, bus: bus, db: db, srv: srv, client: seo.NewClient(bus), anon: context.Background()}
}

func (f *fixture) publish(t *testing.T, key string, body any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.bus.Publish(context.Background(), transport.Event{Key: key, Body: b}); err != nil {
		t.Fatal(err)
	}
}

func product(id, slug, title, description string, version int64) shop.ProductSnapshot {
	return shop.ProductSnapshot{ID: id, Slug: slug, Title: title, Description: description, Status: shop.StatusPublished,
		Price: shop.Money{Amount: 1000, Currency: "EUR"}, Version: version, UpdatedAt: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(version) * time.Hour)}
}

func (f *fixture) productEvent(t *testing.T, p shop.ProductSnapshot, oldSlug string) {
	t.Helper()
	key := shop.EventProductUpdated
	if p.Version == 1 {
		key = shop.EventProductCreated
	}
	f.publish(t, key, shop.ProductChanged{Product: p, OldSlug: oldSlug, Occurred: time.Now()})
}

// eventually polls get until ok accepts its result, for at most 10 seconds.
func eventually[T any](t *testing.T, what string, get func() (T, error), ok func(T) bool) T {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := get()
		if err == nil && ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: last result %+v, %v", what, v, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (f *fixture) getMeta(ctx context.Context, kind seo.Kind, id string) func() (seo.Metadata, error) {
	return func() (seo.Metadata, error) {
		return f.client.Get(ctx, seo.GetRequest{Kind: kind, EntityID: id})
	}
}

func wantCode(t *testing.T, err error, code transport.Code) *transport.Error {
	t.Helper()
	var e *transport.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("err = %v, want code %s", err, code)
	}
	return e
}

func TestDefaultsFollowProductEvents(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus, seo.Options{TitleSuffix: " | Test Shop"})
		long := strings.Repeat("Comfortable running shoe with a <b>breathable</b> mesh upper. ", 8)
		p := product("p1", "runner", "Runner", long, 1)
		p.Images = []string{"https://cdn.test/runner.jpg"}
		f.productEvent(t, p, "")
		m := eventually(t, "defaults from product v1", f.getMeta(f.anon, seo.KindProduct, "p1"),
			func(m seo.Metadata) bool { return m.Title != "" })
		if m.Title != "Runner | Test Shop" || m.Path != "/products/runner" || m.Canonical != base+"/products/runner" || m.Robots != "index, follow" || len(m.Explicit) != 0 {
			t.Fatalf("defaults %+v", m)
		}
		if n := utf8.RuneCountInString(m.Description); n > 160 || n < 100 || !strings.HasSuffix(m.Description, "…") {
			t.Fatalf("description of %d characters: %q", n, m.Description)
		}
		plain := strings.Join(strings.Fields(strings.NewReplacer("<b>", "", "</b>", "").Replace(long)), " ")
		cut := strings.TrimSuffix(m.Description, "…")
		if next := plain[len(cut)]; !strings.HasPrefix(plain, cut) || next != ' ' && next != '.' {
			t.Fatalf("description %q is not the text cut at a word boundary", m.Description)
		}
		og := m.OpenGraph
		if og.Title != m.Title || og.Description != m.Description || og.Type != "product" || og.URL != m.Canonical || og.Image != "https://cdn.test/runner.jpg" {
			t.Fatalf("open graph %+v", og)
		}

		// The defaults follow the product as it changes.
		p2 := product("p1", "runner", "Runner Pro", "Short and sweet.", 2)
		f.productEvent(t, p2, "")
		m = eventually(t, "defaults from product v2", f.getMeta(f.anon, seo.KindProduct, "p1"),
			func(m seo.Metadata) bool { return m.Title == "Runner Pro | Test Shop" })
		if m.Description != "Short and sweet." {
			t.Fatalf("description after v2: %q", m.Description)
		}

		// Handling is idempotent: a repeated or older event changes nothing.
		for _, old := range []shop.ProductSnapshot{p2, p} {
			body, _ := json.Marshal(shop.ProductChanged{Product: old})
			if err := f.srv.HandleEvent(context.Background(), transport.Event{Key: shop.EventProductUpdated, Body: body}); err != nil {
				t.Fatal(err)
			}
		}
		// ... also over the bus: v1 again, then v3 under another id as a marker.
		f.productEvent(t, p, "")
		f.productEvent(t, product("marker", "marker", "Marker", "", 3), "")
		eventually(t, "marker", f.getMeta(f.anon, seo.KindProduct, "marker"), func(seo.Metadata) bool { return true })
		m, err := f.client.Get(f.anon, seo.GetRequest{Kind: seo.KindProduct, EntityID: "p1"})
		if err != nil || m.Title != "Runner Pro | Test Shop" || m.Description != "Short and sweet." {
			t.Fatalf("after stale events: %+v, %v", m, err)
		}

		// Unpublishing hides the metadata from the public, not from admins.
		draft := product("p1", "runner", "Runner Pro", "Short and sweet.", 4)
		draft.Status = shop.StatusDraft
		f.productEvent(t, draft, "")
		eventually(t, "hidden draft", func() (error, error) {
			_, err := f.client.Get(f.anon, seo.GetRequest{Kind: seo.KindProduct, EntityID: "p1"})
			return err, nil
		}, func(err error) bool { return errors.Is(err, shop.ErrNotFound) })
		_, err = f.client.Resolve(f.Customer, seo.ResolveRequest{Path: "/products/runner"})
		wantCode(t, err, transport.CodeNotFound)
		if m, err := f.client.Get(f.Admin, seo.GetRequest{Kind: seo.KindProduct, EntityID: "p1"}); err != nil || m.Published {
			t.Fatalf("admin sees draft: %+v, %v", m, err)
		}

		// Deletion: not found for anybody.
		f.publish(t, shop.EventProductDeleted, shop.ProductChanged{Product: product("p1", "runner", "Runner Pro", "", 5), Deleted: true})
		eventually(t, "deleted", func() (error, error) {
			_, err := f.client.Get(f.Admin, seo.GetRequest{Kind: seo.KindProduct, EntityID: "p1"})
			return err, nil
		}, func(err error) bool { return errors.Is(err, shop.ErrNotFound) })
	})
}

func TestExplicitMetadataWins(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus, seo.Options{})
		f.productEvent(t, product("p1", "lamp", "Lamp", "A lamp.", 1), "")
		eventually(t, "defaults", f.getMeta(f.anon, seo.KindProduct, "p1"), func(m seo.Metadata) bool { return m.Title == "Lamp" })

		put := seo.PutRequest{Kind: seo.KindProduct, EntityID: "p1", Title: "The Best Lamp", Robots: "NoIndex, follow",
			OpenGraph: seo.OpenGraph{Image: "/img/lamp.png"}}
		for _, c := range []struct {
			ctx  context.Context
			code transport.Code
		}{{f.anon, transport.CodeUnauthenticated}, {f.Customer, transport.CodeForbidden}} {
			_, err := f.client.Put(c.ctx, put)
			wantCode(t, err, c.code)
			_, err = f.client.Delete(c.ctx, seo.DeleteRequest{Kind: seo.KindProduct, EntityID: "p1"})
			wantCode(t, err, c.code)
		}
		m, err := f.client.Put(f.Admin, put)
		if err != nil {
			t.Fatal(err)
		}
		if m.Title != "The Best Lamp" || m.Description != "A lamp." || m.Robots != "noindex, follow" ||
			m.OpenGraph.Image != base+"/img/lamp.png" || m.OpenGraph.Title != "The Best Lamp" ||
			!slices.Equal(m.Explicit, []string{"title", "robots", "og.image"}) {
			t.Fatalf("after put: %+v", m)
		}
		// A new product version changes the defaults, not the explicit title.
		f.productEvent(t, product("p1", "lamp", "Lamp 2", "A brighter lamp.", 2), "")
		m = eventually(t, "v2 defaults", f.getMeta(f.anon, seo.KindProduct, "p1"), func(m seo.Metadata) bool { return m.Description == "A brighter lamp." })
		if m.Title != "The Best Lamp" {
			t.Fatalf("explicit title lost: %+v", m)
		}
		// Dropping the explicit metadata brings the defaults back.
		if _, err := f.client.Delete(f.Admin, seo.DeleteRequest{Kind: seo.KindProduct, EntityID: "p1"}); err != nil {
			t.Fatal(err)
		}
		m, err = f.client.Get(f.anon, seo.GetRequest{Kind: seo.KindProduct, EntityID: "p1"})
		if err != nil || m.Title != "Lamp 2" || m.Robots != "index, follow" || len(m.Explicit) != 0 {
			t.Fatalf("after delete: %+v, %v", m, err)
		}
		_, err = f.client.Delete(f.Admin, seo.DeleteRequest{Kind: seo.KindProduct, EntityID: "p1"})
		wantCode(t, err, transport.CodeNotFound)

		// Metadata written before the entity's first event waits for it.
		if _, err := f.client.Put(f.Admin, seo.PutRequest{Kind: seo.KindCategory, EntityID: "c1", Title: "Shoes!"}); err != nil {
			t.Fatal(err)
		}
		_, err = f.client.Get(f.anon, seo.GetRequest{Kind: seo.KindCategory, EntityID: "c1"})
		wantCode(t, err, transport.CodeNotFound)
		f.publish(t, shop.EventCategoryCreated, shop.CategoryChanged{Category: shop.CategorySnapshot{ID: "c1", Slug: "shoes", Name: "Shoes", Version: 1}})
		m = eventually(t, "category", f.getMeta(f.anon, seo.KindCategory, "c1"), func(m seo.Metadata) bool { return m.Path == "/categories/shoes" })
		if m.Title != "Shoes!" || m.OpenGraph.Type != "website" {
			t.Fatalf("category %+v", m)
		}
	})
}

func TestValidation(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus, seo.Options{})
		for _, c := range []struct {
			req   seo.PutRequest
			field string
		}{
			{seo.PutRequest{Kind: "user", EntityID: "x"}, "kind"},
			{seo.PutRequest{Kind: seo.KindProduct, EntityID: "$gt"}, "entity_id"},
			{seo.PutRequest{Kind: seo.KindProduct, EntityID: "a\x00b"}, "entity_id"},
			{seo.PutRequest{Kind: seo.KindProduct, EntityID: ""}, "entity_id"},
			{seo.PutRequest{Kind: seo.KindProduct, EntityID: "p", Title: strings.Repeat("t", seo.MaxTitleLen+1)}, "title"},
			{seo.PutRequest{Kind: seo.KindProduct, EntityID: "p", Description: "a\x00b"}, "description"},
			{seo.PutRequest{Kind: seo.KindProduct, EntityID: "p", Canonical: "javascript:alert(1)"}, "canonical"},
			{seo.PutRequest{Kind: seo.KindProduct, EntityID: "p", Robots: "index, evil"}, "robots"},
			{seo.PutRequest{Kind: seo.KindProduct, EntityID: "p", OpenGraph: seo.OpenGraph{Image: "//evil.test/x.png"}}, "open_graph.image"},
			{seo.PutRequest{Kind: seo.KindProduct, EntityID: "p", OpenGraph: seo.OpenGraph{Type: "<script>"}}, "open_graph.type"},
			{seo.PutRequest{Kind: seo.KindProduct, EntityID: "p", Path: "/elsewhere"}, "path"},
			{seo.PutRequest{Kind: seo.KindPage, EntityID: "about"}, "path"},
			{seo.PutRequest{Kind: seo.KindPage, EntityID: "about", Path: "about"}, "path"},
			{seo.PutRequest{Kind: seo.KindPage, EntityID: "about", Path: "/a b"}, "path"},
		} {
			_, err := f.client.Put(f.Admin, c.req)
			if e := wantCode(t, err, transport.CodeInvalid); e.Field(c.field) == "" {
				t.Errorf("Put(%+v): no error for %s in %v", c.req, c.field, e)
			}
		}
		for _, p := range []string{"", "relative", "//host/x", "/a\x00b", "/" + strings.Repeat("a", seo.MaxPathLen)} {
			_, err := f.client.Resolve(f.anon, seo.ResolveRequest{Path: p})
			wantCode(t, err, transport.CodeInvalid)
		}
		_, err := f.client.Resolve(f.anon, seo.ResolveRequest{Path: "/$where"})
		wantCode(t, err, transport.CodeNotFound)
		_, err = f.client.Sitemap(f.anon, seo.SitemapRequest{Name: "../etc/passwd"})
		wantCode(t, err, transport.CodeInvalid)
		_, err = bus.Call(f.Admin, seo.MethodPut, []byte(`{"kind": "product", "entity_id": {"$ne": 1}}`))
		wantCode(t, err, transport.CodeInvalid)
	})
}

// TestMalformedEventsAreParked: an event that cannot be applied is retried
// and then parked in the dead-letter queue, never lost or looped.
func TestMalformedEventsAreParked(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus, seo.Options{})
		f.publish(t, shop.EventProductUpdated, json.RawMessage(`{"product": {"id": "p1", "slug": 7}}`))
		f.publish(t, shop.EventCategoryUpdated, shop.CategoryChanged{Category: shop.CategorySnapshot{ID: "c1", Slug: "c", Name: "No version"}})
		if err := bus.Publish(context.Background(), transport.Event{Key: shop.EventArticleCreated, Body: []byte(`["an", "array"]`)}); err != nil {
			t.Fatal(err)
		}
		var parked []string
		deadline := time.Now().Add(15 * time.Second)
		for len(parked) < 3 && time.Now().Before(deadline) {
			evs, err := bus.DrainDeadLetters(context.Background(), seo.ServiceName)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range evs {
				parked = append(parked, ev.Key)
			}
			time.Sleep(50 * time.Millisecond)
		}
		slices.Sort(parked)
		if want := []string{shop.EventArticleCreated, shop.EventCategoryUpdated, shop.EventProductUpdated}; !slices.Equal(parked, want) {
			t.Fatalf("parked %v, want %v", parked, want)
		}
		// Events of other kinds are not SEO's business: handled as no-ops.
		if err := f.srv.HandleEvent(context.Background(), transport.Event{Key: "cart.cart.updated", Body: []byte("{}")}); err != nil {
			t.Fatalf("unrelated event: %v", err)
		}
	})
}

// TestArticleEvents uses the real article service as the publisher.
func TestArticleEvents(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus, seo.Options{})
		asrv, err := article.New(testenv.MongoDB(t, "article_"+t.Name()), article.Options{Auth: f.Client, Events: bus})
		if err != nil {
			t.Fatal(err)
		}
		a, err := asrv.Create(f.Admin, article.CreateRequest{Title: "Spring Collection", Excerpt: "What is new this spring.", Status: article.StatusPublished})
		if err != nil {
			t.Fatal(err)
		}
		m := eventually(t, "article metadata", f.getMeta(f.anon, seo.KindArticle, a.ID), func(m seo.Metadata) bool { return m.Title != "" })
		if m.Title != "Spring Collection" || m.Description != "What is new this spring." || m.Path != "/blog/spring-collection" || m.OpenGraph.Type != "article" {
			t.Fatalf("article metadata %+v", m)
		}
		if _, err := asrv.Update(f.Admin, article.UpdateRequest{ID: a.ID, Slug: ptr("spring")}); err != nil {
			t.Fatal(err)
		}
		res := eventually(t, "article redirect", func() (seo.Resolution, error) {
			return f.client.Resolve(f.anon, seo.ResolveRequest{Path: "/blog/spring-collection"})
		}, func(r seo.Resolution) bool { return r.Redirect != "" })
		if res.Redirect != "/blog/spring" || res.Status != 301 {
			t.Fatalf("resolution %+v", res)
		}
		// A scheduled article stays hidden until its time.
		later, err := asrv.Create(f.Admin, article.CreateRequest{Title: "Later", Status: article.StatusPublished, PublishedAt: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "scheduled article known", f.getMeta(f.Admin, seo.KindArticle, later.ID), func(seo.Metadata) bool { return true })
		_, err = f.client.Get(f.anon, seo.GetRequest{Kind: seo.KindArticle, EntityID: later.ID})
		wantCode(t, err, transport.CodeNotFound)
	})
}

func ptr[T any](v T) *T { return &v }

func TestRedirects(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus, seo.Options{})
		resolve := func(path string) func() (seo.Resolution, error) {
			return func() (seo.Resolution, error) { return f.client.Resolve(f.anon, seo.ResolveRequest{Path: path}) }
		}
		f.productEvent(t, product("p1", "old", "Shoe", "", 1), "")
		r := eventually(t, "resolve old", resolve("/products/old"), func(r seo.Resolution) bool { return r.Metadata != nil })
		if r.Metadata.EntityID != "p1" || r.Redirect != "" {
			t.Fatalf("resolution %+v", r)
		}
		f.productEvent(t, product("p1", "middle", "Shoe", "", 2), "old")
		eventually(t, "redirect old", resolve("/products/old"), func(r seo.Resolution) bool {
			return r.Redirect == "/products/middle" && r.Status == seo.StatusMovedPermanently && r.Metadata == nil
		})
		f.productEvent(t, product("p1", "new", "Shoe", "", 3), "middle")
		eventually(t, "resolve new", resolve("/products/new"), func(r seo.Resolution) bool { return r.Metadata != nil })
		for _, old := range []string{"/products/old", "/products/middle", "/products/middle/", "/products/old?utm=x#top"} {
			r, err := f.client.Resolve(f.anon, seo.ResolveRequest{Path: old})
			if err != nil || r.Redirect != "/products/new" || r.Status != 301 {
				t.Fatalf("Resolve(%s) = %+v, %v; want one hop to /products/new", old, r, err)
			}
		}
		// A slug the service never saw, named as OldSlug, redirects too.
		f.publish(t, shop.EventCategoryUpdated, shop.CategoryChanged{Category: shop.CategorySnapshot{ID: "c1", Slug: "boots", Name: "Boots", Version: 7}, OldSlug: "booties"})
		eventually(t, "category old slug", resolve("/categories/booties"), func(r seo.Resolution) bool { return r.Redirect == "/categories/boots" })

		// Another entity taking an old path lives there: no redirect any more.
		f.productEvent(t, product("p2", "old", "Other", "", 1), "")
		r = eventually(t, "old path reused", resolve("/products/old"), func(r seo.Resolution) bool { return r.Metadata != nil })
		if r.Metadata.EntityID != "p2" {
			t.Fatalf("reused path resolves to %+v", r.Metadata)
		}
		_, err := f.client.Resolve(f.anon, seo.ResolveRequest{Path: "/products/never"})
		wantCode(t, err, transport.CodeNotFound)

		// Pages: written, moved (leaving a redirect), and not allowed on a
		// path another entity lives at.
		page, err := f.client.Put(f.Admin, seo.PutRequest{Kind: seo.KindPage, EntityID: "about", Path: "/about", Title: "About us"})
		if err != nil || page.Canonical != base+"/about" {
			t.Fatalf("page %+v, %v", page, err)
		}
		if _, err := f.client.Put(f.Admin, seo.PutRequest{Kind: seo.KindPage, EntityID: "about", Path: "/about-us", Title: "About us"}); err != nil {
			t.Fatal(err)
		}
		if r, err := f.client.Resolve(f.anon, seo.ResolveRequest{Path: "/about"}); err != nil || r.Redirect != "/about-us" {
			t.Fatalf("moved page: %+v, %v", r, err)
		}
		_, err = f.client.Put(f.Admin, seo.PutRequest{Kind: seo.KindPage, EntityID: "squatter", Path: "/products/new", Title: "Mine"})
		wantCode(t, err, transport.CodeConflict)
		if _, err := f.client.Delete(f.Admin, seo.DeleteRequest{Kind: seo.KindPage, EntityID: "about"}); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"/about", "/about-us"} {
			_, err = f.client.Resolve(f.anon, seo.ResolveRequest{Path: p})
			wantCode(t, err, transport.CodeNotFound)
		}
	})
}

// The sitemaps.org documents, for parsing the sitemap back.
type urlset struct {
	XMLName xml.Name `xml:"http://www.sitemaps.org/schemas/sitemap/0.9 urlset"`
	URLs    []struct {
		Loc     string `xml:"loc"`
		LastMod string `xml:"lastmod"`
	} `xml:"url"`
}

type sitemapIndex struct {
	XMLName  xml.Name `xml:"http://www.sitemaps.org/schemas/sitemap/0.9 sitemapindex"`
	Sitemaps []struct {
		Loc     string `xml:"loc"`
		LastMod string `xml:"lastmod"`
	} `xml:"sitemap"`
}

func parseXML(t *testing.T, body []byte, v any) {
	t.Helper()
	if !strings.HasPrefix(string(body), `<?xml version="1.0" encoding="UTF-8"?>`) {
		t.Fatalf("no XML declaration:\n%s", body)
	}
	d := xml.NewDecoder(strings.NewReader(string(body)))
	d.Strict = true
	if err := d.Decode(v); err != nil {
		t.Fatalf("sitemap does not parse: %v\n%s", err, body)
	}
}

func TestSitemap(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus, seo.Options{SitemapMaxURLs: 3})
		want := map[string]bool{}
		for i := 1; i <= 4; i++ {
			slug := fmt.Sprintf("item-%d", i)
			f.productEvent(t, product(fmt.Sprintf("p%d", i), slug, "Item", "", 1), "")
			want[base+"/products/"+slug] = true
		}
		f.productEvent(t, product("p5", "a&b", "Ampersand", "", 1), "")
		want[base+"/products/a&b"] = true
		hidden := product("p6", "hidden", "Draft", "", 1)
		hidden.Status = shop.StatusDraft
		f.productEvent(t, hidden, "")
		f.productEvent(t, product("p7", "noindexed", "Secret", "", 1), "")
		for _, c := range []shop.CategorySnapshot{{ID: "c1", Slug: "shoes", Name: "Shoes", Version: 1}, {ID: "c2", Slug: "hats", Name: "Hats", Version: 1}} {
			f.publish(t, shop.EventCategoryCreated, shop.CategoryChanged{Category: c})
			want[base+"/categories/"+c.Slug] = true
		}
		f.publish(t, shop.EventArticleCreated, shop.ArticleChanged{Article: shop.ArticleSnapshot{ID: "a1", Slug: "hello", Title: "Hello", Status: shop.StatusPublished, PublishedAt: time.Now().Add(-time.Hour), Version: 1}})
		want[base+"/blog/hello"] = true
		f.publish(t, shop.EventArticleCreated, shop.ArticleChanged{Article: shop.ArticleSnapshot{ID: "a2", Slug: "draft", Title: "Draft", Status: shop.StatusDraft, Version: 1}})
		if _, err := f.client.Put(f.Admin, seo.PutRequest{Kind: seo.KindPage, EntityID: "terms", Path: "/terms", Title: "Terms"}); err != nil {
			t.Fatal(err)
		}
		want[base+"/terms"] = true
		// Wait for every entity, the invisible ones too: the first request
		// builds the sitemap from them, packing its files full (changes
		// after that split and merge files locally).
		for _, id := range []string{"p1", "p2", "p3", "p4", "p5", "p6", "p7", "c1", "c2", "a1", "a2"} {
			kind := map[byte]seo.Kind{'p': seo.KindProduct, 'c': seo.KindCategory, 'a': seo.KindArticle}[id[0]]
			eventually(t, "entity "+id, f.getMeta(f.Admin, kind, id), func(seo.Metadata) bool { return true })
		}
		if _, err := f.client.Put(f.Admin, seo.PutRequest{Kind: seo.KindProduct, EntityID: "p7", Robots: "noindex"}); err != nil {
			t.Fatal(err)
		}

		// 9 URLs, 3 per file: an index of 3 parts.
		main := eventually(t, "sitemap index", func() (seo.SitemapFile, error) {
			return f.client.Sitemap(f.anon, seo.SitemapRequest{})
		}, func(s seo.SitemapFile) bool { return s.URLs == len(want) })
		if !main.Index || main.Parts != 3 || main.Name != "sitemap.xml" || main.ContentType != "application/xml" {
			t.Fatalf("main file %+v", main)
		}
		var idx sitemapIndex
		parseXML(t, main.Body, &idx)
		if len(idx.Sitemaps) != 3 {
			t.Fatalf("index lists %d sitemaps:\n%s", len(idx.Sitemaps), main.Body)
		}
		got := map[string]bool{}
		for i, sm := range idx.Sitemaps {
			name := fmt.Sprintf("sitemap-%d.xml", i+1)
			if sm.Loc != base+"/"+name {
				t.Fatalf("index entry %d is %q", i, sm.Loc)
			}
			if _, err := time.Parse(time.RFC3339, sm.LastMod); err != nil {
				t.Fatalf("index lastmod %q: %v", sm.LastMod, err)
			}
			part, err := f.client.Sitemap(f.anon, seo.SitemapRequest{Name: name})
			if err != nil {
				t.Fatal(err)
			}
			var us urlset
			parseXML(t, part.Body, &us)
			if len(us.URLs) == 0 || len(us.URLs) > 3 || part.URLs != len(us.URLs) || part.Index {
				t.Fatalf("%s has %d URLs (limit 3): %+v", name, len(us.URLs), part)
			}
			for _, u := range us.URLs {
				if got[u.Loc] {
					t.Fatalf("%s listed twice", u.Loc)
				}
				got[u.Loc] = true
				if _, err := time.Parse(time.RFC3339, u.LastMod); err != nil {
					t.Fatalf("lastmod %q: %v", u.LastMod, err)
				}
			}
		}
		if !mapsEqual(got, want) {
			t.Fatalf("sitemap lists %v\nwant %v", keys(got), keys(want))
		}
		_, err := f.client.Sitemap(f.anon, seo.SitemapRequest{Name: "sitemap-4.xml"})
		wantCode(t, err, transport.CodeNotFound)

		// An empty sitemap is an empty urlset.
		single, err := seo.New(testenv.MongoDB(t, "seo_single"), seo.Options{BaseURL: base})
		if err != nil {
			t.Fatal(err)
		}
		one, err := single.Sitemap(context.Background(), seo.SitemapRequest{})
		if err != nil || one.Index || one.URLs != 0 {
			t.Fatalf("empty sitemap %+v, %v", one, err)
		}
		var us urlset
		parseXML(t, one.Body, &us)
	})
}

func TestSitemapByteLimitAndSingleFile(t *testing.T) {
	bus := bustest.New(t, "inproc")
	f := start(t, bus, seo.Options{SitemapMaxBytes: 4096})
	for i := range 40 {
		f.productEvent(t, product(fmt.Sprintf("p%d", i), fmt.Sprintf("product-with-a-rather-long-slug-%02d", i), "P", "", 1), "")
	}
	main := eventually(t, "sitemap", func() (seo.SitemapFile, error) { return f.client.Sitemap(f.anon, seo.SitemapRequest{}) },
		func(s seo.SitemapFile) bool { return s.URLs == 40 })
	if !main.Index || main.Parts < 2 {
		t.Fatalf("40 long URLs in 4 KiB files: %+v", main)
	}
	total := 0
	for i := 1; i <= main.Parts; i++ {
		part, err := f.client.Sitemap(f.anon, seo.SitemapRequest{Name: fmt.Sprintf("sitemap-%d.xml", i)})
		if err != nil {
			t.Fatal(err)
		}
		if len(part.Body) > 4096 {
			t.Fatalf("part %d has %d bytes", i, len(part.Body))
		}
		var us urlset
		parseXML(t, part.Body, &us)
		total += len(us.URLs)
	}
	if total != 40 {
		t.Fatalf("parts hold %d URLs, want 40", total)
	}
	// Without the byte limit they fit one file, which is then the main one.
	single, err := seo.New(testenv.MongoDB(t, "seo_"+t.Name()), seo.Options{BaseURL: base})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		body, _ := json.Marshal(shop.ProductChanged{Product: product(fmt.Sprintf("p%d", i), fmt.Sprintf("s%d", i), "P", "", 1)})
		if err := single.HandleEvent(context.Background(), transport.Event{Key: shop.EventProductCreated, Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	one, err := single.Sitemap(context.Background(), seo.SitemapRequest{Name: "sitemap.xml"})
	if err != nil || one.Index || one.Parts != 1 || one.URLs != 5 {
		t.Fatalf("single sitemap %+v, %v", one, err)
	}
	var us urlset
	parseXML(t, one.Body, &us)
	if len(us.URLs) != 5 {
		t.Fatalf("single sitemap lists %d URLs", len(us.URLs))
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	db := testenv.MongoDB(t, "seo_"+t.Name())
	for _, o := range []seo.Options{
		{BaseURL: "shop.test"},
		{BaseURL: "ftp://shop.test"},
		{ProductPrefix: "products"},
		{SitemapMaxURLs: 50_001},
		{SitemapMaxBytes: 100},
	} {
		if _, err := seo.New(db, o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	if _, err := seo.New(db, seo.Options{}); err != nil {
		t.Fatal(err)
	}
	// Without a base URL there is no sitemap.
	srv, _ := seo.New(db, seo.Options{})
	_, err := srv.Sitemap(context.Background(), seo.SitemapRequest{})
	wantCode(t, err, transport.CodeUnavailable)
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
