package storefront

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/content/article"
	"github.com/shopbus/shopbus/shop/content/seo"
)

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

// pageKind is what a slug names: a product, a category or an article,
// in order of precedence (a product wins over a category, a category over
// an article). It indexes slugPage's lookups, like the paths
// SEOPaths.Paths returns.
type pageKind int

const (
	kindProduct pageKind = iota
	kindCategory
	kindArticle
	numKinds // the number of kinds

	noKind pageKind = -1 // nobody has the slug
)

// service is the name of the service that has the slugs of kind k.
func (k pageKind) service() string {
	return [numKinds]string{product.ServiceName, category.ServiceName, article.ServiceName}[k]
}

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
		seoF    [numKinds]*future[seo.Resolution]
		cached  [numKinds]bool
		lookups [numKinds]waiter
		prod    *future[product.Product]
		cat     *future[category.Category]
		art     *future[article.Article]
		stockC  *stockCall
	)
	start := func(k pageKind, withSEO bool) {
		switch k {
		case kindProduct:
			prod = async(pub, s.opts.CallTimeout, func(ctx context.Context) (product.Product, error) {
				return s.publishedProduct(ctx, slug)
			})
			lookups[kindProduct] = prod
			if skus, ok := s.memo.productSKUs(slug); ok && len(skus) > 0 {
				stockC = s.startStock(pub, skus) // with the product, not after it
			}
		case kindCategory:
			cat = async(pub, s.opts.CallTimeout, func(ctx context.Context) (category.Category, error) {
				return s.cats.GetBySlug(ctx, category.GetBySlugRequest{Slug: slug})
			})
			lookups[kindCategory] = cat
		case kindArticle:
			art = async(pub, s.opts.ArticleTimeout, func(ctx context.Context) (article.Article, error) {
				return s.article.GetBySlug(ctx, article.GetBySlugRequest{Slug: slug})
			})
			lookups[kindArticle] = art
		}
		if !withSEO {
			return
		}
		if j := slices.Index(paths[:k], paths[k]); j >= 0 && seoF[j] != nil {
			seoF[k], cached[k] = seoF[j], cached[j]
			return
		}
		seoF[k], cached[k] = s.seoMeta(ctx, paths[k])
	}
	kind, known := s.memo.kind(slug)
	upto := numKinds - 1 // the last kind asked at once
	if known {
		upto = kind
	}
	for k := kindProduct; k <= upto; k++ {
		start(k, known && k == kind || !known && k == kindProduct)
	}
	defs := async(pub, NavTimeout, func(ctx context.Context) (definitions, error) {
		return definitions{attrs: s.attributes(ctx), groups: s.optionGroups(ctx)}, nil
	})
	winner := pageKind(decide(lookups[:upto+1], Grace))
	if winner == noKind && upto < numKinds-1 {
		for k := upto + 1; k < numKinds; k++ {
			start(k, true)
		}
		winner = pageKind(decide(lookups[:], Grace))
	}
	for k := kindProduct; k < winner; k++ {
		if !lookups[k].finished() {
			s.log.WarnContext(ctx, "storefront: a service did not answer for a slug; served what another found",
				"slug", slug, "service", k.service(), "served", winner.service())
		}
	}
	if winner != noKind {
		s.memo.setKind(slug, winner)
		if seoF[winner] == nil { // the slug changed kind (or seo is backing off)
			seoF[winner], cached[winner] = s.seoMeta(ctx, paths[winner])
		}
	}
	switch winner {
	case kindProduct:
		d, _ := defs.wait()
		s.productPage(w, r, prod.val, seoF[kindProduct], paths[kindProduct], d, stockC)
		return
	case kindCategory:
		s.categoryPage(w, r, cat.val, seoF[kindCategory], paths[kindCategory])
		return
	case kindArticle:
		s.articlePage(w, r, art.val, seoF[kindArticle], paths[kindArticle])
		return
	}

	// Nobody has the slug: an old one, or none at all. Ask the seo
	// service afresh about every path it may know the slug under, and
	// about the page's own path (an admin's redirect from it, or a
	// content page), at once. A redirect from the page's own path comes
	// first: an admin's redirect of exactly that address wins over the
	// automatic one of an old slug.
	s.memo.setKind(slug, noKind)
	for i, p := range paths {
		if seoF[i] == nil || cached[i] {
			seoF[i] = s.resolveAsync(ctx, p)
		}
	}
	var own *future[seo.Resolution]
	if !slices.Contains(paths[:], r.URL.Path) {
		own = s.resolveAsync(ctx, r.URL.Path)
		if res := s.resolution(ctx, own); res != nil {
			if to := s.redirectOf(res, r.URL.Path); to != nil {
				redirect(w, r, to, res.Status)
				return
			}
			own = ready(*res)
		} else {
			own = nil
		}
	}
	for i := range seoF {
		if res := s.resolution(ctx, seoF[i]); res != nil {
			if to := s.redirectOf(res, r.URL.Path); to != nil {
				redirect(w, r, to, res.Status)
				return
			}
		}
	}
	for k, l := range lookups {
		if err := l.result(); !errors.Is(err, shop.ErrNotFound) && !errors.Is(err, shop.ErrInvalid) {
			// That service could have it: do not call it missing.
			s.log.WarnContext(ctx, "storefront: slug undecided", "slug", slug, "service", pageKind(k).service(), "err", err)
			s.fail(w, r, err)
			return
		}
	}
	if own != nil && s.pathPageOf(w, r, r.URL.Path, own) {
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
