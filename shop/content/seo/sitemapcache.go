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
//
// The listed items are kept in files (sitemapFile): runs of the items in
// path order, each within the protocol's limits. A scan packs them full;
// afterwards a change touches only the file its item leaves and the one it
// enters: such a file is copied with the change, split in two when it
// outgrows a limit, dropped when empty and merged with a neighbour when
// nearly empty, and rendered again on its next request. The other files
// keep their rendered bytes, so what a request costs after a change does
// not grow with the size of the shop. Items visible only from a later
// time wait outside the files (pending) until then.
type sitemapCache struct {
	s *Server

	mu      sync.Mutex
	built   bool
	builtAt time.Time               // when the scan behind items started
	items   map[string]*sitemapItem // by key: the current state
	files   []*sitemapFile          // the visible listed items, by path, as of the last view
	// pending holds the listed items not visible yet as of the last view,
	// by key; next is the earliest time one becomes visible.
	pending map[string]*sitemapItem
	next    time.Time
	// dirty holds the keys changed since the last view, with the item
	// files or pending hold for them (nil: none). Items and files are never
	// changed once made: views share them.
	dirty map[string]*sitemapItem
	view  *sitemapView // nil: to be made again
	// building is closed when the scan in progress ends; nil when none
	// runs. since holds the writes noted meanwhile, to apply on top.
	building chan struct{}
	buildErr error
	since    map[string]*sitemapItem
}

// sitemapFile is one urlset file: a run of the listed items in path
// order. It is not changed once made, except for its rendered body, made
// on first use.
type sitemapFile struct {
	items   []*sitemapItem
	size    int // bytes of the rendered file
	lastMod time.Time
	render  sync.Once
	body    []byte
}

// sitemapView is the sitemap as served until the next change.
type sitemapView struct {
	files      []*sitemapFile // at least one, maybe empty
	urls       int
	validUntil time.Time // when an item scheduled for later becomes visible
	render     sync.Once
	index      []byte
}

// fileOverhead is the size of a urlset file without its entries.
const fileOverhead = len(xmlHeader) + len(urlsetOpen) + len(urlsetClose)

// newFile makes the file of items (sorted, not shared with anything that
// changes them).
func newFile(items []*sitemapItem) *sitemapFile {
	f := &sitemapFile{items: items, size: fileOverhead}
	for _, it := range items {
		f.size += len(it.entry.xml)
		if it.entry.lastMod.After(f.lastMod) {
			f.lastMod = it.entry.lastMod
		}
	}
	return f
}

// bytes returns the rendered file.
func (f *sitemapFile) bytes() []byte {
	f.render.Do(func() { f.body = urlset(f) })
	return f.body
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

// BuildSitemap starts building the in-memory sitemap in the background,
// unless it is built or being built, and returns at once. A host calls it
// when it starts the service: the sitemap is then ready, or closer to it,
// by the first request, and on an empty shop (a first start, before a
// seed) it is built at once and kept up to date by the writes that follow,
// so that no request waits for a scan of what they wrote. Without it the
// first request starts the build and waits for it.
func (s *Server) BuildSitemap() {
	c := s.sitemap
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.built {
		c.startBuild()
	}
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
		defer close(done) // after the lock is released
		// A build is shared by every request waiting for it: it does not
		// end with the request that started it.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		items, err := c.s.scanSitemap(ctx)
		cancel()
		var files []*sitemapFile
		var pending map[string]*sitemapItem
		if err == nil {
			// Sorted and packed without the lock: requests meanwhile
			// get the sitemap being replaced.
			files, pending = c.pack(items, started)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.building, c.buildErr = nil, err
		since := c.since
		c.since = nil
		if err != nil {
			c.s.opts.Logger.Warn("seo: cannot build the sitemap", "err", err)
			return
		}
		// The writes noted during the scan are changes of what it packed.
		dirty := map[string]*sitemapItem{}
		for _, it := range since {
			prev, ok := items[it.key]
			if ok && prev.rev > it.rev {
				continue
			}
			dirty[it.key] = prev // listed: the scan keeps listed items only
			items[it.key] = it
		}
		c.items, c.builtAt, c.built = items, started, true
		c.files, c.pending, c.next = files, pending, earliest(pending)
		c.dirty, c.view = dirty, nil
	}()
	return done
}

// pack sorts the items visible at now into files, each as full as the
// limits allow, and returns them with the items visible later.
func (c *sitemapCache) pack(items map[string]*sitemapItem, now time.Time) ([]*sitemapFile, map[string]*sitemapItem) {
	sorted := make([]*sitemapItem, 0, len(items))
	pending := map[string]*sitemapItem{}
	for _, it := range items {
		switch {
		case !it.listed:
		case it.visibleFrom != nil && it.visibleFrom.After(now):
			pending[it.key] = it
		default:
			sorted = append(sorted, it)
		}
	}
	slices.SortFunc(sorted, (*sitemapItem).less)
	var files []*sitemapFile
	maxURLs, maxBytes := c.s.opts.SitemapMaxURLs, c.s.opts.SitemapMaxBytes
	lo, size := 0, fileOverhead
	for i, it := range sorted {
		if i > lo && (i-lo >= maxURLs || size+len(it.entry.xml) > maxBytes) {
			files = append(files, newFile(sorted[lo:i:i]))
			lo, size = i, fileOverhead
		}
		size += len(it.entry.xml)
	}
	if lo < len(sorted) {
		files = append(files, newFile(sorted[lo:len(sorted):len(sorted)]))
	}
	return files, pending
}

// earliest returns the earliest time an item of pending becomes visible
// (zero when none).
func earliest(pending map[string]*sitemapItem) time.Time {
	var t time.Time
	for _, it := range pending {
		if t.IsZero() || it.visibleFrom.Before(t) {
			t = *it.visibleFrom
		}
	}
	return t
}

// fileChange is what one view changes in one file: the items that leave
// it and those that enter it.
type fileChange struct {
	out map[*sitemapItem]bool
	in  []*sitemapItem
}

// makeView applies the changes since the last view to the files they
// touch, and makes the view. c.mu is held.
func (c *sitemapCache) makeView(now time.Time) *sitemapView {
	if c.pending == nil {
		c.pending = map[string]*sitemapItem{}
	}
	changes := map[int]*fileChange{}
	change := func(i int) *fileChange {
		ch := changes[i]
		if ch == nil {
			ch = &fileChange{out: map[*sitemapItem]bool{}}
			changes[i] = ch
		}
		return ch
	}
	enter := func(it *sitemapItem) {
		if it.visibleFrom != nil && it.visibleFrom.After(now) {
			c.pending[it.key] = it
			return
		}
		ch := change(c.fileOf(it))
		ch.in = append(ch.in, it)
	}
	for key, old := range c.dirty {
		switch {
		case old == nil:
		case c.pending[key] == old:
			delete(c.pending, key)
		default:
			ch := change(c.fileOf(old))
			ch.out[old] = true
		}
		if it := c.items[key]; it != nil && it.listed {
			enter(it)
		}
	}
	clear(c.dirty)
	if !c.next.IsZero() && !now.Before(c.next) {
		for key, it := range c.pending {
			if !it.visibleFrom.After(now) {
				delete(c.pending, key)
				enter(it)
			}
		}
	}
	c.next = earliest(c.pending)
	if len(changes) > 0 {
		c.files = c.rewrite(changes)
	}
	v := &sitemapView{files: c.files, validUntil: c.next}
	if len(v.files) == 0 {
		v.files = []*sitemapFile{newFile(nil)}
	}
	for _, f := range c.files {
		v.urls += len(f.items)
	}
	return v
}

// fileOf returns the index of the file where it belongs: the last one
// whose first item is not after it (0 when there is none).
func (c *sitemapCache) fileOf(it *sitemapItem) int {
	i, found := slices.BinarySearchFunc(c.files, it, func(f *sitemapFile, it *sitemapItem) int {
		return f.items[0].less(it)
	})
	if found || i == 0 {
		return i
	}
	return i - 1
}

// rewrite returns the files with changes applied: each changed file
// copied with its items out and in, split while over a limit, dropped
// when empty; a file made here or next to a dropped one is merged with a
// neighbour when under a quarter of the limits while the two fit in
// three quarters (so no two neighbours are both under a quarter). The
// other files are kept as they are. c.mu is held.
func (c *sitemapCache) rewrite(changes map[int]*fileChange) []*sitemapFile {
	out := make([]*sitemapFile, 0, len(c.files)+len(changes))
	// check holds the files to merge if small: those made here, and the
	// neighbours of a file dropped here.
	check := map[*sitemapFile]bool{}
	checkNext := false
	n := max(len(c.files), 1) // with no file yet, items go to file 0
	for i := range n {
		ch := changes[i]
		if ch == nil {
			if i < len(c.files) {
				out = append(out, c.files[i])
				check[c.files[i]] = check[c.files[i]] || checkNext
				checkNext = false
			}
			continue
		}
		var old []*sitemapItem
		if i < len(c.files) {
			old = c.files[i].items
		}
		slices.SortFunc(ch.in, (*sitemapItem).less)
		items := make([]*sitemapItem, 0, len(old)+len(ch.in))
		j := 0
		for _, it := range old {
			if ch.out[it] {
				continue
			}
			for ; j < len(ch.in) && ch.in[j].less(it) < 0; j++ {
				items = append(items, ch.in[j])
			}
			items = append(items, it)
		}
		items = append(items, ch.in[j:]...)
		files := c.split(items)
		if len(files) == 0 {
			if len(out) > 0 {
				check[out[len(out)-1]] = true
			}
			checkNext = true
			continue
		}
		for _, f := range files {
			check[f] = true
			out = append(out, f)
		}
		checkNext = false
	}
	// Merge small files with a neighbour.
	for i := 0; i < len(out); i++ {
		f := out[i]
		if !check[f] || c.fullness(f.size, len(f.items)) >= 0.25 {
			continue
		}
		best := -1
		for _, j := range []int{i - 1, i + 1} {
			if j < 0 || j >= len(out) {
				continue
			}
			if c.fullness(f.size+out[j].size-fileOverhead, len(f.items)+len(out[j].items)) <= 0.75 &&
				(best < 0 || len(out[j].items) < len(out[best].items)) {
				best = j
			}
		}
		if best < 0 {
			continue
		}
		lo := min(i, best)
		merged := newFile(slices.Concat(out[lo].items, out[lo+1].items))
		check[merged] = true
		out = slices.Replace(out, lo, lo+2, merged)
		i = lo - 1 // look at the merged file again
	}
	return out
}

// split makes files of sorted items: none when there are none, one while
// they fit the limits, else halves split again until each fits.
func (c *sitemapCache) split(items []*sitemapItem) []*sitemapFile {
	if len(items) == 0 {
		return nil
	}
	f := newFile(items)
	if len(items) == 1 || len(items) <= c.s.opts.SitemapMaxURLs && f.size <= c.s.opts.SitemapMaxBytes {
		return []*sitemapFile{f}
	}
	half := len(items) / 2
	return append(c.split(items[:half:half]), c.split(items[half:])...)
}

// fullness is how full a file of size bytes and n URLs is: the larger of
// its shares of the two limits.
func (c *sitemapCache) fullness(size, n int) float64 {
	return max(float64(n)/float64(c.s.opts.SitemapMaxURLs), float64(size)/float64(c.s.opts.SitemapMaxBytes))
}

// indexBytes returns the rendered sitemap index of v.
func (v *sitemapView) indexBytes(s *Server) []byte {
	v.render.Do(func() { v.index = s.index(v.files) })
	return v.index
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
