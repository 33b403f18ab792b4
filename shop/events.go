package shop

import "time"

// Event routing keys: "<service>.<entity>.<verb>". Subscribers bind
// patterns such as "product.#" or "*.*.deleted".
const (
	EventProductCreated  = "product.product.created"
	EventProductUpdated  = "product.product.updated"
	EventProductDeleted  = "product.product.deleted"
	EventCategoryCreated = "category.category.created"
	EventCategoryUpdated = "category.category.updated"
	EventCategoryDeleted = "category.category.deleted"
	EventArticleCreated  = "article.article.created"
	EventArticleUpdated  = "article.article.updated"
	EventArticleDeleted  = "article.article.deleted"
	EventStockChanged    = "inventory.stock.changed"
	EventOrderPlaced     = "order.order.placed"
	EventOrderConfirmed  = "order.order.confirmed"
	EventOrderFailed     = "order.order.failed"
	EventOrderCancelled  = "order.order.cancelled"
	EventOrderShipped    = "order.order.shipped"
)

// Product statuses.
const (
	StatusDraft     = "draft"
	StatusPublished = "published"
)

// ProductChanged is the body of every product.product.* event: the whole
// product as it is now (for deleted: as it was), so that read models never
// need to call back. Version grows with every change of the product; a
// subscriber applies an event only if its Version is newer than what it
// holds, which makes handling idempotent and order-proof.
type ProductChanged struct {
	Product  ProductSnapshot `json:"product"`
	OldSlug  string          `json:"old_slug,omitempty"` // set when the slug changed
	Deleted  bool            `json:"deleted,omitempty"`
	Occurred time.Time       `json:"occurred"`
}

// ProductSnapshot is what subscribers learn about a product.
type ProductSnapshot struct {
	ID          string            `json:"id"`
	Slug        string            `json:"slug"`
	Title       string            `json:"title"`
	Description string            `json:"description"`
	Status      string            `json:"status"`
	SKU         string            `json:"sku,omitempty"` // sold under this SKU when it has no variants
	Price       Money             `json:"price"`
	CategoryIDs []string          `json:"category_ids"`
	Attributes  map[string]any    `json:"attributes,omitempty"` // code -> string, float64 or bool
	Variants    []VariantSnapshot `json:"variants,omitempty"`
	Images      []string          `json:"images,omitempty"`
	Version     int64             `json:"version"`
	UpdatedAt   time.Time         `json:"updated_at"`
}

// VariantSnapshot is one variant of a product.
type VariantSnapshot struct {
	ID      string            `json:"id"`
	SKU     string            `json:"sku"`
	Options map[string]string `json:"options"` // option group code -> value code
	Price   Money             `json:"price"`
}

// CategoryChanged is the body of every category.category.* event.
type CategoryChanged struct {
	Category CategorySnapshot `json:"category"`
	OldSlug  string           `json:"old_slug,omitempty"`
	Deleted  bool             `json:"deleted,omitempty"`
	Occurred time.Time        `json:"occurred"`
}

// CategorySnapshot is what subscribers learn about a category. Ancestors
// lists the ids from the root down to the parent, so a read model can
// answer "is X under Y" without calling back.
type CategorySnapshot struct {
	ID          string   `json:"id"`
	Slug        string   `json:"slug"`
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	ParentID    string   `json:"parent_id,omitempty"`
	Ancestors   []string `json:"ancestors,omitempty"`
	Version     int64    `json:"version"`
}

// ArticleChanged is the body of every article.article.* event.
type ArticleChanged struct {
	Article  ArticleSnapshot `json:"article"`
	OldSlug  string          `json:"old_slug,omitempty"`
	Deleted  bool            `json:"deleted,omitempty"`
	Occurred time.Time       `json:"occurred"`
}

// ArticleSnapshot is what subscribers learn about an article.
type ArticleSnapshot struct {
	ID          string    `json:"id"`
	Slug        string    `json:"slug"`
	Title       string    `json:"title"`
	Excerpt     string    `json:"excerpt"`
	Status      string    `json:"status"`
	Tags        []string  `json:"tags,omitempty"`
	CoverImage  string    `json:"cover_image,omitempty"`
	PublishedAt time.Time `json:"published_at,omitzero"`
	Version     int64     `json:"version"`
}

// StockChanged is the body of inventory.stock.changed: a SKU's stock as
// it is now. Version grows with every change of the SKU's stock; a
// subscriber applies an event only if it is newer than what it holds (the
// service may skip versions: it publishes only the newest).
type StockChanged struct {
	SKU       string    `json:"sku"`
	Available int64     `json:"available"`
	OnHand    int64     `json:"on_hand"`
	Version   int64     `json:"version"`
	Occurred  time.Time `json:"occurred"`
}

// OrderChanged is the body of every order.order.* event: the order as it
// is after the change. Version grows with every change of the order; the
// events of one order carry distinct ids (subscribers deduplicate by id).
type OrderChanged struct {
	OrderID string `json:"order_id"`
	UserID  string `json:"user_id"`
	// Status is the order's status after the change (see shop/order).
	Status string `json:"status"`
	// Reason says why an order failed or was cancelled.
	Reason   string              `json:"reason,omitempty"`
	Lines    []OrderLineSnapshot `json:"lines"`
	Total    Money               `json:"total"`
	Version  int64               `json:"version"`
	Occurred time.Time           `json:"occurred"`
}

// OrderLineSnapshot is one line of an order as events carry it.
type OrderLineSnapshot struct {
	ProductID string `json:"product_id"`
	VariantID string `json:"variant_id,omitempty"`
	SKU       string `json:"sku"`
	Quantity  int64  `json:"quantity"`
}
