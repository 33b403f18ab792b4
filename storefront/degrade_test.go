package storefront_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/storefront"
	"github.com/shopbus/shopbus/transport"
)

// Budgets of the degradation tests.
var budgets = storefront.Options{
	SEOTimeout:     200 * time.Millisecond,
	FilterTimeout:  300 * time.Millisecond,
	ArticleTimeout: 300 * time.Millisecond,
	CallTimeout:    2 * time.Second,
}

// timedPage fetches a page and says how long it took.
func timedPage(b *browser, path string) (int, string, time.Duration) {
	b.t.Helper()
	start := time.Now()
	code, html := b.page(path)
	return code, html, time.Since(start)
}

// TestDegradation stops services for real, one at a time (their request
// consumers are closed, so calls to them go unanswered): pages render
// without the parts of the optional services, and fail with a friendly
// 503 page only for the service they need.
func TestDegradation(t *testing.T) {
	f := newShop(t, budgets)

	t.Run("seo", func(t *testing.T) {
		f.bus.stop(t, "seo")
		_, srv, logs := f.newFront(t, budgets)
		b := newBrowser(t, srv.URL)
		code, html, took := timedPage(b, "/red-runner")
		if code != 200 || !strings.Contains(html, "<title>Red Runner | shopbus</title>") || !strings.Contains(html, `<link rel="canonical" href="/red-runner">`) ||
			!strings.Contains(html, `<meta name="description" content="Light and fast.">`) {
			t.Fatalf("product page without seo: %d\n%s", code, html)
		}
		if took > budgets.SEOTimeout+time.Second {
			t.Errorf("first page took %v", took)
		}
		if !logs.warned("seo") {
			t.Error("the seo failure was not logged")
		}
		// The storefront stops waiting for the seo service.
		start := time.Now()
		for _, path := range []string{"/blue-runner", "/shoes", "/choosing-running-shoes", "/", "/blog"} {
			if code, html := b.page(path); code != 200 {
				t.Errorf("%s without seo: %d\n%s", path, code, html)
			}
		}
		if d := time.Since(start); d > 5*budgets.SEOTimeout {
			t.Errorf("five pages took %v: the storefront kept waiting for the seo service", d)
		}
		// An unknown slug is still a 404 (the redirect check is skipped).
		if code, _ := b.page("/no-such-thing"); code != 404 {
			t.Errorf("unknown slug without seo: %d", code)
		}
		var c cart.Cart
		b.json("POST", "/api/cart/items", storefront.CartItem{ProductID: f.products["red-runner"].ID, Quantity: 1}, 200, &c)
		if len(c.Lines) != 1 {
			t.Errorf("cart without seo: %+v", c)
		}
		if resp, _ := b.do("GET", "/sitemap.xml", nil); resp.StatusCode != 503 {
			t.Errorf("sitemap without seo: %d, want 503", resp.StatusCode)
		}
	})

	t.Run("filter", func(t *testing.T) {
		f.bus.stop(t, "filter")
		_, srv, logs := f.newFront(t, budgets)
		b := newBrowser(t, srv.URL)
		code, html, took := timedPage(b, "/shoes")
		if code != 200 || !strings.Contains(html, "<h1>Shoes</h1>") || !strings.Contains(html, "We cannot list the products right now") ||
			!strings.Contains(html, `<a href="/running">Running</a>`) || strings.Contains(html, "Blue Boot") {
			t.Fatalf("category page without filter: %d\n%s", code, html)
		}
		if took > budgets.FilterTimeout+time.Second {
			t.Errorf("category page took %v", took)
		}
		if !logs.warned("filter") {
			t.Error("the filter failure was not logged")
		}
		code, html = b.page("/")
		if code != 200 || strings.Contains(html, `class="featured"`) || !strings.Contains(html, `<a href="/shoes">Shoes</a>`) ||
			!strings.Contains(html, "Choosing running shoes") {
			t.Errorf("home without filter: %d\n%s", code, html)
		}
		if code, html := b.page("/red-runner"); code != 200 || !strings.Contains(html, "Red Runner") {
			t.Errorf("product page without filter: %d", code)
		}
		// Search needs the filter service: a friendly 503 page.
		resp, body := b.do("GET", "/search?q=boot", nil)
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "not available right now") {
			t.Errorf("search without filter: %d %s\n%s", resp.StatusCode, resp.Header, body)
		}
		// The API says unavailable, without the bus's own words.
		resp, body = b.do("GET", "/api/products?category=shoes", nil)
		var e storefront.APIError
		if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != 503 || e.Error == nil || e.Error.Code != transport.CodeDeadlineExceeded ||
			strings.Contains(string(body), "filter") {
			t.Errorf("API without filter: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("article", func(t *testing.T) {
		f.bus.stop(t, "article")
		_, srv, logs := f.newFront(t, budgets)
		b := newBrowser(t, srv.URL)
		code, html := b.page("/")
		if code != 200 || strings.Contains(html, "latest-articles") || !strings.Contains(html, `class="featured"`) {
			t.Errorf("home without articles: %d\n%s", code, html)
		}
		if !logs.warned("article") {
			t.Error("the article failure was not logged")
		}
		// A product or category page does not wait for the article service.
		for _, path := range []string{"/red-runner", "/shoes"} {
			if code, _, took := timedPage(b, path); code != 200 || took >= budgets.ArticleTimeout {
				t.Errorf("%s without articles: %d in %v", path, code, took)
			}
		}
		// An article page, the blog, and a slug that only the article
		// service could know, need it.
		for _, path := range []string{"/choosing-running-shoes", "/blog", "/no-such-thing"} {
			if code, html := b.page(path); code != 503 || !strings.Contains(html, "We&#39;ll be right back") {
				t.Errorf("%s without articles: %d\n%s", path, code, html)
			}
		}
	})

	t.Run("product", func(t *testing.T) {
		f.bus.stop(t, "product")
		_, srv, logs := f.newFront(t, budgets)
		b := newBrowser(t, srv.URL)
		resp, body := b.do("GET", "/red-runner", nil)
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
			!strings.Contains(string(body), "We&#39;ll be right back") || !strings.Contains(string(body), "not available right now") {
			t.Errorf("product page without the product service: %d %s\n%s", resp.StatusCode, resp.Header, body)
		}
		if !logs.warned("product") {
			t.Error("the product failure was not logged")
		}
		// Categories and articles are served after a short grace.
		for _, path := range []string{"/shoes", "/choosing-running-shoes"} {
			code, html, took := timedPage(b, path)
			if code != 200 || took > storefront.Grace+time.Second {
				t.Errorf("%s without the product service: %d in %v\n%s", path, code, took, html)
			}
		}
	})
}

// TestPagesFanOut shows that a page makes its calls at the same time:
// with every call of the storefront delayed by d, a product page seen
// before (guest or logged in; its stock asked with it), an article page
// and the home page take about d, not a multiple of it; a category page,
// which needs the category before it can ask for its products, about 2d,
// and so does a product page seen for the first time (its stock needs its
// SKUs).
func TestPagesFanOut(t *testing.T) {
	const d = 150 * time.Millisecond
	f := newShop(t, storefront.Options{})
	_, srv, _ := f.newFront(t, storefront.Options{}, func(b transport.Bus) transport.Bus { return delayBus{Bus: b, d: d} })
	b := newBrowser(t, srv.URL)
	median := func(path string) time.Duration {
		t.Helper()
		b.page(path) // warm the caches of definitions
		var took []time.Duration
		for range 5 {
			code, html, dt := timedPage(b, path)
			if code != 200 {
				t.Fatalf("%s: %d\n%s", path, code, html)
			}
			took = append(took, dt)
		}
		slices.Sort(took)
		return took[len(took)/2]
	}
	check := func(path string, waves float64) {
		t.Helper()
		m := median(path)
		t.Logf("%s: median %v with every call taking %v more", path, m, d)
		if m < time.Duration(waves*float64(d)) || m > time.Duration((waves+0.5)*float64(d)) {
			t.Errorf("%s took %v, want about %v (%.0f round of calls)", path, m, time.Duration(waves*float64(d)), waves)
		}
	}
	// The seo metadata must be there, or the seo calls were not waited for.
	waitFor(t, "seo metadata", func() bool {
		_, html := b.page("/red-runner")
		return strings.Contains(html, seoBaseURL+"/red-runner")
	})
	// Slugs seen for the first time: every service is asked at once; a
	// product's stock once its SKUs are known, a second round (on later
	// visits it is asked with the product).
	for path, waves := range map[string]float64{"/blue-runner": 2, "/running": 2, "/trail-runner?variant=x": 2} {
		code, _, took := timedPage(b, path)
		t.Logf("%s, first visit: %v", path, took)
		if code != 200 || took < time.Duration(waves*float64(d)) || took > time.Duration((waves+0.5)*float64(d)) {
			t.Errorf("%s, first visit: %d in %v, want about %v", path, code, took, time.Duration(waves*float64(d)))
		}
	}
	check("/red-runner", 1)
	check("/choosing-running-shoes", 1)
	check("/", 1)
	check("/shoes", 2)
	b.json("POST", "/api/login", map[string]string{"email": adminEmail, "password": adminPassword}, http.StatusOK, nil)
	check("/red-runner", 1)
	if _, html := b.page("/red-runner"); !strings.Contains(html, adminEmail) {
		t.Error("the logged-in product page does not show the user")
	}
}
