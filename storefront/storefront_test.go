package storefront_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/shop/catalog/filter"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/content/article"
	"github.com/shopbus/shopbus/storefront"
	"github.com/shopbus/shopbus/transport/inproc"
)

// TestShopperJourney drives the JSON API the way a shopper's browser
// would: a guest fills a cart, registers, logs in (the guest cart is
// merged), browses a category, filters, and changes the cart.
func TestShopperJourney(t *testing.T) {
	f := newShop(t, storefront.Options{})
	b := f.browser(t)

	// A guest starts with an empty cart and adds a product to it.
	var c cart.Cart
	b.json("GET", "/api/cart", nil, 200, &c)
	if len(c.Lines) != 0 || b.cookie(storefront.CartCookie) != nil {
		t.Fatalf("new guest cart: %+v", c)
	}
	blue := f.products["blue-runner"]
	b.json("POST", "/api/cart/items", storefront.CartItem{ProductID: blue.ID, Quantity: 1}, 200, &c)
	if len(c.Lines) != 1 || c.UserID != "" || b.cookie(storefront.CartCookie) == nil {
		t.Fatalf("guest cart after adding: %+v", c)
	}

	// Registration, once.
	creds := auth.RegisterRequest{Email: "ann@front.test", Password: "ann-password"}
	var u auth.User
	b.json("POST", "/api/register", creds, 201, &u)
	if u.Email != creds.Email {
		t.Errorf("registered %+v", u)
	}
	if e := b.apiError("POST", "/api/register", creds, 409); e.Error.Code != "conflict" {
		t.Errorf("second registration: %+v", e.Error)
	}
	if e := b.apiError("POST", "/api/register", auth.RegisterRequest{Email: "bob@front.test", Password: "short"}, 400); e.Error.Field("password") == "" {
		t.Errorf("short password: %+v", e.Error)
	}

	// Login: a wrong password is refused; the right one sets an HttpOnly
	// session cookie (the token is never in a body) and merges the cart.
	b.apiError("GET", "/api/me", nil, 401)
	b.apiError("POST", "/api/login", auth.LoginRequest{Email: creds.Email, Password: "wrong-password"}, 401)
	resp, body := b.do("POST", "/api/login", auth.LoginRequest(creds))
	if resp.StatusCode != 200 {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	var login storefront.LoginResult
	if err := json.Unmarshal(body, &login); err != nil || login.User.Email != creds.Email || login.ExpiresAt.IsZero() {
		t.Fatalf("login result %s: %v", body, err)
	}
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == storefront.SessionCookie {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || strings.Contains(string(body), session.Value) {
		t.Fatalf("session cookie %+v, body %s", session, body)
	}
	var me shop.Principal
	b.json("GET", "/api/me", nil, 200, &me)
	if me.Email != creds.Email || !me.Has(shop.RoleCustomer) {
		t.Errorf("me: %+v", me)
	}
	b.json("GET", "/api/cart", nil, 200, &c)
	if len(c.Lines) != 1 || c.Lines[0].ProductID != blue.ID || c.UserID != me.UserID {
		t.Fatalf("cart after login (guest cart merged): %+v", c)
	}
	if b.cookie(storefront.CartCookie) != nil {
		t.Error("the guest cart cookie survived the merge")
	}

	// Browsing: the category tree, then a category with its facets.
	var trees []category.Node
	b.json("GET", "/api/categories", nil, 200, &trees)
	if len(trees) != 1 || trees[0].Slug != "shoes" || len(trees[0].Children) != 1 || trees[0].Children[0].Slug != "running" {
		t.Fatalf("category tree: %+v", trees)
	}
	var cat category.Category
	b.json("GET", "/api/categories/running", nil, 200, &cat)
	if cat.ID != f.cats["running"].ID {
		t.Errorf("category running: %+v", cat)
	}
	b.apiError("GET", "/api/categories/nope", nil, 404)

	var res filter.Result
	b.json("GET", "/api/products?category=shoes", nil, 200, &res)
	if res.Total != 4 || facetCount(res, "color", "blue") != 2 || facetCount(res, "color", "red") != 2 {
		t.Fatalf("shoes (the draft is hidden): %+v", res)
	}
	if len(res.Categories) != 1 || res.Categories[0].Slug != "running" || res.Categories[0].Count != 3 {
		t.Errorf("subcategories: %+v", res.Categories)
	}

	// Filtering: by a facet value, by price, and with a JSON query.
	b.json("GET", "/api/products?category=shoes&f=color:red", nil, 200, &res)
	if res.Total != 2 || !hasItem(res, "red-runner") || !hasItem(res, "trail-runner") || facetCount(res, "color", "blue") != 2 {
		t.Fatalf("red shoes: %+v", res)
	}
	b.json("GET", "/api/products?category=shoes&f=color:red&f=color:blue&price_min=60&price_max=100.00", nil, 200, &res)
	if res.Total != 2 || !hasItem(res, "blue-runner") || !hasItem(res, "trail-runner") {
		t.Fatalf("red or blue shoes from 60 to 100: %+v", res)
	}
	b.json("POST", "/api/filter", filter.Query{CategorySlug: "shoes", Sort: filter.SortPriceDesc}, 200, &res)
	if len(res.Items) != 4 || res.Items[0].Slug != "blue-boot" || res.Items[3].Slug != "red-runner" {
		t.Fatalf("shoes by price, dearest first: %+v", res.Items)
	}
	b.json("GET", "/api/products?q=runner&sort=title", nil, 200, &res)
	if res.Total != 3 || res.Items[0].Slug != "blue-runner" {
		t.Errorf("search: %+v", res)
	}
	for path, field := range map[string]string{
		"/api/products?f=nocolon":                     "f",
		"/api/products?price_min=1.234":               "price_min",
		"/api/products?price_max=-1":                  "price_max",
		"/api/products?page=0":                        "page",
		"/api/products?limit=many":                    "limit",
		"/api/products?sort=$natural":                 "sort",
		"/api/products?f=$where:1":                    "attributes[0].code",
		"/api/products?category=a%00b":                "category_slug",
		"/api/products?limit=100000":                  "limit",
		"/api/products?q=" + strings.Repeat("x", 300): "text",
	} {
		if e := b.apiError("GET", path, nil, 400); e.Error.Field(field) == "" {
			t.Errorf("%s: %+v, want an error on %s", path, e.Error, field)
		}
	}
	b.apiError("GET", "/api/products?category=nope", nil, 404)

	// A product page's data; drafts do not exist for the public.
	red := f.products["red-runner"]
	var p product.Product
	b.json("GET", "/api/products/red-runner", nil, 200, &p)
	if p.ID != red.ID || p.Price != eur(5900) {
		t.Errorf("red runner: %+v", p)
	}
	b.apiError("GET", "/api/products/secret-shoe", nil, 404)

	// The cart: add, change the quantity, remove a line.
	b.json("POST", "/api/cart/items", storefront.CartItem{ProductID: red.ID, Quantity: 2}, 200, &c)
	if len(c.Lines) != 2 || c.Totals["EUR"] != 6900+2*5900 {
		t.Fatalf("cart with two lines: %+v", c)
	}
	b.json("PUT", "/api/cart/items/"+red.ID, storefront.Quantity{Quantity: 3}, 200, &c)
	b.json("DELETE", "/api/cart/items/"+blue.ID, nil, 200, &c)
	if len(c.Lines) != 1 || c.Lines[0].Quantity != 3 || c.Totals["EUR"] != 3*5900 {
		t.Fatalf("cart after update and remove: %+v", c)
	}
	b.apiError("POST", "/api/cart/items", storefront.CartItem{ProductID: f.products["secret-shoe"].ID, Quantity: 1}, 404)
	b.apiError("POST", "/api/cart/items", storefront.CartItem{ProductID: red.ID, Quantity: 0}, 400)
	b.apiError("DELETE", "/api/cart/items/"+blue.ID, nil, 404)

	// Articles, with the body rendered safely.
	var list article.ListResult
	b.json("GET", "/api/articles?tag=running", nil, 200, &list)
	if len(list.Articles) != 1 {
		t.Fatalf("articles: %+v", list)
	}
	var a storefront.ArticleView
	b.json("GET", "/api/articles/"+list.Articles[0].Slug, nil, 200, &a)
	if !strings.Contains(a.HTML, "<strong>light</strong>") || strings.Contains(a.HTML, "<script>") {
		t.Errorf("article html: %s", a.HTML)
	}

	// Logging out ends the session: the next calls are a guest's.
	b.json("POST", "/api/logout", nil, 204, nil)
	b.apiError("GET", "/api/me", nil, 401)
	b.json("GET", "/api/cart", nil, 200, &c)
	if len(c.Lines) != 0 {
		t.Errorf("guest cart after logout: %+v", c)
	}
	// The old token is dead even if presented again.
	other := f.browser(t)
	u2, _ := url.Parse(f.srv.URL)
	other.c.Jar.SetCookies(u2, []*http.Cookie{{Name: storefront.SessionCookie, Value: session.Value}})
	other.apiError("GET", "/api/me", nil, 401)
}

func hasItem(res filter.Result, slug string) bool {
	for _, it := range res.Items {
		if it.Slug == slug {
			return true
		}
	}
	return false
}

func facetCount(res filter.Result, code, value string) int {
	for _, f := range res.Facets {
		if f.Code == code {
			for _, v := range f.Values {
				if v.Value == value {
					return v.Count
				}
			}
		}
	}
	return -1
}

func TestAPIRefusesBadRequests(t *testing.T) {
	f := newShop(t, storefront.Options{})
	b := f.browser(t)
	red := f.products["red-runner"]

	// Bodies must be JSON: a cross-site form cannot post to the API.
	resp, body := b.do("POST", "/api/cart/items", nil, "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != 400 || !strings.Contains(string(body), "Content-Type") {
		t.Errorf("form-encoded API call: %d %s", resp.StatusCode, body)
	}
	// State changes from another origin are refused.
	resp, _ = b.do("POST", "/api/cart/items", storefront.CartItem{ProductID: red.ID, Quantity: 1}, "Origin", "https://evil.example")
	if resp.StatusCode != 403 {
		t.Errorf("cross-origin API call: %d", resp.StatusCode)
	}
	resp, _ = b.do("POST", "/cart/add", nil, "Sec-Fetch-Site", "cross-site")
	if resp.StatusCode != 403 {
		t.Errorf("cross-site form post: %d", resp.StatusCode)
	}
	// A misspelt field is invalid and named, not dropped: {"category"}
	// would otherwise list the whole catalogue.
	if e := b.apiError("POST", "/api/filter", map[string]string{"category": "shoes"}, 400); e.Error.Field("category") == "" {
		t.Errorf("unknown field: %+v, want the field named", e.Error)
	}
	// Malformed bodies are invalid; an oversized one is too large.
	for _, raw := range []string{`{"product_id": 5}`, `{"product_id": "x"} {}`, `[`} {
		req, _ := http.NewRequest("POST", f.srv.URL+"/api/cart/items", strings.NewReader(raw))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("body %.40q: %d, want 400", raw, resp.StatusCode)
		}
	}
	for _, path := range []string{"/api/cart/items", "/api/login", "/api/filter"} {
		req, _ := http.NewRequest("POST", f.srv.URL+path, strings.NewReader(`{"email": "`+strings.Repeat("x", storefront.MaxBodyBytes)+`"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e storefront.APIError
		err = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != 413 || err != nil || e.Error == nil || e.Error.Code != "invalid" || e.Error.Field("body") == "" {
			t.Errorf("oversized body to %s: %d %+v %v, want 413 with a field error on body", path, resp.StatusCode, e.Error, err)
		}
	}
	// Operators and NUL never reach a query as such: they are plain
	// values that match nothing.
	for _, path := range []string{"/api/products/%24ne", "/api/categories/%24gt", "/api/articles/%24where", "/api/products/a%00b"} {
		resp, body := b.do("GET", path, nil)
		if resp.StatusCode != 400 && resp.StatusCode != 404 {
			t.Errorf("GET %s: %d %s, want 400 or 404", path, resp.StatusCode, body)
		}
	}
	// A bogus guest cart cookie is just no cart.
	u, _ := url.Parse(f.srv.URL)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: storefront.CartCookie, Value: "made-up-cart-id"}})
	var c cart.Cart
	b.json("GET", "/api/cart", nil, 200, &c)
	if len(c.Lines) != 0 {
		t.Errorf("cart of a made-up id: %+v", c)
	}
	b.json("POST", "/api/cart/items", storefront.CartItem{ProductID: red.ID, Quantity: 1}, 200, &c)
	if len(c.Lines) != 1 || b.cookie(storefront.CartCookie).Value == "made-up-cart-id" {
		t.Errorf("adding with a made-up cart id: %+v", c)
	}
	b.apiError("GET", "/api/nothing", nil, 404)
	b.apiError("PATCH", "/api/cart", nil, 404)
}

func TestNewChecksOptions(t *testing.T) {
	var ce *storefront.ConfigError
	if _, err := storefront.New(storefront.Options{}); !errors.As(err, &ce) || ce.Field != "Bus" {
		t.Errorf("New without a bus: %v", err)
	}
	bus := inproc.New(inproc.Options{Logger: quiet})
	defer bus.Close()
	if _, err := storefront.New(storefront.Options{Bus: bus, BaseURL: "shop.example"}); !errors.As(err, &ce) || ce.Field != "BaseURL" {
		t.Errorf("New with a relative base URL: %v", err)
	}
	if _, err := storefront.New(storefront.Options{Bus: bus, SEOPaths: storefront.SEOPaths{Product: "products"}}); !errors.As(err, &ce) || ce.Field != "SEOPaths.Product" {
		t.Errorf("New with a bad SEO prefix: %v", err)
	}
	s, err := storefront.New(storefront.Options{Bus: bus, BaseURL: "https://shop.example/", Logger: quiet, CallTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// Cookies are Secure on an https shop.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/api/logout", nil)
	req.AddCookie(&http.Cookie{Name: storefront.SessionCookie, Value: "abc"})
	s.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.Name == storefront.SessionCookie && !c.Secure {
			t.Errorf("cookie %v is not Secure", c)
		}
	}
}

func TestParseQuery(t *testing.T) {
	v, _ := url.ParseQuery("category=shoes&q=+red+&f=color:red&f=size:42&f=color:blue&price_min=10&price_max=12.5&currency=EUR&sort=title&limit=10&page=3")
	q, err := storefront.ParseQuery(v)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%s|%s|%v|%d|%d|%s|%s|%d|%d", q.CategorySlug, q.Text, q.Attributes, *q.Price.Min, *q.Price.Max, q.Currency, q.Sort, q.Limit, q.Offset)
	want := "shoes|red|[{color [red blue] <nil> <nil>} {size [42] <nil> <nil>}]|1000|1250|EUR|title|10|20"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	q, err = storefront.ParseQuery(url.Values{})
	if err != nil || q.Price != nil || q.Attributes != nil {
		t.Errorf("empty: %+v %v", q, err)
	}
}
