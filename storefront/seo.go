package storefront

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/content/seo"
)

// meta is the metadata of a page.
type meta struct {
	Title       string
	Description string
	Canonical   string
	Robots      string
	OpenGraph   seo.OpenGraph
}

// seoUp reports whether the seo service is worth asking: not while it is
// backing off after a failure.
func (s *Storefront) seoUp() bool {
	s.seoMu.Lock()
	defer s.seoMu.Unlock()
	return !s.opts.Now().Before(s.seoDownUntil)
}

// seoFailed records a failed seo call. Answers such as not_found are the
// service working; no answer at all (deadline, unavailable, internal)
// is logged and makes the storefront leave it alone for SEOBackoff.
func (s *Storefront) seoFailed(ctx context.Context, err error) {
	if errors.Is(err, shop.ErrNotFound) || errors.Is(err, shop.ErrInvalid) ||
		errors.Is(err, shop.ErrForbidden) || errors.Is(err, shop.ErrUnauthenticated) {
		return
	}
	s.log.WarnContext(ctx, "storefront: seo service failed; pages go without its metadata for a while",
		"service", seo.ServiceName, "err", err, "backoff", SEOBackoff)
	s.seoMu.Lock()
	s.seoDownUntil = s.opts.Now().Add(SEOBackoff)
	s.seoMu.Unlock()
}

// resolveAsync starts asking the seo service what lives at path, within
// its budget; nil while the seo service is backing off.
func (s *Storefront) resolveAsync(ctx context.Context, path string) *future[seo.Resolution] {
	if !s.seoUp() {
		return nil
	}
	return async(ctx, s.opts.SEOTimeout, func(ctx context.Context) (seo.Resolution, error) {
		return s.seo.Resolve(ctx, seo.ResolveRequest{Path: path})
	})
}

// resolution waits for f (nil: no answer) and returns the seo service's
// answer, or nil on any failure (logged by seoFailed).
func (s *Storefront) resolution(ctx context.Context, f *future[seo.Resolution]) *seo.Resolution {
	if f == nil {
		return nil
	}
	res, err := f.wait()
	if err != nil {
		s.seoFailed(ctx, err)
		return nil
	}
	return &res
}

// pageMeta returns the metadata of the page at pagePath (the URL path the
// storefront serves it at): the seo service's answer f for the path it
// knows the page under, prefix+slug, over the fallback field by field. The
// seo service's own URLs for that path (canonical, og:url) become
// pagePath's, unless they were written explicitly.
func (s *Storefront) pageMeta(ctx context.Context, f *future[seo.Resolution], seoPath, pagePath string, fallback meta) meta {
	if fallback.Canonical == "" {
		fallback.Canonical = s.opts.BaseURL + pagePath
	}
	res := s.resolution(ctx, f)
	if res == nil || res.Metadata == nil {
		return fallback
	}
	md := res.Metadata
	m := fallback
	if md.Title != "" {
		m.Title = md.Title
	}
	if md.Description != "" {
		m.Description = md.Description
	}
	move := func(u, field string) string {
		if seoPath == pagePath || slices.Contains(md.Explicit, field) {
			return u
		}
		if base, ok := strings.CutSuffix(u, seoPath); ok {
			return base + pagePath
		}
		return u
	}
	if md.Canonical != "" {
		m.Canonical = move(md.Canonical, "canonical")
	}
	m.Robots = md.Robots
	m.OpenGraph = md.OpenGraph
	if strings.HasPrefix(m.OpenGraph.Image, "/") && !strings.HasPrefix(m.OpenGraph.Image, "//") {
		m.OpenGraph.Image = s.opts.BaseURL + m.OpenGraph.Image // a stored image's path: og:image is absolute
	}
	if m.OpenGraph.URL != "" {
		m.OpenGraph.URL = move(m.OpenGraph.URL, "og.url")
	}
	return m
}

// pagePath turns a path of the seo service into the storefront's: an
// entity's path (a kind prefix and a slug) becomes /{slug}; other local
// paths stay; anything else is "".
func (s *Storefront) pagePath(p string) string {
	if !localPath(p) {
		return ""
	}
	for _, prefix := range []string{s.opts.SEOPaths.Product, s.opts.SEOPaths.Category, s.opts.SEOPaths.Article} {
		if slug, ok := strings.CutPrefix(p, prefix); ok && slug != "" && !strings.Contains(slug, "/") {
			return "/" + slug
		}
	}
	return p
}

// redirectOf returns where a seo answer redirects to, or nil: a
// storefront path (an entity's path becomes /{slug}), with the query the
// answer gives, or an absolute http(s) URL of another site (an admin's
// redirect, see seo.PutRedirectRequest). Anything else (a scheme other
// than http(s), a "//host" path, user information) is not followed:
// only admins write redirects, and the storefront checks again rather
// than become an open redirect should the seo service answer with one.
// A redirect back to from itself is not followed either.
func (s *Storefront) redirectOf(res *seo.Resolution, from string) *url.URL {
	if res == nil || res.Redirect == "" {
		return nil
	}
	if strings.HasPrefix(res.Redirect, "/") {
		p, q, _ := strings.Cut(res.Redirect, "?")
		p = s.pagePath(p)
		if p == "" || p == from || !plainURLText(q) || strings.Contains(q, "#") {
			return nil
		}
		return &url.URL{Path: p, RawQuery: q}
	}
	u, err := url.Parse(res.Redirect)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.User != nil || u.Opaque != "" ||
		!plainURLText(res.Redirect) {
		return nil
	}
	return u
}

// plainURLText reports whether s has no control character, space or
// backslash (which browsers read as a slash).
func plainURLText(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '\\' })
}

// redirect answers r with a redirect to to, as redirectOf gives it, with
// the status of the seo service's answer: 302 for an admin's temporary
// redirect, else 301. r's query is kept when to has none of its own.
func redirect(w http.ResponseWriter, r *http.Request, to *url.URL, status int) {
	u := *to
	if u.RawQuery == "" {
		u.RawQuery = r.URL.RawQuery
	}
	if status != http.StatusFound {
		status = http.StatusMovedPermanently
	}
	http.Redirect(w, r, u.String(), status) // u.String escapes a UTF-8 path
}

// localPath reports whether p is a path on this site (and so safe to
// redirect to): "/..." but not "//..." or "/\...".
//
// Browsers drop tabs and line breaks anywhere in a URL and read a
// backslash as a slash, so "/\t/evil.example" would leave the site: a path
// with any control character, space or backslash is refused.
func localPath(p string) bool {
	if len(p) == 0 || p[0] != '/' || len(p) > 1 && p[1] == '/' {
		return false
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c == 0x7f || c == '\\' {
			return false
		}
	}
	return true
}

// rewriteSitemap turns the entity URLs of a sitemap from the seo service
// (under its kind prefixes) into the storefront's /{slug} URLs.
func (s *Storefront) rewriteSitemap(body []byte) []byte {
	const open, end = "<loc>", "</loc>"
	var out bytes.Buffer
	out.Grow(len(body))
	rest := body
	for {
		i := bytes.Index(rest, []byte(open))
		if i < 0 {
			break
		}
		i += len(open)
		j := bytes.Index(rest[i:], []byte(end))
		if j < 0 {
			break
		}
		out.Write(rest[:i])
		loc := string(rest[i : i+j])
		if u, err := url.Parse(loc); err == nil && u.Path != "" {
			if p := s.pagePath(u.Path); p != "" && p != u.Path {
				u.Path, u.RawPath = p, ""
				loc = u.String()
			}
		}
		out.WriteString(loc)
		rest = rest[i+j:]
	}
	out.Write(rest)
	return out.Bytes()
}
