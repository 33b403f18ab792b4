// Package option is the option service: option groups such as Size (S, M,
// L) or Colour (red, blue) with their values, and the variants of products.
//
// The option service owns variant generation: for a product and chosen
// option groups, the cartesian product of the groups' values (or of a
// chosen subset) becomes the product's variants, each with a unique option
// combination and a SKU "<base>-<VALUE>-<VALUE>..." (value codes in group
// order, upper-cased). It stores the variants per product, which is how it
// knows that a value or group is in use: removing a value or deleting a
// group that some variant uses is a conflict. Variant SKUs are unique
// across all products; regenerating keeps the id of every variant whose
// combination survives.
//
// Writes require an admin (shop.RequireAdmin); reads are public, except
// an option group's audit log (see History), which only admins may read.
// The product service calls GenerateVariants (GenerateVariantsMany for
// several products at once) and DeleteVariants on behalf of the admin
// editing a product: the admin's token travels with the call.
package option

import (
	"context"
	"time"

	"github.com/shopbus/shopbus/shop"
)

// ServiceName is the service's name on the bus: the prefix of its methods.
const ServiceName = "option"

// Method names on the bus.
const (
	MethodCreateGroup      = "option.create_group"
	MethodGetGroup         = "option.get_group"
	MethodListGroups       = "option.list_groups"
	MethodUpdateGroup      = "option.update_group"
	MethodDeleteGroup      = "option.delete_group"
	MethodAddValue         = "option.add_value"
	MethodUpdateValue      = "option.update_value"
	MethodRemoveValue      = "option.remove_value"
	MethodGenerateVariants = "option.generate_variants"
	MethodAddVariant       = "option.add_variant"
	MethodRemoveVariant    = "option.remove_variant"
	MethodGetVariants      = "option.get_variants"
	MethodDeleteVariants   = "option.delete_variants"
	MethodHistory          = "option.history"

	// MethodGenerateVariantsMany generates the variants of several
	// products in one request.
	MethodGenerateVariantsMany = "option.generate_variants_many"
)

// KindGroup is the kind of entity whose audit log History reads: option
// groups (shop.HistoryRequest's Kind, empty or KindGroup). A product's
// variant set has no log here: the product service stores the variants
// with the product, whose own log records their changes.
const KindGroup = "group"

// Limits.
const (
	// DefaultMaxVariants caps the variants of one product unless
	// Options.MaxVariants says otherwise.
	DefaultMaxVariants = 1000
	// MaxGroupsPerProduct is the most option groups one product combines.
	MaxGroupsPerProduct = 8
	// MaxValuesPerGroup is the most values one option group has.
	MaxValuesPerGroup = 500
	// MaxSKUBaseLen is the longest SKU base.
	MaxSKUBaseLen = 48
	// MaxGenerateMany is the most products one GenerateVariantsMany call takes.
	MaxGenerateMany = 100
)

// Value is one value of an option group.
type Value struct {
	// Code identifies the value within its group, e.g. "m" or "red"; it
	// appears, upper-cased, in variant SKUs.
	Code string `json:"code"`
	// Label is the display text, e.g. "Medium".
	Label string `json:"label"`
}

// Group is an option group.
type Group struct {
	Code string `json:"code"`
	Name string `json:"name"`
	// Values in display order.
	Values []Value `json:"values"`
	// Position orders groups (ascending, then by name).
	Position  int       `json:"position"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Variant is one option combination of a product.
type Variant struct {
	ID  string `json:"id"`
	SKU string `json:"sku"`
	// Options maps option group code to value code.
	Options map[string]string `json:"options"`
}

// ProductVariants is the variant set of one product.
type ProductVariants struct {
	ProductID string `json:"product_id"`
	// SKU is the base of the variant SKUs.
	SKU string `json:"sku"`
	// Groups are the option group codes combined, in SKU order.
	Groups []string `json:"groups"`
	// Variants in generation order (the first group varies slowest).
	Variants  []Variant `json:"variants"`
	Version   int64     `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
}

// CreateGroupRequest defines an option group with its values.
type CreateGroupRequest struct {
	Code     string  `json:"code"`
	Name     string  `json:"name"`
	Values   []Value `json:"values,omitempty"`
	Position int     `json:"position,omitempty"`
}

// UpdateGroupRequest renames or moves a group; nil fields stay.
type UpdateGroupRequest struct {
	Code     string  `json:"code"`
	Name     *string `json:"name,omitempty"`
	Position *int    `json:"position,omitempty"`
}

// GroupRequest names an option group.
type GroupRequest struct {
	Code string `json:"code"`
}

// ListGroupsRequest lists the option groups. It has no fields yet.
type ListGroupsRequest struct{}

// ValueRequest adds a value to a group, relabels one, or (Label ignored)
// removes one.
type ValueRequest struct {
	Group string `json:"group"`
	Code  string `json:"code"`
	Label string `json:"label,omitempty"`
}

// GenerateRequest asks for the variants of a product.
type GenerateRequest struct {
	ProductID string `json:"product_id"`
	// SKU is the base of the variant SKUs: 1-48 of A-Z, 0-9, '-', '_', '.'.
	SKU string `json:"sku"`
	// Groups are the option group codes to combine, in SKU order.
	Groups []string `json:"groups"`
	// Values optionally restricts a group to some of its value codes
	// (group code → value codes); a group not listed uses all its values.
	Values map[string][]string `json:"values,omitempty"`
}

// GenerateManyRequest asks for the variants of several products at once.
type GenerateManyRequest struct {
	Items []GenerateRequest `json:"items"`
}

// GenerateResult is what GenerateVariantsMany did for one product: its
// variants, or Error saying why not (invalid or conflict: that product only).
type GenerateResult struct {
	ProductID string           `json:"product_id"`
	Variants  *ProductVariants `json:"variants,omitempty"`
	Error     *shop.Error      `json:"error,omitempty"`
}

// AddVariantRequest adds one variant with an explicit combination.
type AddVariantRequest struct {
	ProductID string `json:"product_id"`
	// SKU is the base SKU, needed only when the product has no variants yet.
	SKU string `json:"sku,omitempty"`
	// Options maps every group of the product's variants to a value code.
	Options map[string]string `json:"options"`
}

// RemoveVariantRequest removes one variant of a product.
type RemoveVariantRequest struct {
	ProductID string `json:"product_id"`
	VariantID string `json:"variant_id"`
}

// ProductRequest names a product.
type ProductRequest struct {
	ProductID string `json:"product_id"`
}

// Service is the option contract; *Server and *Client implement it.
type Service interface {
	// CreateGroup defines an option group (admin only); a taken code is a conflict.
	CreateGroup(ctx context.Context, r CreateGroupRequest) (Group, error)
	// GetGroup returns an option group.
	GetGroup(ctx context.Context, r GroupRequest) (Group, error)
	// ListGroups returns every option group, ordered by position then name.
	ListGroups(ctx context.Context, r ListGroupsRequest) ([]Group, error)
	// UpdateGroup renames or moves a group (admin only).
	UpdateGroup(ctx context.Context, r UpdateGroupRequest) (Group, error)
	// DeleteGroup removes a group (admin only); a group that variants use
	// is a conflict. It returns the group as it was.
	DeleteGroup(ctx context.Context, r GroupRequest) (Group, error)

	// AddValue appends a value to a group (admin only); a taken code is a conflict.
	AddValue(ctx context.Context, r ValueRequest) (Group, error)
	// UpdateValue changes the label of a value (admin only).
	UpdateValue(ctx context.Context, r ValueRequest) (Group, error)
	// RemoveValue removes a value from a group (admin only); a value that
	// variants use is a conflict.
	RemoveValue(ctx context.Context, r ValueRequest) (Group, error)

	// GenerateVariants replaces a product's variants with the cartesian
	// product of the chosen groups' values (admin only). More than the cap
	// (default 1,000) is invalid; a SKU another product holds is a conflict.
	// Variants whose combination was there before keep their id.
	GenerateVariants(ctx context.Context, r GenerateRequest) (ProductVariants, error)
	// GenerateVariantsMany is GenerateVariants for up to MaxGenerateMany
	// products at once (admin only), with one result per item in the
	// items' order. The request is checked whole first: no items, more
	// than MaxGenerateMany or a product named twice makes it invalid
	// ("items", "items[i].product_id") and nothing is written. Each item
	// is then generated as GenerateVariants would: an item that is
	// invalid or in conflict gets its Error and the others go on; a
	// failure worth retrying (unavailable, internal) fails the call, and a
	// retry with the same request id generates the same variants. It
	// costs a few writes for the whole batch where products have no
	// variants yet.
	GenerateVariantsMany(ctx context.Context, r GenerateManyRequest) ([]GenerateResult, error)
	// AddVariant adds one combination to a product (admin only); a
	// combination the product already has is a conflict.
	AddVariant(ctx context.Context, r AddVariantRequest) (ProductVariants, error)
	// RemoveVariant removes one variant of a product (admin only).
	RemoveVariant(ctx context.Context, r RemoveVariantRequest) (ProductVariants, error)
	// GetVariants returns a product's variants (not_found if it has none).
	GetVariants(ctx context.Context, r ProductRequest) (ProductVariants, error)
	// DeleteVariants removes all of a product's variants and frees their
	// SKUs (admin only). It returns the set as it was; deleting a set that
	// does not exist returns an empty set, so it can be retried.
	DeleteVariants(ctx context.Context, r ProductRequest) (ProductVariants, error)

	// History returns an option group's audit log, by code, newest first
	// (admin only): who created, renamed, moved or deleted it, or added,
	// relabelled or removed a value, when, and which fields. It answers for
	// a deleted group too.
	History(ctx context.Context, r shop.HistoryRequest) (shop.History, error)
}
