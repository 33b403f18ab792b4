package storefront

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/shop/catalog/filter"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/content/article"
	"github.com/shopbus/shopbus/shop/content/seo"
)

var pageNames = []string{"home", "listing", "product", "cart", "login", "register", "blog", "article", "page", "error",
	"checkout", "review", "orders", "order"}

var funcs = template.FuncMap{
	"money":   func(m shop.Money) string { return m.String() },
	"date":    func(t time.Time) string { return t.Format("2 January 2006") },
	"totals":  totalsList,
	"formKey": newFormKey,
	"amount":  amount,
	"percent": percent,
}

func (s *Storefront) parseTemplates() error {
	s.pages = map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return fmt.Errorf("storefront: template %s: %w", name, err)
		}
		s.pages[name] = t
	}
	return nil
}

// pageData is what every page template gets; the page's own view is Data.
type pageData struct {
	Shop  string
	Meta  meta
	User  *shop.Principal
	Nav   []category.Category
	Path  string // the current path and query, for "log in and come back"
	Flash string // an error to show above the content
	CSRF  string // the visitor's CSRF token, for every POST form
	// AccountUnavailable says the visitor's session could not be checked
	// (auth did not answer): the header says so instead of offering to
	// log in, and nothing on the page treats the visitor as a guest.
	AccountUnavailable bool
	Data               any
}

// navigation starts fetching the navigation (the root categories) for
// the page r is rendering, once, and returns its future.
func (s *Storefront) navigation(r *http.Request) *future[[]category.Category] {
	v := visitorOf(r)
	if v.nav == nil {
		v.nav = async(publicContext(r.Context()), NavTimeout, s.roots)
	}
	return v.nav
}

// render renders page name with the layout.
func (s *Storefront) render(w http.ResponseWriter, r *http.Request, status int, name string, m meta, flash string, data any) {
	if m.Title == "" {
		m.Title = s.opts.ShopName
	} else if m.Title != s.opts.ShopName && !strings.Contains(m.Title, s.opts.ShopName) {
		m.Title += " | " + s.opts.ShopName
	}
	nav, err := s.navigation(r).wait()
	if err != nil {
		s.log.WarnContext(r.Context(), "storefront: navigation left out", "service", category.ServiceName, "err", err)
	}
	user, unsure := s.headerUser(w, r)
	d := pageData{Shop: s.opts.ShopName, Meta: m, User: user, Nav: nav, Path: herePath(r), Flash: flash,
		CSRF: s.csrfToken(w, r), AccountUnavailable: unsure, Data: data}
	var b bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&b, "layout", d); err != nil {
		s.log.ErrorContext(r.Context(), "storefront: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// SessionRenderWait bounds how long a page that is ready waits for the
// check of the visitor's session, which only its header needs: past it the
// page is served with a header that says the account is temporarily
// unavailable (pages that need the session wait for it in full).
const SessionRenderWait = time.Second

// headerUser returns the user a page's header shows, and whether the
// visitor's session could not be checked (in time).
func (s *Storefront) headerUser(w http.ResponseWriter, r *http.Request) (*shop.Principal, bool) {
	v := visitorOf(r)
	if !v.checked && v.authDone != nil {
		t := time.NewTimer(SessionRenderWait)
		defer t.Stop()
		select {
		case <-v.authDone:
		case <-t.C:
			s.log.WarnContext(r.Context(), "storefront: page header without the account", "service", "auth", "err", "session check too slow")
			return nil, true
		}
	}
	v = s.identify(w, r)
	return v.user, v.unsure
}

// warn logs that a page goes without a service's part.
func (s *Storefront) warn(ctx context.Context, what, service string, err error) {
	s.log.WarnContext(ctx, "storefront: "+what+" left out", "service", service, "err", err)
}

// permanent redirects to a local path, keeping r's query string.
func permanent(w http.ResponseWriter, r *http.Request, to string) {
	to = (&url.URL{Path: to}).EscapedPath() // slugs may be UTF-8
	if r.URL.RawQuery != "" {
		to += "?" + r.URL.RawQuery
	}
	http.Redirect(w, r, to, http.StatusMovedPermanently)
}

// notFound answers a path the shop does not have: a redirect when the seo
// service knows it as an old path, or a 404 page.
func (s *Storefront) notFound(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		p := r.URL.Path
		if t := strings.TrimSuffix(p, "/"); t != p && t != "" && strings.Count(t, "/") == 1 {
			permanent(w, r, t) // "/red-runner/" → "/red-runner"
			return
		}
		if s.pathPage(w, r, p) {
			return
		}
	}
	s.fail(w, r, shop.NotFound("page"))
}

// pathPage answers a path that is no product, category or article from
// what the seo service knows of it: a redirect when it is an old path, or
// a content page (kind "page", such as /about) rendered from its
// metadata. It reports whether it answered.
func (s *Storefront) pathPage(w http.ResponseWriter, r *http.Request, path string) bool {
	ctx := r.Context()
	res := s.resolution(ctx, s.resolveAsync(ctx, path))
	if to := s.redirectOf(res, path); to != "" {
		permanent(w, r, to)
		return true
	}
	if res == nil || res.Metadata == nil || res.Metadata.Kind != seo.KindPage {
		return false
	}
	md := res.Metadata
	m := meta{Title: md.Title, Description: md.Description, Canonical: md.Canonical, Robots: md.Robots, OpenGraph: md.OpenGraph}
	if m.Canonical == "" {
		m.Canonical = s.opts.BaseURL + path
	}
	s.render(w, r, http.StatusOK, "page", m, "", contentView{Title: md.Title, Description: md.Description})
	return true
}

type contentView struct{ Title, Description string }

// oldURL answers the old URL scheme (/products/{slug}, /categories/{slug},
// /blog/{slug}) with a permanent redirect to /{slug}.
func (s *Storefront) oldURL(w http.ResponseWriter, r *http.Request) {
	slug, ok := canonicalSlug(r.PathValue("slug"))
	if !ok {
		s.notFound(w, r)
		return
	}
	permanent(w, r, "/"+slug)
}

// ---- the catch-all slug route ----

// validSlug reports whether s can be a slug of any service.
func validSlug(s string) bool { return shop.ValidSlug(s, shop.MaxSlugLen) }

// canonicalSlug returns the slug a path segment names: itself when it is
// one, else, for a segment of letters, digits and hyphens only, what
// shop.Slugify makes of it ("Café" → "cafe"; upper case, decomposed
// accents, full-width letters), which the page redirects to; false when
// it names none ("favicon.ico").
func canonicalSlug(raw string) (string, bool) {
	if validSlug(raw) {
		return raw, true
	}
	if strings.ContainsFunc(raw, func(r rune) bool {
		return r != '-' && !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r)
	}) {
		return "", false
	}
	slug := shop.Slugify(raw)
	return slug, slug != "" && validSlug(slug)
}

// Grace is how long a slug page waits for a silent service of higher
// precedence (product over category over article) once a lower one has
// found the slug: past it the page is served from what was found.
const Grace = 500 * time.Millisecond

// slugPage serves GET /{slug}: see the package documentation.
func (s *Storefront) slugPage(w http.ResponseWriter, r *http.Request) {
	raw := r.PathValue("slug")
	if n, ok := strings.CutPrefix(raw, "sitemap-"); ok && strings.HasSuffix(n, ".xml") {
		s.serveSitemap(w, r, raw)
		return
	}
	slug, ok := canonicalSlug(raw)
	if !ok {
		s.notFound(w, r)
		return
	}
	if slug != raw {
		permanent(w, r, "/"+slug)
		return
	}
	ctx := r.Context()
	pub := publicContext(ctx)
	s.navigation(r)

	// Everything the page may need, at once: the lookups of every kind
	// that can decide the page, the seo service's metadata, the
	// navigation and the definitions. When the slug was found before,
	// only the lookups of its kind and of the kinds that take precedence
	// over it can decide it, and the seo service is asked only about its
	// kind; the others are asked, together, only if those all miss. A
	// slug not seen before is asked of every service, and of the seo
	// service as a product (most slugs are); a category or article seen
	// for the first time gets its metadata after its lookup.
	paths := s.opts.SEOPaths.Paths(slug)
	var (
		seoF     [3]*future[seo.Resolution]
		cached   [3]bool
		lookups  [3]waiter
		prod     *future[product.Product]
		cat      *future[category.Category]
		art      *future[article.Article]
		stockC   *stockCall
		services = [3]string{"product", category.ServiceName, article.ServiceName}
	)
	start := func(i int, withSEO bool) {
		switch i {
		case 0:
			prod = async(pub, s.opts.CallTimeout, func(ctx context.Context) (product.Product, error) {
				return s.publishedProduct(ctx, slug)
			})
			lookups[0] = prod
			if skus, ok := s.memo.productSKUs(slug); ok && len(skus) > 0 {
				stockC = s.startStock(pub, skus) // with the product, not after it
			}
		case 1:
			cat = async(pub, s.opts.CallTimeout, func(ctx context.Context) (category.Category, error) {
				return s.cats.GetBySlug(ctx, category.GetBySlugRequest{Slug: slug})
			})
			lookups[1] = cat
		case 2:
			art = async(pub, s.opts.ArticleTimeout, func(ctx context.Context) (article.Article, error) {
				return s.article.GetBySlug(ctx, article.GetBySlugRequest{Slug: slug})
			})
			lookups[2] = art
		}
		if !withSEO {
			return
		}
		if j := slices.Index(paths[:i], paths[i]); j >= 0 && seoF[j] != nil {
			seoF[i], cached[i] = seoF[j], cached[j]
			return
		}
		seoF[i], cached[i] = s.seoMeta(ctx, paths[i])
	}
	kind, known := s.memo.kind(slug)
	upto := len(lookups) - 1
	if known {
		upto = kind
	}
	for i := 0; i <= upto; i++ {
		start(i, known && i == kind || !known && i == 0)
	}
	defs := async(pub, NavTimeout, func(ctx context.Context) (definitions, error) {
		return definitions{attrs: s.attributes(ctx), groups: s.optionGroups(ctx)}, nil
	})
	winner := decide(lookups[:upto+1], Grace)
	if winner < 0 && upto < len(lookups)-1 {
		for i := upto + 1; i < len(lookups); i++ {
			start(i, true)
		}
		winner = decide(lookups[:], Grace)
	}
	for i := 0; i < winner; i++ {
		if !lookups[i].finished() {
			s.log.WarnContext(ctx, "storefront: a service did not answer for a slug; served what another found",
				"slug", slug, "service", services[i], "served", services[winner])
		}
	}
	if winner >= 0 {
		s.memo.setKind(slug, winner)
		if seoF[winner] == nil { // the slug changed kind (or seo is backing off)
			seoF[winner], cached[winner] = s.seoMeta(ctx, paths[winner])
		}
	}
	switch winner {
	case 0:
		d, _ := defs.wait()
		s.productPage(w, r, prod.val, seoF[0], paths[0], d, stockC)
		return
	case 1:
		s.categoryPage(w, r, cat.val, seoF[1], paths[1])
		return
	case 2:
		s.articlePage(w, r, art.val, seoF[2], paths[2])
		return
	}

	// Nobody has the slug: an old one, or none at all. Ask the seo
	// service afresh about every path it may know the slug under.
	s.memo.setKind(slug, -1)
	for i, p := range paths {
		if seoF[i] == nil || cached[i] {
			seoF[i] = s.resolveAsync(ctx, p)
		}
	}
	for i := range seoF {
		if to := s.redirectOf(s.resolution(ctx, seoF[i]), r.URL.Path); to != "" {
			permanent(w, r, to)
			return
		}
	}
	for i, l := range lookups {
		if err := l.result(); !errors.Is(err, shop.ErrNotFound) && !errors.Is(err, shop.ErrInvalid) {
			// That service could have it: do not call it missing.
			s.log.WarnContext(ctx, "storefront: slug undecided", "slug", slug, "service", services[i], "err", err)
			s.fail(w, r, err)
			return
		}
	}
	if !slices.Contains(paths[:], r.URL.Path) && s.pathPage(w, r, r.URL.Path) {
		return
	}
	s.fail(w, r, shop.NotFound("page"))
}

// waiter is a future seen without its value: done, and with what error.
type waiter interface {
	doneChan() <-chan struct{}
	finished() bool
	result() error
}

func (f *future[T]) doneChan() <-chan struct{} { return f.done }

func (f *future[T]) finished() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

// result returns the error of a finished future.
func (f *future[T]) result() error { return f.err }

// decide waits for lookups in order of precedence and returns the index of
// the one that found its slug (finished without error): the first in order
// once those before it have finished without finding it, or, if some of
// those stay silent, grace after it finished. It returns -1 when every
// lookup has finished and none found it.
func decide(lookups []waiter, grace time.Duration) int {
	n := len(lookups)
	done := make([]bool, n)
	notify := make(chan int, n)
	for i, l := range lookups {
		go func() {
			<-l.doneChan()
			notify <- i
		}()
	}
	var timeout <-chan time.Time
	graceOver := false
	for {
		found, pending := -1, false
		for i := range lookups {
			if !done[i] {
				pending = true
				continue
			}
			if lookups[i].result() == nil {
				found = i
				break
			}
		}
		switch {
		case found >= 0 && (!pending || graceOver):
			return found
		case found < 0 && !pending:
			return -1
		case found >= 0 && timeout == nil:
			t := time.NewTimer(grace)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case i := <-notify:
			done[i] = true
		case <-timeout:
			graceOver = true
		}
	}
}

// ---- home ----

type homeView struct {
	Featured   []filter.Summary
	Categories []topCategory
	Articles   []article.Article
}

type topCategory struct {
	Slug, Name string
	Count      int
	Counted    bool // Count is known
}

func (s *Storefront) homePage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pub := publicContext(ctx)
	nav := s.navigation(r)
	seoF := s.resolveAsync(ctx, "/")
	featured := async(pub, s.opts.FilterTimeout, func(ctx context.Context) (filter.Result, error) {
		return s.filter.Query(ctx, s.opts.Featured)
	})
	articles := async(pub, s.opts.ArticleTimeout, func(ctx context.Context) (article.ListResult, error) {
		return s.article.List(ctx, article.ListRequest{Limit: MaxLatestArticles})
	})

	// Each section is optional: a service that does not answer leaves it out.
	var v homeView
	res, ferr := featured.wait()
	if ferr == nil {
		v.Featured = res.Items
	} else {
		s.warn(ctx, "home: featured products", filter.ServiceName, ferr)
	}
	counts := map[string]filter.CategoryCount{}
	if ferr == nil && s.opts.Featured.CategoryID == "" && s.opts.Featured.CategorySlug == "" {
		for _, c := range res.Categories {
			counts[c.ID] = c
		}
	}
	if roots, err := nav.wait(); err == nil {
		for _, c := range roots {
			cc, ok := counts[c.ID]
			v.Categories = append(v.Categories, topCategory{Slug: c.Slug, Name: c.Name, Count: cc.Count, Counted: ok})
		}
	} else {
		for _, c := range res.Categories { // what the filter service knows of them
			v.Categories = append(v.Categories, topCategory{Slug: c.Slug, Name: c.Name, Count: c.Count, Counted: true})
		}
	}
	// Top categories: those holding the most products first.
	sort.SliceStable(v.Categories, func(i, j int) bool { return v.Categories[i].Count > v.Categories[j].Count })
	if len(v.Categories) > MaxTopCategories {
		v.Categories = v.Categories[:MaxTopCategories]
	}
	if list, err := articles.wait(); err == nil {
		v.Articles = list.Articles
	} else {
		s.warn(ctx, "home: latest articles", article.ServiceName, err)
	}
	m := s.pageMeta(ctx, seoF, "/", "/", meta{Title: s.opts.ShopName})
	s.render(w, r, http.StatusOK, "home", m, "", v)
}

// ---- product listings: category and search ----

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

// ---- article ----

type articleView struct {
	Article article.Article
	Body    template.HTML
}

// articlePage renders an article found by the slug route.
func (s *Storefront) articlePage(w http.ResponseWriter, r *http.Request, a article.Article, seoF *future[seo.Resolution], seoPath string) {
	m := s.pageMeta(r.Context(), seoF, seoPath, "/"+a.Slug, meta{Title: a.Title, Description: a.Excerpt})
	s.render(w, r, http.StatusOK, "article", m, "", articleView{Article: a, Body: article.RenderHTML(a.Body)})
}

// ---- cart ----

type cartView struct {
	Cart         cart.Cart
	Lines        []lineView
	Totals       []shop.Money
	PriceChanged bool // some line's price changed since it was added
	Unavailable  bool // some line can no longer be bought
}

type lineView struct {
	cart.Line
	Label string
}

func (s *Storefront) cartPage(w http.ResponseWriter, r *http.Request) {
	s.showCart(w, r, http.StatusOK, "")
}

// showCart renders the cart page: it needs the cart service.
func (s *Storefront) showCart(w http.ResponseWriter, r *http.Request, status int, flash string) {
	s.navigation(r)
	groups := s.optionLabels(r.Context())
	c, err := s.getCart(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d, _ := groups.wait()
	v := cartView{Cart: c, Totals: totalsList(c.Totals)}
	for _, l := range c.Lines {
		v.Lines = append(v.Lines, lineView{Line: l, Label: d.optionsLabel(l.Options)})
		v.PriceChanged = v.PriceChanged || l.PriceChanged && !l.Unavailable
		v.Unavailable = v.Unavailable || l.Unavailable
	}
	s.render(w, r, status, "cart", meta{Title: "Cart", Robots: "noindex"}, flash, v)
}

// optionLabels starts fetching the option groups' names and labels, for
// the option labels of lines (optional: on failure, the codes).
func (s *Storefront) optionLabels(ctx context.Context) *future[definitions] {
	return async(publicContext(ctx), NavTimeout, func(ctx context.Context) (definitions, error) {
		return definitions{groups: s.optionGroups(ctx)}, nil
	})
}

// formInt reads a whole-number form field; def when empty.
func formInt(r *http.Request, name string, def int) (int, error) {
	s := r.PostFormValue(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, shop.Invalid("invalid form", name, "must be a whole number")
	}
	return n, nil
}

func (s *Storefront) cartAddForm(w http.ResponseWriter, r *http.Request) {
	qty, err := formInt(r, "quantity", 1)
	if err == nil {
		_, err = s.addToCart(w, r, cart.AddItemRequest{
			ProductID: r.PostFormValue("product_id"), VariantID: r.PostFormValue("variant_id"), Quantity: qty,
		})
	}
	s.afterCartForm(w, r, err)
}

func (s *Storefront) cartUpdateForm(w http.ResponseWriter, r *http.Request) {
	qty, err := formInt(r, "quantity", 0)
	if err == nil {
		_, err = s.updateCart(w, r, r.PostFormValue("product_id"), r.PostFormValue("variant_id"), qty)
	}
	s.afterCartForm(w, r, err)
}

func (s *Storefront) cartRemoveForm(w http.ResponseWriter, r *http.Request) {
	_, err := s.removeFromCart(w, r, r.PostFormValue("product_id"), r.PostFormValue("variant_id"))
	s.afterCartForm(w, r, err)
}

// afterCartForm redirects to the cart after a change (post/redirect/get),
// or shows the cart with what went wrong.
func (s *Storefront) afterCartForm(w http.ResponseWriter, r *http.Request, err error) {
	if err == nil {
		http.Redirect(w, r, "/cart", http.StatusSeeOther)
		return
	}
	if StatusOf(err) >= 500 {
		s.fail(w, r, err)
		return
	}
	s.showCart(w, r, StatusOf(err), message(r, err))
}

// totalsList returns totals as amounts ordered by currency.
func totalsList(t shop.Totals) []shop.Money {
	out := make([]shop.Money, 0, len(t))
	for c, a := range t {
		out = append(out, shop.Money{Amount: a, Currency: c})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Currency < out[j].Currency })
	return out
}

// ---- login, registration, logout ----

type formView struct {
	Email string
	Next  string
}

// nextPath returns the local path to go to after a form, "/" by default.
func nextPath(r *http.Request) string {
	n := r.FormValue("next")
	if !localPath(n) || strings.HasPrefix(n, "/login") || strings.HasPrefix(n, "/register") {
		return "/"
	}
	return n
}

func (s *Storefront) loginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "login", meta{Title: "Log in", Robots: "noindex"}, "", formView{Next: nextPath(r)})
}

func (s *Storefront) loginForm(w http.ResponseWriter, r *http.Request) {
	email := r.PostFormValue("email")
	_, _, err := s.login(w, r, email, r.PostFormValue("password"))
	if err != nil {
		if StatusOf(err) >= 500 {
			s.fail(w, r, err)
			return
		}
		setRetryAfter(w.Header(), err)
		s.render(w, r, StatusOf(err), "login", meta{Title: "Log in", Robots: "noindex"}, message(r, err), formView{Email: email, Next: nextPath(r)})
		return
	}
	http.Redirect(w, r, nextPath(r), http.StatusSeeOther)
}

func (s *Storefront) registerPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "register", meta{Title: "Create an account", Robots: "noindex"}, "", formView{Next: nextPath(r)})
}

func (s *Storefront) registerForm(w http.ResponseWriter, r *http.Request) {
	email, password := r.PostFormValue("email"), r.PostFormValue("password")
	err := s.limits.admitRegister(r)
	if err == nil {
		_, err = s.auth.Register(accountContext(r, email), auth.RegisterRequest{Email: email, Password: password})
	}
	if err == nil {
		_, _, err = s.login(w, r, email, password)
	}
	if err != nil {
		if StatusOf(err) >= 500 {
			s.fail(w, r, err)
			return
		}
		setRetryAfter(w.Header(), err)
		s.render(w, r, StatusOf(err), "register", meta{Title: "Create an account", Robots: "noindex"}, message(r, err), formView{Email: email, Next: nextPath(r)})
		return
	}
	http.Redirect(w, r, nextPath(r), http.StatusSeeOther)
}

func (s *Storefront) logoutForm(w http.ResponseWriter, r *http.Request) {
	if err := s.logout(w, r); err != nil {
		s.log.WarnContext(r.Context(), "storefront: logout", "service", "auth", "err", err)
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// ---- blog ----

type blogView struct {
	Tag      string
	Articles []article.Article
	Next     string
}

// blogPage lists articles: it needs the article service.
func (s *Storefront) blogPage(w http.ResponseWriter, r *http.Request) {
	s.navigation(r)
	ctx := r.Context()
	seoF := s.resolveAsync(ctx, "/blog")
	tag, cursor := r.URL.Query().Get("tag"), r.URL.Query().Get("cursor")
	actx, cancel := context.WithTimeout(publicContext(ctx), s.opts.ArticleTimeout)
	defer cancel()
	res, err := s.article.List(actx, article.ListRequest{Tag: tag, Cursor: cursor})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := blogView{Tag: tag, Articles: res.Articles}
	if res.NextCursor != "" {
		q := url.Values{"cursor": {res.NextCursor}}
		if tag != "" {
			q.Set("tag", tag)
		}
		v.Next = "/blog?" + q.Encode()
	}
	title := "Blog"
	if tag != "" {
		title = "Blog: " + tag
	}
	m := s.pageMeta(ctx, seoF, "/blog", "/blog", meta{Title: title})
	if tag != "" || cursor != "" {
		m.Title, m.Robots = title, "noindex, follow"
	}
	s.render(w, r, http.StatusOK, "blog", m, "", v)
}

// ---- sitemap and robots ----

func (s *Storefront) sitemap(w http.ResponseWriter, r *http.Request) {
	s.serveSitemap(w, r, "sitemap.xml")
}

// serveSitemap serves a sitemap file of the seo service, with its URLs
// turned into the storefront's: the one part of the shop that fails with
// the seo service (at once while it is known to be down).
func (s *Storefront) serveSitemap(w http.ResponseWriter, r *http.Request, name string) {
	unavailable := func() {
		w.Header().Set("Retry-After", strconv.Itoa(int(SEOBackoff.Seconds())))
		http.Error(w, "sitemap unavailable", http.StatusServiceUnavailable)
	}
	if !s.seoUp() {
		unavailable()
		return
	}
	f, err := s.seo.Sitemap(publicContext(r.Context()), seo.SitemapRequest{Name: name})
	if err != nil {
		if st := StatusOf(err); st == http.StatusNotFound || st == http.StatusBadRequest {
			s.fail(w, r, shop.NotFound("page"))
			return
		}
		s.seoFailed(r.Context(), err)
		unavailable()
		return
	}
	ct := f.ContentType
	if ct == "" {
		ct = "application/xml"
	}
	w.Header().Set("Content-Type", ct)
	_, _ = w.Write(s.rewriteSitemap(f.Body))
}

// robots serves robots.txt. The Sitemap line names Options.BaseURL, never
// the request's Host header (which any client chooses); a storefront
// without a BaseURL leaves it out.
func (s *Storefront) robots(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, "User-agent: *\nDisallow: /api/\nDisallow: /cart\nDisallow: /search\nDisallow: /login\nDisallow: /register\nDisallow: /checkout\nDisallow: /orders\nDisallow: /admin\n")
	if s.opts.BaseURL != "" {
		fmt.Fprintf(w, "Sitemap: %s/sitemap.xml\n", s.opts.BaseURL)
	}
}

// herePath is the page's path with the query parameters the shop
// understands (for "log in and come back" links): junk parameters are not
// repeated into the page.
func herePath(r *http.Request) string {
	if q := knownParams(r.URL.Query()).Encode(); q != "" {
		return r.URL.Path + "?" + q
	}
	return r.URL.Path
}
