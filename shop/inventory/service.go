// Package inventory is the inventory service: stock per SKU, and
// reservations of stock for orders.
//
// Each SKU (a product's or a variant's) has a stock record: units on hand,
// units reserved for orders not yet completed, and available = on hand −
// reserved. Admins set or adjust what is on hand (SetStock, SetStockMany
// for up to MaxLines SKUs at once, Adjust); anyone may read stock (Get,
// GetMany).
//
// An order reserves its lines all or nothing (Reserve), for a while
// (default 15 minutes). Then it either commits the reservation (Commit:
// the units leave on hand for good) or releases it (Release: they become
// available again). A reservation left alone past its expiry is released
// by a sweeper (Sweep, run periodically by Run), which any number of
// replicas may run at once. Reserve, Commit and Release are idempotent by
// order id as well as by request id: reserving an order again returns its
// reservation as it is, committing a committed one or releasing a released
// one changes nothing. Releasing an order that has no reservation yet
// records it as released, so that a reserve that arrives late (a retry
// overtaken by the saga's compensation) holds nothing.
//
// # Consistency without transactions
//
// The stock of a SKU is one document (keyed by the SKU), changed only by
// a compare-and-set on its version that holds across replicas on MongoDB
// and on FerretDB alike (internal/docstore.Versions): no reservation ever
// takes more than is available, however many replicas race. Each
// reservation's units are recorded inside the stock document, as a hold
// named by the order id, in the same write as the counters; so applying,
// committing or releasing one line is idempotent, and a process that dies
// between two writes leaves nothing that a retry cannot tell.
//
// A reservation is its own document (keyed by the order id) with a state:
// reserving → reserved → committing → committed, or → releasing →
// released; "rejected" when some line could not be had. It is written
// before any stock changes, with the lines and a lease; a runner that
// dies mid-way leaves it in a transitional state whose lease runs out.
// Then a retry of the same call takes it over and finishes it, or, once
// the lease has been out for a further Options.Lease, the sweeper does:
// a half-reserved order is undone (its caller never heard back), a
// commit or release is completed (it was decided).
//
// # Events
//
// Every change of a SKU's stock announces inventory.stock.changed
// (shop.StockChanged) through the document's outbox (internal/outbox).
// The body is a snapshot with a version: only the newest one matters, so
// a document keeps at most one unpublished event, the newest.
//
// # History
//
// History (admin only) is a SKU's audit log: which admin set or adjusted
// its units on hand, and when, kept in the stock document and written
// in the same write as the change. Reservations, commits and releases
// are not recorded: checkout makes them by the thousand, and they would
// push the admins' entries out of the shop.MaxHistory kept.
//
// # Who may call
//
// SetStock, SetStockMany, Adjust and History need an admin. Get and GetMany are public. Reserve,
// Commit, Release and GetReservation need an authenticated caller; a
// reservation belongs to the user who made it, and only that user or an
// admin may see, commit or release it.
package inventory

import (
	"context"
	"time"

	"github.com/shopbus/shopbus/shop"
)

// ServiceName is the service's name on the bus: the prefix of its methods.
const ServiceName = "inventory"

// Method names on the bus.
const (
	MethodSetStock       = "inventory.set_stock"
	MethodSetStockMany   = "inventory.set_stock_many"
	MethodAdjust         = "inventory.adjust"
	MethodGet            = "inventory.get"
	MethodGetMany        = "inventory.get_many"
	MethodReserve        = "inventory.reserve"
	MethodCommit         = "inventory.commit"
	MethodRelease        = "inventory.release"
	MethodGetReservation = "inventory.get_reservation"
	MethodHistory        = "inventory.history"
)

// HistoryKind is the kind of entity History knows: a SKU's stock
// (shop.HistoryRequest.Kind empty or "stock", ID the SKU).
const HistoryKind = "stock"

// Limits.
const (
	// MaxUnits is the most units of one SKU on hand.
	MaxUnits = 1_000_000_000
	// MaxSKULen is the longest SKU.
	MaxSKULen = 64
	// MaxOrderIDLen is the longest order id.
	MaxOrderIDLen = 64
	// MaxLines is the most lines of one reservation, and the most SKUs
	// one GetMany asks for or one SetStockMany sets.
	MaxLines = 100
	// DefaultExpiry is how long a reservation holds its stock unless the
	// request says otherwise.
	DefaultExpiry = 15 * time.Minute
	// MaxExpiry is the longest a reservation may hold its stock.
	MaxExpiry = 24 * time.Hour
)

// Stock is the stock of one SKU.
type Stock struct {
	SKU string `json:"sku"`
	// OnHand is the units in the warehouse, reserved or not.
	OnHand int64 `json:"on_hand"`
	// Reserved is the units held by reservations not yet committed or released.
	Reserved int64 `json:"reserved"`
	// Available is OnHand − Reserved: what can still be reserved.
	Available int64 `json:"available"`
	// Version grows with every change.
	Version   int64     `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Reservation states.
const (
	// StateReserving: the lines are being reserved.
	StateReserving = "reserving"
	// StateReserved: every line is held until ExpiresAt.
	StateReserved = "reserved"
	// StateCommitting: the order is being committed.
	StateCommitting = "committing"
	// StateCommitted: the units have left on hand (final).
	StateCommitted = "committed"
	// StateReleasing: the units are being given back.
	StateReleasing = "releasing"
	// StateReleased: the units were given back, or never taken (final).
	StateReleased = "released"
	// StateRejected: some line could not be reserved; nothing is held (final).
	StateRejected = "rejected"
)

// Line is a quantity of one SKU.
type Line struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
}

// Reservation is the stock held for one order.
type Reservation struct {
	OrderID string `json:"order_id"`
	// UserID is the user who made it.
	UserID string `json:"user_id,omitempty"`
	// State is one of the State constants.
	State string `json:"state"`
	Lines []Line `json:"lines"`
	// ExpiresAt is when a reservation not committed is released.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Reason says why a reservation was released or rejected, e.g.
	// "expired", "released", "abandoned", "not enough stock".
	Reason string `json:"reason,omitempty"`
	// Version grows with every change.
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// SetStockRequest sets the units on hand of a SKU, creating its stock
// record if it has none.
type SetStockRequest struct {
	SKU    string `json:"sku"`
	OnHand int64  `json:"on_hand"`
}

// SetStockManyRequest sets the units on hand of up to MaxLines SKUs, each
// as SetStock does. With IfAbsent it sets only the SKUs that have no
// stock record yet and leaves the others as they are (a first stocking,
// such as a seed: it costs one insert of them all and no lookups).
type SetStockManyRequest struct {
	Items    []SetStockRequest `json:"items"`
	IfAbsent bool              `json:"if_absent,omitempty"`
}

// StockResult is what SetStockMany did to one SKU: Stock is its stock
// once set (or found already at that amount), Error why it was not set
// (a conflict: more units are reserved). Kept says that the SKU had a
// stock record and was left as it is (IfAbsent); Stock is then that
// record.
type StockResult struct {
	SKU   string      `json:"sku"`
	Stock *Stock      `json:"stock,omitempty"`
	Kept  bool        `json:"kept,omitempty"`
	Error *shop.Error `json:"error,omitempty"`
}

// AdjustRequest changes the units on hand of a SKU by Delta (a delivery
// is positive, a write-off negative). A SKU without a stock record starts
// from zero.
type AdjustRequest struct {
	SKU   string `json:"sku"`
	Delta int64  `json:"delta"`
}

// GetRequest names a SKU.
type GetRequest struct {
	SKU string `json:"sku"`
}

// GetManyRequest names up to MaxLines SKUs.
type GetManyRequest struct {
	SKUs []string `json:"skus"`
}

// ReserveRequest reserves lines for an order.
type ReserveRequest struct {
	// OrderID names the order: 1-64 of A-Z, a-z, 0-9, '-', '_'.
	OrderID string `json:"order_id"`
	// Lines are the SKUs and quantities; a SKU appears at most once.
	Lines []Line `json:"lines"`
	// ExpiresIn is how many seconds the stock is held (default 900, at
	// most 86,400).
	ExpiresIn int64 `json:"expires_in,omitempty"`
}

// OrderRequest names an order's reservation.
type OrderRequest struct {
	OrderID string `json:"order_id"`
}

// Service is the inventory contract; *Server and *Client implement it.
type Service interface {
	// SetStock sets a SKU's units on hand (admin only). Fewer than are
	// reserved is a conflict.
	SetStock(ctx context.Context, r SetStockRequest) (Stock, error)
	// SetStockMany sets the units on hand of up to MaxLines SKUs (admin
	// only), each SKU with its own write and event, as SetStock. The
	// request is checked whole first: an invalid item or a SKU named twice
	// makes it invalid ("items[i].sku", "items[i].on_hand"), and nothing
	// is written. Then every SKU is written (a few at a time) and the
	// results follow the items' order. A SKU that cannot be set (fewer
	// units than are reserved) has a conflict in its result; the others
	// are set all the same. A write that fails in a way worth retrying
	// (unavailable, internal) fails the call once every SKU was tried:
	// what was set stays set, and a retry with the same request id sets
	// the rest (a SKU already at its amount is not written again). A
	// request id answers one outcome, as for every write.
	SetStockMany(ctx context.Context, r SetStockManyRequest) ([]StockResult, error)
	// Adjust adds Delta to a SKU's units on hand (admin only). A result
	// below what is reserved, or above MaxUnits, is a conflict.
	Adjust(ctx context.Context, r AdjustRequest) (Stock, error)
	// Get returns a SKU's stock; a SKU without a record is not_found.
	Get(ctx context.Context, r GetRequest) (Stock, error)
	// GetMany returns the stock of the SKUs that have a record, in the
	// order asked; SKUs without one are left out.
	GetMany(ctx context.Context, r GetManyRequest) ([]Stock, error)

	// Reserve holds every line for the order, or none: a line that is
	// short makes the reservation rejected and the call a conflict whose
	// fields name each short line ("lines[i].quantity": "only N
	// available"); a SKU without stock is short of everything. Reserving
	// an order again returns its reservation as it is (a conflict if it
	// was rejected or released, or if the lines differ).
	Reserve(ctx context.Context, r ReserveRequest) (Reservation, error)
	// Commit takes the reserved units off hand for good. Committing a
	// committed order returns it; an expired, released or unknown one is
	// a conflict or not_found.
	Commit(ctx context.Context, r OrderRequest) (Reservation, error)
	// Release gives the reserved units back. Releasing a released or
	// rejected order returns it; releasing an unknown order records it as
	// released (so that a late reserve holds nothing); a committed one is
	// a conflict.
	Release(ctx context.Context, r OrderRequest) (Reservation, error)
	// GetReservation returns an order's reservation.
	GetReservation(ctx context.Context, r OrderRequest) (Reservation, error)
	// History returns a SKU's audit log (ID the SKU, Kind empty or
	// HistoryKind), newest first: the admin writes only (SetStock,
	// SetStockMany, Adjust, each with its admin and "on_hand"), not the
	// reservations, commits and releases of checkout, which are many and
	// would push the admins' entries out of the shop.MaxHistory kept.
	// Admin only; a SKU without a stock record is not_found.
	History(ctx context.Context, r shop.HistoryRequest) (shop.History, error)
}
