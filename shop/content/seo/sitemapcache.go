package seo

import (
	"context"
	"encoding/xml"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/transport"
)

// DefaultSitemapMaxAge is how stale a sitemap may be, at most, with
// respect to writes made by other replicas of the service (see
// Options.SitemapMaxAge).
const DefaultSitemapMaxAge = time.Minute

// smallChange is the most changes applied one by one to the sorted list
// of the sitemap; with more it is sorted again.
const smallChange = 512

// sitemapItem is an entity the sitemap may list: published, not deleted,
// with a path, indexable and canonical where it lives. Whether it is
// visible yet (VisibleFrom) is decided when the sitemap is served.
type sitemapItem struct {
	key         string // entityKey
	rev         int64  // the entity document's Rev
	listed      bool   // false: a write made the entity unlisted
	entry       sitemapEntry
	visibleFrom *time.Time
}

// less orders items by path, then key (two entities may share a path
// for a moment while one takes it over from the other).
func (a *sitemapItem) less(b *sitemapItem) int {
	if c := strings.Compare(a.entry.path, b.entry.path); c != 0 {
		return c
	}
	return strings.Compare(a.key, b.key)
}

// sitemapCache keeps the sitemap in memory so that it is served without
// reading the database: built from a scan of the entities on first use,
// then kept up to date with this Server's own writes (events and admin
// writes go through save), and rebuilt in the background once it is older
// than Options.SitemapMaxAge, to take in what other replicas wrote. While
// a rebuild runs, the previous sitemap is served.
type sitemapCache struct {
	s *Server

	mu      sync.Mutex
	built   bool
	builtAt time.Time               // when the scan behind items started
	items   map[string]*sitemapItem // by key: the current state
	sorted  []*sitemapItem          // listed items by path, as of the last view
	// dirty holds the keys changed since the last view, with the item
	// sorted holds for them (nil: none). Items are never changed once
	// made: views share them.
	dirty map[string]*sitemapItem
	view  *sitemapView // nil: to be made again
	// building is closed when the scan in progress ends; nil when none
	// runs. since holds the writes noted meanwhile, to apply on top.
	building chan struct{}
	buildErr error
	since    map[string]*sitemapItem
}

// sitemapView is the sitemap as served until the next change.
type sitemapView struct {
	entries    []*sitemapItem // the visible items, by path
	parts      []sitemapPart
	bodies     map[int][]byte // rendered files; 0 is the main file
	validUntil time.Time      // when an item scheduled for later becomes visible
}

// item makes the sitemap item of d.
func (s *Server) sitemapItem(d *entityDoc) *sitemapItem {
	it := &sitemapItem{key: d.ID, rev: d.Rev}
	if d.Deleted || !d.Published || d.Path == "" || noindex(d.Explicit.Robots) {
		return it
	}
	loc := s.absolute(d.Path)
	if c := d.Explicit.Canonical; c != "" && s.absolute(c) != loc {
		return it // the canonical URL is listed by the entity living there
	}
	if len(loc) > MaxURLLen {
		return it
	}
	var b strings.Builder
	b.WriteString("<url><loc>")
	_ = xml.EscapeText(&b, []byte(loc))
	b.WriteString("</loc>")
	lastMod := d.LastMod.UTC()
	if !lastMod.IsZero() {
		b.WriteString("<lastmod>" + lastMod.Format(time.RFC3339) + "</lastmod>")
	}
	b.WriteString("</url>\n")
	it.listed = true
	it.entry = sitemapEntry{path: d.Path, xml: b.String(), lastMod: lastMod}
	if d.VisibleFrom != nil {
		t := *d.VisibleFrom
		it.visibleFrom = &t
	}
	return it
}

// note records a write of d this Server made.
func (c *sitemapCache) note(d *entityDoc) {
	it := c.s.sitemapItem(d)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.building != nil {
		if prev, ok := c.since[it.key]; !ok || prev.rev <= it.rev {
			c.since[it.key] = it
		}
	}
	if c.built {
		c.apply(it)
	}
}

// apply puts it in items unless items holds a later revision, and marks
// the key dirty. c.mu is held.
func (c *sitemapCache) apply(it *sitemapItem) {
	prev, ok := c.items[it.key]
	if ok && prev.rev > it.rev {
		return
	}
	if _, seen := c.dirty[it.key]; !seen {
		if ok && prev.listed {
			c.dirty[it.key] = prev
		} else {
			c.dirty[it.key] = nil
		}
	}
	c.items[it.key] = it
	c.view = nil
}

// current returns the view to serve, building the sitemap first if it
// was never built and starting a rebuild if it is too old.
func (c *sitemapCache) current(ctx context.Context) (*sitemapView, error) {
	c.mu.Lock()
	if !c.built {
		done := c.startBuild()
		c.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return nil, transport.ContextError(ctx)
		}
		c.mu.Lock()
		if !c.built {
			err := c.buildErr
			c.mu.Unlock()
			return nil, err
		}
	} else if c.building == nil && c.s.opts.Now().Sub(c.builtAt) >= c.s.opts.SitemapMaxAge {
		c.startBuild() // serve this one meanwhile
	}
	defer c.mu.Unlock()
	now := c.s.opts.Now()
	if c.view == nil || !c.view.validUntil.IsZero() && !now.Before(c.view.validUntil) {
		c.view = c.makeView(now)
	}
	return c.view, nil
}

// startBuild starts a scan unless one runs, and returns the channel
// closed when it ends. c.mu is held.
func (c *sitemapCache) startBuild() chan struct{} {
	if c.building != nil {
		return c.building
	}
	done := make(chan struct{})
	c.building, c.since = done, map[string]*sitemapItem{}
	started := c.s.opts.Now()
	go func() {
		// A build is shared by every request waiting for it: it does not
		// end with the request that started it.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		items, err := c.s.scanSitemap(ctx)
		cancel()
		c.mu.Lock()
		defer c.mu.Unlock()
		defer close(done)
		c.building, c.buildErr = nil, err
		since := c.since
		c.since = nil
		if err != nil {
			c.s.opts.Logger.Warn("seo: cannot build the sitemap", "err", err)
			return
		}
		for _, it := range since {
			if prev, ok := items[it.key]; !ok || prev.rev <= it.rev {
				items[it.key] = it
			}
		}
		c.items, c.builtAt, c.built = items, started, true
		c.sorted = c.sorted[:0]
		for _, it := range items {
			if it.listed {
				c.sorted = append(c.sorted, it)
			}
		}
		slices.SortFunc(c.sorted, (*sitemapItem).less)
		c.dirty, c.view = map[string]*sitemapItem{}, nil
	}()
	return done
}

// makeView brings the sorted list up to date and cuts it into files.
// c.mu is held.
func (c *sitemapCache) makeView(now time.Time) *sitemapView {
	if len(c.dirty) > smallChange {
		c.sorted = c.sorted[:0]
		for _, it := range c.items {
			if it.listed {
				c.sorted = append(c.sorted, it)
			}
		}
		slices.SortFunc(c.sorted, (*sitemapItem).less)
	} else {
		for key, old := range c.dirty {
			if old != nil {
				if i, found := slices.BinarySearchFunc(c.sorted, old, (*sitemapItem).less); found {
					c.sorted = slices.Delete(c.sorted, i, i+1)
				}
			}
			if it := c.items[key]; it != nil && it.listed {
				i, _ := slices.BinarySearchFunc(c.sorted, it, (*sitemapItem).less)
				c.sorted = slices.Insert(c.sorted, i, it)
			}
		}
	}
	clear(c.dirty)
	// The view gets a copy of the list (pointers only), which later
	// changes to the list do not touch.
	v := &sitemapView{entries: make([]*sitemapItem, 0, len(c.sorted)), bodies: map[int][]byte{}}
	for _, it := range c.sorted {
		if it.visibleFrom != nil && it.visibleFrom.After(now) {
			if v.validUntil.IsZero() || it.visibleFrom.Before(v.validUntil) {
				v.validUntil = *it.visibleFrom
			}
			continue
		}
		v.entries = append(v.entries, it)
	}
	v.parts = c.s.split(v.entries)
	return v
}

// body returns the rendered file of part n (0: the main file) of v.
// c.mu guards the cache of rendered files.
func (c *sitemapCache) body(v *sitemapView, n int) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := v.bodies[n]; ok {
		return b
	}
	var b []byte
	switch {
	case n > 0:
		b = urlset(v.parts[n-1])
	case len(v.parts) == 1:
		b = urlset(v.parts[0])
	default:
		b = c.s.index(v.parts)
	}
	v.bodies[n] = b
	return b
}

// scanSitemap reads every published entity's sitemap item.
func (s *Server) scanSitemap(ctx context.Context) (map[string]*sitemapItem, error) {
	cur, err := s.entities.Find(ctx, bson.D{{Key: "published", Value: true}},
		options.Find().SetProjection(bson.D{
			{Key: "kind", Value: 1}, {Key: "entity_id", Value: 1}, {Key: "path", Value: 1},
			{Key: "deleted", Value: 1}, {Key: "published", Value: 1}, {Key: "visible_from", Value: 1},
			{Key: "explicit", Value: 1}, {Key: "last_mod", Value: 1}, {Key: "rev", Value: 1},
		}))
	if err != nil {
		return nil, shop.StorageFailure(ctx, "seo: sitemap", err)
	}
	defer cur.Close(ctx)
	items := map[string]*sitemapItem{}
	for cur.Next(ctx) {
		var d entityDoc
		if err := cur.Decode(&d); err != nil {
			return nil, shop.StorageFailure(ctx, "seo: sitemap", err)
		}
		if it := s.sitemapItem(&d); it.listed {
			items[it.key] = it
		}
	}
	if err := cur.Err(); err != nil {
		return nil, shop.StorageFailure(ctx, "seo: sitemap", err)
	}
	return items, nil
}
