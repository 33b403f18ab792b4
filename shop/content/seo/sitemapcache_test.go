package seo_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/content/seo"
	"github.com/shopbus/shopbus/transport"
)

// clock is a settable clock for Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func handle(t *testing.T, srv *seo.Server, key string, body any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.HandleEvent(context.Background(), transport.Event{ID: transport.NewRequestID(), Key: key, Body: b}); err != nil {
		t.Fatal(err)
	}
}

func sitemapURLs(t *testing.T, srv *seo.Server) string {
	t.Helper()
	f, err := srv.Sitemap(context.Background(), seo.SitemapRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var us urlset
	parseXML(t, f.Body, &us)
	var locs []string
	for _, u := range us.URLs {
		locs = append(locs, strings.TrimPrefix(u.Loc, base))
	}
	if len(locs) != f.URLs {
		t.Fatalf("the file says %d URLs and lists %d", f.URLs, len(locs))
	}
	return strings.Join(locs, " ")
}

// TestSitemapReplicas: the sitemap is served from memory. The replica
// that applies a change lists it at once; another replica of the same
// database lists it once its sitemap is older than SitemapMaxAge (it is
// rebuilt in the background, serving the previous one meanwhile), never
// later. Changes a replica makes while it rebuilds are kept.
func TestSitemapReplicas(t *testing.T) {
	db := testenv.MongoDB(t, "seo_replicas")
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	opts := seo.Options{BaseURL: base, Now: clk.Now, SitemapMaxAge: time.Minute}
	a, err := seo.New(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := seo.New(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	created := func(srv *seo.Server, id, slug string, version int64, status string) {
		t.Helper()
		p := product(id, slug, "Item "+id, "", version)
		p.Status = status
		key := shop.EventProductUpdated
		if version == 1 {
			key = shop.EventProductCreated
		}
		handle(t, srv, key, shop.ProductChanged{Product: p, Occurred: clk.Now()})
	}
	created(a, "p1", "one", 1, shop.StatusPublished)
	if got := sitemapURLs(t, a); got != "/products/one" {
		t.Fatalf("a lists %q", got)
	}
	if got := sitemapURLs(t, b); got != "/products/one" {
		t.Fatalf("b, built after the write, lists %q", got)
	}

	// a's own writes show at once on a, even a rename and an unpublishing.
	created(a, "p2", "two", 1, shop.StatusPublished)
	created(a, "p1", "first", 2, shop.StatusPublished)
	created(a, "p3", "three", 1, shop.StatusPublished)
	created(a, "p3", "three", 2, shop.StatusDraft)
	if got := sitemapURLs(t, a); got != "/products/first /products/two" {
		t.Fatalf("a lists %q after its own writes", got)
	}
	// b still serves what it built: younger than SitemapMaxAge.
	clk.add(59 * time.Second)
	if got := sitemapURLs(t, b); got != "/products/one" {
		t.Fatalf("b lists %q within SitemapMaxAge", got)
	}
	// Older: the request starts a rebuild; b's own write meanwhile is kept.
	clk.add(2 * time.Second)
	sitemapURLs(t, b)
	created(b, "p4", "four", 1, shop.StatusPublished)
	want := "/products/first /products/four /products/two"
	deadline := time.Now().Add(10 * time.Second)
	for got := sitemapURLs(t, b); got != want; got = sitemapURLs(t, b) {
		if time.Now().After(deadline) {
			t.Fatalf("b lists %q after SitemapMaxAge, want %q", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSitemapScheduledArticle: an article published for later enters the
// sitemap when its time comes, without any write.
func TestSitemapScheduledArticle(t *testing.T) {
	db := testenv.MongoDB(t, "seo_scheduled")
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	srv, err := seo.New(db, seo.Options{BaseURL: base, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	for i, at := range []time.Time{clk.Now().Add(-time.Hour), clk.Now().Add(time.Hour)} {
		handle(t, srv, shop.EventArticleCreated, shop.ArticleChanged{Article: shop.ArticleSnapshot{
			ID: fmt.Sprintf("a%d", i), Slug: fmt.Sprintf("post-%d", i), Title: "Post", Status: shop.StatusPublished, PublishedAt: at, Version: 1}})
	}
	if got := sitemapURLs(t, srv); got != "/blog/post-0" {
		t.Fatalf("before the scheduled time: %q", got)
	}
	clk.add(time.Hour)
	if got := sitemapURLs(t, srv); got != "/blog/post-0 /blog/post-1" {
		t.Fatalf("at the scheduled time: %q", got)
	}
}

// TestSitemapBuiltAtStart: a sitemap built when the service starts
// (BuildSitemap, as hosts call it) over an empty store is kept up to date
// by the writes that follow, and the first request is served without a
// scan of what they wrote: the entities are deleted from the store behind
// the service's back, and the sitemap still lists them.
func TestSitemapBuiltAtStart(t *testing.T) {
	bus := bustest.New(t, "inproc")
	f := start(t, bus, seo.Options{})
	f.srv.BuildSitemap()
	for i := 1; i <= 3; i++ {
		f.productEvent(t, product(fmt.Sprintf("p%d", i), fmt.Sprintf("item-%d", i), "Item", "", 1), "")
	}
	for i := 1; i <= 3; i++ {
		eventually(t, "entity", f.getMeta(f.Admin, seo.KindProduct, fmt.Sprintf("p%d", i)), func(seo.Metadata) bool { return true })
	}
	if _, err := f.db.Collection("entities").DeleteMany(context.Background(), bson.D{}); err != nil {
		t.Fatal(err)
	}
	sm, err := f.client.Sitemap(f.anon, seo.SitemapRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if loc := fmt.Sprintf("%s/products/item-%d", base, i); !strings.Contains(string(sm.Body), loc) {
			t.Fatalf("the sitemap does not list %s: a scan built it, not the writes\n%s", loc, sm.Body)
		}
	}
}
