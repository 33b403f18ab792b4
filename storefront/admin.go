package storefront

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/filter"
	"github.com/shopbus/shopbus/shop/order"
)

// The admin console: server-rendered pages under /admin for the shop's
// staff, in the storefront's style (no JavaScript, the CSRF token and an
// idempotency key in every form, post/redirect/get). The console owns no
// data: every page and action is a call to a service's bus client, made
// with the admin's session token, and the services check the admin role
// again.
//
//	GET  /admin                              dashboard: the sections, published products, paid orders to ship
//	GET  /admin/products                     products, newest first: ?q= (title words), ?status=, ?limit=, ?cursor=
//	GET  /admin/products/new                 the form for a new product; POST /admin/products creates it
//	GET  /admin/products/{id}                edit form, variants and stock; POST saves it
//	POST /admin/products/{id}/publish        publish; /unpublish makes it a draft again
//	GET  /admin/products/{id}/delete         asks to confirm; POST deletes
//	POST /admin/products/{id}/stock          sets the units on hand of one of the product's SKUs
//	GET  /admin/products/{id}/variants       option groups, their values, base SKU; POST regenerates the variants (admin_variants.go)
//	POST /admin/products/{id}/variants/prices  the variants' own prices; /variants/clear removes every variant
//	GET  /admin/orders                       every order, newest first: ?status=, ?offset=
//	GET  /admin/orders/{id}                  one order with its actions
//	POST /admin/orders/{id}/status           status=shipped (a paid order) or delivered (a shipped one)
//	POST /admin/orders/{id}/cancel           cancels a paid order (reason optional)
//	GET  /admin/categories                   the category tree, with published product counts
//	GET  /admin/categories/new               the form for a new category (?parent=); POST /admin/categories creates it
//	GET  /admin/categories/{id}              edit form; POST saves it (a changed parent moves it)
//	GET  /admin/categories/{id}/delete       asks to confirm; POST deletes (reparent=1 moves its contents up)
//	GET  /admin/articles                     articles, newest first: ?status= (draft, published), ?cursor=
//	GET  /admin/articles/new                 the form for a new article; POST /admin/articles creates it (or previews it)
//	GET  /admin/articles/{id}                edit form with the rendered body; POST saves it (or previews it)
//	GET  /admin/articles/{id}/delete         asks to confirm; POST deletes
//	GET  /admin/seo                          looks a shop address up (?path=): its metadata or its redirect
//	GET  /admin/seo/{kind}/{id}              an entity's metadata (a new content page when unknown); POST writes the overrides
//	GET  /admin/seo/{kind}/{id}/delete       asks to confirm; POST drops the overrides (deletes a page)
//	GET  /admin/attributes                   attributes and attribute groups
//	GET  /admin/attributes/new               the form for a new attribute; POST /admin/attributes creates it
//	GET  /admin/attributes/{code}            edit form; POST saves it (name, unit, enum values)
//	GET  /admin/attributes/{code}/delete     asks to confirm; POST deletes
//	GET  /admin/attribute-groups/new         the form for a new attribute group; POST /admin/attribute-groups creates it
//	GET  /admin/attribute-groups/{code}      edit form (name, position, attributes); POST saves it
//	GET  /admin/attribute-groups/{code}/delete asks to confirm; POST deletes
//	GET  /admin/options                      option groups
//	GET  /admin/options/new                  the form for a new group; POST /admin/options creates it
//	GET  /admin/options/{code}               edit form with the values; POST saves name and position
//	POST /admin/options/{code}/values        adds a value; /values/{value} relabels it, /values/{value}/remove removes it
//	GET  /admin/options/{code}/delete        asks to confirm; POST deletes
//	GET  /admin/operations                   every service's state, statistics, outbox and dead-letter counts; seeder runs
//	GET  /admin/operations/{service}/dead-letters   a subscriber's parked events (?subscriber=, default the service)
//	POST /admin/operations/{service}/dead-letters/replay  replays the events named (subscriber, id…); /discard discards them
//
// A guest is sent to log in and come back (303 to /login?next=…), a
// logged-in customer gets a 403 page, a visitor whose session cannot be
// checked the 503 page. A service's refusal is shown on the page it came
// from: field errors next to their fields, a conflict next to the field it
// concerns (a taken slug) or above the form.

// Admin console limits.
const (
	// AdminPageSize is how many products or orders a console list shows
	// at once (a product list's ?limit= may ask for 1 to
	// product.MaxPageSize).
	AdminPageSize = 50
	// AdminSearchScan bounds how many products one page of a product
	// search reads: the product service has no text search, so the
	// console pages through its list (product.MaxPageSize at a time) and
	// keeps the products whose title has every word. A page shows every
	// match among the products it read, at least the page size when there
	// are that many, and links to the rest.
	AdminSearchScan = 2000
)

// errNotAdmin is the answer to a logged-in visitor who is not an admin.
var errNotAdmin = shop.Forbidden("This part of the shop is for its staff only. Please log in with an admin account.")

// adminPages are the console's page templates (templates/admin_*.html),
// each executed as "admin" (admin_layout.html).
var adminPages = []string{"admin_home", "admin_products", "admin_product", "admin_variants", "admin_delete", "admin_orders", "admin_order",
	"admin_categories", "admin_category", "admin_category_delete", "admin_articles", "admin_article", "admin_article_delete",
	"admin_seo", "admin_seo_entry", "admin_seo_delete", "admin_attributes", "admin_attribute", "admin_attribute_delete",
	"admin_attribute_group", "admin_options", "admin_option", "admin_option_delete",
	"admin_operations", "admin_dead_letters"}

// adminNotices are the messages a redirect after an action may ask a
// page to show (?done=): fixed texts, so that a link cannot put words in
// the console's mouth.
var adminNotices = map[string]string{
	"created":     "The product was created.",
	"saved":       "Your changes were saved.",
	"published":   "The product is published.",
	"unpublished": "The product is a draft again: the shop no longer shows it.",
	"deleted":     "The product was deleted.",
	"stock":       "The stock was updated.",
	"shipped":     "The order is marked shipped.",
	"delivered":   "The order is marked delivered.",
	"cancelled":   "The order was cancelled.",

	"category_created": "The category was created.",
	"category_deleted": "The category was deleted.",
	"article_created":  "The article was created.",
	"article_deleted":  "The article was deleted.",

	"page_created":            "The page was created.",
	"seo_deleted":             "Done: the overrides were dropped (a page, deleted).",
	"attribute_created":       "The attribute was created.",
	"attribute_deleted":       "The attribute was deleted.",
	"attribute_group_created": "The attribute group was created.",
	"attribute_group_deleted": "The attribute group was deleted.",
	"option_created":          "The option group was created.",
	"option_deleted":          "The option group was deleted.",
	"value_added":             "The value was added.",
	"value_removed":           "The value was removed.",
}

// parseAdminTemplates parses the console's pages into s.pages.
func (s *Storefront) parseAdminTemplates() error {
	for _, name := range adminPages {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS,
			"templates/layout.html", "templates/admin_layout.html", "templates/"+name+".html")
		if err != nil {
			return fmt.Errorf("storefront: template %s: %w", name, err)
		}
		s.pages[name] = t
	}
	return nil
}

// adminRoutes registers the console's routes on m.
func (s *Storefront) adminRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /admin", s.adminHome)
	m.HandleFunc("GET /admin/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/admin", http.StatusMovedPermanently)
	})
	m.HandleFunc("GET /admin/products", s.adminProducts)
	m.HandleFunc("GET /admin/products/new", s.adminNewProduct)
	m.HandleFunc("POST /admin/products", s.adminCreateProduct)
	m.HandleFunc("GET /admin/products/{id}", s.adminEditProduct)
	m.HandleFunc("POST /admin/products/{id}", s.adminUpdateProduct)
	m.HandleFunc("POST /admin/products/{id}/publish", s.adminPublish)
	m.HandleFunc("POST /admin/products/{id}/unpublish", s.adminPublish)
	s.handleDeletion(m, "/admin/products/{id}/delete", s.productDeletion())
	m.HandleFunc("POST /admin/products/{id}/stock", s.adminSetStock)
	m.HandleFunc("GET /admin/products/{id}/variants", s.adminVariants)
	m.HandleFunc("POST /admin/products/{id}/variants", s.adminSaveVariants)
	m.HandleFunc("POST /admin/products/{id}/variants/prices", s.adminVariantPrices)
	m.HandleFunc("POST /admin/products/{id}/variants/clear", s.adminClearVariants)
	m.HandleFunc("GET /admin/stock/{sku}", s.adminStock) // admin_stock.go
	m.HandleFunc("GET /admin/orders", s.adminOrders)
	m.HandleFunc("GET /admin/orders/{id}", s.adminOrder)
	m.HandleFunc("POST /admin/orders/{id}/status", s.adminOrderStatus)
	m.HandleFunc("POST /admin/orders/{id}/cancel", s.adminCancelOrder)
	m.HandleFunc("GET /admin/categories", s.adminCategories)
	m.HandleFunc("GET /admin/categories/new", s.adminNewCategory)
	m.HandleFunc("POST /admin/categories", s.adminCreateCategory)
	m.HandleFunc("GET /admin/categories/{id}", s.adminEditCategory)
	m.HandleFunc("POST /admin/categories/{id}", s.adminUpdateCategory)
	s.handleDeletion(m, "/admin/categories/{id}/delete", s.categoryDeletion())
	m.HandleFunc("GET /admin/articles", s.adminArticles)
	m.HandleFunc("GET /admin/articles/new", s.adminNewArticle)
	m.HandleFunc("POST /admin/articles", s.adminCreateArticle)
	m.HandleFunc("GET /admin/articles/{id}", s.adminEditArticle)
	m.HandleFunc("POST /admin/articles/{id}", s.adminUpdateArticle)
	s.handleDeletion(m, "/admin/articles/{id}/delete", s.articleDeletion())
	m.HandleFunc("GET /admin/seo", s.adminSEO)
	s.adminRedirectRoutes(m) // GET/POST /admin/seo/redirects…: admin_redirects.go
	m.HandleFunc("GET /admin/seo/find", s.adminSEOFind)
	m.HandleFunc("GET /admin/seo/{kind}/{id}", s.adminSEOEntry)
	m.HandleFunc("POST /admin/seo/{kind}/{id}", s.adminPutSEO)
	s.handleDeletion(m, "/admin/seo/{kind}/{id}/delete", s.seoDeletion())
	m.HandleFunc("GET /admin/attributes", s.adminAttributes)
	m.HandleFunc("GET /admin/attributes/new", s.adminNewAttribute)
	m.HandleFunc("POST /admin/attributes", s.adminCreateAttribute)
	m.HandleFunc("GET /admin/attributes/{code}", s.adminEditAttribute)
	m.HandleFunc("POST /admin/attributes/{code}", s.adminUpdateAttribute)
	s.handleDeletion(m, "/admin/attributes/{code}/delete", s.attributeDeletion())
	m.HandleFunc("GET /admin/attribute-groups/new", s.adminNewAttributeGroup)
	m.HandleFunc("POST /admin/attribute-groups", s.adminCreateAttributeGroup)
	m.HandleFunc("GET /admin/attribute-groups/{code}", s.adminEditAttributeGroup)
	m.HandleFunc("POST /admin/attribute-groups/{code}", s.adminUpdateAttributeGroup)
	s.handleDeletion(m, "/admin/attribute-groups/{code}/delete", s.attributeGroupDeletion())
	m.HandleFunc("GET /admin/options", s.adminOptions)
	m.HandleFunc("GET /admin/options/new", s.adminNewOption)
	m.HandleFunc("POST /admin/options", s.adminCreateOption)
	m.HandleFunc("GET /admin/options/{code}", s.adminEditOption)
	m.HandleFunc("POST /admin/options/{code}", s.adminUpdateOption)
	m.HandleFunc("POST /admin/options/{code}/values", s.adminOptionValue)
	m.HandleFunc("POST /admin/options/{code}/values/{value}", s.adminOptionValue)
	m.HandleFunc("POST /admin/options/{code}/values/{value}/remove", s.adminOptionValue)
	s.handleDeletion(m, "/admin/options/{code}/delete", s.optionDeletion())
	m.HandleFunc("GET /admin/operations", s.adminOperations)
	m.HandleFunc("GET /admin/operations/{service}/dead-letters", s.adminDeadLetters)
	m.HandleFunc("POST /admin/operations/{service}/dead-letters/replay", s.adminDeadLetterAction)
	m.HandleFunc("POST /admin/operations/{service}/dead-letters/discard", s.adminDeadLetterAction)
	// Anything else under /admin/: checked like the rest, then 404.
	m.HandleFunc("/admin/", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := s.admin(w, r); ok {
			s.fail(w, r, shop.NotFound("page"))
		}
	})
}

// admin returns the context of an admin's calls (carrying the session
// token). A guest is sent to log in and come back (a form's post comes
// back to the console's home), a customer gets the 403 page, and a
// visitor whose session could not be checked the 503 page; ok is false
// then.
func (s *Storefront) admin(w http.ResponseWriter, r *http.Request) (context.Context, bool) {
	back := "/admin"
	if safeMethod(r.Method) {
		back = r.URL.RequestURI()
	}
	ctx, v, ok := s.shopper(w, r, back)
	if !ok {
		return nil, false
	}
	if v.user == nil || !v.user.Has(shop.RoleAdmin) {
		s.fail(w, r, errNotAdmin)
		return nil, false
	}
	return ctx, true
}

// adminData is what every console page template gets; the page's own
// view is Data.
type adminData struct {
	Shop    string
	Title   string
	Section string // "home", "products", "orders", "categories", "articles", "seo", "attributes", "options" or "operations": the current link
	User    *shop.Principal
	CSRF    string
	Flash   string // what went wrong, above the content
	Notice  string // what went right (adminNotices)
	Data    any
	Trace   traceRef // the request's trace, shown at the foot of the page
}

// adminRender renders a console page. flash says what went wrong; the
// ?done= parameter of r, what an action did.
func (s *Storefront) adminRender(w http.ResponseWriter, r *http.Request, status int, name, section, title, flash string, data any) {
	d := adminData{Shop: s.opts.ShopName, Title: title + " | Admin | " + s.opts.ShopName, Section: section,
		User: visitorOf(r).user, CSRF: s.csrfToken(w, r), Flash: flash, Data: data, Trace: s.traceOf(r)}
	if status < 300 {
		d.Notice = adminNotices[r.URL.Query().Get("done")]
	}
	var b bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&b, "admin", d); err != nil {
		s.log.ErrorContext(r.Context(), "storefront: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Robots-Tag", "noindex")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// adminFail answers a console action that failed: the error page for
// what the admin cannot fix on the page (5xx, a missing entity), else
// show with the service's message above the page.
func (s *Storefront) adminFail(w http.ResponseWriter, r *http.Request, err error, show func(status int, flash string)) {
	if st := StatusOf(err); st >= 500 || st == http.StatusNotFound || st == http.StatusUnprocessableEntity {
		s.fail(w, r, err)
		return
	}
	show(StatusOf(err), message(r, err))
}

// adminDone redirects (303) to path with ?done=what, after an action.
func adminDone(w http.ResponseWriter, r *http.Request, path, what string) {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	http.Redirect(w, r, path+sep+"done="+url.QueryEscape(what), http.StatusSeeOther)
}

// adminLink is path with the query parameters of pairs (name, value,
// name, value…) whose value is not empty.
func adminLink(path string, pairs ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			q.Set(pairs[i], pairs[i+1])
		}
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// ---- dashboard ----

// adminHomeView is the dashboard. A count the service did not give in
// time is left out (-1).
type adminHomeView struct {
	Published  int  // published products
	ToShip     int  // paid orders not yet shipped
	MoreToShip bool // more than ToShip
}

// adminHome serves GET /admin.
func (s *Storefront) adminHome(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	published := async(publicContext(ctx), NavTimeout, func(ctx context.Context) (filter.Result, error) {
		return s.filter.Query(ctx, filter.Query{Limit: 1})
	})
	toShip := async(ctx, NavTimeout, func(ctx context.Context) (order.Page, error) {
		return s.order.List(ctx, order.ListRequest{Status: order.StatusPaid, Limit: order.MaxListLimit})
	})
	v := adminHomeView{Published: -1, ToShip: -1}
	if res, err := published.wait(); err == nil {
		v.Published = res.Total
	} else {
		s.warn(ctx, "admin: product count", filter.ServiceName, err)
	}
	if page, err := toShip.wait(); err == nil {
		v.ToShip, v.MoreToShip = len(page.Orders), page.Next > 0
	} else {
		s.warn(ctx, "admin: orders to ship", order.ServiceName, err)
	}
	s.adminRender(w, r, http.StatusOK, "admin_home", "home", "Dashboard", "", v)
}
