package storefront

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/content/seo"
)

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
