// Package cart is the shopping cart service.
//
// A cart belongs either to a user, identified by the session token the
// call carries (shop.WithToken), or to a guest, identified by a random,
// unguessable cart id that the service returns when a guest adds a first
// item. Each user has one cart; after logging in, a shop calls Merge with
// the guest cart id and the user's token, and the guest's lines are added
// to the user's cart. Only a cart's owner may read or change it: a user
// only their own cart, a caller without a token only guest carts whose id
// they hold.
//
// Adding an item asks the product service (over the bus) for the product
// and snapshots title, SKU, option values and unit price on the line.
// Later product.product.* events keep the snapshots current: a new price
// is applied and flagged (PriceChanged, with the price the customer saw
// before), and a deleted or unpublished product or variant marks the line
// Unavailable. Totals are sums per currency of the available lines.
//
// Each cart is one document with a version; every change rewrites it with
// a compare-and-set on the version and retries on a conflict, so
// concurrent changes never lose each other.
package cart

import (
	"context"
	"time"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/product"
)

// ServiceName is the service's name on the bus: the prefix of its methods
// and the name of its event subscription.
const ServiceName = "cart"

// Method names on the bus.
const (
	MethodGet        = "cart.get"
	MethodAddItem    = "cart.add_item"
	MethodUpdateItem = "cart.update_item"
	MethodRemoveItem = "cart.remove_item"
	MethodClear      = "cart.clear"
	MethodMerge      = "cart.merge"
)

// Service is the cart contract. *Server (the MongoDB implementation) and
// *Client (the bus client) both satisfy it.
//
// Every method names the cart by the caller's token or, for guests, by
// CartID (see the package documentation) and returns the cart as it is
// after the call. A caller with a token may leave CartID empty or give its
// own cart's id; any other id is forbidden. An invalid or expired token is
// unauthenticated, never silently treated as a guest.
type Service interface {
	// Get returns the cart. A user who has no cart yet gets an empty one;
	// an unknown or expired guest cart is not_found.
	Get(ctx context.Context, r CartRequest) (Cart, error)

	// AddItem adds Quantity of a product (and variant, which is required
	// when the product has variants) to the cart. A guest without a
	// CartID gets a new cart, whose ID the result carries. Adding a line
	// the cart already holds adds to its quantity, up to the cap. An
	// unknown or unpublished product or variant is not_found.
	AddItem(ctx context.Context, r AddItemRequest) (Cart, error)

	// UpdateItem sets the quantity of a line (1 to the cap). A line the
	// cart does not hold is not_found.
	UpdateItem(ctx context.Context, r UpdateItemRequest) (Cart, error)

	// RemoveItem removes a line. A line the cart does not hold is
	// not_found.
	RemoveItem(ctx context.Context, r RemoveItemRequest) (Cart, error)

	// Clear removes every line.
	Clear(ctx context.Context, r CartRequest) (Cart, error)

	// Merge adds the lines of the guest cart GuestCartID to the caller's
	// cart (the caller needs a token), quantities adding up to the cap,
	// and deletes the guest cart. Merging the same guest cart again (a
	// retry) adds nothing twice.
	Merge(ctx context.Context, r MergeRequest) (Cart, error)
}

// Cart is a shopping cart.
type Cart struct {
	// ID names the cart: guests pass it back as CartID.
	ID string `json:"id"`
	// UserID is the owner, or empty for a guest cart.
	UserID string `json:"user_id,omitempty"`
	// Lines are in the order they were first added.
	Lines []Line `json:"lines"`
	// Totals sums the subtotals of the available lines per currency.
	Totals shop.Totals `json:"totals"`
	// Version grows with every change.
	Version   int64     `json:"version"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	// ExpiresAt is when an untouched guest cart is forgotten; zero for a
	// user's cart.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// Line is one product (and variant) in a cart, with what the product
// looked like when it was added or last changed.
type Line struct {
	ProductID string `json:"product_id"`
	VariantID string `json:"variant_id,omitempty"`
	Title     string `json:"title"`
	// Slug is the product's slug, to link to its page (empty on lines
	// stored before slugs were kept).
	Slug      string            `json:"slug,omitempty"`
	SKU       string            `json:"sku,omitempty"`
	Options   map[string]string `json:"options,omitempty"`
	UnitPrice shop.Money        `json:"unit_price"`
	Quantity  int               `json:"quantity"`
	// Subtotal is UnitPrice times Quantity.
	Subtotal shop.Money `json:"subtotal"`
	// PriceChanged says the product's price changed after the customer
	// last added or changed this line; PreviousPrice is the price they saw
	// then. Both clear when the customer adds to or updates the line.
	PriceChanged  bool        `json:"price_changed,omitempty"`
	PreviousPrice *shop.Money `json:"previous_price,omitempty"`
	// Unavailable says the product or variant was deleted or unpublished.
	// The line stays (so the customer sees what happened) but counts in
	// no total.
	Unavailable bool      `json:"unavailable,omitempty"`
	AddedAt     time.Time `json:"added_at"`
}

// CartRequest names a cart: the caller's (with a token) or a guest cart.
type CartRequest struct {
	CartID string `json:"cart_id,omitempty"`
}

// AddItemRequest adds a product to a cart.
type AddItemRequest struct {
	CartID    string `json:"cart_id,omitempty"`
	ProductID string `json:"product_id"`
	VariantID string `json:"variant_id,omitempty"`
	Quantity  int    `json:"quantity"`
}

// UpdateItemRequest sets the quantity of a line.
type UpdateItemRequest struct {
	CartID    string `json:"cart_id,omitempty"`
	ProductID string `json:"product_id"`
	VariantID string `json:"variant_id,omitempty"`
	Quantity  int    `json:"quantity"`
}

// RemoveItemRequest removes a line.
type RemoveItemRequest struct {
	CartID    string `json:"cart_id,omitempty"`
	ProductID string `json:"product_id"`
	VariantID string `json:"variant_id,omitempty"`
}

// MergeRequest names the guest cart to merge into the caller's cart.
type MergeRequest struct {
	GuestCartID string `json:"guest_cart_id"`
}

// Products is what the cart needs from the product service: a product as
// it is now (status, title, SKU, price and variants), or a not_found
// error. The product service's bus client, product.NewClient(bus),
// is one.
type Products interface {
	Get(ctx context.Context, r product.GetRequest) (product.Product, error)
}

var (
	_ Service = (*Server)(nil)
	_ Service = (*Client)(nil)
)
