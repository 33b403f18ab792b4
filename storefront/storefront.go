// Package storefront is the shop's web front: HTML pages for shoppers and a
// JSON API under /api/, both reaching the services only through their bus
// clients. Pages are rendered on the server with html/template and work
// without JavaScript (the Content-Security-Policy forbids scripts).
//
// Pages:
//
//	GET  /                       home: featured products, top categories, latest articles
//	GET  /{slug}                 a product, category or article page (see below)
//	GET  /search?q=              products whose title has the words
//	GET  /cart                   the cart; POST /cart/add, /cart/update, /cart/remove
//	GET  /checkout               checkout (logged in): address and shipping, then
//	                             POST /checkout/review and /checkout/place (see CheckoutPath)
//	GET  /orders, /orders/{id}   "My orders" and one order; POST /orders/{id}/cancel
//	GET  /login, /register       forms; POST them to log in or register; POST /logout
//	GET  /blog                   the latest articles, by tag
//	GET  /sitemap.xml, /sitemap-{n}.xml, /robots.txt
//	GET  /products/{slug}, /categories/{slug}, /blog/{slug}
//	                             the old URLs: permanent redirects to /{slug}
//	GET  /{path...}              a content page of the seo service (kind "page",
//	                             e.g. /about), or a redirect it knows, or 404
//	GET  /admin, /admin/...      the admin console, for admins only (see below)
//
// Fixed routes take precedence over /{slug} (the mux prefers the more
// specific pattern), so a product whose slug is "cart" or "login" is
// shadowed by the page of that name.
//
// # One route for every slug
//
// GET /{slug} asks the product, category and article services for the slug
// at the same time, together with the seo service (Resolve of the path it
// knows the page under, see SEOPaths), the navigation and the visitor's
// session. The three services keep their slugs apart when the host wires
// them (shop.SlugSpace: each checks the others before it claims a slug);
// should two claim one slug at the same instant, a product wins over a
// category, a category over an article. So the page is served as soon as the service that settles it has answered: a
// product page does not wait for the category or article service, and a
// category or article is served at most Grace after it was found even if a
// service of higher precedence stays silent. A slug nobody has is looked up
// in the seo service's redirects (an old slug of something renamed), which
// answer with 301 to the new URL, or among its content pages (kind "page",
// such as /about), which are rendered from their title and description;
// otherwise the answer is a 404 page. A query string survives a redirect. If a service that could have the slug
// does not answer and no other has it, the page is a 503 page, not a 404:
// a slug is never declared missing on a service's silence.
//
// The storefront remembers what kind of page each slug was (up to 10,000
// slugs). For a slug seen before it asks, at once, only the services whose
// answer can decide the page under the precedence above (the product
// service alone for a product; product and category for a category), and
// asks the others only if those all miss: their answers could not change
// the page. A slug seen for the first time is asked of all three services
// at once. The seo service's metadata of a page is reused for SEOCacheTTL,
// the navigation for NavTTL and attribute and option names for
// DefinitionsTTL; redirects and missing pages are always asked afresh. So
// a product page seen before makes one bus call in the common case (two
// since it shows its stock, made at the same time), and a page's calls are
// made in parallel in every case (see BenchmarkStorefront and
// TestPagesFanOut). A product page's stock (see LowStock) needs the
// product's SKUs: the storefront remembers them per slug and asks the
// inventory service together with the product service when it knows them;
// on the first visit of a product (or when its SKUs changed) the stock is
// asked once the product is found, a second round.
//
// # Degradation
//
// Each optional part of a page has a budget: seo metadata
// (Options.SEOTimeout), the filter service's listings and facets
// (Options.FilterTimeout), the article service's home page section
// (Options.ArticleTimeout), navigation and breadcrumbs (NavTimeout), a
// product's stock from the inventory service (Options.StockTimeout). When a
// service does not answer within its budget the page is rendered without
// that part (or with the storefront's own metadata: the entity's title and
// description, the canonical /{slug} URL) with status 200, and the failure is
// logged at WARN with the service's name. Only the service a page truly
// needs makes it fail: the product service for a product page, the category
// service for a category page, the article service for an article or the
// blog, the cart service for the cart, the filter service for search,
// auth for logging in, the order service for checkout and orders. That
// failure is a friendly 503 page with
// Retry-After. After a seo failure the seo service is left alone for
// SEOBackoff, so that pages stay fast while it is down.
//
// # Sessions and CSRF
//
// The session token lives in an HttpOnly, SameSite=Lax cookie (Secure when
// the shop is served over TLS or Options.BaseURL is https), never in a page
// or a response body; a guest's cart id lives in another. Logging in merges
// the guest cart into the user's. The session is checked with the auth
// service concurrently with the page's other calls.
//
// Every state-changing HTML form (cart changes, checkout, cancelling an
// order, log in, register, log out)
// carries a CSRF token: the double-submit pattern. Each visitor gets a random
// 256-bit token in its own HttpOnly, SameSite=Lax cookie (CSRFCookie); every
// POST form the templates print embeds it as the hidden field CSRFField, and a
// form post is accepted only if the field equals the cookie (compared in
// constant time). A post without it or with a wrong one gets 403 and changes
// nothing. The token is renewed when the visitor logs in or out. A page
// from another site can neither read the cookie nor set it, so it cannot
// forge the field. We chose double-submit over a token stored with the
// session because guests post forms too (their cart) and a per-visitor
// cookie needs no server-side state and no extra bus call. In addition,
// every state-changing request whose Origin (or Sec-Fetch-Site) names another
// site is refused.
//
// The JSON API does not use the token: it relies on that Origin check, on
// SameSite=Lax (a cross-site POST carries no cookies), and on insisting on
// the application/json content type for bodies, which a cross-site HTML form
// cannot send and a cross-site script cannot send without a CORS preflight,
// which the storefront never grants.
//
// A state-changing request may carry an idempotency key (the
// Idempotency-Key header, or the hidden field every form carries): the same
// key again applies nothing twice (see IdempotencyHeader).
//
// A session that could not be checked because auth did not answer
// (unavailable, deadline exceeded, internal error) is never taken for a
// guest's: what needs it (/api/me, /api/cart, the cart page, every cart
// change) answers 503 with Retry-After and changes nothing, and pages that
// do not need it are served with a header that says the account is
// temporarily unavailable instead of offering to log in (waiting for the
// check at most SessionRenderWait once the page is ready). A 503 answer
// to a change says the outcome is unknown: only a repeat with the same
// idempotency key is safe.
//
// # Admin console
//
// /admin is a console for the shop's staff (admin.go lists its routes): a
// dashboard, products (list with title search, status filter and paging;
// create, edit, publish, unpublish, delete after a confirmation; the stock
// of the product's and its variants' SKUs) and orders (by status; ship,
// deliver, cancel). It is rendered like the shop's pages, without
// JavaScript, with the CSRF token and an idempotency key in every form.
// It owns no data: every page and action calls the services' bus clients
// with the admin's session token, and the services check the admin role
// again. A guest is sent to /login?next=…, a customer gets a 403 page. A
// service's field errors are shown next to their fields. Categories,
// attributes, options, articles, SEO, images and operations are not in
// the console yet.
//
// # JSON API
//
// Request and response bodies are JSON. Errors are
// {"error": {"code", "message", "fields"}}, with the HTTP status of the
// service's error code (mapped in one place: StatusOf); failures inside the
// shop say only "internal error" or "service unavailable", never their
// cause. A body larger than MaxBodyBytes is refused with 413.
//
//	POST   /api/register          {email, password} → the user (201)
//	POST   /api/login             {email, password} → {user, expires_at}; sets the session cookie
//	POST   /api/logout            ends the session (204)
//	GET    /api/me                the logged-in user, or 401
//	GET    /api/categories        the category trees
//	GET    /api/categories/{slug} one category
//	GET    /api/products          filter query from parameters (see ParseQuery) → filter result
//	POST   /api/filter            filter query as a JSON filter.Query → filter result
//	GET    /api/products/{slug}   a published product, with its "stock" and "variant_stock" (see ProductView)
//	GET    /api/cart              the cart (a guest without a cart gets an empty one)
//	POST   /api/cart/items        {product_id, variant_id, quantity} → the cart
//	PUT    /api/cart/items/{product_id}[?variant_id=]  {quantity} → the cart
//	DELETE /api/cart/items/{product_id}[?variant_id=]  → the cart
//	GET    /api/shipping-methods  [{code, name, price}]: the order service's flat rates
//	POST   /api/checkout          {email, address: {name, line1, line2, postal_code, city, country},
//	                              shipping_method, accept_prices} with an Idempotency-Key header
//	                              (required) → the order (201, Location /api/orders/{id})
//	GET    /api/orders[?status=&offset=&limit=]        the caller's orders, newest first: {orders, next}
//	GET    /api/orders/{id}       one of the caller's orders (another's is 404)
//	POST   /api/orders/{id}/cancel                     cancels a paid order not yet shipped → the order
//	GET    /api/articles[?tag=&cursor=&limit=]         published articles
//	GET    /api/articles/{slug}   an article, with its body rendered as "html"
//
// The order endpoints need a logged-in caller (401 otherwise). The body of
// POST /api/checkout is order.PlaceRequest (unknown fields refused like
// every body) and the answer order.Order as the order service returns it
// ({"id", "status", "lines", "totals", "reason", …}): status "paid" when
// the checkout went through, "failed" with a "reason" the shopper can read
// when it did not (payment declined, out of stock: nothing charged, no
// stock held), "pending" while it is still being completed (GET
// /api/orders/{id} shows how it ends). A price that changed since the
// shopper saw it is a 409 whose fields name lines[i].unit_price; the same
// request with "accept_prices": true (and a new Idempotency-Key) confirms
// the new prices. The same Idempotency-Key again answers the same order:
// one order, one payment authorisation.
package storefront

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/shop/catalog/attribute"
	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/shop/catalog/filter"
	"github.com/shopbus/shopbus/shop/catalog/option"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/content/article"
	"github.com/shopbus/shopbus/shop/content/seo"
	"github.com/shopbus/shopbus/shop/inventory"
	"github.com/shopbus/shopbus/shop/order"
	"github.com/shopbus/shopbus/transport"
)

// Defaults of Options.
const (
	// DefaultSEOTimeout is the default budget of a call to the seo service.
	DefaultSEOTimeout = 300 * time.Millisecond
	// DefaultFilterTimeout is the default budget of a call to the filter
	// service (listings and facets).
	DefaultFilterTimeout = 2 * time.Second
	// DefaultArticleTimeout is the default budget of a call to the article
	// service.
	DefaultArticleTimeout = 2 * time.Second
	// DefaultCallTimeout is the default budget of the other service calls
	// of one request.
	DefaultCallTimeout = 10 * time.Second
	// DefaultFeaturedLimit is how many products the home page features
	// when Options.Featured sets no limit.
	DefaultFeaturedLimit = 8
	// DefaultShopName is shown in page titles when Options.ShopName is empty.
	DefaultShopName = "shopbus"
)

// Fixed budgets and limits.
const (
	// SessionTimeout bounds checking a request's session token with the
	// auth service (within the request's CallTimeout). It is long enough to
	// ride out a restart of the auth service (its requests wait in its
	// durable queue), so that a restart costs latency, not an error. Past
	// it the session is unknown, never taken for a guest's: what needs it
	// answers 503 (see the package doc).
	SessionTimeout = 10 * time.Second
	// NavTimeout bounds fetching the navigation (root categories) and
	// breadcrumbs of a page, which are optional.
	NavTimeout = time.Second
	// SEOBackoff is how long the storefront stops asking the seo service
	// after a call failed for lack of an answer.
	SEOBackoff = 10 * time.Second
	// DefinitionsTTL is how long attribute and option definitions (display
	// names, units, labels) are cached.
	DefinitionsTTL = time.Minute
	// MaxBodyBytes bounds a request body; a larger one is refused with 413.
	MaxBodyBytes = 64 << 10
	// MaxQueryBytes bounds a URL's query string; a longer one is refused
	// with 414.
	MaxQueryBytes = 4 << 10
	// MaxTopCategories is how many categories the home page shows.
	MaxTopCategories = 8
	// MaxLatestArticles is how many articles the home page shows.
	MaxLatestArticles = 3
)

// Cookie names and the CSRF form field.
const (
	SessionCookie = "shop_session"
	CartCookie    = "shop_cart"
	// CSRFCookie holds the visitor's CSRF token (see the package doc).
	CSRFCookie = "shop_csrf"
	// CSRFField is the form field every POST form carries the token in.
	CSRFField = "csrf"
	// HostCookiePrefix prefixes every cookie name when the shop is served
	// over HTTPS (see Storefront.cookieName).
	HostCookiePrefix = "__Host-"
)

// HSTS is the Strict-Transport-Security header of a shop served over
// HTTPS: browsers use only HTTPS for it for a year.
const HSTS = "max-age=31536000"

// SEOPaths are the path prefixes under which the seo service knows
// products, categories and articles (its Options.ProductPrefix,
// CategoryPrefix and ArticlePrefix): the storefront looks old slugs up
// under them and turns the seo service's URLs into /{slug} URLs.
type SEOPaths struct {
	Product, Category, Article string
}

// Paths returns the paths the seo service knows slug under: as a product,
// a category and an article, in that order.
func (p SEOPaths) Paths(slug string) [3]string {
	return [3]string{p.Product + slug, p.Category + slug, p.Article + slug}
}

// DefaultSEOPaths are the seo service's default prefixes.
var DefaultSEOPaths = SEOPaths{Product: "/products/", Category: "/categories/", Article: "/blog/"}

// Options configure a Storefront. Bus is required; the rest is optional.
type Options struct {
	// Bus reaches the services.
	Bus transport.Bus
	// BaseURL is the shop's public URL, e.g. "https://shop.example". It
	// makes cookies Secure when it is https, and is the base of canonical
	// URLs when the seo service gives none.
	BaseURL string
	// ShopName is shown in page titles (default DefaultShopName).
	ShopName string
	// SEOTimeout bounds each call to the seo service (default 300 ms).
	SEOTimeout time.Duration
	// FilterTimeout bounds each call to the filter service (default 2 s).
	FilterTimeout time.Duration
	// ArticleTimeout bounds each call to the article service (default 2 s).
	ArticleTimeout time.Duration
	// StockTimeout bounds asking the inventory service for the stock a
	// product page shows (default DefaultStockTimeout).
	StockTimeout time.Duration
	// CallTimeout bounds the other service calls of one request, and the
	// request as a whole (default 10 s).
	CallTimeout time.Duration
	// SEOPaths are the seo service's path prefixes (default
	// DefaultSEOPaths; an empty field takes its default).
	SEOPaths SEOPaths
	// Featured selects the home page's featured products: the first page
	// of this filter query. The zero value features the newest products;
	// a shop with a "featured" attribute sets
	// Attributes: []filter.AttributeFilter{{Code: "featured", Values: []string{"true"}}}.
	// A zero Limit means DefaultFeaturedLimit.
	Featured filter.Query
	// RateLimits bound logins and registrations per client and per
	// account (zero fields: DefaultRateLimits); a refused attempt is
	// answered 429 with Retry-After.
	RateLimits RateLimits
	// ClientIP tells a request's client address for the rate limits
	// (default RemoteIP; HeaderIP behind a proxy).
	ClientIP func(*http.Request) string
	// Logger receives failures (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Storefront is the web front; it is an http.Handler.
type Storefront struct {
	opts    Options
	log     *slog.Logger
	secure  bool
	origin  string // scheme://host of Options.BaseURL, or empty
	limits  *limits
	mux     *http.ServeMux
	pages   map[string]*template.Template
	auth    *auth.Client
	cats    *category.Client
	attrs   *attribute.Client
	options *option.Client
	filter  *filter.Client
	product *product.Client
	cart    *cart.Client
	article *article.Client
	seo     *seo.Client
	order   *order.Client
	stockSv *inventory.Client

	seoMu        sync.Mutex
	seoDownUntil time.Time

	attrCache  cache[map[string]attribute.Attribute]
	groupCache cache[map[string]option.Group]
	navCache   cache[[]category.Category]
	memo       memo
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// ConfigError is the error New returns for unusable Options.
type ConfigError struct {
	Field   string // the Options field, e.g. "Bus"
	Message string
}

// Error implements error.
func (e *ConfigError) Error() string { return "storefront: Options." + e.Field + " " + e.Message }

// New returns a storefront calling the services on opts.Bus. Unusable
// options are a *ConfigError.
func New(opts Options) (*Storefront, error) {
	if opts.Bus == nil {
		return nil, &ConfigError{Field: "Bus", Message: "is nil"}
	}
	if opts.ShopName == "" {
		opts.ShopName = DefaultShopName
	}
	for _, d := range []struct {
		p   *time.Duration
		def time.Duration
	}{{&opts.SEOTimeout, DefaultSEOTimeout}, {&opts.FilterTimeout, DefaultFilterTimeout},
		{&opts.ArticleTimeout, DefaultArticleTimeout}, {&opts.CallTimeout, DefaultCallTimeout},
		{&opts.StockTimeout, DefaultStockTimeout}} {
		if *d.p <= 0 {
			*d.p = d.def
		}
	}
	for _, p := range []struct {
		p    *string
		def  string
		name string
	}{{&opts.SEOPaths.Product, DefaultSEOPaths.Product, "SEOPaths.Product"},
		{&opts.SEOPaths.Category, DefaultSEOPaths.Category, "SEOPaths.Category"},
		{&opts.SEOPaths.Article, DefaultSEOPaths.Article, "SEOPaths.Article"}} {
		if *p.p == "" {
			*p.p = p.def
		}
		if !strings.HasPrefix(*p.p, "/") || !strings.HasSuffix(*p.p, "/") {
			return nil, &ConfigError{Field: p.name, Message: "must start and end with '/'"}
		}
	}
	if opts.Featured.Limit == 0 {
		opts.Featured.Limit = DefaultFeaturedLimit
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.BaseURL = strings.TrimSuffix(opts.BaseURL, "/")
	secure, origin := false, ""
	if opts.BaseURL != "" {
		u, err := url.Parse(opts.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, &ConfigError{Field: "BaseURL", Message: "must be an absolute http(s) URL"}
		}
		secure = u.Scheme == "https"
		origin = u.Scheme + "://" + u.Host
	}
	s := &Storefront{
		opts:    opts,
		log:     opts.Logger,
		secure:  secure,
		origin:  origin,
		limits:  newLimits(opts.RateLimits, opts.ClientIP, opts.Now),
		auth:    auth.NewClient(opts.Bus),
		cats:    category.NewClient(opts.Bus),
		attrs:   attribute.NewClient(opts.Bus),
		options: option.NewClient(opts.Bus),
		filter:  filter.NewClient(opts.Bus),
		product: product.NewClient(opts.Bus),
		cart:    cart.NewClient(opts.Bus),
		article: article.NewClient(opts.Bus),
		seo:     seo.NewClient(opts.Bus),
		order:   order.NewClient(opts.Bus),
		stockSv: inventory.NewClient(opts.Bus),
	}
	s.navCache.ttl = NavTTL
	if s.log == nil {
		s.log = slog.Default()
	}
	if err := s.parseTemplates(); err != nil {
		return nil, err
	}
	if err := s.parseAdminTemplates(); err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

func (s *Storefront) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))

	m.HandleFunc("GET /{$}", s.homePage)
	m.HandleFunc("GET /{slug}", s.slugPage)
	m.HandleFunc("GET /search", s.searchPage)
	m.HandleFunc("GET /cart", s.cartPage)
	m.HandleFunc("POST /cart/add", s.cartAddForm)
	m.HandleFunc("POST /cart/update", s.cartUpdateForm)
	m.HandleFunc("POST /cart/remove", s.cartRemoveForm)
	m.HandleFunc("GET /login", s.loginPage)
	m.HandleFunc("POST /login", s.loginForm)
	m.HandleFunc("GET /register", s.registerPage)
	m.HandleFunc("POST /register", s.registerForm)
	m.HandleFunc("POST /logout", s.logoutForm)
	m.HandleFunc("GET /checkout", s.checkoutPage)
	m.HandleFunc("POST /checkout/details", s.detailsForm)
	m.HandleFunc("POST /checkout/review", s.reviewForm)
	m.HandleFunc("POST /checkout/place", s.placeForm)
	m.HandleFunc("GET /orders", s.ordersPage)
	m.HandleFunc("GET /orders/{id}", s.orderPage)
	m.HandleFunc("POST /orders/{id}/cancel", s.cancelForm)
	m.HandleFunc("GET /blog", s.blogPage)
	m.HandleFunc("GET /sitemap.xml", s.sitemap)
	m.HandleFunc("GET /robots.txt", s.robots)
	// The old URL scheme, kept as permanent redirects.
	m.HandleFunc("GET /products/{slug}", s.oldURL)
	m.HandleFunc("GET /categories/{slug}", s.oldURL)
	m.HandleFunc("GET /blog/{slug}", s.oldURL)
	s.adminRoutes(m) // the admin console, see admin.go
	m.HandleFunc("/", s.notFound)

	m.HandleFunc("POST /api/register", s.apiRegister)
	m.HandleFunc("POST /api/login", s.apiLogin)
	m.HandleFunc("POST /api/logout", s.apiLogout)
	m.HandleFunc("GET /api/me", s.apiMe)
	m.HandleFunc("GET /api/categories", s.apiCategories)
	m.HandleFunc("GET /api/categories/{slug}", s.apiCategory)
	m.HandleFunc("GET /api/products", s.apiProducts)
	m.HandleFunc("POST /api/filter", s.apiFilter)
	m.HandleFunc("GET /api/products/{slug}", s.apiProduct)
	m.HandleFunc("GET /api/cart", s.apiCart)
	m.HandleFunc("POST /api/cart/items", s.apiCartAdd)
	m.HandleFunc("PUT /api/cart/items/{product}", s.apiCartUpdate)
	m.HandleFunc("DELETE /api/cart/items/{product}", s.apiCartRemove)
	m.HandleFunc("GET /api/shipping-methods", s.apiShippingMethods)
	m.HandleFunc("POST /api/checkout", s.apiCheckout)
	m.HandleFunc("GET /api/orders", s.apiOrders)
	m.HandleFunc("GET /api/orders/{id}", s.apiOrder)
	m.HandleFunc("POST /api/orders/{id}/cancel", s.apiCancel)
	m.HandleFunc("GET /api/articles", s.apiArticles)
	m.HandleFunc("GET /api/articles/{slug}", s.apiArticle)
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeAPIError(w, r, shop.NotFound("API endpoint"))
	})
	s.mux = m
}

// ServeHTTP serves the storefront, each request in a span (see TracerName).
func (s *Storefront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w, r, end := s.traceRequest(w, r)
	defer end()
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	if s.cookieSecure(r) {
		h.Set("Strict-Transport-Security", HSTS)
	}
	h.Set("Content-Security-Policy", "default-src 'self'; img-src * data:; style-src 'self'; script-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	if strings.HasPrefix(r.URL.Path, "/static/") {
		s.mux.ServeHTTP(w, r) // no session needed
		return
	}
	if len(r.URL.RawQuery) > MaxQueryBytes {
		http.Error(w, "query string too long", http.StatusRequestURITooLong)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.CallTimeout)
	defer cancel()
	v := s.newVisitor(ctx, r)
	r = r.WithContext(context.WithValue(ctx, visitorKey{}, v))
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	}
	if !safeMethod(r.Method) {
		if !s.sameOrigin(r) {
			s.refuse(w, r, shop.Forbidden("cross-origin request refused"))
			return
		}
		if !isAPI(r) {
			if err := s.checkCSRF(r, v); err != nil {
				s.refuse(w, r, err)
				return
			}
		}
		keyed, err := s.idempotent(w, r, v)
		if err != nil {
			s.refuse(w, r, err)
			return
		}
		r = keyed
	}
	s.mux.ServeHTTP(w, r)
}

// refuse answers a request refused before its handler: with a JSON error
// for the API, an error page otherwise.
func (s *Storefront) refuse(w http.ResponseWriter, r *http.Request, err error) {
	if isAPI(r) {
		s.apiFail(w, r, err)
		return
	}
	s.fail(w, r, err)
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/") }

// sameOrigin reports whether a state-changing request comes from this site:
// its Origin header (or, without one, Sec-Fetch-Site) must not name another
// origin. The Origin may be the shop's public one (Options.BaseURL, what a
// browser sends behind a proxy that rewrites Host) or the request's own
// host. Requests from non-browser clients carry neither and pass.
func (s *Storefront) sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		if s.origin != "" {
			return o == s.origin || o == s.origin+"/" || sameHost(o, r.Host)
		}
		return sameHost(o, r.Host)
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return true
	}
	return false
}

// sameHost reports whether the origin o names host.
func sameHost(o, host string) bool {
	u, err := url.Parse(o)
	return err == nil && u.Host != "" && u.Host == host
}

// ---- the caller: session and CSRF token ----

type visitorKey struct{}

// visitor is who is calling: a logged-in user (token and principal) or a
// guest, with the guest cart id if there is one, and the CSRF token.
//
// The session cookie is checked with the auth service in the background
// (started by newVisitor); identify waits for the answer. Until then
// token and user must not be read.
type visitor struct {
	guestID    string
	cartOrigin string // the CartOriginCookie: which request started the guest cart
	csrf       string // the CSRF token; "" until one is issued

	key   string // the request's idempotency key; "" without one
	keyed bool   // the request's calls carry the request id made from key

	authDone chan struct{} // closed when the session check has finished; nil without a cookie
	cookie   string        // the session cookie's value
	authErr  error
	checked  bool // identify has run
	// unsure says the session cookie could not be checked (auth did not
	// answer): the visitor is neither logged in nor a guest.
	unsure bool

	token string
	user  *shop.Principal

	nav *future[[]category.Category] // the page's navigation, once started
}

// newVisitor reads the cookies and starts checking the session token.
func (s *Storefront) newVisitor(ctx context.Context, r *http.Request) *visitor {
	v := &visitor{}
	if c, err := r.Cookie(s.cookieName(r, CartCookie)); err == nil && validCookieValue(c.Value) {
		v.guestID = c.Value
		if c, err := r.Cookie(s.cookieName(r, CartOriginCookie)); err == nil && validCookieValue(c.Value) {
			v.cartOrigin = c.Value
		}
	}
	if c, err := r.Cookie(s.cookieName(r, CSRFCookie)); err == nil && validToken(c.Value) {
		v.csrf = c.Value
	}
	if c, err := r.Cookie(s.cookieName(r, SessionCookie)); err == nil && validCookieValue(c.Value) {
		v.cookie = c.Value
		v.authDone = make(chan struct{})
		go func() {
			defer close(v.authDone)
			actx, cancel := context.WithTimeout(ctx, SessionTimeout)
			defer cancel()
			p, err := s.auth.Authenticate(actx, v.cookie)
			if err == nil {
				v.user = &p
			}
			v.authErr = err
		}()
	}
	return v
}

// identify waits for the session check and returns the visitor: a token
// the auth service rejected is dropped, with its cookie; when the auth
// service cannot answer (unavailable, deadline exceeded, internal error)
// the visitor is unsure: neither logged in nor a guest, it keeps the
// cookie for when auth is back, and whatever needs the session answers
// errSessionUnknown.
func (s *Storefront) identify(w http.ResponseWriter, r *http.Request) *visitor {
	v := visitorOf(r)
	if v.checked || v.authDone == nil {
		v.checked = true
		return v
	}
	<-v.authDone
	v.checked = true
	switch err := v.authErr; {
	case err == nil:
		v.token = v.cookie
	case errors.Is(err, shop.ErrUnauthenticated) || errors.Is(err, shop.ErrInvalid):
		s.clearCookie(w, r, SessionCookie)
	default:
		v.unsure = true
		s.log.WarnContext(r.Context(), "storefront: authenticate", "service", "auth", "err", err)
	}
	return v
}

// userContext identifies the visitor and returns the request's context
// carrying the session token, for calls made on the visitor's behalf.
func (s *Storefront) userContext(w http.ResponseWriter, r *http.Request) (context.Context, *visitor) {
	v := s.identify(w, r)
	ctx := r.Context()
	if v.token != "" {
		ctx = shop.WithToken(ctx, v.token)
	}
	return ctx, v
}

func visitorOf(r *http.Request) *visitor {
	v, _ := r.Context().Value(visitorKey{}).(*visitor)
	if v == nil {
		return &visitor{checked: true}
	}
	return v
}

// validCookieValue accepts what a token or a cart id can look like.
func validCookieValue(v string) bool {
	if v == "" || len(v) > 256 {
		return false
	}
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// csrfTokenLen is the length of a CSRF token: 32 random bytes, base64url.
const csrfTokenLen = 43

func validToken(t string) bool { return len(t) == csrfTokenLen && validCookieValue(t) }

func newToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// csrfToken returns the visitor's CSRF token, issuing one (with its
// cookie) if the visitor has none.
func (s *Storefront) csrfToken(w http.ResponseWriter, r *http.Request) string {
	v := visitorOf(r)
	if v.csrf == "" {
		s.renewCSRF(w, r)
	}
	return v.csrf
}

// renewCSRF gives the visitor a new CSRF token, at log in and log out.
func (s *Storefront) renewCSRF(w http.ResponseWriter, r *http.Request) {
	v := visitorOf(r)
	v.csrf = newToken()
	s.setCookie(w, r, CSRFCookie, v.csrf, time.Time{})
}

// errCSRF is the answer to a form without the visitor's CSRF token.
var errCSRF = shop.Forbidden("This form has expired or did not come from this shop. Please go back, reload the page and try again.")

// checkCSRF checks a form post: the CSRFField must equal the CSRF cookie.
// It reads the form, so a body over MaxBodyBytes fails here (413).
func (s *Storefront) checkCSRF(r *http.Request, v *visitor) error {
	if err := r.ParseForm(); err != nil {
		return formError(err)
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		if err := r.ParseMultipartForm(MaxBodyBytes); err != nil {
			return formError(err)
		}
	}
	got := r.PostFormValue(CSRFField)
	if v.csrf == "" || len(got) != len(v.csrf) || subtle.ConstantTimeCompare([]byte(got), []byte(v.csrf)) != 1 {
		return errCSRF
	}
	return nil
}

// cookieSecure reports whether the shop is served over HTTPS: Options.BaseURL
// is https or the request came over TLS.
func (s *Storefront) cookieSecure(r *http.Request) bool { return s.secure || r.TLS != nil }

// cookieName is the name of the cookie called name: over HTTPS it carries
// the __Host- prefix, so that browsers accept it only Secure, for this host
// and path /, never set by a sibling subdomain or a plain-HTTP page.
func (s *Storefront) cookieName(r *http.Request, name string) string {
	if s.cookieSecure(r) {
		return HostCookiePrefix + name
	}
	return name
}

// setCookie sets an HttpOnly, SameSite=Lax cookie (Secure and __Host-
// over HTTPS); a zero expires makes it a browser-session cookie.
func (s *Storefront) setCookie(w http.ResponseWriter, r *http.Request, name, value string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name: s.cookieName(r, name), Value: value, Path: "/", Expires: expires,
		HttpOnly: true, Secure: s.cookieSecure(r), SameSite: http.SameSiteLaxMode,
	})
}

func (s *Storefront) clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	http.SetCookie(w, &http.Cookie{
		Name: s.cookieName(r, name), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.cookieSecure(r), SameSite: http.SameSiteLaxMode,
	})
}

// ---- operations shared by the pages and the API ----

// login logs in, sets the session cookie, renews the CSRF token and
// merges the guest cart. With an idempotency key, logging in and merging
// carry request ids of their own derived from the request's.
func (s *Storefront) login(w http.ResponseWriter, r *http.Request, email, password string) (shop.Principal, auth.Session, error) {
	if err := s.limits.admitLogin(r, email); err != nil {
		return shop.Principal{}, auth.Session{}, err
	}
	ctx := accountContext(r, email)
	v := s.identify(w, r)
	sess, err := s.auth.Login(anotherCall(ctx, auth.MethodLogin), auth.LoginRequest{Email: email, Password: password})
	if err != nil {
		return shop.Principal{}, auth.Session{}, err
	}
	s.setCookie(w, r, SessionCookie, sess.Token, sess.ExpiresAt)
	if !isAPI(r) {
		s.renewCSRF(w, r)
	}
	ctx = shop.WithToken(ctx, sess.Token)
	p, err := s.auth.Authenticate(ctx, sess.Token)
	if err != nil {
		return shop.Principal{}, auth.Session{}, err
	}
	if v.guestID != "" {
		if _, err := s.cart.Merge(anotherCall(ctx, cart.MethodMerge), cart.MergeRequest{GuestCartID: v.guestID}); err != nil && !errors.Is(err, shop.ErrNotFound) {
			// The guest cart stays; the next login merges it.
			s.log.WarnContext(ctx, "storefront: merge guest cart", "service", cart.ServiceName, "err", err)
		} else {
			s.forgetGuestCart(w, r, v)
		}
	}
	v.token, v.user = sess.Token, &p
	return p, sess, nil
}

// logout ends the session, clears the cookie and renews the CSRF token.
// A form's logout clears the cookie even if auth did not answer (the
// shopper leaves a shared computer logged out); the API's keeps it then,
// so that a retry can end the session.
func (s *Storefront) logout(w http.ResponseWriter, r *http.Request) error {
	v := s.identify(w, r)
	token := v.token
	if token == "" {
		token = v.cookie // not checked (auth silent): end it anyway
	}
	var err error
	if token != "" {
		err = s.auth.Logout(r.Context(), token)
	}
	if err != nil && isAPI(r) {
		return err
	}
	s.clearCookie(w, r, SessionCookie)
	if !isAPI(r) {
		s.renewCSRF(w, r)
	}
	v.token, v.user, v.unsure = "", nil, false
	return err
}

// getCart returns the visitor's cart: an empty one for a guest without a
// cart (or whose cart expired).
func (s *Storefront) getCart(w http.ResponseWriter, r *http.Request) (cart.Cart, error) {
	ctx, v := s.userContext(w, r)
	if v.unsure {
		return cart.Cart{}, errSessionUnknown
	}
	if v.token == "" && v.guestID == "" {
		return cart.Cart{Lines: []cart.Line{}, Totals: shop.Totals{}}, nil
	}
	c, err := s.cart.Get(ctx, cart.CartRequest{CartID: cartRequestID(v)})
	if v.token == "" && isNoCart(err) {
		s.forgetGuestCart(w, r, v)
		return cart.Cart{Lines: []cart.Line{}, Totals: shop.Totals{}}, nil
	}
	return c, err
}

// forgetGuestCart drops the guest cart's cookies (merged or gone).
func (s *Storefront) forgetGuestCart(w http.ResponseWriter, r *http.Request, v *visitor) {
	s.clearCookie(w, r, CartCookie)
	if v.cartOrigin != "" {
		s.clearCookie(w, r, CartOriginCookie)
	}
	v.guestID, v.cartOrigin = "", ""
}

// addToCart adds a line; a guest's first line creates the guest cart,
// whose id goes into a cookie, and the request id that created it (if
// any) into CartOriginCookie: a repeat of that request asks the same
// question again (no cart named), so the cart service answers it from its
// memory instead of adding again to the cart it started.
func (s *Storefront) addToCart(w http.ResponseWriter, r *http.Request, req cart.AddItemRequest) (cart.Cart, error) {
	ctx, v := s.userContext(w, r)
	if v.unsure {
		// Never into a guest cart because auth did not answer.
		return cart.Cart{}, errSessionUnknown
	}
	req.CartID = cartRequestID(v)
	if req.CartID != "" && v.cartOrigin != "" {
		for _, c := range []context.Context{ctx, anotherCall(ctx, newGuestCart)} {
			if id := transport.RequestID(c); id != "" && cartOrigin(id) == v.cartOrigin {
				ctx, req.CartID = c, "" // the request that started the cart, again
				break
			}
		}
	}
	c, err := s.cart.AddItem(ctx, req)
	if v.token == "" && req.CartID != "" && isNoCart(err) {
		// The guest cart expired: start a new one.
		req.CartID = ""
		ctx = anotherCall(ctx, newGuestCart)
		c, err = s.cart.AddItem(ctx, req)
	}
	if err != nil {
		return c, err
	}
	if v.token == "" && c.ID != v.guestID {
		v.guestID = c.ID
		exp := c.ExpiresAt
		if exp.IsZero() {
			exp = s.opts.Now().Add(30 * 24 * time.Hour)
		}
		s.setCookie(w, r, CartCookie, c.ID, exp)
		if id := transport.RequestID(ctx); id != "" {
			v.cartOrigin = cartOrigin(id)
			s.setCookie(w, r, CartOriginCookie, v.cartOrigin, exp)
		} else if v.cartOrigin != "" {
			v.cartOrigin = ""
			s.clearCookie(w, r, CartOriginCookie)
		}
	}
	return c, nil
}

// updateCart sets a line's quantity; 0 removes the line.
func (s *Storefront) updateCart(w http.ResponseWriter, r *http.Request, productID, variantID string, qty int) (cart.Cart, error) {
	ctx, v := s.userContext(w, r)
	if v.unsure {
		return cart.Cart{}, errSessionUnknown
	}
	if v.token == "" && v.guestID == "" {
		return cart.Cart{}, shop.NotFound("cart")
	}
	if qty == 0 {
		return s.cart.RemoveItem(ctx, cart.RemoveItemRequest{CartID: cartRequestID(v), ProductID: productID, VariantID: variantID})
	}
	return s.cart.UpdateItem(ctx, cart.UpdateItemRequest{CartID: cartRequestID(v), ProductID: productID, VariantID: variantID, Quantity: qty})
}

// removeFromCart removes a line.
func (s *Storefront) removeFromCart(w http.ResponseWriter, r *http.Request, productID, variantID string) (cart.Cart, error) {
	ctx, v := s.userContext(w, r)
	if v.unsure {
		return cart.Cart{}, errSessionUnknown
	}
	if v.token == "" && v.guestID == "" {
		return cart.Cart{}, shop.NotFound("cart")
	}
	return s.cart.RemoveItem(ctx, cart.RemoveItemRequest{CartID: cartRequestID(v), ProductID: productID, VariantID: variantID})
}

// isNoCart reports whether err says that the guest cart (not the product)
// does not exist, or that its id is not one the cart service would make
// (a cookie from elsewhere).
func isNoCart(err error) bool {
	e := transport.AsError(err)
	if e == nil {
		return false
	}
	return e.Code == transport.CodeNotFound && e.Message == shop.NotFound("cart").(*shop.Error).Message ||
		e.Code == transport.CodeInvalid && e.Field("cart_id") != ""
}

// cartRequestID is the CartID a visitor's cart calls carry.
func cartRequestID(v *visitor) string {
	if v.token != "" {
		return ""
	}
	return v.guestID
}

// publishedProduct returns a published product by slug; drafts are not found.
func (s *Storefront) publishedProduct(ctx context.Context, slug string) (product.Product, error) {
	p, err := s.product.GetBySlug(ctx, product.GetBySlugRequest{Slug: slug})
	if err == nil && p.Status != shop.StatusPublished {
		return product.Product{}, shop.NotFound("product")
	}
	return p, err
}

// publicContext is ctx without the visitor's session token: catalogue
// and content are read as the public sees them (no drafts for admins).
func publicContext(ctx context.Context) context.Context {
	if shop.TokenFrom(ctx) == "" {
		return ctx
	}
	return shop.WithToken(ctx, "")
}
