package storefront

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/filter"
)

// Query parameters understood by ParseQuery.
const (
	ParamCategory = "category"  // category slug
	ParamText     = "q"         // words of the title
	ParamFilter   = "f"         // "code:value", repeated; values of one code are OR-ed
	ParamPriceMin = "price_min" // lowest price, in major units ("10" or "9.99")
	ParamPriceMax = "price_max" // highest price, in major units
	ParamCurrency = "currency"  // ISO code
	ParamSort     = "sort"      // newest, price_asc, price_desc, title
	ParamLimit    = "limit"     // page size
	ParamOffset   = "offset"    // products to skip
	ParamPage     = "page"      // page number from 1 (sets the offset)
	ParamCursor   = "cursor"    // the next_cursor of the previous page
)

// ParseQuery turns URL query parameters into a filter query (see the Param
// constants). A malformed parameter is an invalid error naming it; the
// filter service checks the rest (lengths, known sort orders...).
func ParseQuery(v url.Values) (filter.Query, error) {
	var q filter.Query
	var bad []string
	q.CategorySlug = v.Get(ParamCategory)
	q.Text = strings.TrimSpace(v.Get(ParamText))
	q.Currency = v.Get(ParamCurrency)
	q.Sort = v.Get(ParamSort)
	q.Cursor = v.Get(ParamCursor)
	index := map[string]int{}
	for _, f := range v[ParamFilter] {
		code, value, ok := strings.Cut(f, ":")
		if !ok || code == "" {
			bad = append(bad, ParamFilter, fmt.Sprintf("%q must look like code:value", f))
			continue
		}
		i, seen := index[code]
		if !seen {
			i = len(q.Attributes)
			index[code] = i
			q.Attributes = append(q.Attributes, filter.AttributeFilter{Code: code})
		}
		q.Attributes[i].Values = append(q.Attributes[i].Values, value)
	}
	for _, name := range []string{ParamPriceMin, ParamPriceMax} {
		s := v.Get(name)
		if s == "" {
			continue
		}
		amount, err := parseAmount(s)
		if err != nil {
			bad = append(bad, name, err.Error())
			continue
		}
		if q.Price == nil {
			q.Price = &filter.PriceRange{}
		}
		if name == ParamPriceMin {
			q.Price.Min = &amount
		} else {
			q.Price.Max = &amount
		}
	}
	ints := []struct {
		name string
		dst  *int
	}{{ParamLimit, &q.Limit}, {ParamOffset, &q.Offset}}
	for _, p := range ints {
		if s := v.Get(p.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				bad = append(bad, p.name, "must be a whole number")
				continue
			}
			*p.dst = n
		}
	}
	if s := v.Get(ParamPage); s != "" {
		n, err := strconv.Atoi(s)
		limit := q.Limit
		if limit == 0 {
			limit = filter.DefaultLimit
		}
		switch {
		case err != nil || n < 1 || n > filter.MaxOffset:
			bad = append(bad, ParamPage, "must be a page number from 1")
		case n-1 > filter.MaxOffset/limit:
			// Deeper than the filter pages (and, with a huge limit, past
			// what an int holds).
			bad = append(bad, ParamPage, fmt.Sprintf("must be at most offset %d deep; page on with the cursor", filter.MaxOffset))
		default:
			q.Offset = (n - 1) * limit
		}
	}
	if len(bad) > 0 {
		return q, shop.Invalid("invalid product query", bad...)
	}
	return q, nil
}

// parseAmount parses a price in major units with at most two decimals
// ("12", "12.5", "12.50") into minor units.
func parseAmount(s string) (int64, error) {
	whole, frac, hasFrac := strings.Cut(s, ".")
	if whole == "" || len(whole) > 12 || (hasFrac && (frac == "" || len(frac) > 2)) {
		return 0, fmt.Errorf("%q must be an amount such as 12 or 12.50", s)
	}
	for _, c := range whole + frac {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q must be an amount such as 12 or 12.50", s)
		}
	}
	w, _ := strconv.ParseInt(whole, 10, 64)
	f := int64(0)
	if hasFrac {
		f, _ = strconv.ParseInt(frac, 10, 64)
		if len(frac) == 1 {
			f *= 10
		}
	}
	return w*100 + f, nil
}

// formatAmount formats minor units as major units for a form field.
func formatAmount(a int64) string {
	if a%100 == 0 {
		return strconv.FormatInt(a/100, 10)
	}
	return fmt.Sprintf("%d.%02d", a/100, a%100)
}

// knownParams returns the parameters of v that ParseQuery understands
// (links built from a query repeat only those: junk parameters do not
// multiply into every facet link of a page).
func knownParams(v url.Values) url.Values {
	out := url.Values{}
	for _, name := range []string{ParamCategory, ParamText, ParamPriceMin, ParamPriceMax, ParamCurrency, ParamSort, ParamLimit, ParamOffset, ParamPage, ParamCursor} {
		if x := v.Get(name); x != "" {
			out.Set(name, x)
		}
	}
	if f := v[ParamFilter]; len(f) > 0 {
		out[ParamFilter] = f
	}
	return out
}
