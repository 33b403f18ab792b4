package filter

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/shopbus/shopbus/shop"
)

// Service is the filter contract: faceted search over published products.
// *Server (the MongoDB-backed implementation) and *Client (the bus client)
// both satisfy it.
type Service interface {
	// Query returns one page of the published products matching q, their
	// total, and facet counts for every attribute value and subcategory
	// (see Result). It never needs a session token.
	Query(ctx context.Context, q Query) (Result, error)

	// Rebuild reconciles the read model with the product service (and the
	// category service, when a source for it is configured): products it
	// does not hold or holds in an older version are applied, products the
	// source no longer lists are removed. It requires an admin session.
	Rebuild(ctx context.Context, r RebuildRequest) (RebuildResult, error)
}

// Sort orders accepted in Query.Sort.
const (
	SortNewest    = "newest"     // first-seen time, newest first (the default)
	SortPriceAsc  = "price_asc"  // cheapest first
	SortPriceDesc = "price_desc" // most expensive first
	SortTitle     = "title"      // title A-Z, case-insensitive
)

// Limits on a Query.
const (
	DefaultLimit        = 24      // page size when Query.Limit is 0
	MaxLimit            = 100     // largest page size
	MaxOffset           = 100_000 // largest offset; page deeper with cursors
	MaxAttributeFilters = 20      // attribute filters in one query
	MaxFilterValues     = 100     // values in one attribute filter
	MaxTextLength       = 200     // bytes of Query.Text
	MaxCodeLength       = 64      // bytes of an attribute code
	MaxValueLength      = 200     // bytes of one filter value
	MaxIDLength         = 200     // bytes of a category id or slug
	MaxFacetValues      = 200     // values listed per facet (see Facet.Omitted)
	maxCursorLength     = 1024
)

// Query selects products. Every filter is optional; an empty Query lists
// every published product.
type Query struct {
	// CategoryID or CategorySlug (not both) restricts the result to the
	// category's whole subtree.
	CategoryID   string `json:"category_id,omitempty"`
	CategorySlug string `json:"category_slug,omitempty"`
	// Attributes filters by attribute values: the values of one filter are
	// OR-ed, different filters are AND-ed. Each code may appear once.
	Attributes []AttributeFilter `json:"attributes,omitempty"`
	// Price keeps products whose price amount lies in the range.
	Price *PriceRange `json:"price,omitempty"`
	// Currency, when set, keeps only products priced in that currency.
	Currency string `json:"currency,omitempty"`
	// InStock keeps only products in stock: some SKU they are sold under
	// (a variant's, or the product's own when it has no variants) has
	// units available, as the inventory service last announced. A SKU
	// whose stock was never announced counts as sold out, except in a
	// shop whose inventory announced no stock at all (see
	// Result.StockKnown): there InStock keeps every product, so that a
	// shop that does not track stock never looks empty.
	InStock bool `json:"in_stock,omitempty"`
	// Text keeps products whose title contains every word of Text,
	// case-insensitively (a word may match a prefix or any part of a word).
	Text string `json:"text,omitempty"`
	// Sort is one of the Sort constants; empty means SortNewest.
	Sort string `json:"sort,omitempty"`
	// Offset skips that many products (offset paging). Not with Cursor.
	Offset int `json:"offset,omitempty"`
	// Limit is the page size: 1..MaxLimit, 0 means DefaultLimit.
	Limit int `json:"limit,omitempty"`
	// Cursor continues after the page that returned it as NextCursor
	// (cursor paging, stable while products change). The query must keep
	// the same Sort.
	Cursor string `json:"cursor,omitempty"`
}

// AttributeFilter keeps products whose attribute Code has one of Values,
// or (for number attributes) a value in [Min, Max]. Values are compared as
// the product service sends them: strings exactly, booleans as "true" and
// "false", numbers numerically ("10" matches 10.0). Values and a range may
// be combined: a product matching either passes.
type AttributeFilter struct {
	Code   string   `json:"code"`
	Values []string `json:"values,omitempty"`
	Min    *float64 `json:"min,omitempty"`
	Max    *float64 `json:"max,omitempty"`
}

// PriceRange bounds a price amount in minor units, both ends inclusive and
// optional.
type PriceRange struct {
	Min *int64 `json:"min,omitempty"`
	Max *int64 `json:"max,omitempty"`
}

// Result is the answer to a Query.
type Result struct {
	// Items is the requested page.
	Items []Summary `json:"items"`
	// Total counts every product matching the query.
	Total int `json:"total"`
	// Offset and Limit echo the page that was returned.
	Offset int `json:"offset"`
	Limit  int `json:"limit"`
	// NextCursor continues after this page; empty on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
	// Category is the category the query was restricted to, if any.
	Category *CategoryCount `json:"category,omitempty"`
	// Categories counts the matching products in each direct subcategory of
	// the query's category (of the root categories without one), under all
	// the query's filters. Every known subcategory is listed, by name.
	Categories []CategoryCount `json:"categories"`
	// Facets has one entry per attribute, by code. The counts for an
	// attribute's values are computed with every filter applied except the
	// filter on that attribute itself ("how many if you also pick this").
	Facets []Facet `json:"facets"`
	// Price is the price range of the products matching every filter except
	// the price range itself; nil when there are none.
	Price *PriceStats `json:"price,omitempty"`
	// StockKnown says that the service knows the stock of some SKU (the
	// shop tracks stock), so that Query.InStock restricts the result.
	StockKnown bool `json:"stock_known,omitempty"`
}

// Summary is what a product listing shows of a product.
type Summary struct {
	ID    string     `json:"id"`
	Slug  string     `json:"slug"`
	Title string     `json:"title"`
	Price shop.Money `json:"price"`
	Image string     `json:"image,omitempty"`
}

// CategoryCount is a category and how many matching products its subtree
// holds.
type CategoryCount struct {
	ID    string `json:"id"`
	Slug  string `json:"slug,omitempty"`
	Name  string `json:"name,omitempty"`
	Count int    `json:"count"`
}

// Facet kinds.
const (
	KindString = "string"
	KindNumber = "number"
	KindBool   = "bool"
)

// Facet lists the values of one attribute with their counts.
type Facet struct {
	Code string `json:"code"`
	// Kind is KindNumber or KindBool when every value is of that kind,
	// KindString otherwise.
	Kind string `json:"kind"`
	// Values holds every value with a non-zero count, plus the values the
	// query selected (even with a zero count). Numbers are sorted
	// numerically, other values lexically.
	Values []FacetValue `json:"values"`
	// Omitted counts values left out because there were more than
	// MaxFacetValues (the least frequent are dropped).
	Omitted int `json:"omitted,omitempty"`
	// Min and Max are the smallest and largest numeric values with a
	// non-zero count (listed or omitted).
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
}

// FacetValue is one attribute value and how many products would match if
// it were picked.
type FacetValue struct {
	Value    string `json:"value"`
	Count    int    `json:"count"`
	Selected bool   `json:"selected,omitempty"`
}

// PriceStats is the cheapest and the dearest price among some products.
type PriceStats struct {
	Min shop.Money `json:"min"`
	Max shop.Money `json:"max"`
}

// RebuildRequest asks for a rebuild. It has no fields yet.
type RebuildRequest struct{}

// RebuildResult says what a rebuild changed.
type RebuildResult struct {
	// Products is how many products the source listed.
	Products int `json:"products"`
	// Applied is how many of them were new or newer than the read model's.
	Applied int `json:"applied"`
	// Removed is how many products the read model held but the source no
	// longer lists.
	Removed int `json:"removed"`
	// Categories is how many categories the source listed (0 without a
	// category source).
	Categories int `json:"categories"`
	// CategoriesApplied and CategoriesRemoved are as Applied and Removed.
	CategoriesApplied int `json:"categories_applied"`
	CategoriesRemoved int `json:"categories_removed"`
}

// sortKind is a validated Query.Sort.
type sortKind int

const (
	byNewest sortKind = iota
	byPriceAsc
	byPriceDesc
	byTitle
	numSorts
)

var sortNames = [numSorts]string{SortNewest, SortPriceAsc, SortPriceDesc, SortTitle}

// cursor is the decoded form of Query.Cursor: the sort key of the last
// product of the previous page.
type cursor struct {
	Sort string `json:"s"`
	Num  int64  `json:"n,omitempty"`
	Str  string `json:"t,omitempty"`
	ID   string `json:"i"`
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// plan is a validated query.
type plan struct {
	q        Query
	sort     sortKind
	limit    int
	terms    []string // lower-cased words of Text
	after    *cursor
	minPrice int64
	maxPrice int64
	hasPrice bool
}

// validate checks q and returns its plan, or an invalid error listing every
// bad field.
func (q Query) validate() (*plan, error) {
	var bad []string
	add := func(field, msg string) { bad = append(bad, field, msg) }
	p := &plan{q: q, limit: q.Limit}

	checkStr := func(field, s string, max int) {
		switch {
		case len(s) > max:
			add(field, fmt.Sprintf("must be at most %d bytes", max))
		case !utf8.ValidString(s):
			add(field, "must be valid UTF-8")
		case strings.ContainsRune(s, 0):
			add(field, "must not contain NUL")
		}
	}
	checkStr("category_id", q.CategoryID, MaxIDLength)
	checkStr("category_slug", q.CategorySlug, MaxIDLength)
	if q.CategoryID != "" && q.CategorySlug != "" {
		add("category_slug", "give category_id or category_slug, not both")
	}
	if len(q.Attributes) > MaxAttributeFilters {
		add("attributes", fmt.Sprintf("at most %d filters", MaxAttributeFilters))
	} else {
		seen := map[string]bool{}
		for i, f := range q.Attributes {
			field := fmt.Sprintf("attributes[%d]", i)
			switch {
			case f.Code == "":
				add(field+".code", "must not be empty")
			case strings.HasPrefix(f.Code, "$"):
				add(field+".code", "must not start with '$'")
			default:
				checkStr(field+".code", f.Code, MaxCodeLength)
			}
			if seen[f.Code] {
				add(field+".code", "attribute "+f.Code+" is filtered twice")
			}
			seen[f.Code] = true
			if len(f.Values) == 0 && f.Min == nil && f.Max == nil {
				add(field, "give values, or a min and/or max")
			}
			if len(f.Values) > MaxFilterValues {
				add(field+".values", fmt.Sprintf("at most %d values", MaxFilterValues))
			} else {
				for j, v := range f.Values {
					checkStr(fmt.Sprintf("%s.values[%d]", field, j), v, MaxValueLength)
				}
			}
			if f.Min != nil && f.Max != nil && *f.Min > *f.Max {
				add(field+".max", "must not be less than min")
			}
		}
	}
	if q.Price != nil {
		p.hasPrice = true
		p.minPrice, p.maxPrice = 0, 1<<63-1
		if q.Price.Min != nil {
			if *q.Price.Min < 0 {
				add("price.min", "must not be negative")
			}
			p.minPrice = *q.Price.Min
		}
		if q.Price.Max != nil {
			if *q.Price.Max < 0 {
				add("price.max", "must not be negative")
			}
			p.maxPrice = *q.Price.Max
		}
		if q.Price.Min != nil && q.Price.Max != nil && p.minPrice > p.maxPrice {
			add("price.max", "must not be less than min")
		}
	}
	if q.Currency != "" {
		if err := (shop.Money{Currency: q.Currency}).Validate("currency"); err != nil {
			add("currency", "must be a three-letter ISO 4217 code like EUR")
		}
	}
	checkStr("text", q.Text, MaxTextLength)
	p.terms = strings.Fields(strings.ToLower(q.Text))
	switch q.Sort {
	case "", SortNewest:
		p.sort = byNewest
	case SortPriceAsc:
		p.sort = byPriceAsc
	case SortPriceDesc:
		p.sort = byPriceDesc
	case SortTitle:
		p.sort = byTitle
	default:
		add("sort", "must be one of newest, price_asc, price_desc, title")
	}
	if q.Offset < 0 || q.Offset > MaxOffset {
		add("offset", fmt.Sprintf("must be between 0 and %d", MaxOffset))
	}
	switch {
	case q.Limit == 0:
		p.limit = DefaultLimit
	case q.Limit < 0 || q.Limit > MaxLimit:
		add("limit", fmt.Sprintf("must be between 1 and %d", MaxLimit))
	}
	if q.Cursor != "" {
		if q.Offset != 0 {
			add("cursor", "give offset or cursor, not both")
		}
		c, ok := decodeCursor(q.Cursor)
		switch {
		case !ok:
			add("cursor", "malformed cursor")
		case c.Sort != sortNames[p.sort]:
			add("cursor", "the cursor belongs to sort "+c.Sort)
		default:
			p.after = &c
		}
	}
	if len(bad) > 0 {
		return nil, shop.Invalid("invalid query", bad...)
	}
	return p, nil
}

func decodeCursor(s string) (cursor, bool) {
	var c cursor
	if len(s) > maxCursorLength {
		return c, false
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil || c.ID == "" {
		return c, false
	}
	return c, true
}
