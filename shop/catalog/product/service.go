// Package product is the product service: products with a title, a unique
// slug, a description, a status (draft or published), a price, categories,
// attribute values, variants and images, listed with cursor pagination.
//
// The product service checks what other services own over the bus: every
// category id with the category service (Get), attribute values with the
// attribute service (Validate), and it asks the option service to generate
// the variants for the chosen option groups (GenerateVariants); each
// variant has its own SKU and a price (the product's unless set per
// variant). Those dependencies are interfaces in Options; in production
// they are the services' bus clients.
//
// Every change is announced as product.product.created, .updated or
// .deleted with the full product (shop.ProductChanged), Version grown by
// one, and OldSlug on a slug change. Read models (the filter service) are
// rebuilt by paging through List with no status filter.
//
// The product service also subscribes to category.category.deleted (see
// Subscribe): products filed under a deleted category are re-filed under
// its parent, or just lose it when it was a root.
//
// Writes require an admin (shop.RequireAdmin); reads are public and show
// drafts too: a storefront lists with Status "published".
//
// # Images
//
// Product pictures are a capability of the product service, not a service
// of their own: a product owns its pictures, and no other service needs
// them. PutImage (product.put_image, admin only) stores an image given as
// JPEG, PNG or WebP bytes; Image (product.image, public) returns one of
// its variants. The bytes are never trusted: the type is sniffed from
// them, the pixel size read from the header and checked (ServiceLimits)
// before decoding, and three variants are made once and kept — thumb
// (ThumbSide), card (CardSide) and full (FullSide) — each re-encoded as
// JPEG (PNG when the image has transparency), which drops EXIF and all
// other metadata. Decoding uses golang.org/x/image/webp for WebP and
// golang.org/x/image/draw (Catmull-Rom) for scaling.
//
// A bus message carries at most 1 MiB of JSON, so an image crosses it
// base64-encoded in at most MaxImageBytes: a caller with a larger upload
// (the storefront's console accepts 10 MB) decodes, scales down to
// FullSide and re-encodes it first (DecodeImage, EncodeImage), and
// PutImage checks everything again.
//
// Images are stored in this service's own database, in the collection
// "images": one document per variant keyed by _id only, "<id>-<variant>",
// where id is the hex SHA-256 of the bytes put. So an image is content
// addressed: putting the same bytes again finds it by _id and makes
// nothing, and a variant's name always stands for the same bytes. Reads
// are lookups by _id, the only lookups the embedded store (FerretDB on
// SQLite) serves from an index: BenchmarkImageRead reads as fast with
// 10,000 images stored as with 100. A product refers to a stored image by
// its full variant's path, "/media/<id>-full.jpg" (ImagePath), in
// Product.Images, beside external http(s) URLs; a create or update that
// names a stored image that does not exist is invalid. The storefront
// serves the variants under /media/ (ImageVariantPath derives a variant's
// path from the reference). Images no product refers to any more are
// kept (there is no garbage collection yet).
package product

import (
	"context"
	"maps"
	"time"

	"github.com/shopbus/shopbus/shop"
)

// ServiceName is the service's name on the bus: the prefix of its methods
// and the name of its event subscription.
const ServiceName = "product"

// Method names on the bus.
const (
	MethodCreate = "product.create"
	// MethodCreateMany creates up to MaxCreateMany products in one request.
	MethodCreateMany = "product.create_many"
	MethodGet        = "product.get"
	MethodGetBySlug  = "product.get_by_slug"
	MethodHoldsSlug  = "product.holds_slug"
	MethodHoldsSlugs = "product.holds_slugs"
	MethodUpdate     = "product.update"
	MethodDelete     = "product.delete"
	MethodPublish    = "product.publish"
	MethodUnpublish  = "product.unpublish"
	MethodList       = "product.list"
	MethodPutImage   = "product.put_image"
	MethodImage      = "product.image"
	MethodHistory    = "product.history"
)

// ImageWorkers is how many images one Server decodes and encodes at once
// (PutImage): each takes memory in proportion to its pixels.
const ImageWorkers = 2

// Limits.
const (
	// MaxCategories is the most categories a product is filed under.
	MaxCategories = 20
	// MaxImages is the most images a product has.
	MaxImages = 20
	// MaxImageURLLen is the longest image URL.
	MaxImageURLLen = 2048
	// DefaultPageSize is the page size of List when Limit is 0.
	DefaultPageSize = 20
	// MaxPageSize is the largest page List returns.
	MaxPageSize = 200
	// MaxCreateMany is the most products one CreateMany makes.
	MaxCreateMany = 100
)

// Sort orders of List.
const (
	SortCreated = "created_at"
	SortTitle   = "title"
	SortPrice   = "price"
)

// Product is a product as the service shows it.
type Product struct {
	ID          string `json:"id"`
	Slug        string `json:"slug"`
	Title       string `json:"title"`
	Description string `json:"description"`
	// Status is shop.StatusDraft or shop.StatusPublished.
	Status string `json:"status"`
	// SKU is the product's SKU and the base of its variants' SKUs.
	SKU         string     `json:"sku"`
	Price       shop.Money `json:"price"`
	CategoryIDs []string   `json:"category_ids"`
	// Attributes maps attribute code to a string, float64 or bool.
	Attributes map[string]any `json:"attributes,omitempty"`
	// OptionGroups are the option groups the variants combine.
	OptionGroups []string `json:"option_groups,omitempty"`
	// OptionValues restricts option groups to some of their values.
	OptionValues map[string][]string `json:"option_values,omitempty"`
	Variants     []Variant           `json:"variants,omitempty"`
	Images       []string            `json:"images,omitempty"`
	// Version grows by one with every change.
	Version     int64     `json:"version"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	PublishedAt time.Time `json:"published_at,omitzero"`
}

// Variant is one option combination of a product.
type Variant struct {
	ID  string `json:"id"`
	SKU string `json:"sku"`
	// Options maps option group code to value code.
	Options map[string]string `json:"options"`
	// Price is what the variant costs: its own price, or the product's.
	Price shop.Money `json:"price"`
	// OwnPrice says that Price was set for this variant.
	OwnPrice bool `json:"own_price,omitempty"`
}

// Snapshot returns p as the events carry it.
func (p Product) Snapshot() shop.ProductSnapshot {
	s := shop.ProductSnapshot{
		ID:          p.ID,
		Slug:        p.Slug,
		SKU:         p.SKU,
		Title:       p.Title,
		Description: p.Description,
		Status:      p.Status,
		Price:       p.Price,
		CategoryIDs: append([]string{}, p.CategoryIDs...),
		Attributes:  maps.Clone(p.Attributes),
		Images:      append([]string(nil), p.Images...),
		Version:     p.Version,
		UpdatedAt:   p.UpdatedAt,
	}
	for _, v := range p.Variants {
		s.Variants = append(s.Variants, shop.VariantSnapshot{ID: v.ID, SKU: v.SKU, Options: maps.Clone(v.Options), Price: v.Price})
	}
	return s
}

// VariantPrice sets the price of the variant with the given options.
type VariantPrice struct {
	Options map[string]string `json:"options"`
	Price   shop.Money        `json:"price"`
}

// CreateRequest creates a product.
type CreateRequest struct {
	// Title is required, at most 200 bytes.
	Title string `json:"title"`
	// Slug is optional: generated from Title when empty (with a numeric
	// suffix if taken); a given slug that is taken is a conflict.
	Slug        string `json:"slug,omitempty"`
	Description string `json:"description,omitempty"`
	// Status is draft (the default) or published.
	Status string `json:"status,omitempty"`
	// SKU is optional: derived from the slug (upper-cased) when empty.
	SKU string `json:"sku,omitempty"`
	// Price is required (its currency at least; the amount may be 0).
	Price shop.Money `json:"price"`
	// CategoryIDs must name existing categories.
	CategoryIDs []string `json:"category_ids,omitempty"`
	// Attributes must satisfy the attribute definitions.
	Attributes map[string]any `json:"attributes,omitempty"`
	// OptionGroups, when set, make the option service generate variants.
	OptionGroups []string `json:"option_groups,omitempty"`
	// OptionValues optionally restricts groups to some value codes.
	OptionValues map[string][]string `json:"option_values,omitempty"`
	// VariantPrices give some variants a price of their own.
	VariantPrices []VariantPrice `json:"variant_prices,omitempty"`
	// Images are http or https URLs, or paths of stored images
	// (Image.Path, "/media/<id>-full.jpg"), which must exist.
	Images []string `json:"images,omitempty"`
}

// CreateManyRequest creates several products in one request.
type CreateManyRequest struct {
	Items []CreateRequest `json:"items"`
}

// CreateResult is what CreateMany did with one product: the product made,
// or Error saying why not (invalid, or a conflict: a taken slug).
type CreateResult struct {
	Product *Product    `json:"product,omitempty"`
	Error   *shop.Error `json:"error,omitempty"`
}

// UpdateRequest changes the fields that are set; a set slice or map
// replaces the whole value. Changing OptionGroups, OptionValues or SKU
// regenerates the variants (those whose options survive keep their id);
// an empty OptionGroups removes them. VariantPrices, when set, replaces
// every variant's own price.
type UpdateRequest struct {
	ID            string               `json:"id"`
	Title         *string              `json:"title,omitempty"`
	Slug          *string              `json:"slug,omitempty"`
	Description   *string              `json:"description,omitempty"`
	SKU           *string              `json:"sku,omitempty"`
	Price         *shop.Money          `json:"price,omitempty"`
	CategoryIDs   *[]string            `json:"category_ids,omitempty"`
	Attributes    *map[string]any      `json:"attributes,omitempty"`
	OptionGroups  *[]string            `json:"option_groups,omitempty"`
	OptionValues  *map[string][]string `json:"option_values,omitempty"`
	VariantPrices *[]VariantPrice      `json:"variant_prices,omitempty"`
	Images        *[]string            `json:"images,omitempty"`
}

// GetRequest names a product by id.
type GetRequest struct {
	ID string `json:"id"`
}

// GetBySlugRequest names a product by slug.
type GetBySlugRequest struct {
	Slug string `json:"slug"`
}

// ListRequest asks for one page of products.
type ListRequest struct {
	// Sort is SortCreated (the default), SortTitle (case-insensitive) or
	// SortPrice (by amount, whatever the currency); ties are broken by id.
	Sort string `json:"sort,omitempty"`
	// Desc reverses the order.
	Desc bool `json:"desc,omitempty"`
	// Limit is the page size: DefaultPageSize when 0, at most MaxPageSize.
	Limit int `json:"limit,omitempty"`
	// Cursor continues after the previous page (its NextCursor); it is
	// only valid with the same Sort, Desc and filters.
	Cursor string `json:"cursor,omitempty"`
	// Status keeps only products in that status; empty keeps all.
	Status string `json:"status,omitempty"`
	// CategoryID keeps only products filed directly under that category.
	CategoryID string `json:"category_id,omitempty"`
}

// Page is one page of products.
type Page struct {
	Items []Product `json:"items"`
	// NextCursor continues the listing; empty on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// Service is the product contract; *Server and *Client implement it.
type Service interface {
	// SlugHolder reports whether a product holds a slug (see
	// shop.SlugSpace); anyone may ask.
	shop.SlugHolder
	// Create adds a product (admin only). Unknown categories, bad
	// attribute values and bad variant choices are invalid, with field
	// errors; a taken explicit slug is a conflict.
	Create(ctx context.Context, r CreateRequest) (Product, error)
	// CreateMany makes up to MaxCreateMany products (admin only), each as
	// Create would, with the work shared (a bulk import, a seed): one
	// result per product, in order, with the product or why it was not
	// made. A failure worth retrying fails the whole call; its retry with
	// the same request id makes the rest and returns the products made
	// before as they are. The reply carries every product made, variants
	// included, and must fit in one bus message (1 MiB by default, see
	// transport.DefaultMaxMessageSize; a reply too large fails, the
	// products stay made): 25 products of a dozen variants take about
	// 80 KB.
	CreateMany(ctx context.Context, r CreateManyRequest) ([]CreateResult, error)
	// Get returns a product by id: what the cart needs (status, price,
	// variants) and everything else.
	Get(ctx context.Context, r GetRequest) (Product, error)
	// GetBySlug returns a product by slug.
	GetBySlug(ctx context.Context, r GetBySlugRequest) (Product, error)
	// Update changes a product (admin only), checked as Create checks.
	Update(ctx context.Context, r UpdateRequest) (Product, error)
	// Delete removes a product and its variants (admin only) and returns
	// it as it was.
	Delete(ctx context.Context, r GetRequest) (Product, error)
	// Publish sets the status to published (admin only).
	Publish(ctx context.Context, r GetRequest) (Product, error)
	// Unpublish sets the status back to draft (admin only).
	Unpublish(ctx context.Context, r GetRequest) (Product, error)
	// List returns one page of products.
	List(ctx context.Context, r ListRequest) (Page, error)
	// PutImage stores an image and its variants (admin only) and returns
	// it; the same bytes again return the same image. A body that is not
	// a JPEG, PNG or WebP image within ServiceLimits is invalid.
	PutImage(ctx context.Context, r PutImageRequest) (Image, error)
	// Image returns one variant of a stored image; anyone may ask.
	Image(ctx context.Context, r ImageRequest) (ImageData, error)
	// History returns a product's audit log, newest first (admin only):
	// who created, changed, published or deleted it, when, and which
	// fields. It answers for a deleted product too.
	History(ctx context.Context, r shop.HistoryRequest) (shop.History, error)
}
