package storefront

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/shopbus/shopbus/shop/catalog/attribute"
	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/shop/catalog/option"
	"github.com/shopbus/shopbus/shop/content/seo"
)

// ---- cached definitions ----

// cache holds a value loaded from a service for its ttl (DefinitionsTTL
// when zero). One load
// runs at a time: meanwhile callers get the value held, or wait for the
// load when there is none yet. A failed load keeps what was held and is
// not retried for SEOBackoff, so that a service that is down does not slow
// every page.
type cache[T any] struct {
	ttl     time.Duration
	mu      sync.Mutex
	val     T
	next    time.Time     // when to load again
	loading chan struct{} // non-nil while a load runs
	have    bool
}

func (c *cache[T]) get(now time.Time, load func() (T, error)) (T, error) {
	c.mu.Lock()
	if now.Before(c.next) {
		defer c.mu.Unlock()
		return c.val, nil
	}
	if ch := c.loading; ch != nil {
		if c.have {
			defer c.mu.Unlock()
			return c.val, nil
		}
		c.mu.Unlock()
		<-ch
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.val, nil
	}
	ch := make(chan struct{})
	c.loading = ch
	c.mu.Unlock()

	v, err := load()

	c.mu.Lock()
	defer c.mu.Unlock()
	c.loading = nil
	close(ch)
	if err != nil {
		c.next = now.Add(SEOBackoff)
		return c.val, err
	}
	ttl := c.ttl
	if ttl == 0 {
		ttl = DefinitionsTTL
	}
	c.val, c.have, c.next = v, true, now.Add(ttl)
	return v, nil
}

// attributes returns the attribute definitions by code (for display
// names and units); on failure what it had (possibly nothing).
func (s *Storefront) attributes(ctx context.Context) map[string]attribute.Attribute {
	return byCode(ctx, s, &s.attrCache, "attribute definitions", attribute.ServiceName,
		func(ctx context.Context) ([]attribute.Attribute, error) {
			return s.attrs.List(ctx, attribute.ListRequest{})
		},
		func(a attribute.Attribute) string { return a.Code })
}

// optionGroups returns the option groups by code (for the names and
// labels of variant options); on failure what it had (possibly nothing).
func (s *Storefront) optionGroups(ctx context.Context) map[string]option.Group {
	return byCode(ctx, s, &s.groupCache, "option groups", option.ServiceName,
		func(ctx context.Context) ([]option.Group, error) {
			return s.options.ListGroups(ctx, option.ListGroupsRequest{})
		},
		func(g option.Group) string { return g.Code })
}

// shared returns the context of a load whose result every visitor shares:
// it keeps the trace of the request that triggered the load, but neither
// its cancellation (a visitor who leaves must not fail the load for
// everyone) nor its session (what all see must not depend on who asked).
func shared(ctx context.Context) context.Context {
	return trace.ContextWithSpanContext(context.Background(), trace.SpanContextFromContext(ctx))
}

// byCode returns what list gives, keyed by code, through c (within
// NavTimeout); a failure is logged under service and what c had (possibly
// nothing) is returned.
func byCode[T any](ctx context.Context, s *Storefront, c *cache[map[string]T], what, service string,
	list func(context.Context) ([]T, error), code func(T) string) map[string]T {
	m, err := c.get(s.opts.Now(), func() (map[string]T, error) {
		ctx, cancel := context.WithTimeout(shared(ctx), NavTimeout)
		defer cancel()
		items, err := list(ctx)
		if err != nil {
			return nil, err
		}
		m := make(map[string]T, len(items))
		for _, it := range items {
			m[code(it)] = it
		}
		return m, nil
	})
	if err != nil {
		s.log.WarnContext(ctx, "storefront: "+what, "service", service, "err", err)
	}
	return m
}

// ---- concurrent calls ----

// future is the result of a call running in its own goroutine.
type future[T any] struct {
	done chan struct{}
	val  T
	err  error
}

// async runs f with a context bounded by budget and returns its future.
// The call ends with the request (its context is the request's).
func async[T any](ctx context.Context, budget time.Duration, f func(context.Context) (T, error)) *future[T] {
	fu := &future[T]{done: make(chan struct{})}
	go func() {
		defer close(fu.done)
		ctx, cancel := context.WithTimeout(ctx, budget)
		defer cancel()
		fu.val, fu.err = f(ctx)
	}()
	return fu
}

// wait waits for the call to finish and returns its result.
func (f *future[T]) wait() (T, error) {
	<-f.done
	return f.val, f.err
}

// ready returns a future already holding v.
func ready[T any](v T) *future[T] {
	f := &future[T]{done: make(chan struct{}), val: v}
	close(f.done)
	return f
}

// Memo limits.
const (
	// SEOCacheTTL is how long the seo service's metadata of a page is
	// reused without asking again: metadata an admin changes shows within
	// it. Redirects and missing pages are always asked afresh.
	SEOCacheTTL = 30 * time.Second
	// NavTTL is how long the navigation (root categories) is reused.
	NavTTL = 10 * time.Second
	// maxMemo bounds the entries of each memo; a full memo starts over.
	maxMemo = 10_000
)

// memo remembers, for slug pages, the seo service's metadata by path
// (for SEOCacheTTL) and what kind of page each slug was last (product,
// category or article), so that a slug page asks the seo service only
// about the path it expects, if at all.
type memo struct {
	mu    sync.Mutex
	meta  map[string]memoEntry
	kinds map[string]pageKind
	// skus are the buyable SKUs of each product slug seen, so that its
	// next page asks for their stock at once, with the product.
	skus map[string][]string
}

type memoEntry struct {
	res   seo.Resolution
	until time.Time
}

func (m *memo) resolution(path string, now time.Time) (seo.Resolution, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.meta[path]
	if !ok || !now.Before(e.until) {
		return seo.Resolution{}, false
	}
	return e.res, true
}

func (m *memo) keep(path string, res seo.Resolution, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.meta == nil || len(m.meta) >= maxMemo {
		m.meta = map[string]memoEntry{}
	}
	m.meta[path] = memoEntry{res: res, until: now.Add(SEOCacheTTL)}
}

func (m *memo) kind(slug string) (pageKind, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.kinds[slug]
	return k, ok
}

func (m *memo) setKind(slug string, k pageKind) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.kinds == nil || len(m.kinds) >= maxMemo {
		m.kinds = map[string]pageKind{}
	}
	if k == noKind {
		delete(m.kinds, slug)
		return
	}
	m.kinds[slug] = k
}

// productSKUs returns the buyable SKUs the product at slug had last.
func (m *memo) productSKUs(slug string) ([]string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	skus, ok := m.skus[slug]
	return skus, ok
}

// setSKUs remembers the buyable SKUs of the product at slug.
func (m *memo) setSKUs(slug string, skus []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.skus == nil || len(m.skus) >= maxMemo {
		m.skus = map[string][]string{}
	}
	m.skus[slug] = skus
}

// seoMeta returns the seo service's answer for the page at path: the
// memo's metadata if it is fresh (cached reports that), or else the future
// of asking (nil while the seo service is backing off). Metadata asked for
// goes into the memo.
func (s *Storefront) seoMeta(ctx context.Context, path string) (f *future[seo.Resolution], cached bool) {
	if res, ok := s.memo.resolution(path, s.opts.Now()); ok {
		return ready(res), true
	}
	if !s.seoUp() {
		return nil, false
	}
	return async(ctx, s.opts.SEOTimeout, func(ctx context.Context) (seo.Resolution, error) {
		res, err := s.seo.Resolve(ctx, seo.ResolveRequest{Path: path})
		if err == nil && res.Metadata != nil {
			s.memo.keep(path, res, s.opts.Now())
		}
		return res, err
	}), false
}

// roots returns the root categories (the navigation), cached for NavTTL.
func (s *Storefront) roots(ctx context.Context) ([]category.Category, error) {
	return s.navCache.get(s.opts.Now(), func() ([]category.Category, error) {
		ctx, cancel := context.WithTimeout(shared(ctx), NavTimeout)
		defer cancel()
		return s.cats.ListChildren(ctx, category.ListChildrenRequest{})
	})
}
