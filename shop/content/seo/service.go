// Package seo is the shopbus SEO service: metadata (title, description,
// canonical URL, robots directives and Open Graph fields) for products,
// categories, articles and content pages, permanent redirects for changed
// slugs, and the sitemap.
//
// Metadata is keyed by (kind, entity id) and by path. Products, categories
// and articles get default metadata from the events their services publish
// (product.product.*, category.category.*, article.article.*): the title,
// a description trimmed to at most 160 characters at a word boundary, the
// canonical URL of the entity's path, and Open Graph fields derived from
// those. Defaults follow every change of the entity; events are applied
// only when their Version is newer than the one already applied, so
// redelivered and reordered events are harmless. Metadata an admin writes
// with Put wins over the defaults field by field; Delete drops it again.
// Content pages (kind "page") have no events: they exist by being written.
//
// An entity's path is its kind's prefix and its slug, e.g.
// /products/red-shoe. When the slug changes, the old path keeps pointing
// at the entity, and Resolve answers it with a permanent redirect to the
// current path (chains of renames collapse to one hop).
//
// An admin also keeps redirects of their own (PutRedirect,
// ListRedirects, DeleteRedirect): an address of a previous shop or a
// campaign path sent to a path of the shop or to an http(s) URL
// elsewhere, permanently (301) or temporarily (302). See redirects.go
// for their rules; in short, Resolve answers a path with, in order: the
// entity living there, the admin's redirect from it, the automatic
// redirect of an entity's old path, not found.
//
// Sitemap produces the sitemap of every published product, category,
// article and page (except those whose robots directives say noindex) in
// the sitemaps.org protocol: one urlset while it fits the configured limit
// of URLs and bytes, and otherwise a sitemap index (the default file,
// "sitemap.xml") listing the parts "sitemap-1.xml", "sitemap-2.xml", ...
// It is served from memory: built by one scan on the first request, kept
// up to date with the replica's own writes, and rebuilt in the background
// once older than Options.SitemapMaxAge, which bounds how late writes of
// other replicas show. A scan packs the files full; a change afterwards
// touches only the file its entity leaves and the one it enters (split in
// two when over a limit, merged with a neighbour when nearly empty), and
// only those are rendered again. The other files keep their entries,
// though their part numbers shift when a file before them splits or
// merges; until the next scan, the files may be fewer than full (a
// sitemap that would fit one file may take two).
//
// # Decoration, not routing
//
// The storefront must keep working when this service is down or slow: SEO
// metadata decorates pages, it never decides whether a page exists. The
// storefront calls Resolve and Get with a short deadline (say 100 ms) and
// on any error renders the page with metadata of its own (the entity's
// title) and no redirect; only the sitemap endpoints fail with the service.
// Drafts (unpublished products, unpublished or scheduled articles) are not
// found by this service except for admins, so their metadata does not
// leak.
//
// Put, Delete, PutRedirect and DeleteRedirect are applied at most once per request id (see
// internal/idem): a repeat within ten minutes gets the first outcome.
//
// # History
//
// History (admin only) answers who wrote what and when: the audit log of
// an entity's overrides (Kind HistoryOverride, id "<kind>:<entity id>",
// e.g. "page:about") or of an admin's redirect (Kind HistoryRedirect, id
// its From path). The log records the admin's writes (Put, Delete,
// PutRedirect, DeleteRedirect), each with its admin and the fields it
// changed, in the same write; the defaults that events bring are not
// overrides and record nothing. A deleted page's or redirect's log is
// kept, and a redirect written again from the same path carries on with
// it.
package seo

import (
	"context"
	"time"

	"github.com/shopbus/shopbus/shop"
)

// ServiceName is the name the service answers to on the bus, and the name
// of its event subscription.
const ServiceName = "seo"

// Bus method names.
const (
	MethodGet     = "seo.get"
	MethodResolve = "seo.resolve"
	MethodPut     = "seo.put"
	MethodDelete  = "seo.delete"
	MethodSitemap = "seo.sitemap"

	MethodListRedirects  = "seo.list_redirects"
	MethodPutRedirect    = "seo.put_redirect"
	MethodDeleteRedirect = "seo.delete_redirect"

	MethodHistory = "seo.history"
)

// The kinds of entity History knows (shop.HistoryRequest.Kind).
const (
	// HistoryOverride is the explicit metadata of an entity (Put and
	// Delete), the default kind: its id is "<kind>:<entity id>", e.g.
	// "product:42" or "page:about".
	HistoryOverride = "override"
	// HistoryRedirect is an admin's redirect: its id is its From path.
	HistoryRedirect = "redirect"
)

// Kind is the kind of entity metadata describes.
type Kind string

// The kinds of entity.
const (
	KindProduct  Kind = "product"
	KindCategory Kind = "category"
	KindArticle  Kind = "article"
	KindPage     Kind = "page"
)

// Limits on metadata.
const (
	MaxTitleLen       = 200  // characters
	MaxDescriptionLen = 500  // characters, for explicit descriptions
	DefaultDescLen    = 160  // characters, for descriptions derived from events
	MaxURLLen         = 2048 // bytes
	MaxPathLen        = 1024 // bytes
	MaxIDLen          = 128  // bytes
)

// Redirect statuses: Resolution.Status and Redirect.Status.
const (
	// StatusMovedPermanently is a permanent redirect (HTTP 301): every
	// automatic redirect, and an admin's by default.
	StatusMovedPermanently = 301
	// StatusFound is a temporary redirect (HTTP 302), which browsers and
	// search engines do not remember: for campaign paths.
	StatusFound = 302
)

// Limits on the admin's redirects.
const (
	// DefaultRedirectPageSize is ListRedirects' page size when the
	// request gives none; MaxRedirectPageSize the largest it takes.
	DefaultRedirectPageSize = 50
	MaxRedirectPageSize     = 500
	// MaxRedirectHops bounds how many redirects PutRedirect follows from
	// its target to collapse a chain (see redirects.go).
	MaxRedirectHops = 8
)

// OpenGraph holds the Open Graph fields (og:title, og:description,
// og:type, og:url, og:image).
type OpenGraph struct {
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	Type        string `json:"type,omitempty"`
	URL         string `json:"url,omitempty"`
	Image       string `json:"image,omitempty"`
}

// Metadata is the metadata of one entity as the storefront uses it: the
// explicitly written fields where there are any, the defaults elsewhere.
type Metadata struct {
	Kind     Kind   `json:"kind"`
	EntityID string `json:"entity_id"`
	// Path is the entity's current path ("" while unknown, e.g. for a
	// product whose events have not arrived yet).
	Path        string `json:"path,omitempty"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	// Canonical is an absolute URL when the service has a base URL, and
	// otherwise the path.
	Canonical string    `json:"canonical,omitempty"`
	Robots    string    `json:"robots"`
	OpenGraph OpenGraph `json:"open_graph"`
	// Explicit names the fields written with Put ("title", "description",
	// "canonical", "robots", "og.title", "og.description", "og.type",
	// "og.url", "og.image"); the others are defaults.
	Explicit []string `json:"explicit,omitempty"`
	// Published reports whether the entity is visible to the public.
	Published bool      `json:"published"`
	UpdatedAt time.Time `json:"updated_at"`
}

// GetRequest asks for the metadata of an entity.
type GetRequest struct {
	Kind     Kind   `json:"kind"`
	EntityID string `json:"entity_id"`
}

// ResolveRequest asks what answers a storefront path. The query and
// fragment, and a trailing slash, are ignored.
type ResolveRequest struct {
	Path string `json:"path"`
}

// Resolution is what answers a path: the metadata of the entity living
// there, or a redirect: an admin's (see PutRedirect), or the permanent one
// from an entity's old path to its current path.
type Resolution struct {
	Metadata *Metadata `json:"metadata,omitempty"`
	// Redirect is where to redirect to: a path ("/products/new"), which an
	// admin's redirect may give a query ("/search?q=red"), or, for an
	// admin's redirect, an absolute http(s) URL of another site.
	Redirect string `json:"redirect,omitempty"`
	// Status is the redirect's HTTP status: StatusMovedPermanently (301)
	// or, for an admin's temporary redirect, StatusFound (302).
	Status int `json:"status,omitempty"`
}

// PutRequest writes explicit metadata for an entity; it replaces what was
// written before. Empty fields fall back to the defaults.
type PutRequest struct {
	Kind     Kind   `json:"kind"`
	EntityID string `json:"entity_id"`
	// Path is required for the first Put of a page, optional later (a new
	// path leaves a redirect from the old one), and not allowed for other
	// kinds, whose path follows their slug.
	Path        string `json:"path,omitempty"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	// Canonical is an http(s) URL or an absolute path.
	Canonical string `json:"canonical,omitempty"`
	// Robots is a comma-separated list of directives such as "noindex,
	// follow" or "max-snippet:50".
	Robots    string    `json:"robots,omitempty"`
	OpenGraph OpenGraph `json:"open_graph,omitzero"`
}

// DeleteRequest drops the explicit metadata of an entity (which goes back
// to its defaults), or deletes a page.
type DeleteRequest struct {
	Kind     Kind   `json:"kind"`
	EntityID string `json:"entity_id"`
}

// Deleted is the answer to Delete.
type Deleted struct {
	Kind     Kind   `json:"kind"`
	EntityID string `json:"entity_id"`
}

// SitemapRequest asks for one sitemap file: "" or "sitemap.xml" for the
// main file (a urlset, or a sitemap index when the URLs need several
// files), "sitemap-N.xml" for part N (from 1).
type SitemapRequest struct {
	Name string `json:"name,omitempty"`
}

// SitemapFile is one sitemap file.
type SitemapFile struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type"` // "application/xml"
	// Index reports whether Body is a sitemap index.
	Index bool `json:"index"`
	// Parts is the number of urlset files ("sitemap-N.xml") there are.
	Parts int `json:"parts"`
	// URLs is the number of URLs in this file (or, for an index, in all parts).
	URLs int `json:"urls"`
	// Body is the XML document (base64 in JSON).
	Body []byte `json:"body"`
}

// Redirect is an admin's redirect from one path of the shop.
type Redirect struct {
	// From is the path redirected, normalised: percent-escapes decoded,
	// no trailing slash, no "." or ".." segments or doubled slashes.
	From string `json:"from"`
	// To is where it goes: a path of the shop, with an optional query,
	// or an absolute http(s) URL.
	To string `json:"to"`
	// Status is StatusMovedPermanently (301) or StatusFound (302).
	Status    int       `json:"status"`
	UpdatedAt time.Time `json:"updated_at"`
}

// PutRedirectRequest adds an admin's redirect, or replaces the one from
// the same path.
type PutRedirectRequest struct {
	// From is a path of the shop ("/old-shop/item/12"): no query or
	// fragment, at most MaxPathLen bytes, UTF-8 allowed; not one of the
	// storefront's own addresses ("/", "/admin…", "/api…", "/static…",
	// "/media…", "/cart…", "/checkout…", …), which a redirect could never
	// take over.
	From string `json:"from"`
	// To is a path of the shop with an optional query ("/summer?utm=x"),
	// or an absolute http(s) URL of another site (at most MaxURLLen
	// bytes); it must lead somewhere other than From.
	To string `json:"to"`
	// Status is StatusMovedPermanently (the default when 0) or
	// StatusFound.
	Status int `json:"status,omitempty"`
}

// ListRedirectsRequest asks for a page of the admin's redirects, sorted
// by From (bytewise).
type ListRedirectsRequest struct {
	// Prefix, when set, keeps the redirects whose From starts with it.
	Prefix string `json:"prefix,omitempty"`
	// Limit is the page size: DefaultRedirectPageSize when 0, at most
	// MaxRedirectPageSize.
	Limit int `json:"limit,omitempty"`
	// Cursor is the NextCursor of the previous page ("" starts at the
	// beginning); it is only valid with the same Prefix.
	Cursor string `json:"cursor,omitempty"`
}

// RedirectPage is a page of redirects.
type RedirectPage struct {
	Redirects []Redirect `json:"redirects"`
	// NextCursor continues with the next page; "" on the last one.
	NextCursor string `json:"next_cursor,omitempty"`
}

// DeleteRedirectRequest removes the admin's redirect from a path.
type DeleteRedirectRequest struct {
	From string `json:"from"`
}

// RedirectDeleted is the answer to DeleteRedirect: the normalised path
// whose redirect was removed.
type RedirectDeleted struct {
	From string `json:"from"`
}

// Service is the SEO contract. *Server (the MongoDB implementation) and
// *Client (over the bus) implement it.
type Service interface {
	// Get returns an entity's metadata.
	Get(ctx context.Context, r GetRequest) (Metadata, error)
	// Resolve returns the metadata of the entity at a path, or a redirect:
	// an admin's from the path (see PutRedirect), else a permanent one
	// when the path is an entity's old one.
	Resolve(ctx context.Context, r ResolveRequest) (Resolution, error)
	// Put writes explicit metadata. Admin only.
	Put(ctx context.Context, r PutRequest) (Metadata, error)
	// Delete drops explicit metadata, or a page. Admin only.
	Delete(ctx context.Context, r DeleteRequest) (Deleted, error)
	// Sitemap returns one file of the sitemap.
	Sitemap(ctx context.Context, r SitemapRequest) (SitemapFile, error)
	// ListRedirects returns a page of the admin's redirects. Admin only.
	ListRedirects(ctx context.Context, r ListRedirectsRequest) (RedirectPage, error)
	// PutRedirect adds or replaces the admin's redirect from a path. Admin
	// only.
	PutRedirect(ctx context.Context, r PutRedirectRequest) (Redirect, error)
	// DeleteRedirect removes the admin's redirect from a path. Admin only.
	DeleteRedirect(ctx context.Context, r DeleteRedirectRequest) (RedirectDeleted, error)
	// History returns the audit log of an entity's overrides (Kind
	// HistoryOverride or empty, ID "<kind>:<entity id>") or of an admin's
	// redirect (Kind HistoryRedirect, ID its From path), newest first:
	// which admin wrote or dropped them, when, and which fields ("title",
	// "description", "canonical", "robots", "og_title", ..., a page's
	// "path"; a redirect's "to" and "status"). Admin only. It answers for
	// a deleted page or redirect too (Deleted set); changes the defaults
	// take from events are not recorded.
	History(ctx context.Context, r shop.HistoryRequest) (shop.History, error)
}
