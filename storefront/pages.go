package storefront

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/category"
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
	"media":   mediaVariant,
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
// what the seo service knows of it: a redirect when it is an old path or
// an admin's redirect (301, or 302 for a temporary one), or a content
// page (kind "page", such as /about) rendered from its metadata. It
// reports whether it answered.
func (s *Storefront) pathPage(w http.ResponseWriter, r *http.Request, path string) bool {
	ctx := r.Context()
	return s.pathPageOf(w, r, path, s.resolveAsync(ctx, path))
}

// pathPageOf is pathPage with the seo service's answer for path asked
// already (f; nil when it could not be asked).
func (s *Storefront) pathPageOf(w http.ResponseWriter, r *http.Request, path string, f *future[seo.Resolution]) bool {
	ctx := r.Context()
	res := s.resolution(ctx, f)
	if to := s.redirectOf(res, path); to != nil {
		redirect(w, r, to, res.Status)
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

// herePath is the page's path with the query parameters the shop
// understands (for "log in and come back" links): junk parameters are not
// repeated into the page.
func herePath(r *http.Request) string {
	if q := knownParams(r.URL.Query()).Encode(); q != "" {
		return r.URL.Path + "?" + q
	}
	return r.URL.Path
}
