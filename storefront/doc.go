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
// in the seo service's redirects: an admin's redirect from the address
// itself first (301, or 302 for a temporary one; to a path of the shop or
// an http(s) URL of another site, and nothing else: see redirectOf), then
// an old slug of something renamed, which answers with 301 to the new
// URL; or among its content pages (kind "page", such as /about), which
// are rendered from their title and description; otherwise the answer is
// a 404 page. A query string survives a redirect whose target has none. If a service that could have the slug
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
// deliver, cancel), the category tree (create, edit, move, delete, with
// the category service's rules as its messages) and articles (by status;
// a Markdown body with a preview rendered as the blog renders it; draft,
// publish now or at a time; delete), attributes and attribute groups
// (code, name, type, unit, an enum's values; a group's attributes),
// option groups (their values added, relabelled, removed; a group or
// value variants use is refused by the option service) and SEO (a shop
// address looked up: its metadata or its redirect; redirects of the
// admin's own listed, searched by prefix, added and deleted; the
// title, description, canonical URL, robots directives and Open Graph
// fields written over a product's, category's or article's defaults, or
// dropped again; content pages created, moved, which leaves a 301 from
// the old address, and deleted). It is rendered like the shop's
// pages, without JavaScript, with the CSRF token and an idempotency key
// in every form.
// It owns no data: every page and action calls the services' bus clients
// with the admin's session token, and the services check the admin role
// again. A guest is sent to /login?next=…, a customer gets a 403 page. A
// service's field errors are shown next to their fields. A product's
// page uploads, reorders and removes its images (see media.go; the shop
// serves stored images under /media/ with immutable caching). Stock
// per SKU beyond a product's, and operations are not in the console yet;
// nor is a list of the SEO overrides, which the seo service does not
// offer.
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
