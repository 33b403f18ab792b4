package storefront_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/filter"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/content/seo"
	"github.com/shopbus/shopbus/storefront"
)

// TestSlugRoute serves products, categories and articles from one route,
// redirects the old URLs and old slugs permanently, and answers unknown
// slugs with a real 404 page, while the fixed routes keep precedence.
func TestSlugRoute(t *testing.T) {
	f := newShop(t, storefront.Options{ShopName: "Test Shop"})
	b := f.browser(t)

	code, html := b.page("/red-runner")
	if code != 200 || !strings.Contains(html, "<h1>Red Runner</h1>") || !strings.Contains(html, "59.00 EUR") || !strings.Contains(html, "Colour") {
		t.Fatalf("product page: %d\n%s", code, html)
	}
	code, html = b.page("/shoes")
	if code != 200 || !strings.Contains(html, "<h1>Shoes</h1>") || !strings.Contains(html, "Blue Boot") {
		t.Fatalf("category page: %d\n%s", code, html)
	}
	code, html = b.page("/choosing-running-shoes")
	if code != 200 || !strings.Contains(html, "<strong>light</strong>") || strings.Contains(html, "<script>") || !strings.Contains(html, "&lt;script&gt;") {
		t.Fatalf("article page: %d\n%s", code, html)
	}

	// Unknown slugs, drafts and paths nobody has: a 404 page.
	for _, path := range []string{"/no-such-thing", "/secret-shoe", "/no/such/page", "/favicon.ico", "/a%00b"} {
		code, html := b.page(path)
		if code != 404 || !strings.Contains(html, `data-status="404"`) || !strings.Contains(html, "We could not find that page.") {
			t.Errorf("GET %s: %d, want the 404 page\n%s", path, code, html)
		}
	}

	// The old URLs, capitals and a trailing slash redirect permanently.
	for path, want := range map[string]string{
		"/products/red-runner":            "/red-runner",
		"/categories/shoes?f=color%3Ared": "/shoes?f=color%3Ared",
		"/blog/choosing-running-shoes":    "/choosing-running-shoes",
		"/Red-Runner":                     "/red-runner",
		"/red-runner/":                    "/red-runner",
		"/caf%C3%A9":                      "/cafe",                     // Latin accents go
		"/%D0%9A%D0%BE%D1%84%D0%B5":       "/%D0%BA%D0%BE%D1%84%D0%B5", // Кофе → кофе
	} {
		if code, loc := b.redirect(path); code != http.StatusMovedPermanently || loc != want {
			t.Errorf("GET %s: %d to %q, want 301 to %q", path, code, loc, want)
		}
	}

	// Every link the pages print uses the new URLs.
	for _, path := range []string{"/", "/shoes", "/running", "/blog", "/search?q=runner", "/red-runner"} {
		_, html := b.page(path)
		for _, old := range []string{`href="/products/`, `href="/categories/`, `href="/blog/`} {
			if strings.Contains(html, old) {
				t.Errorf("%s links to the old URL scheme (%s)", path, old)
			}
		}
	}

	// A title in another script makes a slug in that script, served.
	coffee, err := product.NewClient(f.bus).Create(f.admin, product.CreateRequest{Title: "Кофе молотый", Price: eur(900), Status: shop.StatusPublished})
	if err != nil {
		t.Fatal(err)
	}
	if coffee.Slug != "кофе-молотый" {
		t.Fatalf("slug %q", coffee.Slug)
	}
	waitFor(t, "the listing to show the coffee", func() bool {
		_, html := b.page("/search?q=" + url.QueryEscape("Кофе"))
		return strings.Contains(html, `href="/%d0%ba%d0%be%d1%84%d0%b5-%d0%bc%d0%be%d0%bb%d0%be%d1%82%d1%8b%d0%b9"`) ||
			strings.Contains(html, `href="/%D0%BA%D0%BE%D1%84%D0%B5-%D0%BC%D0%BE%D0%BB%D0%BE%D1%82%D1%8B%D0%B9"`)
	})
	if code, html := b.page("/" + url.PathEscape(coffee.Slug)); code != 200 || !strings.Contains(html, "Кофе молотый") {
		t.Errorf("the coffee's page: %d\n%s", code, html)
	}

	// The fixed routes win over a product whose slug is theirs.
	cartProduct, err := product.NewClient(f.bus).Create(f.admin, product.CreateRequest{Title: "Cart", Slug: "cart", Price: eur(100), Status: shop.StatusPublished})
	if err != nil {
		t.Fatal(err)
	}
	if code, html := b.page("/cart"); code != 200 || !strings.Contains(html, "Your cart") || strings.Contains(html, cartProduct.ID) {
		t.Errorf("/cart with a product slugged cart: %d\n%s", code, html)
	}
	for path, want := range map[string]string{
		"/login": "Log in", "/register": "Create an account", "/blog": "Blog", "/search?q=boot": "Blue Boot",
	} {
		if code, html := b.page(path); code != 200 || !strings.Contains(html, want) {
			t.Errorf("GET %s: %d, want %q", path, code, want)
		}
	}
	for path, ct := range map[string]string{"/robots.txt": "text/plain", "/sitemap.xml": "application/xml", "/static/shop.css": "text/css"} {
		resp, _ := b.do("GET", path, nil)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ct) {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	resp, _ := b.do("GET", "/api/products/red-runner", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("API behind the slug route: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	// Content pages of the seo service (kind "page") are rendered from
	// their metadata, at one segment or more.
	for path, title := range map[string]string{"/about": "About us", "/help/returns": "Returns"} {
		_, err := seo.NewClient(f.bus).Put(f.admin, seo.PutRequest{Kind: seo.KindPage, EntityID: strings.ReplaceAll(path[1:], "/", "-"), Path: path, Title: title, Description: "All about " + title})
		if err != nil {
			t.Fatal(err)
		}
		code, html := b.page(path)
		if code != 200 || !strings.Contains(html, "<h1>"+title+"</h1>") || !strings.Contains(html, `<meta name="description" content="All about `+title+`">`) {
			t.Errorf("content page %s: %d\n%s", path, code, html)
		}
	}

	// A renamed product: its old slug redirects to the new one once the
	// seo service has seen the change.
	red := f.products["red-runner"]
	newSlug := "crimson-runner"
	if _, err := product.NewClient(f.bus).Update(f.admin, product.UpdateRequest{ID: red.ID, Slug: &newSlug}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the old slug to redirect", func() bool {
		code, loc := b.redirect("/red-runner?variant=x")
		return code == http.StatusMovedPermanently && loc == "/crimson-runner?variant=x"
	})
	if code, html := b.page("/crimson-runner"); code != 200 || !strings.Contains(html, "<h1>Red Runner</h1>") {
		t.Errorf("renamed product: %d", code)
	}
	// The old URL of the old slug takes two hops, both permanent.
	if code, loc := b.redirect("/products/red-runner"); code != 301 || loc != "/red-runner" {
		t.Errorf("old URL of the old slug: %d %s", code, loc)
	}
}

// TestPages renders every page and uses every form.
func TestPages(t *testing.T) {
	f := newShop(t, storefront.Options{ShopName: "Test Shop"})
	b := f.browser(t)

	code, html := b.page("/shoes")
	if code != 200 || !strings.Contains(html, "Blue Boot") || strings.Contains(html, "Secret Shoe") || !strings.Contains(html, "Colour") ||
		!strings.Contains(html, `href="/shoes?f=color%3Ared"`) || !strings.Contains(html, "4 products") ||
		!strings.Contains(html, `<a href="/running">Running</a> <span class="count">3</span>`) ||
		!strings.Contains(html, `<span class="price-range">59.00 EUR – 129.00 EUR</span>`) {
		t.Fatalf("category page: %d\n%s", code, html)
	}
	// A facet link narrows the list; its count said how much.
	code, html = b.page("/shoes?f=color%3Ared")
	if code != 200 || !strings.Contains(html, "2 products") || strings.Contains(html, "Blue Boot") || !strings.Contains(html, `aria-current="true"`) ||
		!strings.Contains(html, `name="robots" content="noindex, follow"`) || !strings.Contains(html, `href="/shoes">Clear filters</a>`) {
		t.Fatalf("filtered category page: %d\n%s", code, html)
	}
	// Price range, sort and page size, as the form sends them.
	code, html = b.page("/shoes?price_min=60&price_max=130&sort=price_asc&limit=1&page=2")
	if code != 200 || !strings.Contains(html, "3 products") || !strings.Contains(html, "Page 2 of 3") ||
		!strings.Contains(html, "Blue Runner") || strings.Contains(html, "Blue Boot") ||
		!strings.Contains(html, `rel="prev"`) || !strings.Contains(html, `rel="next"`) || !strings.Contains(html, `<option value="price_asc" selected>`) {
		t.Fatalf("category page 2 of 3 from 60 to 130 by price: %d\n%s", code, html)
	}
	code, html = b.page("/running")
	if code != 200 || !strings.Contains(html, `<a href="/shoes">Shoes</a>`) {
		t.Errorf("breadcrumbs: %d\n%s", code, html)
	}
	if code, _ = b.page("/shoes?price_min=abc"); code != 400 {
		t.Errorf("bad price: %d", code)
	}
	code, html = b.page("/search?q=boot")
	if code != 200 || !strings.Contains(html, "Blue Boot") || strings.Contains(html, "Red Runner") {
		t.Errorf("search: %d\n%s", code, html)
	}
	// The seo service's metadata decorates the page once it has the
	// events, with its URLs turned into the storefront's.
	waitFor(t, "seo metadata on the product page", func() bool {
		_, html := b.page("/red-runner")
		return strings.Contains(html, `<link rel="canonical" href="`+seoBaseURL+`/red-runner">`) &&
			strings.Contains(html, `<meta property="og:url" content="`+seoBaseURL+`/red-runner">`)
	})
	code, html = b.page("/blog")
	if code != 200 || !strings.Contains(html, `href="/choosing-running-shoes"`) {
		t.Fatalf("blog: %d\n%s", code, html)
	}

	// The cart forms: add as a guest, register (which logs in and merges).
	red := f.products["red-runner"]
	if code, loc, _ := b.submit("/red-runner", "/cart/add", nil, url.Values{"quantity": {"2"}}); code != 303 || loc != "/cart" {
		t.Fatalf("add form: %d %s", code, loc)
	}
	code, html = b.page("/cart")
	if code != 200 || !strings.Contains(html, "Red Runner") || !strings.Contains(html, "118.00 EUR") {
		t.Fatalf("cart page: %d\n%s", code, html)
	}
	if code, _, body := b.submit("/register", "/register", nil, url.Values{"email": {"cy@front.test"}, "password": {"x"}}); code != 400 || !strings.Contains(body, `class="flash"`) {
		t.Errorf("register with a short password: %d\n%s", code, body)
	}
	if code, loc, _ := b.submit("/register?next=/cart", "/register", nil, url.Values{"email": {"cy@front.test"}, "password": {"cy-password"}}); code != 303 || loc != "/cart" {
		t.Fatalf("register form: %d %s", code, loc)
	}
	code, html = b.page("/cart")
	if code != 200 || !strings.Contains(html, "cy@front.test") || !strings.Contains(html, "118.00 EUR") {
		t.Fatalf("cart after registering (merged): %d\n%s", code, html)
	}
	if code, _, _ := b.submit("/cart", "/cart/update", url.Values{"product_id": {red.ID}}, url.Values{"quantity": {"1"}}); code != 303 {
		t.Errorf("update form: %d", code)
	}
	if _, html = b.page("/cart"); !strings.Contains(html, "59.00 EUR") || strings.Contains(html, "118.00 EUR") {
		t.Errorf("cart after update:\n%s", html)
	}
	if code, _, _ := b.submit("/cart", "/cart/remove", url.Values{"product_id": {red.ID}}, nil); code != 303 {
		t.Errorf("remove form: %d", code)
	}
	if _, html = b.page("/cart"); !strings.Contains(html, "Your cart is empty") {
		t.Errorf("cart after remove:\n%s", html)
	}
	if code, _, _ := b.submit("/", "/logout", nil, nil); code != 303 {
		t.Errorf("logout: %d", code)
	}
	if _, html = b.page("/"); strings.Contains(html, "cy@front.test") {
		t.Error("still logged in after logging out")
	}
	if code, _, _ := b.submit("/login", "/login", nil, url.Values{"email": {"cy@front.test"}, "password": {"wrong-password"}}); code != 401 {
		t.Errorf("login with a wrong password: %d", code)
	}
	// An open redirect through "next" is not possible.
	if code, loc, _ := b.submit("/login", "/login", nil, url.Values{"email": {"cy@front.test"}, "password": {"cy-password"}, "next": {"//evil.example/"}}); code != 303 || loc != "/" {
		t.Errorf("login with next=//evil.example/: %d %s", code, loc)
	}
	if _, html = b.page("/"); !strings.Contains(html, "cy@front.test") {
		t.Error("not logged in after the login form")
	}

	resp, err := http.Get(f.srv.URL + "/sitemap.xml")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<urlset") ||
		!strings.Contains(string(body), "<loc>"+seoBaseURL+"/blue-boot</loc>") || strings.Contains(string(body), "/products/") {
		t.Errorf("sitemap: %d %s", resp.StatusCode, body)
	}
	resp, err = http.Get(f.srv.URL + "/robots.txt")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "Disallow: /api/") || !strings.Contains(string(body), "Disallow: /admin") || strings.Contains(string(body), "Sitemap:") { // no BaseURL: no sitemap line (TestRobotsUsesBaseURL)
		t.Errorf("robots.txt: %s", body)
	}
	resp, err = http.Get(f.srv.URL + "/static/shop.css")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("stylesheet: %v %v", resp, err)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'none'") {
		t.Errorf("CSP: %q", csp)
	}
	resp.Body.Close()
}

// TestHome shows featured products, the top categories with their counts
// and the latest articles.
func TestHome(t *testing.T) {
	f := newShop(t, storefront.Options{})
	b := f.browser(t)
	code, html := b.page("/")
	if code != 200 {
		t.Fatalf("home: %d\n%s", code, html)
	}
	for _, want := range []string{
		`<section class="featured">`, `href="/trail-runner"`, `href="/blue-boot"`,
		`<section class="top-categories">`, `<a href="/shoes">Shoes</a> <span class="count">4</span>`,
		`<section class="latest-articles">`, `<a href="/choosing-running-shoes">Choosing running shoes</a>`,
		`<link rel="canonical" href="/">`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("home lacks %s\n%s", want, html)
		}
	}
	if strings.Contains(html, "Secret Shoe") {
		t.Error("home features a draft")
	}

	// Featured products can be chosen by a query.
	_, srv, _ := f.newFront(t, storefront.Options{Featured: filterQuery("color:blue")})
	_, html = newBrowser(t, srv.URL).page("/")
	if !strings.Contains(html, "Blue Boot") || strings.Contains(html, "Trail Runner") {
		t.Errorf("home featuring blue products:\n%s", html)
	}
}

// TestProductVariants picks a variant by its options with links and adds
// that variant to the cart.
func TestProductVariants(t *testing.T) {
	f := newShop(t, storefront.Options{})
	b := f.browser(t)
	trail := f.products["trail-runner"]
	if len(trail.Variants) != 2 {
		t.Fatalf("trail runner variants: %+v", trail.Variants)
	}
	var small, medium product.Variant
	for _, v := range trail.Variants {
		switch v.Options["size"] {
		case "s":
			small = v
		case "m":
			medium = v
		}
	}

	code, html := b.page("/trail-runner")
	if code != 200 || !strings.Contains(html, `<span class="option-name">Size:</span>`) ||
		!strings.Contains(html, `<a href="/trail-runner?variant=`+medium.ID+`">Medium</a>`) ||
		!strings.Contains(html, `class="selected" aria-current="true">Small</a>`) || !strings.Contains(html, "65.00 EUR") {
		t.Fatalf("product page with variants: %d\n%s", code, html)
	}
	// Choosing Medium changes the price and the variant the form adds.
	code, html = b.page("/trail-runner?variant=" + medium.ID)
	if code != 200 || !strings.Contains(html, `<p class="price">79.00 EUR</p>`) || !strings.Contains(html, `class="selected" aria-current="true">Medium</a>`) ||
		!strings.Contains(html, "Size: Medium") || !regexp.MustCompile(`<link rel="canonical" href="[^"?]*/trail-runner">`).MatchString(html) {
		t.Fatalf("medium chosen: %d\n%s", code, html)
	}
	add := forms(html, "/cart/add")
	if len(add) != 1 || add[0].Get("variant_id") != medium.ID || add[0].Get("product_id") != trail.ID {
		t.Fatalf("add form: %v", add)
	}
	if code, _, _ := b.submit("/trail-runner?variant="+medium.ID, "/cart/add", nil, nil); code != 303 {
		t.Fatalf("add medium: %d", code)
	}
	if code, _, _ := b.submit("/trail-runner?variant="+small.ID, "/cart/add", nil, url.Values{"quantity": {"2"}}); code != 303 {
		t.Fatalf("add small: %d", code)
	}
	code, html = b.page("/cart")
	if code != 200 || !strings.Contains(html, "Size: Medium") || !strings.Contains(html, "Size: Small") ||
		!strings.Contains(html, "79.00 EUR") || !strings.Contains(html, "130.00 EUR") || !strings.Contains(html, "209.00 EUR") {
		t.Fatalf("cart with two variants: %d\n%s", code, html)
	}
	// Updating one variant's line leaves the other.
	if code, _, _ := b.submit("/cart", "/cart/update", url.Values{"variant_id": {small.ID}}, url.Values{"quantity": {"0"}}); code != 303 {
		t.Fatalf("update small to 0: %d", code)
	}
	if _, html = b.page("/cart"); strings.Contains(html, "Size: Small") || !strings.Contains(html, "Size: Medium") {
		t.Errorf("cart after removing the small line:\n%s", html)
	}
	// An unknown variant id shows the default variant.
	if code, html = b.page("/trail-runner?variant=nope"); code != 200 || !strings.Contains(html, "65.00 EUR") {
		t.Errorf("unknown variant: %d", code)
	}
}

// TestCartPage shows price changes, totals per currency, and refuses bad
// quantities with a message.
func TestCartPage(t *testing.T) {
	f := newShop(t, storefront.Options{})
	b := f.browser(t)
	gift, err := product.NewClient(f.bus).Create(f.admin, product.CreateRequest{Title: "Gift Card", Price: shop.Money{Amount: 2500, Currency: "USD"}, Status: shop.StatusPublished})
	if err != nil {
		t.Fatal(err)
	}
	if code, _, _ := b.submit("/blue-boot", "/cart/add", nil, nil); code != 303 {
		t.Fatalf("add boot: %d", code)
	}
	if code, _, _ := b.submit("/"+gift.Slug, "/cart/add", nil, url.Values{"quantity": {"2"}}); code != 303 {
		t.Fatalf("add gift card: %d", code)
	}
	code, html := b.page("/cart")
	if code != 200 || !strings.Contains(html, "<th colspan=\"3\">Total (EUR)</th><td colspan=\"2\">129.00 EUR</td>") ||
		!strings.Contains(html, "<th colspan=\"3\">Total (USD)</th><td colspan=\"2\">50.00 USD</td>") {
		t.Fatalf("totals per currency: %d\n%s", code, html)
	}
	if strings.Contains(html, "price-notice") {
		t.Error("a price notice before any change")
	}
	if !strings.Contains(html, `<a class="line-title" href="/blue-boot">`) {
		t.Errorf("the cart line does not link to its product page:\n%s", html)
	}
	// The boot gets dearer: the cart says so.
	boot := f.products["blue-boot"]
	price := eur(13900)
	if _, err := product.NewClient(f.bus).Update(f.admin, product.UpdateRequest{ID: boot.ID, Price: &price}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the cart to see the new price", func() bool {
		_, html = b.page("/cart")
		return strings.Contains(html, "price-notice")
	})
	if !strings.Contains(html, "price changed: was 129.00 EUR") || !strings.Contains(html, "139.00 EUR") {
		t.Errorf("price change:\n%s", html)
	}
	// A bad quantity is refused with a message, and the cart is shown.
	if code, _, body := b.submit("/cart", "/cart/update", url.Values{"product_id": {gift.ID}}, url.Values{"quantity": {"many"}}); code != 400 || !strings.Contains(body, `class="flash"`) || !strings.Contains(body, "Gift Card") {
		t.Errorf("bad quantity: %d\n%s", code, body)
	}
}

// TestCSRF refuses every state-changing form without the visitor's token,
// and changes nothing.
func TestCSRF(t *testing.T) {
	f := newShop(t, storefront.Options{})
	b := f.browser(t)
	red := f.products["red-runner"]

	// A first page issues the token, in its own cookie, and every POST
	// form carries it.
	b.page("/red-runner")
	tok := b.cookie(storefront.CSRFCookie)
	if tok == nil || len(tok.Value) < 40 {
		t.Fatalf("no CSRF cookie: %v", tok)
	}
	resp, _ := b.do("GET", "/login", nil)
	for _, c := range resp.Cookies() {
		if c.Name == storefront.CSRFCookie {
			t.Error("the token changed from one page to the next")
		}
	}
	for _, page := range []string{"/red-runner", "/login", "/register"} {
		_, html := b.page(page)
		if !strings.Contains(html, `<input type="hidden" name="csrf" value="`+tok.Value+`">`) {
			t.Errorf("%s: a form without the token\n%s", page, html)
		}
	}

	attempts := map[string]url.Values{
		"/cart/add":    {"product_id": {red.ID}, "quantity": {"1"}},
		"/cart/update": {"product_id": {red.ID}, "quantity": {"5"}},
		"/cart/remove": {"product_id": {red.ID}},
		"/login":       {"email": {adminEmail}, "password": {adminPassword}},
		"/register":    {"email": {"csrf@front.test"}, "password": {"csrf-password"}},
		"/logout":      {},
	}
	for _, token := range []string{"", "wrong", tok.Value[:len(tok.Value)-1] + "x"} {
		for path, form := range attempts {
			v := url.Values{}
			for k, vs := range form {
				v[k] = vs
			}
			if token != "" {
				v.Set(storefront.CSRFField, token)
			}
			if code, _, body := b.post(path, v); code != 403 || !strings.Contains(body, "form has expired") {
				t.Errorf("POST %s with token %q: %d\n%s", path, token, code, body)
			}
		}
	}
	// Another visitor's token does not do either.
	other := f.browser(t)
	other.page("/")
	v := url.Values{"product_id": {red.ID}, "quantity": {"1"}, storefront.CSRFField: {other.cookie(storefront.CSRFCookie).Value}}
	if code, _, _ := b.post("/cart/add", v); code != 403 {
		t.Errorf("another visitor's token: %d", code)
	}
	// Nothing changed: no cart, no login, no account.
	if b.cookie(storefront.CartCookie) != nil || b.cookie(storefront.SessionCookie) != nil {
		t.Error("a refused form set a cookie")
	}
	b.apiError("POST", "/api/login", map[string]string{"email": "csrf@front.test", "password": "csrf-password"}, 401)

	// With the token, the same form works; logging in renews the token.
	if code, _, _ := b.submit("/login", "/login", nil, url.Values{"email": {adminEmail}, "password": {adminPassword}}); code != 303 {
		t.Fatalf("login with the token: %d", code)
	}
	if renewed := b.cookie(storefront.CSRFCookie); renewed == nil || renewed.Value == tok.Value {
		t.Error("logging in kept the CSRF token")
	}
	v = url.Values{"product_id": {red.ID}, "quantity": {"1"}, storefront.CSRFField: {tok.Value}}
	if code, _, _ := b.post("/cart/add", v); code != 403 {
		t.Errorf("the token from before logging in: %d", code)
	}
}

// TestOversizedForm refuses a form body over the limit with 413.
func TestOversizedForm(t *testing.T) {
	f := newShop(t, storefront.Options{})
	b := f.browser(t)
	b.page("/")
	v := url.Values{storefront.CSRFField: {b.cookie(storefront.CSRFCookie).Value}, "email": {strings.Repeat("x", storefront.MaxBodyBytes)}}
	if code, _, body := b.post("/login", v); code != 413 || !strings.Contains(body, "more than the shop accepts") {
		t.Errorf("oversized form: %d\n%s", code, body)
	}
}

// TestCookiesOverTLS makes every cookie Secure when the shop is served
// over TLS (even without an https BaseURL), and HttpOnly, SameSite=Lax.
func TestCookiesOverTLS(t *testing.T) {
	f := newShop(t, storefront.Options{})
	srv := httptest.NewTLSServer(f.front)
	defer srv.Close()
	req, _ := http.NewRequest("POST", srv.URL+"/api/login", strings.NewReader(`{"email":"`+adminEmail+`","password":"`+adminPassword+`"}`))
	req.Header.Set("Content-Type", "application/json")
	login, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	login.Body.Close()
	page, err := srv.Client().Get(srv.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page.Body.Close()
	if login.StatusCode != 200 || page.StatusCode != 200 {
		t.Fatalf("login %d, page %d", login.StatusCode, page.StatusCode)
	}
	names := map[string]bool{}
	for _, c := range append(login.Cookies(), page.Cookies()...) {
		names[c.Name] = true
		if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
			t.Errorf("cookie %s: Secure %v HttpOnly %v SameSite %v", c.Name, c.Secure, c.HttpOnly, c.SameSite)
		}
	}
	if !names[storefront.HostCookiePrefix+storefront.SessionCookie] || !names[storefront.HostCookiePrefix+storefront.CSRFCookie] {
		t.Errorf("cookies over TLS: %v", names)
	}
}

// filterQuery is the filter query of "code:value" filters.
func filterQuery(f ...string) filter.Query {
	q, _ := storefront.ParseQuery(url.Values{storefront.ParamFilter: f})
	return q
}

// TestQueryAmplification: junk query parameters are not repeated into the
// page's links, and a query string over MaxQueryBytes is refused with 414.
func TestQueryAmplification(t *testing.T) {
	f := newShop(t, storefront.Options{})
	b := f.browser(t)
	_, plain := b.page("/shoes")
	junk := "zz=" + strings.Repeat("x", 3000)
	code, page := b.page("/shoes?" + junk)
	if code != 200 {
		t.Fatalf("category page with a junk parameter: %d", code)
	}
	if grew := len(page) - len(plain); grew > 4000 {
		i := strings.Index(page, "xxxxxxxx")
		t.Errorf("a 3 KB junk parameter grew the page by %d bytes: %.300s", grew, page[max(i-200, 0):])
	}
	if resp, _ := b.do("GET", "/search?q=boot&"+strings.Repeat("y", storefront.MaxQueryBytes), nil); resp.StatusCode != 414 {
		t.Errorf("over-long query: %d, want 414", resp.StatusCode)
	}
}
