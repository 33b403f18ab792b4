package storefront

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/shop/catalog/filter"
	"github.com/shopbus/shopbus/shop/content/seo"
)

type listingView struct {
	Heading     string
	Description string
	Breadcrumbs []category.Category
	Action      string // the listing's path, for the filter form
	Query       string // the text searched for
	Sort        string
	PriceMin    string
	PriceMax    string
	Filters     []string // the f parameters, kept by the form
	Filtered    bool     // some filter is applied
	InStock     bool     // only products in stock are listed
	StockKnown  bool     // the filter knows stock (the shop uses the inventory service)
	Clear       string   // the listing without filters
	Unavailable bool     // the filter service did not answer: no products
	Result      filter.Result
	Subcats     []filter.CategoryCount
	Facets      []facetView
	Page, Pages int
	Prev, Next  string
	Sorts       []sortOption
}

type facetView struct {
	Code   string
	Name   string
	Values []facetValueView
}

type facetValueView struct {
	Value    string
	Label    string // the value as shown: with its unit, yes/no for booleans
	Count    int
	Selected bool
	Link     string
}

type sortOption struct {
	Value, Label string
	Selected     bool
}

// categoryPage renders a category found by the slug route, with its
// products, facets and subcategories from the filter service (left out,
// with a notice, when it does not answer).
func (s *Storefront) categoryPage(w http.ResponseWriter, r *http.Request, c category.Category, seoF *future[seo.Resolution], seoPath string) {
	ctx := r.Context()
	pub := publicContext(ctx)
	q, err := ParseQuery(r.URL.Query())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q.CategorySlug, q.CategoryID = "", c.ID
	crumbs := async(pub, NavTimeout, func(ctx context.Context) ([]category.Category, error) {
		return s.cats.Ancestors(ctx, category.AncestorsRequest{ID: c.ID})
	})
	res := async(pub, s.opts.FilterTimeout, func(ctx context.Context) (filter.Result, error) {
		return s.filter.Query(ctx, q)
	})
	result, err := res.wait()
	var v listingView
	switch {
	case err == nil:
		v = s.listing(ctx, r, q, result)
	case StatusOf(err) == http.StatusBadRequest:
		s.fail(w, r, err)
		return
	default:
		// Without the filter service: the category, its subcategories
		// from the category service, and a notice.
		s.warn(ctx, "category: products and facets", filter.ServiceName, err)
		v = listingView{Action: r.URL.Path, Unavailable: true}
		kctx, cancel := context.WithTimeout(pub, NavTimeout)
		kids, err := s.cats.ListChildren(kctx, category.ListChildrenRequest{ParentID: c.ID})
		cancel()
		if err == nil {
			for _, k := range kids {
				v.Subcats = append(v.Subcats, filter.CategoryCount{ID: k.ID, Slug: k.Slug, Name: k.Name, Count: -1})
			}
		}
	}
	v.Heading, v.Description = c.Name, c.Description
	if list, err := crumbs.wait(); err == nil {
		v.Breadcrumbs = list
	} else {
		s.warn(ctx, "category: breadcrumbs", category.ServiceName, err)
	}
	m := s.pageMeta(ctx, seoF, seoPath, "/"+c.Slug, meta{Title: c.Name, Description: c.Description})
	if len(r.URL.Query()) > 0 {
		m.Robots = "noindex, follow" // filtered variants of a category page
	}
	s.render(w, r, http.StatusOK, "listing", m, "", v)
}

// searchPage serves /search: it needs the filter service.
func (s *Storefront) searchPage(w http.ResponseWriter, r *http.Request) {
	s.navigation(r)
	q, err := ParseQuery(r.URL.Query())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(publicContext(r.Context()), s.opts.FilterTimeout)
	defer cancel()
	res, err := s.filter.Query(ctx, q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := s.listing(r.Context(), r, q, res)
	v.Heading = "Search"
	if q.Text != "" {
		v.Heading = "Search: " + q.Text
	}
	s.render(w, r, http.StatusOK, "listing", meta{Title: v.Heading, Robots: "noindex, follow"}, "", v)
}

// listing builds the view of a product listing at r's path.
func (s *Storefront) listing(ctx context.Context, r *http.Request, q filter.Query, res filter.Result) listingView {
	params := knownParams(r.URL.Query())
	v := listingView{
		Action: r.URL.Path, Query: q.Text, Sort: q.Sort, Result: res, Subcats: res.Categories,
		Filters: params[ParamFilter], Clear: r.URL.Path,
	}
	if q.Text != "" {
		v.Clear += "?" + url.Values{ParamText: {q.Text}}.Encode()
	}
	v.Filtered = len(q.Attributes) > 0 || q.Price != nil || q.InStock
	v.InStock, v.StockKnown = q.InStock, res.StockKnown
	if q.Price != nil && q.Price.Min != nil {
		v.PriceMin = formatAmount(*q.Price.Min, q.Currency)
	}
	if q.Price != nil && q.Price.Max != nil {
		v.PriceMax = formatAmount(*q.Price.Max, q.Currency)
	}
	for _, o := range []sortOption{{filter.SortNewest, "Newest", false}, {filter.SortPriceAsc, "Price: low to high", false},
		{filter.SortPriceDesc, "Price: high to low", false}, {filter.SortTitle, "Name", false}} {
		o.Selected = o.Value == q.Sort || (q.Sort == "" && o.Value == filter.SortNewest)
		v.Sorts = append(v.Sorts, o)
	}
	defs := s.attributes(ctx)
	for _, f := range res.Facets {
		def := defs[f.Code]
		fv := facetView{Code: f.Code, Name: def.Name}
		if fv.Name == "" {
			fv.Name = f.Code
		}
		for _, val := range f.Values {
			label := val.Value
			switch {
			case f.Kind == filter.KindBool && val.Value == "true":
				label = "yes"
			case f.Kind == filter.KindBool && val.Value == "false":
				label = "no"
			case def.Unit != "":
				label += " " + def.Unit
			}
			fv.Values = append(fv.Values, facetValueView{
				Value: val.Value, Label: label, Count: val.Count, Selected: val.Selected,
				Link: r.URL.Path + "?" + toggleFilter(params, f.Code+":"+val.Value).Encode(),
			})
		}
		v.Facets = append(v.Facets, fv)
	}
	if res.Limit > 0 {
		v.Page = res.Offset/res.Limit + 1
		v.Pages = (res.Total + res.Limit - 1) / res.Limit
		if v.Page > 1 {
			v.Prev = r.URL.Path + "?" + withPage(params, v.Page-1).Encode()
		}
		if v.Page < v.Pages {
			v.Next = r.URL.Path + "?" + withPage(params, v.Page+1).Encode()
		}
	}
	return v
}

// toggleFilter returns params with the filter f added, or removed if it
// was there, and the paging reset.
func toggleFilter(params url.Values, f string) url.Values {
	out := cloneValues(params)
	out.Del(ParamPage)
	out.Del(ParamOffset)
	out.Del(ParamCursor)
	fs := out[ParamFilter]
	if i := slices.Index(fs, f); i >= 0 {
		fs = slices.Delete(slices.Clone(fs), i, i+1)
	} else {
		fs = append(slices.Clone(fs), f)
	}
	if len(fs) == 0 {
		out.Del(ParamFilter)
	} else {
		out[ParamFilter] = fs
	}
	return out
}

func withPage(params url.Values, page int) url.Values {
	out := cloneValues(params)
	out.Del(ParamOffset)
	out.Del(ParamCursor)
	out.Set(ParamPage, strconv.Itoa(page))
	return out
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}
