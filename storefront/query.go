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
	ParamInStock  = "in_stock"  // "1" (or true): only products that can be bought now
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
	if s := v.Get(ParamInStock); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			bad = append(bad, ParamInStock, "must be 1 or 0")
		}
		q.InStock = b
	}
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
		amount, err := parseAmount(s, q.Currency)
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

// parseAmount parses a price in major units of currency ("12", "12.5",
// "12.50" for EUR; "1234" for JPY) into minor units; without a currency,
// with at most two decimals.
func parseAmount(s, currency string) (int64, error) {
	if _, ok := shop.MinorUnits(currency); !ok {
		currency = "EUR" // two decimals, the most common
	}
	m, err := shop.ParseMoney(s, currency)
	if err != nil {
		return 0, fmt.Errorf("%q must be an amount such as 12 or 12.50", s)
	}
	return m.Amount, nil
}

// formatAmount formats minor units of currency as major units for a form
// field (no trailing zero decimals: "12", "12.5").
func formatAmount(a int64, currency string) string {
	if _, ok := shop.MinorUnits(currency); !ok {
		currency = "EUR"
	}
	d := shop.Money{Amount: a, Currency: currency}.Decimal()
	if strings.Contains(d, ".") {
		d = strings.TrimRight(strings.TrimRight(d, "0"), ".")
	}
	return d
}

// knownParams returns the parameters of v that ParseQuery understands
// (links built from a query repeat only those: junk parameters do not
// multiply into every facet link of a page).
func knownParams(v url.Values) url.Values {
	out := url.Values{}
	for _, name := range []string{ParamCategory, ParamText, ParamPriceMin, ParamPriceMax, ParamCurrency, ParamSort, ParamLimit, ParamOffset, ParamPage, ParamCursor, ParamInStock} {
		if x := v.Get(name); x != "" {
			out.Set(name, x)
		}
	}
	if f := v[ParamFilter]; len(f) > 0 {
		out[ParamFilter] = f
	}
	return out
}
