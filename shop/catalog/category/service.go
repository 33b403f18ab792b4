// Package category is the category service: a forest of category trees
// with unique slugs, breadcrumbs (ancestors) and events that let other
// services keep read models of the tree.
//
// Every category stores its ancestors (ids from the root down to its
// parent), so subtree queries and breadcrumbs need no recursion; a move
// rewrites the ancestors of the whole moved subtree and announces each
// rewritten category.
//
// The category service cannot read the product database. To refuse
// deleting a category that still holds products it keeps its own read model
// of which product is filed where, fed by the product.product.* events (see
// Subscribe). That model is eventually consistent: a product created an
// instant before the delete may not be counted yet; the product service
// closes that gap by re-filing the products of a deleted category under its
// parent when it sees category.category.deleted.
//
// Writes require an admin (shop.RequireAdmin); reads are public.
package category

import (
	"context"
	"time"

	"github.com/shopbus/shopbus/shop"
)

// ServiceName is the service's name on the bus: the prefix of its methods
// and the name of its event subscription.
const ServiceName = "category"

// Method names on the bus.
const (
	MethodCreate       = "category.create"
	MethodCreateMany   = "category.create_many"
	MethodGet          = "category.get"
	MethodGetMany      = "category.get_many"
	MethodGetBySlug    = "category.get_by_slug"
	MethodHoldsSlug    = "category.holds_slug"
	MethodHoldsSlugs   = "category.holds_slugs"
	MethodUpdate       = "category.update"
	MethodMove         = "category.move"
	MethodDelete       = "category.delete"
	MethodListChildren = "category.list_children"
	MethodTree         = "category.tree"
	MethodAncestors    = "category.ancestors"
	MethodHistory      = "category.history"
)

// MaxDepth is the deepest a category may sit: a root has depth 1.
const MaxDepth = 16

// Category is one node of a category tree.
type Category struct {
	ID          string `json:"id"`
	Slug        string `json:"slug"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// ParentID is empty for a root.
	ParentID string `json:"parent_id,omitempty"`
	// Ancestors lists the ids from the root down to the parent.
	Ancestors []string `json:"ancestors"`
	// Position orders siblings (ascending, then by name).
	Position int `json:"position"`
	// Version grows by one with every change.
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Snapshot returns c as the events carry it.
func (c Category) Snapshot() shop.CategorySnapshot {
	return shop.CategorySnapshot{
		ID:          c.ID,
		Slug:        c.Slug,
		Name:        c.Name,
		Description: c.Description,
		ParentID:    c.ParentID,
		Ancestors:   append([]string(nil), c.Ancestors...),
		Version:     c.Version,
	}
}

// Node is a category with its subtree.
type Node struct {
	Category
	Children []Node `json:"children,omitempty"`
}

// CreateRequest creates a category.
type CreateRequest struct {
	// Name is required, at most 200 bytes.
	Name string `json:"name"`
	// Slug is optional: when empty it is generated from Name, with a
	// numeric suffix if taken ("shoes-2"); a given slug that is taken is a
	// conflict.
	Slug        string `json:"slug,omitempty"`
	Description string `json:"description,omitempty"`
	// ParentID is the parent's id; empty creates a root.
	ParentID string `json:"parent_id,omitempty"`
	Position int    `json:"position,omitempty"`
}

// MaxCreateMany is the most categories one CreateMany makes.
const MaxCreateMany = 100

// CreateManyRequest creates several categories in one request, each as
// CreateRequest would. Their parents must exist before the request: make
// a tree a level at a time.
type CreateManyRequest struct {
	Items []CreateRequest `json:"items"`
}

// CreateResult is what CreateMany did with one category: the category
// made, or why not (invalid, conflict).
type CreateResult struct {
	Category *Category   `json:"category,omitempty"`
	Error    *shop.Error `json:"error,omitempty"`
}

// GetRequest names a category by id.
type GetRequest struct {
	ID string `json:"id"`
}

// MaxGetMany is the most categories one GetMany names.
const MaxGetMany = 100

// GetManyRequest names up to MaxGetMany categories by id.
type GetManyRequest struct {
	IDs []string `json:"ids"`
}

// GetBySlugRequest names a category by slug.
type GetBySlugRequest struct {
	Slug string `json:"slug"`
}

// UpdateRequest changes the fields that are set (rename, new slug, ...).
// The slug does not follow a rename: set Slug to change it.
type UpdateRequest struct {
	ID          string  `json:"id"`
	Name        *string `json:"name,omitempty"`
	Slug        *string `json:"slug,omitempty"`
	Description *string `json:"description,omitempty"`
	Position    *int    `json:"position,omitempty"`
}

// MoveRequest moves a category, with its subtree, under a new parent.
type MoveRequest struct {
	ID string `json:"id"`
	// ParentID is the new parent; empty makes the category a root.
	ParentID string `json:"parent_id,omitempty"`
}

// DeleteRequest deletes a category.
type DeleteRequest struct {
	ID string `json:"id"`
	// Reparent allows deleting a category that has children or products:
	// its children move to its parent (becoming roots if it had none), and
	// the product service re-files its products under that parent when it
	// receives the deleted event. Without it such a delete is a conflict.
	Reparent bool `json:"reparent,omitempty"`
}

// ListChildrenRequest lists the children of a category.
type ListChildrenRequest struct {
	// ParentID is the parent; empty lists the roots.
	ParentID string `json:"parent_id,omitempty"`
}

// TreeRequest asks for a whole tree.
type TreeRequest struct {
	// RootID is the root of the subtree; empty returns every tree.
	RootID string `json:"root_id,omitempty"`
}

// AncestorsRequest asks for the breadcrumbs of a category.
type AncestorsRequest struct {
	ID string `json:"id"`
}

// Service is the category contract; *Server and *Client implement it.
type Service interface {
	// SlugHolder reports whether a category holds a slug (see
	// shop.SlugSpace); anyone may ask.
	shop.SlugHolder
	// Create adds a category (admin only). An unknown parent is invalid,
	// a taken explicit slug a conflict.
	Create(ctx context.Context, r CreateRequest) (Category, error)
	// CreateMany makes up to MaxCreateMany categories (admin only), each
	// as Create would, with one result per item in order: an item that is
	// invalid or in conflict gets its error and the others are made. A
	// failure worth retrying fails the call: repeat it with the same
	// request id, which makes the rest and returns those made before.
	CreateMany(ctx context.Context, r CreateManyRequest) ([]CreateResult, error)
	// Get returns a category by id.
	Get(ctx context.Context, r GetRequest) (Category, error)
	// GetMany returns the categories of up to MaxGetMany ids (more is
	// invalid) with one read of the store: those that exist, in the order
	// named, each once. An unknown or malformed id is left out.
	GetMany(ctx context.Context, r GetManyRequest) ([]Category, error)
	// GetBySlug returns a category by slug.
	GetBySlug(ctx context.Context, r GetBySlugRequest) (Category, error)
	// Update renames a category or changes its slug, description or
	// position (admin only).
	Update(ctx context.Context, r UpdateRequest) (Category, error)
	// Move puts a category and its subtree under another parent (admin
	// only); a move under itself or its own descendant is invalid.
	Move(ctx context.Context, r MoveRequest) (Category, error)
	// Delete removes a category (admin only) and returns it as it was. A
	// category with children or products is a conflict unless Reparent.
	Delete(ctx context.Context, r DeleteRequest) (Category, error)
	// ListChildren returns the children of a category (or the roots),
	// ordered by position then name.
	ListChildren(ctx context.Context, r ListChildrenRequest) ([]Category, error)
	// Tree returns a subtree (or every tree) with children ordered as
	// ListChildren orders them.
	Tree(ctx context.Context, r TreeRequest) ([]Node, error)
	// Ancestors returns the breadcrumbs of a category: its ancestors from
	// the root down to its parent (empty for a root).
	Ancestors(ctx context.Context, r AncestorsRequest) ([]Category, error)
	// History returns a category's audit log, newest first (admin only):
	// who created, changed, moved or deleted it, when, and which fields.
	// A subcategory whose ancestors a move or a delete rewrote shows that
	// method too. It answers for a deleted category as well.
	History(ctx context.Context, r shop.HistoryRequest) (shop.History, error)
}
