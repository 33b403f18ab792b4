// Package order is the order service: checkout, and the orders it makes.
//
// # Checkout
//
// Place turns the caller's cart (shop/cart) into an order. A shopper must
// be logged in: the session token the call carries (shop.WithToken) names
// the cart and the owner of the order. Each line is priced again with the
// product service; a price that differs from the one the shopper last saw
// in the cart fails the call with a conflict whose fields name each such
// line ("lines[i].unit_price": "was 12.50 EUR, now 13.00 EUR"), unless the
// request accepts the current prices (AcceptPrices). The contact email and
// the shipping address are checked field by field, the shipping method is
// one of the configured flat rates, and the totals are integers of minor
// units: an order is in one currency, that of its lines and of its
// shipping method. Prices include tax; the tax they include is computed
// from the rate configured for the destination country (see TaxIncluded
// for the rounding). A country without a configured rate is not shipped to.
//
// Quote answers the same question without placing anything: the order
// the cart would make now, with its totals and tax, for a review step.
//
// The same request (the same request id, which the storefront derives
// from its Idempotency-Key) always names the same order: a repeat returns
// the order as it is, never a second one.
//
// # The saga
//
// An order is one document, and the checkout a saga persisted in it step
// by step, each step idempotent by the order id:
//
//	reserve   inventory.reserve (all lines or none)
//	authorize Payment.Authorize(key: order id)
//	commit    inventory.commit: the units leave the shelf
//	confirm   status "paid", event order.order.confirmed (the cart
//	          service removes the ordered lines from the cart)
//	capture   Payment.Capture
//
// A step that fails for good (not enough stock, a declined payment, a
// provider that fails or does not answer, a reservation that expired)
// compensates: the authorisation is voided, the stock released, and the
// order is "failed" with a Reason the shopper sees. Stock is committed
// before the order is confirmed, so no order is ever confirmed without
// its stock; a committed order is never compensated, only rolled forward.
//
// Whoever runs the saga holds a lease on the order (an owner and an end
// time in the document, taken and renewed by compare-and-set on its
// version). A runner that dies leaves its lease to run out; then the
// recovery loop (Recover, run periodically by Run on every replica) claims
// the order by compare-and-set, so that exactly one replica takes it over,
// and carries on from the stored step: a step run twice is harmless, as
// inventory and payment are idempotent by the order id. No payment is
// authorised twice, no reservation is left hanging.
//
// Recovery runs without a shopper: it calls the inventory as the operator
// (Options.Operator, an admin's session), as does a cancel that restocks.
//
// # After checkout
//
// Get and List show a shopper their own orders; an admin sees all, and
// List filters by status. Cancel, before shipping, voids or refunds the
// payment and puts committed units back on hand (inventory.adjust as the
// operator, one request id per line derived from the order: a re-run does
// not restock twice). An admin moves a paid order to shipped, then to
// delivered (SetStatus).
//
// Events order.order.placed, confirmed, failed, cancelled and shipped
// (shop.OrderChanged) leave through the order document's outbox
// (internal/outbox): never lost, at least once, with stable ids.
//
// # History
//
// History (admin only) is an order's audit log, kept in the order's
// document and written in the same write as each change: who cancelled
// it or moved it on (order.cancel with the customer or admin who asked,
// order.set_status with the admin), and what the checkout did by itself,
// with no one named: "order.saga.place" when the order is stored, then
// "order.saga.<step>" for each step done (reserve, authorize, commit,
// capture, compensate, cancel), with the fields each changed. Leases,
// claims and retried attempts are the saga's bookkeeping and are not
// recorded.
package order

import (
	"context"
	"time"

	"github.com/shopbus/shopbus/shop"
)

// ServiceName is the service's name on the bus: the prefix of its methods.
const ServiceName = "order"

// Method names on the bus.
const (
	MethodPlace           = "order.place"
	MethodQuote           = "order.quote"
	MethodGet             = "order.get"
	MethodList            = "order.list"
	MethodCancel          = "order.cancel"
	MethodSetStatus       = "order.set_status"
	MethodShippingMethods = "order.shipping_methods"
	MethodHistory         = "order.history"
)

// SagaAction is the prefix of the actions the checkout saga records in an
// order's audit log (see History): SagaAction+"place" when the order is
// stored, SagaAction+step for each step done.
const SagaAction = "order.saga."

// Order statuses.
const (
	// StatusPending: the checkout is under way.
	StatusPending = "pending"
	// StatusPaid: stock committed and payment authorised (then captured);
	// the order is confirmed.
	StatusPaid = "paid"
	// StatusShipped: an admin shipped it.
	StatusShipped = "shipped"
	// StatusDelivered: an admin marked it delivered (final).
	StatusDelivered = "delivered"
	// StatusFailed: the checkout failed and was compensated (final); Reason says why.
	StatusFailed = "failed"
	// StatusCancelled: cancelled before shipping (final).
	StatusCancelled = "cancelled"
)

// Payment states of an order.
const (
	PaymentNone       = ""
	PaymentAuthorized = "authorized"
	PaymentCaptured   = "captured"
	PaymentVoided     = "voided"
	PaymentRefunded   = "refunded"
	// PaymentCaptureFailed: the provider refused the capture of an
	// authorised payment; an operator must look at it.
	PaymentCaptureFailed = "capture_failed"
)

// Limits.
const (
	// MaxLines is the most lines an order has (inventory.MaxLines).
	MaxLines = 100
	// MaxListLimit is the most orders one List returns.
	MaxListLimit = 100
	// DefaultListLimit is what List returns when Limit is 0.
	DefaultListLimit = 20
	// MaxListOffset bounds List's Offset.
	MaxListOffset = 10_000
)

// Address is where an order goes.
type Address struct {
	Name       string `json:"name" bson:"name"`
	Line1      string `json:"line1" bson:"line1"`
	Line2      string `json:"line2,omitempty" bson:"line2,omitempty"`
	PostalCode string `json:"postal_code" bson:"postal_code"`
	City       string `json:"city" bson:"city"`
	// Country is an ISO 3166-1 alpha-2 code, e.g. "DE".
	Country string `json:"country" bson:"country"`
}

// ShippingMethod is a flat shipping rate.
type ShippingMethod struct {
	Code  string     `json:"code" bson:"code"`
	Name  string     `json:"name" bson:"name"`
	Price shop.Money `json:"price" bson:"price"`
	// Countries are the ISO 3166 alpha-2 codes it ships to, sorted: those
	// with a configured tax rate (Options.TaxRates). ShippingMethods fills
	// it in; an order's own method leaves it out.
	Countries []string `json:"countries,omitempty" bson:"-"`
}

// Line is one product (or variant) of an order, at the price charged.
type Line struct {
	ProductID string            `json:"product_id"`
	VariantID string            `json:"variant_id,omitempty"`
	Title     string            `json:"title"`
	SKU       string            `json:"sku"`
	Options   map[string]string `json:"options,omitempty"`
	UnitPrice shop.Money        `json:"unit_price"`
	Quantity  int64             `json:"quantity"`
	// Subtotal is UnitPrice times Quantity.
	Subtotal shop.Money `json:"subtotal"`
}

// Total is what an order costs in one currency, in minor units.
type Total struct {
	Currency string `json:"currency" bson:"currency"`
	// Items sums the lines' subtotals.
	Items int64 `json:"items" bson:"items"`
	// Shipping is the shipping method's price.
	Shipping int64 `json:"shipping" bson:"shipping"`
	// Total is Items + Shipping: what is charged.
	Total int64 `json:"total" bson:"total"`
	// Tax is the tax Total includes, at TaxRate (basis points: 1900 is 19%).
	Tax     int64 `json:"tax" bson:"tax"`
	TaxRate int   `json:"tax_rate" bson:"tax_rate"`
}

// Order is an order as the service shows it.
type Order struct {
	ID     string `json:"id"`
	UserID string `json:"user_id"`
	Email  string `json:"email"`
	// Status is one of the Status constants.
	Status string `json:"status"`
	// Reason says why the order failed or was cancelled.
	Reason   string         `json:"reason,omitempty"`
	Lines    []Line         `json:"lines"`
	Address  Address        `json:"address"`
	Shipping ShippingMethod `json:"shipping"`
	// Totals has one entry per currency (an order has one currency).
	Totals []Total `json:"totals"`
	// Payment is one of the Payment constants.
	Payment string `json:"payment,omitempty"`
	// Settled says no step of the saga (or of a cancel) is pending.
	Settled   bool      `json:"settled"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// PlaceRequest places an order from the caller's cart.
type PlaceRequest struct {
	Email   string  `json:"email"`
	Address Address `json:"address"`
	// ShippingMethod is the code of a configured shipping method.
	ShippingMethod string `json:"shipping_method"`
	// AcceptPrices confirms the current prices of lines whose price
	// changed since the shopper last saw it.
	AcceptPrices bool `json:"accept_prices,omitempty"`
}

// GetRequest names an order.
type GetRequest struct {
	ID string `json:"id"`
}

// ListRequest selects orders: the caller's own; an admin's, every order
// (or one user's, UserID). Newest first.
type ListRequest struct {
	// Status, when set, keeps only orders in that status.
	Status string `json:"status,omitempty"`
	// UserID (admins only) keeps only that user's orders.
	UserID string `json:"user_id,omitempty"`
	// Limit is at most MaxListLimit (DefaultListLimit when 0).
	Limit int `json:"limit,omitempty"`
	// Offset skips that many orders (at most MaxListOffset).
	Offset int `json:"offset,omitempty"`
}

// Page is one page of orders.
type Page struct {
	Orders []Order `json:"orders"`
	// Next is the Offset of the next page, or 0 when there is none.
	Next int `json:"next,omitempty"`
}

// CancelRequest cancels an order before it is shipped.
type CancelRequest struct {
	ID string `json:"id"`
	// Reason is shown with the cancelled order (default "cancelled by the customer" or "by the shop").
	Reason string `json:"reason,omitempty"`
}

// SetStatusRequest moves an order on: paid → shipped → delivered.
type SetStatusRequest struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// ShippingMethodsRequest asks for the shipping methods (it has no fields).
type ShippingMethodsRequest struct{}

// Service is the order contract; *Server and *Client implement it.
type Service interface {
	// Place places an order from the caller's cart and runs the checkout
	// (see the package documentation). It returns the order as the saga
	// left it: paid, failed with a Reason, or (when the saga could not
	// finish in time) pending, which recovery finishes. Invalid input,
	// an empty cart and lines no longer for sale are invalid; a price
	// change not accepted is a conflict naming the lines.
	Place(ctx context.Context, r PlaceRequest) (Order, error)
	// Quote answers what Place would order now, without placing it: the
	// caller's cart priced again, the shipping method and the totals with
	// their tax, checked as Place checks them (a price change not
	// accepted is the same conflict). The quote has no ID and no status;
	// nothing is stored or reserved. A checkout's review step shows it.
	Quote(ctx context.Context, r PlaceRequest) (Order, error)
	// Get returns an order: the caller's own, or any for an admin.
	Get(ctx context.Context, r GetRequest) (Order, error)
	// List returns the caller's orders, or an admin's selection.
	List(ctx context.Context, r ListRequest) (Page, error)
	// Cancel cancels a paid order not yet shipped: the payment is voided
	// or refunded, the units go back on hand. Cancelling a cancelled order
	// returns it; a shipped, delivered or failed one is a conflict.
	Cancel(ctx context.Context, r CancelRequest) (Order, error)
	// SetStatus moves an order from paid to shipped, or from shipped to
	// delivered (admin only). Setting the status it has returns it.
	SetStatus(ctx context.Context, r SetStatusRequest) (Order, error)
	// ShippingMethods lists the configured shipping methods and the
	// countries each ships to (public).
	ShippingMethods(ctx context.Context, r ShippingMethodsRequest) ([]ShippingMethod, error)
	// History returns an order's audit log (ID the order id, Kind empty
	// or "order"), newest first: the cancel and status changes with who
	// asked for them, and the checkout saga's own steps with no one named
	// (actions SagaAction+step), each with the fields it changed. Admin
	// only.
	History(ctx context.Context, r shop.HistoryRequest) (shop.History, error)
}
