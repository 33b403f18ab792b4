// Package attribute is the attribute service: definitions of the
// attributes products carry (a code, a name and a type: text, number with
// an optional unit, boolean, or enum with its allowed values), attribute
// groups (ordered lists of attributes, such as "Dimensions") and the
// validation of attribute values given to products.
//
// Attribute codes are the keys of a product's attribute values, so they are
// restricted to a-z, 0-9, '_' and '-' (see kit.ValidCode). An attribute's
// type cannot change once created, since products may hold values of it;
// create a new attribute instead. The service does not track which products
// use an attribute: deleting one (or an enum value) leaves existing product
// values in place; the product service validates values only when a
// product's attributes are set, so they are rejected the next time that
// product's attributes change.
//
// Writes require an admin (shop.RequireAdmin); reads, Validate and
// ValidateMany are public.
// Each attribute and group keeps its audit log (see History), which only
// admins may read.
package attribute

import (
	"context"
	"time"

	"github.com/shopbus/shopbus/shop"
)

// ServiceName is the service's name on the bus: the prefix of its methods.
const ServiceName = "attribute"

// Method names on the bus.
const (
	MethodCreate      = "attribute.create"
	MethodGet         = "attribute.get"
	MethodList        = "attribute.list"
	MethodUpdate      = "attribute.update"
	MethodDelete      = "attribute.delete"
	MethodCreateGroup = "attribute.create_group"
	MethodGetGroup    = "attribute.get_group"
	MethodListGroups  = "attribute.list_groups"
	MethodUpdateGroup = "attribute.update_group"
	MethodDeleteGroup = "attribute.delete_group"
	MethodValidate    = "attribute.validate"
	MethodHistory     = "attribute.history"

	// MethodValidateMany checks the attribute values of several products
	// in one request.
	MethodValidateMany = "attribute.validate_many"
)

// The kinds of entity whose audit log History reads (shop.HistoryRequest's
// Kind; empty is KindAttribute).
const (
	KindAttribute = "attribute"
	KindGroup     = "group"
)

// Attribute types.
const (
	TypeText    = "text"
	TypeNumber  = "number"
	TypeBoolean = "boolean"
	TypeEnum    = "enum"
)

// Limits on definitions and values.
const (
	// MaxEnumValues is the most allowed values an enum attribute has.
	MaxEnumValues = 500
	// MaxTextValue is the longest text value, in bytes.
	MaxTextValue = 2000
	// MaxValues is the most attribute values one product carries.
	MaxValues = 200
	// MaxGroupSize is the most attributes in one group.
	MaxGroupSize = 200
	// MaxValidateMany is the most value maps one ValidateMany call checks.
	MaxValidateMany = 100
)

// Attribute is an attribute definition.
type Attribute struct {
	// Code identifies the attribute, e.g. "width"; it is the key of product values.
	Code string `json:"code"`
	// Name is the display name, e.g. "Width".
	Name string `json:"name"`
	// Type is one of TypeText, TypeNumber, TypeBoolean, TypeEnum.
	Type string `json:"type"`
	// Unit is the unit of a number attribute, e.g. "cm"; optional.
	Unit string `json:"unit,omitempty"`
	// Values are the allowed values of an enum attribute, in display order.
	Values    []string  `json:"values,omitempty"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Group is an ordered list of attributes shown together.
type Group struct {
	Code string `json:"code"`
	Name string `json:"name"`
	// Attributes are attribute codes in display order.
	Attributes []string `json:"attributes"`
	// Position orders groups (ascending, then by name).
	Position  int       `json:"position"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// CreateRequest defines an attribute.
type CreateRequest struct {
	Code   string   `json:"code"`
	Name   string   `json:"name"`
	Type   string   `json:"type"`
	Unit   string   `json:"unit,omitempty"`
	Values []string `json:"values,omitempty"`
}

// UpdateRequest changes the fields that are set. The type cannot change.
type UpdateRequest struct {
	Code   string    `json:"code"`
	Name   *string   `json:"name,omitempty"`
	Unit   *string   `json:"unit,omitempty"`
	Values *[]string `json:"values,omitempty"`
}

// CodeRequest names an attribute or a group by code.
type CodeRequest struct {
	Code string `json:"code"`
}

// ListRequest lists attributes or groups. It has no fields yet.
type ListRequest struct{}

// CreateGroupRequest defines an attribute group.
type CreateGroupRequest struct {
	Code       string   `json:"code"`
	Name       string   `json:"name"`
	Attributes []string `json:"attributes,omitempty"`
	Position   int      `json:"position,omitempty"`
}

// UpdateGroupRequest changes the fields that are set; Attributes replaces
// the whole ordered list.
type UpdateGroupRequest struct {
	Code       string    `json:"code"`
	Name       *string   `json:"name,omitempty"`
	Attributes *[]string `json:"attributes,omitempty"`
	Position   *int      `json:"position,omitempty"`
}

// ValidateRequest is Validate's request on the bus.
type ValidateRequest struct {
	Values map[string]any `json:"values"`
}

// ValidateResult is Validate's reply on the bus.
type ValidateResult struct {
	Valid bool `json:"valid"`
}

// ValidateManyRequest asks to check several products' attribute values at once.
type ValidateManyRequest struct {
	Items []map[string]any `json:"items"`
}

// Validation is the outcome for one item of ValidateMany: Error is nil
// when its values are valid, else what Validate would have returned for them.
type Validation struct {
	Error *shop.Error `json:"error,omitempty"`
}

// Service is the attribute contract; *Server and *Client implement it.
type Service interface {
	// Create defines an attribute (admin only); a taken code is a conflict.
	Create(ctx context.Context, r CreateRequest) (Attribute, error)
	// Get returns an attribute by code.
	Get(ctx context.Context, r CodeRequest) (Attribute, error)
	// List returns every attribute, ordered by code.
	List(ctx context.Context, r ListRequest) ([]Attribute, error)
	// Update changes an attribute's name, unit or enum values (admin only).
	Update(ctx context.Context, r UpdateRequest) (Attribute, error)
	// Delete removes an attribute, and removes it from every group (admin
	// only). It returns the attribute as it was.
	Delete(ctx context.Context, r CodeRequest) (Attribute, error)

	// CreateGroup defines a group (admin only); every listed attribute must exist.
	CreateGroup(ctx context.Context, r CreateGroupRequest) (Group, error)
	// GetGroup returns a group by code.
	GetGroup(ctx context.Context, r CodeRequest) (Group, error)
	// ListGroups returns every group, ordered by position then name.
	ListGroups(ctx context.Context, r ListRequest) ([]Group, error)
	// UpdateGroup renames a group, reorders or replaces its attributes, or
	// moves it (admin only).
	UpdateGroup(ctx context.Context, r UpdateGroupRequest) (Group, error)
	// DeleteGroup removes a group (its attributes stay) and returns it as it was.
	DeleteGroup(ctx context.Context, r CodeRequest) (Group, error)

	// Validate checks attribute values for a product: code → a string
	// (text, enum), a number or a boolean. It returns nil when all are
	// valid and otherwise an invalid error with one field error
	// "attributes.<code>" per bad value.
	Validate(ctx context.Context, values map[string]any) error
	// ValidateMany checks up to MaxValidateMany value maps at once, each
	// as Validate does, and returns one Validation per item in the items'
	// order. No items or too many is invalid ("items"); an error for the
	// whole call is otherwise one worth retrying.
	ValidateMany(ctx context.Context, r ValidateManyRequest) ([]Validation, error)

	// History returns the audit log of an attribute (Kind empty or
	// KindAttribute) or of a group (KindGroup), by code, newest first
	// (admin only): who created, changed or deleted it, when, and which
	// fields. Taking a deleted attribute out of a group is a change of the
	// group, recorded as the attribute's delete. It answers for a deleted
	// attribute or group too.
	History(ctx context.Context, r shop.HistoryRequest) (shop.History, error)
}
