package storefront

import (
	"cmp"
	"context"
	"embed"
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
	// MaxImageUpload bounds an image file uploaded in the console, in
	// bytes (default DefaultMaxImageUpload, 10 MB); see media.go.
	MaxImageUpload int64
	// MaxImageSide bounds an uploaded image's width and height in pixels
	// (default DefaultMaxImageSide).
	MaxImageSide int
	// MaxImagePixels bounds an uploaded image's width × height (default
	// DefaultMaxImagePixels).
	MaxImagePixels int
	// MediaCacheBytes bounds the image variants kept in memory for
	// /media (default DefaultMediaCacheBytes; negative keeps none).
	MediaCacheBytes int64
	// TraceURL, when set, is a trace viewer's address of one trace, with
	// "{trace_id}" where the trace id goes (for example
	// "http://localhost:16686/trace/{trace_id}" for Jaeger): the console's
	// pages and the error pages link the id of their request's trace to
	// it. Without it they show the id only. Either way only a traced
	// request (an OpenTelemetry SDK set up, see package host) has an id.
	TraceURL string
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
	auth    auth.Service
	cats    category.Service
	attrs   attribute.Service
	options option.Service
	filter  filter.Service
	product product.Service
	cart    cart.Service
	article article.Service
	seo     seo.Service
	order   order.Service
	stockSv inventory.Service

	seoMu        sync.Mutex
	seoDownUntil time.Time

	attrCache  cache[map[string]attribute.Attribute]
	groupCache cache[map[string]option.Group]
	navCache   cache[[]category.Category]
	memo       memo
	media      mediaState // images: see media.go
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
	return newStorefront(opts, services{})
}

// services are the services a Storefront calls. New calls each through
// its bus client; BenchmarkArchitectureCost gives some as Go values (no
// bus, no encoding) to measure what the bus costs.
type services struct {
	Auth       auth.Service
	Categories category.Service
	Attributes attribute.Service
	Options    option.Service
	Filter     filter.Service
	Products   product.Service
	Carts      cart.Service
	Articles   article.Service
	SEO        seo.Service
	Orders     order.Service
	Inventory  inventory.Service
}

// orClients returns sv with each service not given reached through its
// client on bus.
func (sv services) orClients(bus transport.Bus) services {
	sv.Auth = cmp.Or[auth.Service](sv.Auth, auth.NewClient(bus))
	sv.Categories = cmp.Or[category.Service](sv.Categories, category.NewClient(bus))
	sv.Attributes = cmp.Or[attribute.Service](sv.Attributes, attribute.NewClient(bus))
	sv.Options = cmp.Or[option.Service](sv.Options, option.NewClient(bus))
	sv.Filter = cmp.Or[filter.Service](sv.Filter, filter.NewClient(bus))
	sv.Products = cmp.Or[product.Service](sv.Products, product.NewClient(bus))
	sv.Carts = cmp.Or[cart.Service](sv.Carts, cart.NewClient(bus))
	sv.Articles = cmp.Or[article.Service](sv.Articles, article.NewClient(bus))
	sv.SEO = cmp.Or[seo.Service](sv.SEO, seo.NewClient(bus))
	sv.Orders = cmp.Or[order.Service](sv.Orders, order.NewClient(bus))
	sv.Inventory = cmp.Or[inventory.Service](sv.Inventory, inventory.NewClient(bus))
	return sv
}

// newStorefront is New with the services given as Go values where sv
// has them.
func newStorefront(opts Options, sv services) (*Storefront, error) {
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
	if opts.TraceURL != "" {
		u, err := url.Parse(strings.ReplaceAll(opts.TraceURL, traceIDPlaceholder, "0"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !strings.Contains(opts.TraceURL, traceIDPlaceholder) {
			return nil, &ConfigError{Field: "TraceURL", Message: "must be an absolute http(s) URL with " + traceIDPlaceholder + " in it"}
		}
	}
	mediaDefaults(&opts)
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
		opts:   opts,
		log:    opts.Logger,
		secure: secure,
		origin: origin,
		limits: newLimits(opts.RateLimits, opts.ClientIP, opts.Now),
	}
	sv = sv.orClients(opts.Bus)
	s.auth, s.cats, s.attrs, s.options, s.filter, s.product = sv.Auth, sv.Categories, sv.Attributes, sv.Options, sv.Filter, sv.Products
	s.cart, s.article, s.seo, s.order, s.stockSv = sv.Carts, sv.Articles, sv.SEO, sv.Orders, sv.Inventory
	s.navCache.ttl = NavTTL
	s.media = newMediaState(opts)
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
	s.mediaRoutes(m) // images, see media.go
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
	if strings.HasPrefix(r.URL.Path, "/static/") || mediaPath(r.URL.Path) {
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
	defer func() {
		// An upload's files beyond MaxBodyBytes went to temporary files;
		// the server removes only those of the request it made.
		if r.MultipartForm != nil {
			_ = r.MultipartForm.RemoveAll()
		}
	}()
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, s.bodyLimit(w, r))
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
