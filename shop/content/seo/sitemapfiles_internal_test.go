package seo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopbus/shopbus/shop"
)

// filesCache returns a built, empty sitemap cache with the given limits,
// without a database (changes are noted as a Server's writes note them).
func filesCache(maxURLs, maxBytes int, now func() time.Time) *sitemapCache {
	srv := &Server{opts: Options{BaseURL: "https://shop.test", SitemapMaxURLs: maxURLs, SitemapMaxBytes: maxBytes,
		SitemapMaxAge: time.Hour, Now: now}}
	srv.sitemap = &sitemapCache{s: srv, items: map[string]*sitemapItem{}, dirty: map[string]*sitemapItem{}, built: true, builtAt: now()}
	return srv.sitemap
}

// checkView checks v against what c's items say is visible at now: the
// files list exactly those items, in path order, each file within the
// limits and not empty (but for the one file of an empty sitemap), and no
// two neighbouring files are both under a quarter of the limits.
func checkView(t *testing.T, c *sitemapCache, v *sitemapView, now time.Time) {
	t.Helper()
	var want []*sitemapItem
	for _, it := range c.items {
		if it.listed && (it.visibleFrom == nil || !it.visibleFrom.After(now)) {
			want = append(want, it)
		}
	}
	slices.SortFunc(want, (*sitemapItem).less)
	var got []*sitemapItem
	opts := c.s.opts
	for i, f := range v.files {
		body := f.bytes()
		if len(body) != f.size || len(body) > opts.SitemapMaxBytes || len(f.items) > opts.SitemapMaxURLs {
			t.Fatalf("file %d: %d bytes (size %d), %d URLs; limits %d bytes, %d URLs", i+1, len(body), f.size, len(f.items), opts.SitemapMaxBytes, opts.SitemapMaxURLs)
		}
		if len(f.items) == 0 && len(v.files) > 1 {
			t.Fatalf("file %d of %d is empty", i+1, len(v.files))
		}
		if i > 0 {
			p := v.files[i-1]
			if c.fullness(p.size, len(p.items)) < 0.25 && c.fullness(f.size, len(f.items)) < 0.25 {
				t.Fatalf("files %d and %d are both under a quarter full (%d and %d URLs)", i, i+1, len(p.items), len(f.items))
			}
		}
		for _, it := range f.items {
			if !strings.Contains(string(body), it.entry.xml) {
				t.Fatalf("file %d does not render %s", i+1, it.entry.path)
			}
		}
		got = append(got, f.items...)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("files list %d items, want %d (or another order)", len(got), len(want))
	}
	if v.urls != len(want) {
		t.Fatalf("view counts %d URLs, want %d", v.urls, len(want))
	}
}

// TestSitemapFilesFollowChanges makes thousands of random writes (new
// entities, renames with paths of random lengths, unpublishing, deletion,
// articles scheduled for later) and checks every view against the items
// it should list, for several limits: the files changed one by one keep
// the sitemap exact and within the limits.
func TestSitemapFilesFollowChanges(t *testing.T) {
	for _, lim := range []struct{ urls, bytes int }{{3, 4096}, {20, 4096}, {500, 8192}} {
		t.Run(fmt.Sprintf("%d-urls-%d-bytes", lim.urls, lim.bytes), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(lim.urls), uint64(lim.bytes)))
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			c := filesCache(lim.urls, lim.bytes, func() time.Time { return now })
			revs := map[string]int64{}
			views := 0
			for step := range 6000 {
				id := fmt.Sprintf("e%d", rng.IntN(600))
				d := &entityDoc{ID: entityKey(KindArticle, id), Kind: KindArticle, EntityID: id,
					Path:      fmt.Sprintf("/blog/%s-%s", strings.Repeat("x", rng.IntN(300)), id),
					Published: rng.IntN(6) > 0, Deleted: rng.IntN(20) == 0, LastMod: now}
				if rng.IntN(10) == 0 {
					at := now.Add(time.Duration(rng.IntN(20)) * time.Minute)
					d.VisibleFrom = &at
				}
				revs[d.ID]++
				d.Rev = revs[d.ID]
				if rng.IntN(10) == 0 && d.Rev > 1 {
					d.Rev-- // an older revision arriving late: ignored
				}
				c.note(d)
				if rng.IntN(4) == 0 {
					now = now.Add(time.Minute)
				}
				// Views now and then: after one change, or many.
				if rng.IntN(1+step%40) == 0 {
					c.mu.Lock()
					v := c.makeView(now)
					c.mu.Unlock()
					checkView(t, c, v, now)
					views++
				}
			}
			if views < 100 {
				t.Fatalf("only %d views", views)
			}
		})
	}
}

// TestSitemapChangeRendersOneFile: after one change, the files it does
// not touch keep their rendered bytes; only the file the item leaves and
// the one it enters are made (and rendered) again.
func TestSitemapChangeRendersOneFile(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := filesCache(100, 512<<10, func() time.Time { return now })
	doc := func(i int, path string, rev int64) *entityDoc {
		id := fmt.Sprintf("p%05d", i)
		return &entityDoc{ID: entityKey(KindProduct, id), Kind: KindProduct, EntityID: id, Path: path,
			Published: true, LastMod: now, Rev: rev}
	}
	items := map[string]*sitemapItem{}
	for i := range 5000 {
		it := c.s.sitemapItem(doc(i, fmt.Sprintf("/products/item-%05d", i), 1))
		items[it.key] = it
	}
	c.files, c.pending = c.pack(items, now) // what a scan makes
	c.items = items
	view := func() *sitemapView {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.makeView(now)
	}
	before := view()
	if len(before.files) != 50 {
		t.Fatalf("5,000 URLs in %d files of 100", len(before.files))
	}
	for _, f := range before.files {
		f.bytes()
	}
	for step, change := range []struct {
		doc     *entityDoc
		touched int // files made again
	}{
		{doc(1234, "/products/item-01234-renamed", 2), 1},                            // stays in its file
		{doc(1234, "/products/item-04321-moved", 3), 3},                              // leaves a file; the full one it enters splits
		{&entityDoc{ID: entityKey(KindProduct, "p00007"), Rev: 2}, 1},                // unlisted
		{doc(6000, "/products/item-02500-new", 1), 2},                                // a full file splits in two
		{doc(4999, "/products/item-04999", 2), 1},                                    // the same path again
		{&entityDoc{ID: entityKey(KindProduct, "p04999"), Rev: 3}, 1},                // the last file loses an item
		{doc(4999, "/products/item-04999", 4), 1},                                    // and gets it back
		{&entityDoc{ID: entityKey(KindProduct, "p01234"), Deleted: true, Rev: 4}, 1}, // deleted
	} {
		c.note(change.doc)
		after := view()
		old := map[*sitemapFile]bool{}
		for _, f := range before.files {
			old[f] = true
		}
		made := 0
		for _, f := range after.files {
			switch {
			case !old[f]:
				made++
				if f.body != nil {
					t.Fatalf("change %d: a new file was rendered before its request", step)
				}
			case f.body == nil:
				t.Fatalf("change %d: an untouched file lost its rendered bytes", step)
			}
		}
		if made != change.touched {
			t.Fatalf("change %d made %d files again, want %d", step, made, change.touched)
		}
		checkView(t, c, after, now) // renders every file
		before = after
	}
}

// TestSitemapConcurrentRequests serves files while writes change them
// (run with -race): every answer parses as the file it names, and the
// sitemap ends up exact.
func TestSitemapConcurrentRequests(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := filesCache(40, 8192, func() time.Time { return now })
	srv := c.s
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range 400 {
				id := fmt.Sprintf("p%d", (i*7+w*13)%300)
				c.note(&entityDoc{ID: entityKey(KindProduct, id), Kind: KindProduct, EntityID: id,
					Path: fmt.Sprintf("/products/%d-%s", i%50, id), Published: i%9 != 0, LastMod: now, Rev: int64(i + 1)})
			}
		}()
		go func() {
			defer wg.Done()
			for i := range 400 {
				name := SitemapIndexName
				if i%5 != 0 {
					name = fmt.Sprintf(sitemapPartFmt, 1+i%7)
				}
				f, err := srv.Sitemap(context.Background(), SitemapRequest{Name: name})
				if errors.Is(err, shop.ErrNotFound) {
					continue // fewer files at that moment
				}
				if err != nil || !strings.HasPrefix(string(f.Body), xmlHeader) || f.Index != (strings.Contains(string(f.Body), indexOpen)) {
					t.Errorf("%s: %+v, %v", name, f, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	c.mu.Lock()
	v := c.makeView(now)
	c.mu.Unlock()
	checkView(t, c, v, now)
}
