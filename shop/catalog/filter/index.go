package filter

import (
	"cmp"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/shopbus/shopbus/shop"
)

// Index is the in-memory query engine behind the filter service: the read
// model of products and categories, indexed for counting. Every published
// product has a slot (a small integer); each attribute value, currency and
// category keeps the set of slots holding it as a posting (a sorted array
// while sparse, a bitset once dense); a query intersects bitsets and counts
// with popcount. Sorted orders, category subtrees and numeric value ranges
// are built on first use and then kept up to date.
//
// An Index applies product and category changes only when their Version is
// newer than what it holds (a deletion also at the same version), so
// applying the same change twice, or an older one after a newer one, does
// nothing. Deleted products and categories leave a tombstone holding their
// version, so a late older event cannot bring them back.
//
// The zero value is not usable; call NewIndex. An Index is safe for
// concurrent use: queries share a read lock, changes take the write lock.
type Index struct {
	mu sync.RWMutex

	recs    map[string]*record // every product ever applied, by id
	items   []*item            // by slot; nil when free
	prices  []int64            // price amount by slot
	created []int64            // first-seen time (Unix ns) by slot
	vidsOf  [][]uint32         // attribute value ids by slot
	free    []uint32           // free slots
	live    bitset             // the occupied slots: the visible products
	liveN   int
	vidRefs int // attribute values held by visible products, summed

	attrs      map[string]*attribute
	attrList   []*attribute // by id
	vals       []*value     // by value id
	vidAttr    []int32      // attribute id by value id
	deadVals   int          // values no visible product holds
	currencies map[string]*posting
	cats       map[string]*category
	slugs      map[string]string // category slug -> id

	// Stock (Query.InStock): every SKU sold by a visible product or of
	// known stock; the slots of the further products selling a SKU that
	// one already sells; the visible slots in stock; how many SKUs have a
	// known stock.
	skus       map[string]skuState
	skuMore    map[string][]uint32
	inStock    bitset
	stockKnown int

	// Caches built lazily by queries (under the read lock, so guarded by
	// cacheMu) and maintained or dropped by changes (under the write lock).
	cacheMu  sync.Mutex
	orders   [numSorts][]uint32        // visible slots in each sort order
	subtrees map[string]bitset         // category id -> slots in its subtree
	children map[string][]*category    // parent id ("" for roots) -> known children by name
	nums     map[*attribute][]numEntry // numeric values of an attribute, ascending
}

// record is what the index remembers of every product it has seen, also of
// drafts and deleted ones: enough to judge the next change.
type record struct {
	version int64
	created int64
	deleted bool
	slot    int32 // -1 when not visible
}

// item is a visible product.
type item struct {
	id, slug, title, lower, image, currency string
	price                                   int64
	cats                                    []string
	skus                                    []string // the SKUs it is sold under
}

type attribute struct {
	id    int
	code  string
	vids  []uint32
	byKey map[string]uint32 // kind byte + canonical value -> value id
}

type value struct {
	attr *attribute
	kind byte // kindS, kindN or kindB
	text string
	num  float64
	post posting
}

type numEntry struct {
	num  float64
	slot uint32
}

type category struct {
	id, slug, name, parent string
	ancestors              []string
	version                int64
	known                  bool // described by a category event and not deleted
	deleted                bool
	direct                 posting // visible products listing this category
}

// Value kinds, as stored.
const (
	kindS = 's'
	kindN = 'n'
	kindB = 'b'
)

// NewIndex returns an empty Index.
func NewIndex() *Index {
	return &Index{
		recs:       map[string]*record{},
		attrs:      map[string]*attribute{},
		currencies: map[string]*posting{},
		cats:       map[string]*category{},
		slugs:      map[string]string{},
		skus:       map[string]skuState{},
		skuMore:    map[string][]uint32{},
		subtrees:   map[string]bitset{},
		nums:       map[*attribute][]numEntry{},
	}
}

// ApplyProduct applies a product event body (deleted when ev.Deleted is
// set) and reports whether it changed the index: false when the index
// already holds that version or a newer one. It returns an invalid error for
// a snapshot without an id.
func (x *Index) ApplyProduct(ev shop.ProductChanged) (bool, error) {
	p, err := productFromEvent(ev, ev.Deleted)
	if err != nil {
		return false, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.apply(p), nil
}

// ApplyCategory applies a category event body, as ApplyProduct does.
func (x *Index) ApplyCategory(ev shop.CategoryChanged) (bool, error) {
	c, err := categoryFromEvent(ev, ev.Deleted)
	if err != nil {
		return false, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.applyCategory(c), nil
}

// Len returns how many products are visible (published and not deleted).
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.liveN
}

// ---- normalised input ----

// product is a normalised product snapshot, as applied and as persisted.
type product struct {
	ID         string      `bson:"_id"`
	Version    int64       `bson:"version"`
	Deleted    bool        `bson:"deleted,omitempty"`
	Slug       string      `bson:"slug,omitempty"`
	Title      string      `bson:"title,omitempty"`
	Status     string      `bson:"status,omitempty"`
	Price      int64       `bson:"price"`
	Currency   string      `bson:"currency,omitempty"`
	Image      string      `bson:"image,omitempty"`
	Categories []string    `bson:"categories,omitempty"`
	Attributes []attrValue `bson:"attributes,omitempty"`
	Created    int64       `bson:"created"` // Unix ns, the earliest UpdatedAt seen
	// SKUs are the SKUs the product is sold under (see sellableSKUs).
	SKUs []string `bson:"skus,omitempty"`
}

// attrValue is one attribute value of a product. Codes are stored as values,
// never as field names, so no code can act as a MongoDB operator.
type attrValue struct {
	Code  string  `bson:"code"`
	Kind  string  `bson:"kind"` // "s", "n" or "b"
	Value string  `bson:"value"`
	Num   float64 `bson:"num,omitempty"`
}

// categoryRec is a normalised category snapshot, as applied and persisted.
type categoryRec struct {
	ID        string   `bson:"_id"`
	Version   int64    `bson:"version"`
	Deleted   bool     `bson:"deleted,omitempty"`
	Slug      string   `bson:"slug,omitempty"`
	Name      string   `bson:"name,omitempty"`
	Parent    string   `bson:"parent,omitempty"`
	Ancestors []string `bson:"ancestors,omitempty"`
}

func checkID(field, id string) error {
	switch {
	case id == "":
		return shop.Invalid("malformed event", field, "must not be empty")
	case len(id) > MaxIDLength:
		return shop.Invalid("malformed event", field, fmt.Sprintf("must be at most %d bytes", MaxIDLength))
	case !utf8.ValidString(id) || strings.ContainsRune(id, 0):
		return shop.Invalid("malformed event", field, "must be valid UTF-8 without NUL")
	}
	return nil
}

func productFromEvent(ev shop.ProductChanged, deleted bool) (product, error) {
	s := ev.Product
	if err := checkID("product.id", s.ID); err != nil {
		return product{}, err
	}
	if s.Version < 0 {
		return product{}, shop.Invalid("malformed event", "product.version", "must not be negative")
	}
	p := product{
		ID: s.ID, Version: s.Version, Deleted: deleted, Slug: s.Slug, Title: s.Title,
		Status: s.Status, Price: s.Price.Amount, Currency: s.Price.Currency,
		SKUs: sellableSKUs(s),
	}
	switch {
	case !s.UpdatedAt.IsZero():
		p.Created = s.UpdatedAt.UnixNano()
	case !ev.Occurred.IsZero():
		p.Created = ev.Occurred.UnixNano()
	}
	for _, img := range s.Images {
		if img != "" {
			p.Image = img
			break
		}
	}
	for _, c := range s.CategoryIDs {
		if c != "" && checkID("category", c) == nil && !slices.Contains(p.Categories, c) {
			p.Categories = append(p.Categories, c)
		}
	}
	codes := make([]string, 0, len(s.Attributes))
	for code := range s.Attributes {
		if code != "" && len(code) <= MaxCodeLength && utf8.ValidString(code) && !strings.ContainsRune(code, 0) {
			codes = append(codes, code)
		}
	}
	slices.Sort(codes)
	for _, code := range codes {
		p.Attributes = appendValues(p.Attributes, code, s.Attributes[code])
	}
	return p, nil
}

// appendValues adds the attribute values v stands for: a string, number or
// bool, or a list of them. Anything else is ignored.
func appendValues(dst []attrValue, code string, v any) []attrValue {
	var av attrValue
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			if _, nested := e.([]any); !nested {
				dst = appendValues(dst, code, e)
			}
		}
		return dst
	case []string:
		for _, e := range v {
			dst = appendValues(dst, code, e)
		}
		return dst
	case string:
		if len(v) > MaxValueLength*4 || strings.ContainsRune(v, 0) {
			return dst
		}
		av = attrValue{Code: code, Kind: "s", Value: v}
	case bool:
		av = attrValue{Code: code, Kind: "b", Value: strconv.FormatBool(v)}
	case float64:
		return appendNum(dst, code, v)
	case float32:
		return appendNum(dst, code, float64(v))
	case int:
		return appendNum(dst, code, float64(v))
	case int64:
		return appendNum(dst, code, float64(v))
	case int32:
		return appendNum(dst, code, float64(v))
	default:
		return dst
	}
	if slices.Contains(dst, av) {
		return dst
	}
	return append(dst, av)
}

func appendNum(dst []attrValue, code string, f float64) []attrValue {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst
	}
	if f == 0 {
		f = 0 // no negative zero
	}
	av := attrValue{Code: code, Kind: "n", Value: canonNum(f), Num: f}
	if slices.Contains(dst, av) {
		return dst
	}
	return append(dst, av)
}

func canonNum(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func categoryFromEvent(ev shop.CategoryChanged, deleted bool) (categoryRec, error) {
	s := ev.Category
	if err := checkID("category.id", s.ID); err != nil {
		return categoryRec{}, err
	}
	if s.Version < 0 {
		return categoryRec{}, shop.Invalid("malformed event", "category.version", "must not be negative")
	}
	c := categoryRec{ID: s.ID, Version: s.Version, Deleted: deleted, Slug: s.Slug, Name: s.Name, Parent: s.ParentID}
	for _, a := range s.Ancestors {
		if a != "" && a != s.ID && !slices.Contains(c.Ancestors, a) {
			c.Ancestors = append(c.Ancestors, a)
		}
	}
	if c.Parent != "" && !slices.Contains(c.Ancestors, c.Parent) {
		c.Ancestors = append(c.Ancestors, c.Parent)
	}
	return c, nil
}

// newer reports whether a change (version, deleted) supersedes what is held.
func newer(heldVersion int64, heldDeleted bool, version int64, deleted bool) bool {
	return version > heldVersion || version == heldVersion && deleted && !heldDeleted
}

// ---- changes (under the write lock) ----

// prepare reports whether p would change the index and, if so, sets its
// Created to the earliest first-seen time known. It takes the read lock.
func (x *Index) prepare(p *product) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	r := x.recs[p.ID]
	if r == nil {
		return true
	}
	if r.created != 0 && (p.Created == 0 || r.created < p.Created) {
		p.Created = r.created
	}
	return newer(r.version, r.deleted, p.Version, p.Deleted)
}

func (x *Index) apply(p product) bool {
	r := x.recs[p.ID]
	if r != nil && !newer(r.version, r.deleted, p.Version, p.Deleted) {
		return false
	}
	if r == nil {
		r = &record{slot: -1}
		x.recs[p.ID] = r
	}
	if r.created != 0 && (p.Created == 0 || r.created < p.Created) {
		p.Created = r.created
	}
	r.version, r.deleted, r.created = p.Version, p.Deleted, p.Created
	if r.slot >= 0 {
		x.unindex(uint32(r.slot))
		r.slot = -1
	}
	if !p.Deleted && p.Status == shop.StatusPublished {
		r.slot = int32(x.index(&p))
	}
	if x.deadVals > 1024 && x.deadVals > len(x.vals)/2 {
		x.compactValues()
	}
	return true
}

// compactValues forgets the attribute values no visible product holds any
// more (values of a number attribute that keeps changing, say), so that
// they cost neither memory nor time in facet counting. Value ids change.
func (x *Index) compactValues() {
	remap := make([]uint32, len(x.vals))
	vals := make([]*value, 0, len(x.vals)-x.deadVals)
	vidAttr := make([]int32, 0, cap(vals))
	for vid, v := range x.vals {
		if v.post.n > 0 {
			remap[vid] = uint32(len(vals))
			vals = append(vals, v)
			vidAttr = append(vidAttr, x.vidAttr[vid])
		}
	}
	for _, a := range x.attrList {
		kept := a.vids[:0]
		for _, vid := range a.vids {
			v := x.vals[vid]
			if v.post.n > 0 {
				kept = append(kept, remap[vid])
				a.byKey[string(v.kind)+v.text] = remap[vid]
			} else {
				delete(a.byKey, string(v.kind)+v.text)
			}
		}
		a.vids = kept
	}
	for _, vids := range x.vidsOf {
		for i, vid := range vids {
			vids[i] = remap[vid]
		}
	}
	x.vals, x.vidAttr, x.deadVals = vals, vidAttr, 0
}

func (x *Index) index(p *product) uint32 {
	var slot uint32
	if n := len(x.free); n > 0 {
		slot = x.free[n-1]
		x.free = x.free[:n-1]
	} else {
		slot = uint32(len(x.items))
		x.items = append(x.items, nil)
		x.prices = append(x.prices, 0)
		x.created = append(x.created, 0)
		x.vidsOf = append(x.vidsOf, nil)
	}
	universe := len(x.items)
	lower := strings.ToLower(p.Title)
	if lower == p.Title {
		lower = p.Title
	}
	it := &item{
		id: p.ID, slug: p.Slug, title: p.Title, lower: lower, image: p.Image,
		currency: p.Currency, price: p.Price, cats: p.Categories, skus: p.SKUs,
	}
	vids := make([]uint32, 0, len(p.Attributes))
	x.items[slot], x.prices[slot], x.created[slot] = it, p.Price, p.Created
	x.live.set(slot)
	x.liveN++
	x.addSKUs(slot)
	for _, av := range p.Attributes {
		vid := x.valueID(av)
		v := x.vals[vid]
		if v.post.n == 0 {
			x.deadVals--
		}
		v.post.add(slot, universe)
		vids = append(vids, vid)
		if v.kind == kindN {
			delete(x.nums, v.attr)
		}
	}
	x.vidsOf[slot] = vids
	x.vidRefs += len(vids)
	cp := x.currencies[p.Currency]
	if cp == nil {
		cp = &posting{}
		x.currencies[p.Currency] = cp
	}
	cp.add(slot, universe)
	for _, id := range it.cats {
		c := x.category(id)
		c.direct.add(slot, universe)
		for _, a := range selfAndAncestors(c) {
			if sb, ok := x.subtrees[a]; ok {
				sb.set(slot)
				x.subtrees[a] = sb
			}
		}
	}
	for k := range numSorts {
		if o := x.orders[k]; o != nil {
			at, _ := slices.BinarySearchFunc(o, slot, func(e, t uint32) int { return x.cmpSlots(sortKind(k), e, t) })
			x.orders[k] = slices.Insert(o, at, slot)
		}
	}
	return slot
}

func (x *Index) unindex(slot uint32) {
	it := x.items[slot]
	for k := range numSorts {
		if o := x.orders[k]; o != nil {
			if at, found := slices.BinarySearchFunc(o, slot, func(e, t uint32) int { return x.cmpSlots(sortKind(k), e, t) }); found {
				x.orders[k] = slices.Delete(o, at, at+1)
			}
		}
	}
	x.live.clear(slot)
	x.liveN--
	for _, vid := range x.vidsOf[slot] {
		v := x.vals[vid]
		v.post.remove(slot)
		if v.post.n == 0 {
			x.deadVals++
		}
		if v.kind == kindN {
			delete(x.nums, v.attr)
		}
	}
	x.vidRefs -= len(x.vidsOf[slot])
	x.vidsOf[slot] = nil
	if cp := x.currencies[it.currency]; cp != nil {
		cp.remove(slot)
	}
	for _, id := range it.cats {
		c := x.cats[id]
		c.direct.remove(slot)
		for _, a := range selfAndAncestors(c) {
			if sb, ok := x.subtrees[a]; ok {
				sb.clear(slot)
			}
		}
	}
	x.removeSKUs(slot)
	x.items[slot] = nil
	x.free = append(x.free, slot)
}

// valueID returns the id of an attribute value, creating it if needed.
func (x *Index) valueID(av attrValue) uint32 {
	a := x.attrs[av.Code]
	if a == nil {
		a = &attribute{id: len(x.attrList), code: av.Code, byKey: map[string]uint32{}}
		x.attrs[av.Code] = a
		x.attrList = append(x.attrList, a)
	}
	key := av.Kind + av.Value
	if vid, ok := a.byKey[key]; ok {
		return vid
	}
	vid := uint32(len(x.vals))
	x.deadVals++ // until a product holds it
	x.vals = append(x.vals, &value{attr: a, kind: av.Kind[0], text: av.Value, num: av.Num})
	x.vidAttr = append(x.vidAttr, int32(a.id))
	a.byKey[key] = vid
	a.vids = append(a.vids, vid)
	return vid
}

// selfAndAncestors lists c and the categories above it.
func selfAndAncestors(c *category) []string {
	return append(slices.Clip(c.ancestors), c.id)
}

// category returns the node for id, creating an unknown one if needed.
func (x *Index) category(id string) *category {
	c := x.cats[id]
	if c == nil {
		c = &category{id: id, version: -1}
		x.cats[id] = c
	}
	return c
}

func (x *Index) prepareCategory(c categoryRec) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n := x.cats[c.ID]
	return n == nil || newer(n.version, n.deleted, c.Version, c.Deleted)
}

func (x *Index) applyCategory(c categoryRec) bool {
	n := x.category(c.ID)
	if !newer(n.version, n.deleted, c.Version, c.Deleted) {
		return false
	}
	if n.slug != "" && x.slugs[n.slug] == n.id {
		delete(x.slugs, n.slug)
	}
	n.version, n.deleted, n.known = c.Version, c.Deleted, !c.Deleted
	n.parent, n.ancestors = c.Parent, c.Ancestors
	if c.Deleted {
		// Keep the place in the tree: products that still list a deleted
		// category keep counting under its ancestors until they change.
		n.slug, n.name = "", ""
	} else {
		n.slug, n.name = c.Slug, c.Name
		if c.Slug != "" {
			x.slugs[c.Slug] = c.ID
		}
	}
	clear(x.subtrees)
	x.children = nil
	return true
}

// ---- lazily built structures (under the read lock) ----

// cmpSlots orders two visible slots by sort k, ties broken by id.
func (x *Index) cmpSlots(k sortKind, a, b uint32) int {
	var c int
	switch k {
	case byNewest:
		c = cmp.Compare(x.created[b], x.created[a])
	case byPriceAsc:
		c = cmp.Compare(x.prices[a], x.prices[b])
	case byPriceDesc:
		c = cmp.Compare(x.prices[b], x.prices[a])
	case byTitle:
		c = strings.Compare(x.items[a].lower, x.items[b].lower)
	}
	if c != 0 {
		return c
	}
	return strings.Compare(x.items[a].id, x.items[b].id)
}

// cmpCursor orders a visible slot against a cursor's position.
func (x *Index) cmpCursor(k sortKind, a uint32, c *cursor) int {
	var r int
	switch k {
	case byNewest:
		r = cmp.Compare(c.Num, x.created[a])
	case byPriceAsc:
		r = cmp.Compare(x.prices[a], c.Num)
	case byPriceDesc:
		r = cmp.Compare(c.Num, x.prices[a])
	case byTitle:
		r = strings.Compare(x.items[a].lower, c.Str)
	}
	if r != 0 {
		return r
	}
	return strings.Compare(x.items[a].id, c.ID)
}

func (x *Index) cursorOf(k sortKind, slot uint32) cursor {
	c := cursor{Sort: sortNames[k], ID: x.items[slot].id}
	switch k {
	case byNewest:
		c.Num = x.created[slot]
	case byPriceAsc, byPriceDesc:
		c.Num = x.prices[slot]
	case byTitle:
		c.Str = x.items[slot].lower
	}
	return c
}

func (x *Index) order(k sortKind) []uint32 {
	x.cacheMu.Lock()
	defer x.cacheMu.Unlock()
	if x.orders[k] == nil {
		o := x.live.members(make([]uint32, 0, x.liveN))
		slices.SortFunc(o, func(a, b uint32) int { return x.cmpSlots(k, a, b) })
		x.orders[k] = o
	}
	return x.orders[k]
}

func (x *Index) orderBuilt(k sortKind) bool {
	x.cacheMu.Lock()
	defer x.cacheMu.Unlock()
	return x.orders[k] != nil
}

func (x *Index) subtree(id string) bitset {
	x.cacheMu.Lock()
	defer x.cacheMu.Unlock()
	if sb, ok := x.subtrees[id]; ok {
		return sb
	}
	sb := make(bitset, wordsFor(len(x.items)))
	for _, c := range x.cats {
		if c.id == id || slices.Contains(c.ancestors, id) {
			c.direct.orInto(sb)
		}
	}
	x.subtrees[id] = sb
	return sb
}

// hasDescendant reports whether any category lists id as an ancestor.
func (x *Index) hasDescendant(id string) bool {
	for _, c := range x.cats {
		if slices.Contains(c.ancestors, id) {
			return true
		}
	}
	return false
}

func (x *Index) childrenOf(parent string) []*category {
	x.cacheMu.Lock()
	defer x.cacheMu.Unlock()
	if x.children == nil {
		x.children = map[string][]*category{}
		for _, c := range x.cats {
			if c.known {
				x.children[c.parent] = append(x.children[c.parent], c)
			}
		}
		for _, cs := range x.children {
			slices.SortFunc(cs, func(a, b *category) int {
				return cmp.Or(strings.Compare(a.name, b.name), strings.Compare(a.id, b.id))
			})
		}
	}
	return x.children[parent]
}

func (x *Index) numEntries(a *attribute) []numEntry {
	x.cacheMu.Lock()
	defer x.cacheMu.Unlock()
	if e, ok := x.nums[a]; ok {
		return e
	}
	var e []numEntry
	var buf []uint32
	for _, vid := range a.vids {
		v := x.vals[vid]
		if v.kind != kindN || v.post.n == 0 {
			continue
		}
		members := v.post.arr
		if v.post.bits != nil {
			buf = v.post.bits.members(buf[:0])
			members = buf
		}
		for _, s := range members {
			e = append(e, numEntry{v.num, s})
		}
	}
	slices.SortFunc(e, func(a, b numEntry) int { return cmp.Compare(a.num, b.num) })
	x.nums[a] = e
	return e
}

// ---- queries ----

// Query answers q from the index (see Service.Query).
func (x *Index) Query(q Query) (Result, error) {
	p, err := q.validate()
	if err != nil {
		return Result{}, err
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.query(p)
}

// attrFilter is one resolved attribute filter.
type attrFilter struct {
	attr     *attribute // nil when no product has the attribute
	code     string
	set      bitset
	selected []uint32 // value ids picked
	unknown  []string // picked values no product has
}

func (x *Index) query(p *plan) (Result, error) {
	q := p.q
	nw := wordsFor(len(x.items))
	res := Result{Offset: q.Offset, Limit: p.limit, Items: []Summary{}, Categories: []CategoryCount{}, Facets: []Facet{}}

	// The base set: visible, in the category's subtree, in the currency,
	// matching the text. The price range and attribute filters come next.
	base := make(bitset, nw)
	copy(base, x.live)
	if q.InStock && x.stockKnown > 0 {
		base.and(x.inStock)
	}
	res.StockKnown = x.stockKnown > 0
	catID := ""
	if q.CategoryID != "" || q.CategorySlug != "" {
		catID = q.CategoryID
		if q.CategorySlug != "" {
			id, ok := x.slugs[q.CategorySlug]
			if !ok {
				return Result{}, shop.NotFound("category " + strconv.Quote(q.CategorySlug))
			}
			catID = id
		}
		// Known categories, categories products are filed under and
		// ancestors named by other categories exist; anything else is not
		// found (and not cached: ids come from callers).
		c := x.cats[catID]
		if (c == nil || !c.known && c.direct.n == 0) && !x.hasDescendant(catID) {
			return Result{}, shop.NotFound("category " + strconv.Quote(catID))
		}
		base.and(x.subtree(catID))
		res.Category = &CategoryCount{ID: catID}
		if c != nil {
			res.Category.Slug, res.Category.Name = c.slug, c.name
		}
	}
	if q.Currency != "" {
		cs := make(bitset, nw)
		if cp := x.currencies[q.Currency]; cp != nil {
			cp.orInto(cs)
		}
		base.and(cs)
	}
	if len(p.terms) > 0 {
		for i, w := range base {
			for m := w; m != 0; m &= m - 1 {
				t := bits.TrailingZeros64(m)
				if !matchTerms(x.items[i<<6+t].lower, p.terms) {
					base[i] &^= 1 << t
				}
			}
		}
	}
	priced := base
	if p.hasPrice {
		priced = make(bitset, nw)
		for i, w := range base {
			for m := w; m != 0; m &= m - 1 {
				t := bits.TrailingZeros64(m)
				if pr := x.prices[i<<6+t]; pr >= p.minPrice && pr <= p.maxPrice {
					priced[i] |= 1 << t
				}
			}
		}
	}

	// One set per attribute filter.
	filters := make([]attrFilter, len(q.Attributes))
	for i, f := range q.Attributes {
		af := attrFilter{attr: x.attrs[f.Code], code: f.Code, set: make(bitset, nw)}
		for _, raw := range f.Values {
			found := false
			if af.attr != nil {
				for _, key := range valueKeys(raw) {
					if vid, ok := af.attr.byKey[key]; ok {
						found = true
						if !slices.Contains(af.selected, vid) {
							af.selected = append(af.selected, vid)
							x.vals[vid].post.orInto(af.set)
						}
					}
				}
			}
			if !found && !slices.Contains(af.unknown, raw) {
				af.unknown = append(af.unknown, raw)
			}
		}
		if af.attr != nil && (f.Min != nil || f.Max != nil) {
			lo, hi := math.Inf(-1), math.Inf(1)
			if f.Min != nil {
				lo = *f.Min
			}
			if f.Max != nil {
				hi = *f.Max
			}
			e := x.numEntries(af.attr)
			for i := sort.Search(len(e), func(i int) bool { return e[i].num >= lo }); i < len(e) && e[i].num <= hi; i++ {
				af.set[e[i].slot>>6] |= 1 << (e[i].slot & 63)
			}
		}
		filters[i] = af
	}

	// The result set.
	all := make(bitset, nw)
	copy(all, priced)
	for _, f := range filters {
		all.and(f.set)
	}
	res.Total = all.count()
	if res.Category != nil {
		res.Category.Count = res.Total
	}
	x.page(p, all, &res)

	// Price statistics: every filter but the price range.
	if p.hasPrice {
		ps := make(bitset, nw)
		copy(ps, base)
		for _, f := range filters {
			ps.and(f.set)
		}
		res.Price = x.priceStats(ps)
	} else {
		res.Price = x.priceStats(all)
	}

	// Subcategories.
	for _, c := range x.childrenOf(catID) {
		res.Categories = append(res.Categories, CategoryCount{ID: c.id, Slug: c.slug, Name: c.name, Count: andCount(x.subtree(c.id), all)})
	}

	res.Facets = x.facets(priced, all, res.Total, filters)
	return res, nil
}

func matchTerms(title string, terms []string) bool {
	for _, t := range terms {
		if !strings.Contains(title, t) {
			return false
		}
	}
	return true
}

// valueKeys lists the stored keys a filter value may match.
func valueKeys(raw string) []string {
	keys := []string{"s" + raw}
	if raw == "true" || raw == "false" {
		keys = append(keys, "b"+raw)
	}
	if f, err := strconv.ParseFloat(strings.TrimSpace(raw), 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		if f == 0 {
			f = 0
		}
		keys = append(keys, "n"+canonNum(f))
	}
	return keys
}

// page fills res.Items and res.NextCursor from the set all.
func (x *Index) page(p *plan, all bitset, res *Result) {
	if res.Total == 0 {
		return
	}
	var seq []uint32
	if res.Total*256 < x.liveN || res.Total*16 < x.liveN && !x.orderBuilt(p.sort) {
		// Few results: sorting them beats walking the whole order (or
		// building it). Otherwise the walk stops once the page is full.
		seq = all.members(make([]uint32, 0, res.Total))
		slices.SortFunc(seq, func(a, b uint32) int { return x.cmpSlots(p.sort, a, b) })
	} else {
		seq = x.order(p.sort)
	}
	start := 0
	if p.after != nil {
		start = sort.Search(len(seq), func(i int) bool { return x.cmpCursor(p.sort, seq[i], p.after) > 0 })
	}
	skip := p.q.Offset
	var pageSlots []uint32
	more := false
	for _, s := range seq[start:] {
		if !all.has(s) {
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		if len(pageSlots) == p.limit {
			more = true
			break
		}
		pageSlots = append(pageSlots, s)
	}
	for _, s := range pageSlots {
		it := x.items[s]
		res.Items = append(res.Items, Summary{ID: it.id, Slug: it.slug, Title: it.title, Price: shop.Money{Amount: it.price, Currency: it.currency}, Image: it.image})
	}
	if more {
		res.NextCursor = x.cursorOf(p.sort, pageSlots[len(pageSlots)-1]).encode()
	}
}

func (x *Index) priceStats(set bitset) *PriceStats {
	var st *PriceStats
	for i, w := range set {
		for m := w; m != 0; m &= m - 1 {
			s := i<<6 + bits.TrailingZeros64(m)
			pr := x.prices[s]
			if st == nil {
				cur := x.items[s].currency
				st = &PriceStats{Min: shop.Money{Amount: pr, Currency: cur}, Max: shop.Money{Amount: pr, Currency: cur}}
				continue
			}
			if pr < st.Min.Amount {
				st.Min = shop.Money{Amount: pr, Currency: x.items[s].currency}
			}
			if pr > st.Max.Amount {
				st.Max = shop.Money{Amount: pr, Currency: x.items[s].currency}
			}
		}
	}
	return st
}

// facets counts every attribute value: for an attribute without a filter
// over the result set all, for a filtered attribute over base intersected
// with every other filter. Each count is taken either densely (intersect
// the value's posting with the set) or sparsely (walk the set's members and
// count their values), whichever is estimated cheaper.
func (x *Index) facets(base, all bitset, total int, filters []attrFilter) []Facet {
	nw := len(all)
	counts := make([]int32, len(x.vals))
	active := make([]int, len(x.attrList)) // filter index + 1, 0 when unfiltered
	for i, f := range filters {
		if f.attr != nil {
			active[f.attr.id] = i + 1
		}
	}
	avg := 1.0
	if x.liveN > 0 {
		avg += float64(x.vidRefs) / float64(x.liveN)
	}
	sparse := func(n int, dense int) bool { return float64(n)*avg*2 < float64(dense) }

	// Unfiltered attributes, over the result set.
	dense := 0
	for _, a := range x.attrList {
		if active[a.id] == 0 {
			for _, vid := range a.vids {
				dense += x.vals[vid].post.cost(nw)
			}
		}
	}
	if sparse(total, dense) {
		for i, w := range all {
			for m := w; m != 0; m &= m - 1 {
				for _, vid := range x.vidsOf[i<<6+bits.TrailingZeros64(m)] {
					if active[x.vidAttr[vid]] == 0 {
						counts[vid]++
					}
				}
			}
		}
	} else {
		for _, a := range x.attrList {
			if active[a.id] == 0 {
				for _, vid := range a.vids {
					if v := x.vals[vid]; v.post.n > 0 {
						counts[vid] = int32(v.post.andCount(all))
					}
				}
			}
		}
	}

	// Filtered attributes, each over every filter but its own.
	var except bitset
	for j, f := range filters {
		if f.attr == nil {
			continue
		}
		if except == nil {
			except = make(bitset, nw)
		}
		copy(except, base)
		for i, g := range filters {
			if i != j {
				except.and(g.set)
			}
		}
		dense := 0
		for _, vid := range f.attr.vids {
			dense += x.vals[vid].post.cost(nw)
		}
		if n := except.count(); sparse(n, dense) {
			for i, w := range except {
				for m := w; m != 0; m &= m - 1 {
					for _, vid := range x.vidsOf[i<<6+bits.TrailingZeros64(m)] {
						if x.vidAttr[vid] == int32(f.attr.id) {
							counts[vid]++
						}
					}
				}
			}
		} else {
			for _, vid := range f.attr.vids {
				if v := x.vals[vid]; v.post.n > 0 {
					counts[vid] = int32(v.post.andCount(except))
				}
			}
		}
	}

	// Assemble, by attribute code.
	var out []Facet
	for _, a := range x.attrList {
		var f *attrFilter
		if i := active[a.id]; i > 0 {
			f = &filters[i-1]
		}
		fc := Facet{Code: a.code, Values: []FacetValue{}}
		type entry struct {
			fv   FacetValue
			kind byte
			num  float64
		}
		var es []entry
		nNum, nBool := 0, 0
		for _, vid := range a.vids {
			c := counts[vid]
			sel := f != nil && slices.Contains(f.selected, vid)
			if c == 0 && !sel {
				continue
			}
			v := x.vals[vid]
			es = append(es, entry{FacetValue{Value: v.text, Count: int(c), Selected: sel}, v.kind, v.num})
			switch v.kind {
			case kindN:
				nNum++
			case kindB:
				nBool++
			}
		}
		known := len(es)
		if f != nil {
			for _, u := range f.unknown {
				es = append(es, entry{fv: FacetValue{Value: u, Selected: true}, kind: kindS})
			}
		}
		if len(es) == 0 {
			continue
		}
		switch {
		case known > 0 && nNum == known:
			fc.Kind = KindNumber
		case known > 0 && nBool == known:
			fc.Kind = KindBool
		default:
			fc.Kind = KindString
		}
		for _, e := range es {
			if e.kind == kindN && e.fv.Count > 0 {
				n := e.num
				if fc.Min == nil || n < *fc.Min {
					fc.Min = &n
				}
				if fc.Max == nil || n > *fc.Max {
					fc.Max = &n
				}
			}
		}
		if len(es) > MaxFacetValues {
			slices.SortStableFunc(es, func(a, b entry) int {
				if a.fv.Selected != b.fv.Selected {
					if a.fv.Selected {
						return -1
					}
					return 1
				}
				return cmp.Compare(b.fv.Count, a.fv.Count)
			})
			fc.Omitted = len(es) - MaxFacetValues
			es = es[:MaxFacetValues]
		}
		slices.SortFunc(es, func(a, b entry) int {
			an, bn := a.kind == kindN, b.kind == kindN
			switch {
			case an && bn:
				return cmp.Compare(a.num, b.num)
			case an:
				return -1
			case bn:
				return 1
			}
			return strings.Compare(a.fv.Value, b.fv.Value)
		})
		for _, e := range es {
			fc.Values = append(fc.Values, e.fv)
		}
		out = append(out, fc)
	}
	// Filters on attributes no product has still show their picked values.
	for _, f := range filters {
		if f.attr == nil && len(f.unknown) > 0 {
			fc := Facet{Code: f.code, Kind: KindString}
			for _, u := range f.unknown {
				fc.Values = append(fc.Values, FacetValue{Value: u, Selected: true})
			}
			out = append(out, fc)
		}
	}
	slices.SortFunc(out, func(a, b Facet) int { return strings.Compare(a.Code, b.Code) })
	if out == nil {
		out = []Facet{}
	}
	return out
}
