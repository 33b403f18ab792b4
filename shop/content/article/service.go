// Package article is the shopbus article service: editorial content and
// blog posts.
//
// An article has a title, a unique slug (generated from the title when the
// writer gives none), a Markdown body, an excerpt, an author, tags, a cover
// image, a status (draft or published) and a publication time. Everybody
// may read published articles whose publication time has come: by slug, by
// id, or as a list filtered by tag and date, newest first, with cursor
// pagination. Drafts (and articles scheduled for later) are visible to
// admins only. Writes require an admin principal (the caller's session
// token travels in the context: shop.WithToken).
//
// Every change is announced as an article.article.created, .updated or
// .deleted event whose body is a shop.ArticleChanged. Events are recorded in
// the article's own document before they are published (a one-document
// outbox, internal/outbox), so a write whose publish fails is announced
// later by (*Server).RunRelay, which hosts run beside the service.
//
// Create, Update and Delete are applied at most once per request id (see
// internal/idem): a repeat within ten minutes gets the first outcome, and
// a created article's id derives from the request id, so that a create
// run again after a crash finds its article instead of making another.
//
// Bodies are stored as written. The storefront renders them with
// RenderHTML, a small Markdown renderer that escapes all HTML first and
// only lets through links to http, https and relative URLs, so stored
// content cannot inject script.
package article

import (
	"context"
	"time"

	"github.com/shopbus/shopbus/shop"
)

// ServiceName is the name the service answers to on the bus.
const ServiceName = "article"

// Bus method names.
const (
	MethodCreate     = "article.create"
	MethodUpdate     = "article.update"
	MethodDelete     = "article.delete"
	MethodGet        = "article.get"
	MethodGetBySlug  = "article.get_by_slug"
	MethodHoldsSlug  = "article.holds_slug"
	MethodHoldsSlugs = "article.holds_slugs"
	MethodList       = "article.list"
	MethodHistory    = "article.history"
)

// Article statuses (the same values as shop.StatusDraft and shop.StatusPublished).
const (
	StatusDraft     = "draft"
	StatusPublished = "published"
)

// Limits on what an article may hold.
const (
	MaxTitleLen   = 200             // characters
	MaxSlugLen    = shop.MaxSlugLen // bytes of UTF-8, shared with products and categories
	MaxBodyLen    = 200_000         // bytes
	MaxExcerptLen = 500             // characters
	MaxAuthorLen  = 100             // characters
	MaxTags       = 20
	MaxTagLen     = 50   // bytes, after normalisation
	MaxURLLen     = 2048 // bytes, for the cover image
	DefaultLimit  = 20   // articles per page when ListRequest.Limit is 0
	MaxLimit      = 100  // articles per page at most
)

// Article is one piece of editorial content.
type Article struct {
	ID      string `json:"id"`
	Slug    string `json:"slug"`
	Title   string `json:"title"`
	Body    string `json:"body"` // Markdown; render with RenderHTML
	Excerpt string `json:"excerpt,omitempty"`
	Author  string `json:"author,omitempty"`
	// Tags are normalised like slugs: lower case words joined by '-'.
	Tags       []string `json:"tags,omitempty"`
	CoverImage string   `json:"cover_image,omitempty"` // http(s) URL or absolute path
	Status     string   `json:"status"`                // StatusDraft or StatusPublished
	// PublishedAt is when the article is (or was first) published; a
	// published article with a future PublishedAt is scheduled and stays
	// invisible to the public until then.
	PublishedAt time.Time `json:"published_at,omitzero"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// Version grows by one with every change; pass it back in
	// UpdateRequest.Version or DeleteRequest.Version to detect concurrent edits.
	Version int64 `json:"version"`
}

// CreateRequest creates an article. Only Title is required.
type CreateRequest struct {
	Title string `json:"title"`
	// Slug is generated from Title when empty; a generated slug that is
	// taken gets a numeric suffix, a given one that is taken is a conflict.
	Slug       string   `json:"slug,omitempty"`
	Body       string   `json:"body,omitempty"`
	Excerpt    string   `json:"excerpt,omitempty"`
	Author     string   `json:"author,omitempty"`
	Tags       []string `json:"tags,omitempty"`
	CoverImage string   `json:"cover_image,omitempty"`
	// Status defaults to draft.
	Status string `json:"status,omitempty"`
	// PublishedAt defaults to the time the article is first published.
	PublishedAt time.Time `json:"published_at,omitzero"`
}

// UpdateRequest changes the fields that are set (non-nil) and leaves the
// others alone.
type UpdateRequest struct {
	ID string `json:"id"`
	// Version, when not zero, must equal the article's current version, or
	// the update fails with a conflict.
	Version    int64     `json:"version,omitempty"`
	Title      *string   `json:"title,omitempty"`
	Slug       *string   `json:"slug,omitempty"` // "" generates one from the title
	Body       *string   `json:"body,omitempty"`
	Excerpt    *string   `json:"excerpt,omitempty"`
	Author     *string   `json:"author,omitempty"`
	Tags       *[]string `json:"tags,omitempty"`
	CoverImage *string   `json:"cover_image,omitempty"`
	Status     *string   `json:"status,omitempty"`
	// PublishedAt sets the publication time; publishing an article that has
	// none sets it to now.
	PublishedAt *time.Time `json:"published_at,omitempty"`
}

// DeleteRequest deletes an article.
type DeleteRequest struct {
	ID string `json:"id"`
	// Version, when not zero, must equal the article's current version.
	Version int64 `json:"version,omitempty"`
}

// GetRequest asks for an article by id.
type GetRequest struct {
	ID string `json:"id"`
}

// GetBySlugRequest asks for an article by slug.
type GetBySlugRequest struct {
	Slug string `json:"slug"`
}

// ListRequest asks for a page of articles, newest first (by publication
// time, drafts by creation time).
type ListRequest struct {
	// Tag, when set, keeps only articles with that tag.
	Tag string `json:"tag,omitempty"`
	// Since and Until, when set, keep only articles dated at or after Since
	// and before Until.
	Since time.Time `json:"since,omitzero"`
	Until time.Time `json:"until,omitzero"`
	// Status is "" or StatusPublished for the public listing; StatusDraft
	// or "any" require an admin.
	Status string `json:"status,omitempty"`
	// Limit is the page size: DefaultLimit when 0, at most MaxLimit.
	Limit int `json:"limit,omitempty"`
	// Cursor is the NextCursor of the previous page; "" starts at the newest.
	Cursor string `json:"cursor,omitempty"`
}

// ListResult is one page of articles.
type ListResult struct {
	Articles []Article `json:"articles"`
	// NextCursor fetches the next page; "" when this is the last one.
	NextCursor string `json:"next_cursor,omitempty"`
}

// Service is the article contract. *Server (the MongoDB implementation)
// and *Client (over the bus) implement it.
type Service interface {
	// SlugHolder reports whether an article holds a slug (see
	// shop.SlugSpace); anyone may ask.
	shop.SlugHolder
	// Create stores a new article. Admin only.
	Create(ctx context.Context, r CreateRequest) (Article, error)
	// Update changes an article. Admin only.
	Update(ctx context.Context, r UpdateRequest) (Article, error)
	// Delete removes an article and frees its slug; it returns the article
	// as it was. Admin only.
	Delete(ctx context.Context, r DeleteRequest) (Article, error)
	// Get returns an article by id. Articles not yet published are not
	// found unless the caller is an admin.
	Get(ctx context.Context, r GetRequest) (Article, error)
	// GetBySlug returns an article by its current slug, with the same
	// visibility as Get.
	GetBySlug(ctx context.Context, r GetBySlugRequest) (Article, error)
	// List returns a page of articles, newest first.
	List(ctx context.Context, r ListRequest) (ListResult, error)
	// History returns an article's audit log, newest first (admin only):
	// who created, changed, published, scheduled or deleted it, when, and
	// which fields (publishing is an update of status and published_at).
	// A scheduled article reaching its time is no change. It answers for
	// a deleted article too.
	History(ctx context.Context, r shop.HistoryRequest) (shop.History, error)
}
