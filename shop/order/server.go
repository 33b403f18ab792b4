package order

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/internal/audit"
	"github.com/shopbus/shopbus/internal/docstore"
	"github.com/shopbus/shopbus/internal/idem"
	"github.com/shopbus/shopbus/internal/indexes"
	"github.com/shopbus/shopbus/internal/keylock"
	"github.com/shopbus/shopbus/internal/outbox"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/shop/inventory"
	"github.com/shopbus/shopbus/transport"
)

// Defaults for Options fields left zero.
const (
	DefaultLease           = 30 * time.Second
	DefaultRecoverInterval = 10 * time.Second
	DefaultStepTimeout     = 10 * time.Second
	DefaultPaymentTimeout  = 10 * time.Second
	DefaultMaxAttempts     = 5
	// DefaultReservation is how long the stock of a checkout is held:
	// far longer than the saga takes, so that only a checkout stuck for
	// that long (and then compensated) loses its reservation.
	DefaultReservation = 30 * time.Minute
)

// DefaultTaxRates are the VAT rates (basis points) of the countries a
// shop ships to when Options.TaxRates is empty.
var DefaultTaxRates = map[string]int{
	"AT": 2000, "BE": 2100, "DE": 1900, "DK": 2500, "ES": 2100, "FI": 2550, "FR": 2000,
	"IE": 2300, "IT": 2200, "LU": 1700, "NL": 2100, "PL": 2300, "PT": 2300, "SE": 2500,
}

// DefaultShippingMethods are the flat rates offered when
// Options.ShippingMethods is empty.
var DefaultShippingMethods = []ShippingMethod{
	{Code: "standard", Name: "Standard (2-4 working days)", Price: shop.Money{Amount: 490, Currency: "EUR"}},
	{Code: "express", Name: "Express (next working day)", Price: shop.Money{Amount: 990, Currency: "EUR"}},
}

// Carts is what the order service needs from the cart service: the
// caller's cart (cart.NewClient(bus) is one).
type Carts interface {
	Get(ctx context.Context, r cart.CartRequest) (cart.Cart, error)
}

// Stock is what the order service needs from the inventory service
// (inventory.NewClient(bus) is one).
type Stock interface {
	Reserve(ctx context.Context, r inventory.ReserveRequest) (inventory.Reservation, error)
	Commit(ctx context.Context, r inventory.OrderRequest) (inventory.Reservation, error)
	Release(ctx context.Context, r inventory.OrderRequest) (inventory.Reservation, error)
	GetReservation(ctx context.Context, r inventory.OrderRequest) (inventory.Reservation, error)
	Adjust(ctx context.Context, r inventory.AdjustRequest) (inventory.Stock, error)
}

// Options configure a Server. Auth, Carts, Products, Stock and Payment
// are required.
type Options struct {
	// Auth authenticates callers (usually auth.NewClient(bus)).
	Auth shop.Authenticator
	// Carts reads the caller's cart (usually cart.NewClient(bus)).
	Carts Carts
	// Products prices the lines (usually product.NewClient(bus)).
	Products cart.Products
	// Stock reserves and commits stock (usually inventory.NewClient(bus)).
	Stock Stock
	// Payment is the payment provider (NewFakePayment for tests and demos).
	Payment Payment
	// Operator returns the session token of an admin, with which the
	// service acts when no shopper calls: recovering interrupted
	// checkouts, restocking a cancelled order. Without it those fail
	// (and are retried).
	Operator func(ctx context.Context) (string, error)
	// Events receives the order events (usually the bus). Without it
	// events wait in the documents.
	Events shop.Publisher
	// TaxRates maps the countries shipped to (ISO 3166 alpha-2) to the
	// tax rate prices include there, in basis points (DefaultTaxRates
	// when empty).
	TaxRates map[string]int
	// ShippingMethods are the flat rates offered (DefaultShippingMethods
	// when empty).
	ShippingMethods []ShippingMethod
	// Lease is how long a saga's runner holds an order without writing
	// (default 30 s); then recovery may take over.
	Lease time.Duration
	// RecoverInterval is how often Run looks for interrupted sagas
	// (default 10 s).
	RecoverInterval time.Duration
	// StepTimeout bounds one inventory call (default 10 s), and
	// PaymentTimeout one payment call (default 10 s); both must be
	// shorter than Lease.
	StepTimeout, PaymentTimeout time.Duration
	// MaxAttempts is how many runs a step that fails transiently gets
	// before the checkout is compensated (default 5); capture is retried
	// without limit.
	MaxAttempts int
	// Reservation is how long stock is held for a checkout (default 30 min).
	Reservation time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger reports failures that do not fail a call (default slog.Default()).
	Logger *slog.Logger
}

// collOrders is the collection of orders.
const collOrders = "orders"

// Server is the MongoDB implementation of Service. Its collections:
// orders (one document per order, by id, holding the saga's state and the
// outbox), requests (internal/idem) and, on FerretDB, orders_versions
// (internal/docstore.Versions). Its methods are safe for concurrent use,
// also by several replicas on one database.
type Server struct {
	opts     Options
	log      *slog.Logger
	orders   *mongo.Collection
	versions *docstore.Versions
	requests *idem.Store
	relay    *outbox.Relay
	locks    keylock.Map // per order, shared with the relay
	// crash, set by tests, makes a runner stop as if its process died:
	// before a step's work (done false) or after it, before its outcome
	// is stored (done true).
	crash func(step string, done bool) bool
}

// Steps of the saga, stored in the order while it has work to do.
const (
	stepReserve    = "reserve"
	stepAuthorize  = "authorize"
	stepCommit     = "commit"
	stepCapture    = "capture"
	stepCompensate = "compensate"
	stepCancel     = "cancel"
)

// orderDoc is an order in the orders collection.
type orderDoc struct {
	ID       string         `bson:"_id"`
	UserID   string         `bson:"user_id"`
	Email    string         `bson:"email"`
	Address  Address        `bson:"address"`
	Shipping ShippingMethod `bson:"shipping"`
	Lines    []lineDoc      `bson:"lines"`
	Totals   []Total        `bson:"totals"`
	Status   string         `bson:"status"`
	Reason   string         `bson:"reason,omitempty"`
	// Step is the saga's next step; "" when settled.
	Step string `bson:"step,omitempty"`
	// Open is set while Step is not empty: recovery looks at these.
	Open bool `bson:"open"`
	// Attempts counts the failed runs of Step.
	Attempts int `bson:"attempts,omitempty"`
	// Owner runs the saga until Lease; then someone else may.
	Owner string    `bson:"owner,omitempty"`
	Lease time.Time `bson:"lease,omitzero"`
	// PaymentTried says Authorize may have been called (so compensation voids).
	PaymentTried bool   `bson:"payment_tried,omitempty"`
	AuthID       string `bson:"auth_id,omitempty"`
	Payment      string `bson:"payment,omitempty"`
	// Committed says the stock left the shelf (a cancel restocks it).
	Committed bool `bson:"committed,omitempty"`
	// Restocked counts the lines a cancel has put back on hand.
	Restocked     int       `bson:"restocked,omitempty"`
	Version       int64     `bson:"version"`
	CreatedAt     time.Time `bson:"created_at"`
	UpdatedAt     time.Time `bson:"updated_at"`
	outbox.Events `bson:",inline"`
	// Log is the order's audit log, written with each change (see
	// History and internal/audit).
	audit.Log `bson:",inline"`
}

// sagaBookkeeping are the fields of the saga's lease and retries, which
// the audit log leaves out: a write changing only them records nothing.
var sagaBookkeeping = []string{"open", "attempts", "owner", "lease"}

type lineDoc struct {
	ProductID string            `bson:"product_id"`
	VariantID string            `bson:"variant_id,omitempty"`
	Title     string            `bson:"title"`
	SKU       string            `bson:"sku"`
	Options   map[string]string `bson:"options,omitempty"`
	UnitPrice shop.Money        `bson:"unit_price"`
	Quantity  int64             `bson:"q"`
}

func (d *orderDoc) public() Order {
	o := Order{ID: d.ID, UserID: d.UserID, Email: d.Email, Status: d.Status, Reason: d.Reason,
		Lines: make([]Line, len(d.Lines)), Address: d.Address, Shipping: d.Shipping, Totals: d.Totals,
		Payment: d.Payment, Settled: d.Step == "", Version: d.Version, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
	for i, l := range d.Lines {
		o.Lines[i] = Line{ProductID: l.ProductID, VariantID: l.VariantID, Title: l.Title, SKU: l.SKU, Options: l.Options,
			UnitPrice: l.UnitPrice, Quantity: l.Quantity, Subtotal: shop.Money{Amount: l.UnitPrice.Amount * l.Quantity, Currency: l.UnitPrice.Currency}}
	}
	if o.Totals == nil {
		o.Totals = []Total{}
	}
	return o
}

// amount is what the order charges.
func (d *orderDoc) amount() shop.Money {
	if len(d.Totals) == 0 {
		return shop.Money{}
	}
	return shop.Money{Amount: d.Totals[0].Total, Currency: d.Totals[0].Currency}
}

// New returns a Server storing its data in db, and creates its indexes.
func New(db *mongo.Database, opts Options) (*Server, error) {
	if db == nil {
		return nil, errors.New("order: nil database")
	}
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	s := &Server{opts: opts, log: opts.Logger, orders: db.Collection(collOrders)}
	s.versions = docstore.NewVersions(s.orders, "version", s.log)
	s.requests = idem.New(db, idem.Options{Logger: s.log})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Lists by user and status, recovery by open; scans on FerretDB. One
	// at a time: FerretDB drops the connection when CreateMany lists
	// indexes that exist already.
	if err := indexes.Ensure(ctx, s.orders,
		bson.D{{Key: "user_id", Value: 1}, {Key: "created_at", Value: -1}},
		bson.D{{Key: "status", Value: 1}, {Key: "created_at", Value: -1}},
		bson.D{{Key: "created_at", Value: -1}},
		bson.D{{Key: "open", Value: 1}},
	); err != nil {
		return nil, fmt.Errorf("order: %w", err)
	}
	relay, err := outbox.New(ctx, outbox.Config{Collection: s.orders, Publisher: opts.Events, Locks: &s.locks, Name: ServiceName, Logger: s.log})
	if err != nil {
		return nil, err
	}
	s.relay = relay
	return s, nil
}

func (o *Options) setDefaults() error {
	var bad []string
	for name, missing := range map[string]bool{"Auth": o.Auth == nil, "Carts": o.Carts == nil, "Products": o.Products == nil, "Stock": o.Stock == nil, "Payment": o.Payment == nil} {
		if missing {
			bad = append(bad, name, "is required")
		}
	}
	if len(bad) > 0 {
		return shop.Invalid("invalid order options", bad...)
	}
	if len(o.TaxRates) == 0 {
		o.TaxRates = DefaultTaxRates
	}
	for c, r := range o.TaxRates {
		if len(c) != 2 || r < 0 || r > 10_000 {
			return shop.Invalid("invalid order options", "TaxRates", fmt.Sprintf("%q: %d: rates are 0-10000 basis points per two-letter country", c, r))
		}
	}
	if len(o.ShippingMethods) == 0 {
		o.ShippingMethods = DefaultShippingMethods
	}
	for i, m := range o.ShippingMethods {
		if m.Code == "" || m.Name == "" || m.Price.Validate("price") != nil {
			return shop.Invalid("invalid order options", "ShippingMethods["+strconv.Itoa(i)+"]", "needs a code, a name and a valid price")
		}
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&o.Lease, DefaultLease}, {&o.RecoverInterval, DefaultRecoverInterval}, {&o.StepTimeout, DefaultStepTimeout}, {&o.PaymentTimeout, DefaultPaymentTimeout}, {&o.Reservation, DefaultReservation}} {
		if *d.v < 0 {
			return shop.Invalid("invalid order options", "Lease", "durations must not be negative")
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if o.StepTimeout >= o.Lease || o.PaymentTimeout >= o.Lease {
		return shop.Invalid("invalid order options", "StepTimeout", "StepTimeout and PaymentTimeout must be shorter than Lease")
	}
	if o.Reservation > inventory.MaxExpiry {
		return shop.Invalid("invalid order options", "Reservation", "must be at most "+inventory.MaxExpiry.String())
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// now returns the clock's time in UTC at BSON's millisecond precision.
func (s *Server) now() time.Time { return s.opts.Now().UTC().Truncate(time.Millisecond) }

func (s *Server) shipping(code string) (ShippingMethod, bool) {
	i := slices.IndexFunc(s.opts.ShippingMethods, func(m ShippingMethod) bool { return m.Code == code })
	if i < 0 {
		return ShippingMethod{}, false
	}
	return s.opts.ShippingMethods[i], true
}

// ShippingMethods implements Service.
func (s *Server) ShippingMethods(context.Context, ShippingMethodsRequest) ([]ShippingMethod, error) {
	countries := slices.Sorted(maps.Keys(s.opts.TaxRates))
	out := slices.Clone(s.opts.ShippingMethods)
	for i := range out {
		out[i].Countries = countries
	}
	return out, nil
}

// ---- storage ----

func (s *Server) load(ctx context.Context, id string) (*orderDoc, docstore.Rev, bool, error) {
	var d orderDoc
	rev, found, err := s.versions.Load(ctx, id, &d)
	if err != nil {
		return nil, rev, false, s.internal(ctx, "load order", err)
	}
	return &d, rev, found, nil
}

// store writes d as the next version after *rev, with the event named
// key (if any) in its outbox, and reports whether it did (false: someone
// else changed the order first). On success *rev is d's revision and the
// event is published at once (or left to the relay). The change from prev
// (nil: d is new) is recorded in the audit log as action, by ctx's actor,
// unless action is "" or only the saga's bookkeeping changed.
func (s *Server) store(ctx context.Context, action string, prev, d *orderDoc, rev *docstore.Rev, event string) (bool, error) {
	now := s.now()
	d.Version = rev.Version + 1
	d.UpdatedAt = now
	d.Open = d.Step != ""
	if !d.Open {
		d.Owner, d.Lease, d.Attempts = "", time.Time{}, 0
	}
	if action != "" {
		var before any
		if prev != nil {
			before = prev
		}
		if fields := audit.Changed(before, d, sagaBookkeeping...); prev == nil || len(fields) > 0 {
			d.Record(ctx, action, now, fields)
		}
	}
	if event != "" {
		d.Events.Add(eventID(d.ID, event, d.Version), event, d.changed(now), now)
	}
	ok, err := s.versions.Store(ctx, d.ID, d, *rev)
	if err != nil {
		return false, s.internal(ctx, "store order", err)
	}
	if !ok {
		return false, nil
	}
	if rev.Version == 0 {
		// A new document: its revision names its incarnation.
		var fresh orderDoc
		r, found, err := s.versions.Load(ctx, d.ID, &fresh)
		if err != nil {
			return false, s.internal(ctx, "load order", err)
		}
		if !found || r.Version != d.Version {
			return false, nil
		}
		*rev = r
	} else {
		rev.Version = d.Version
	}
	if event != "" {
		s.announce(ctx, d)
	}
	return true, nil
}

// ---- place ----

// Place implements Service.
func (s *Server) Place(ctx context.Context, r PlaceRequest) (Order, error) {
	p, err := shop.Caller(ctx, s.opts.Auth)
	if err != nil {
		return Order{}, err
	}
	if err := s.checkPlace(r); err != nil {
		return Order{}, err
	}
	return idem.Do(ctx, s.requests, MethodPlace, r, func(ctx context.Context) (Order, error) {
		return s.place(ctx, p, r)
	})
}

// Quote implements Service.
func (s *Server) Quote(ctx context.Context, r PlaceRequest) (Order, error) {
	p, err := shop.Caller(ctx, s.opts.Auth)
	if err != nil {
		return Order{}, err
	}
	if err := s.checkPlace(r); err != nil {
		return Order{}, err
	}
	d, err := s.draft(ctx, p, r)
	if err != nil {
		return Order{}, err
	}
	return d.public(), nil
}

// draft is the order r would make from the caller's cart now: lines
// priced again, shipping and totals; not stored.
func (s *Server) draft(ctx context.Context, p shop.Principal, r PlaceRequest) (*orderDoc, error) {
	c, err := s.opts.Carts.Get(ctx, cart.CartRequest{})
	if err != nil {
		return nil, err
	}
	method, _ := s.shipping(r.ShippingMethod)
	lines, err := s.price(ctx, c, method, r.AcceptPrices)
	if err != nil {
		return nil, err
	}
	d := &orderDoc{UserID: p.UserID, Email: r.Email, Address: r.Address, Shipping: method, Lines: lines}
	d.Totals = []Total{s.total(lines, method, r.Address.Country)}
	return d, nil
}

// orderID names the order a place request makes: derived from the request
// id and the user, so that a repeat names the same order.
func orderID(ctx context.Context, userID string) string {
	if key := transport.RequestID(ctx); key != "" {
		return transport.DeriveRequestID(key, MethodPlace, []byte(userID))
	}
	return uuid.NewString()
}

func (s *Server) place(ctx context.Context, p shop.Principal, r PlaceRequest) (Order, error) {
	id := orderID(ctx, p.UserID)
	defer s.locks.Lock(id)()
	d, rev, found, err := s.load(ctx, id)
	if err != nil {
		return Order{}, err
	}
	if found {
		return s.resume(ctx, p, d, rev)
	}
	d, err = s.draft(ctx, p, r)
	if err != nil {
		return Order{}, err
	}
	now := s.now()
	d.ID, d.Status, d.Step, d.CreatedAt = id, StatusPending, stepReserve, now
	d.Owner, d.Lease = uuid.NewString(), now.Add(s.opts.Lease)
	if ok, err := s.store(ctx, SagaAction+"place", nil, d, &rev, shop.EventOrderPlaced); err != nil {
		return Order{}, err
	} else if !ok {
		// Another replica made it meanwhile (a redelivery): show that one.
		d, rev, found, err = s.load(ctx, id)
		if err != nil {
			return Order{}, err
		}
		if !found {
			return Order{}, shop.Unavailable("the order is being placed; try again")
		}
		return s.resume(ctx, p, d, rev)
	}
	return s.runDetached(ctx, d, rev)
}

// resume answers a repeat of a place request that found its order: as
// it is, after finishing its saga if its runner died.
func (s *Server) resume(ctx context.Context, p shop.Principal, d *orderDoc, rev docstore.Rev) (Order, error) {
	if d.UserID != p.UserID {
		return Order{}, shop.Forbidden("not your order")
	}
	if d.Step == "" || s.now().Before(d.Lease) {
		return d.public(), nil
	}
	if ok, err := s.claim(ctx, d, &rev); err != nil {
		return Order{}, err
	} else if !ok {
		cur, _, _, err := s.load(ctx, d.ID)
		if err != nil {
			return Order{}, err
		}
		return cur.public(), nil
	}
	return s.runDetached(ctx, d, rev)
}

// price builds the order's lines from the cart's available lines at the
// products' current prices. A line no longer for sale is invalid; a price
// other than the one the shopper last saw is a conflict unless accepted.
func (s *Server) price(ctx context.Context, c cart.Cart, method ShippingMethod, accept bool) ([]lineDoc, error) {
	var lines []lineDoc
	var gone, changed, currency []string
	seen := map[string]int{}
	for i, cl := range c.Lines {
		if cl.Unavailable {
			continue
		}
		at := "lines[" + strconv.Itoa(i) + "]"
		p, err := s.opts.Products.Get(ctx, productGet(cl.ProductID))
		if errors.Is(err, shop.ErrNotFound) || errors.Is(err, shop.ErrInvalid) {
			gone = append(gone, at, cl.Title+" is no longer for sale")
			continue
		}
		if err != nil {
			return nil, err
		}
		l, ok := lineOf(p, cl)
		if !ok {
			gone = append(gone, at, cl.Title+" is no longer for sale")
			continue
		}
		shown := cl.UnitPrice
		if cl.PriceChanged && cl.PreviousPrice != nil {
			shown = *cl.PreviousPrice
		}
		if l.UnitPrice != shown && !accept {
			changed = append(changed, at+".unit_price", fmt.Sprintf("%s was %s, now %s", cl.Title, shown, l.UnitPrice))
		}
		if l.UnitPrice.Currency != method.Price.Currency {
			currency = append(currency, at+".unit_price", fmt.Sprintf("is in %s; orders with %s shipping are in %s", l.UnitPrice.Currency, method.Code, method.Price.Currency))
		}
		if j, dup := seen[l.SKU]; dup {
			gone = append(gone, at, fmt.Sprintf("%s is line %d again (SKU %s)", cl.Title, j, l.SKU))
			continue
		}
		seen[l.SKU] = i
		lines = append(lines, l)
	}
	switch {
	case len(gone) > 0:
		return nil, shop.Invalid("some lines of the cart cannot be ordered", gone...)
	case len(currency) > 0:
		return nil, shop.Invalid("an order is in one currency", currency...)
	case len(changed) > 0:
		return nil, shop.Conflict("prices changed since you saw them: confirm the new prices (accept_prices)", changed...)
	case len(lines) == 0:
		return nil, shop.Invalid("the cart is empty", "cart", "has nothing to order")
	case len(lines) > MaxLines:
		return nil, shop.Invalid("too many lines", "cart", fmt.Sprintf("an order has at most %d lines", MaxLines))
	}
	return lines, nil
}

// total computes what lines and shipping to country cost. Amounts are
// bounded (shop.MaxAmount, the cart's quantity caps), so no sum overflows.
func (s *Server) total(lines []lineDoc, method ShippingMethod, country string) Total {
	t := Total{Currency: method.Price.Currency, Shipping: method.Price.Amount, TaxRate: s.opts.TaxRates[country]}
	for _, l := range lines {
		t.Items += l.UnitPrice.Amount * l.Quantity
	}
	t.Total = t.Items + t.Shipping
	t.Tax = TaxIncluded(t.Total, t.TaxRate)
	return t
}

// ---- get and list ----

// Get implements Service.
func (s *Server) Get(ctx context.Context, r GetRequest) (Order, error) {
	p, err := shop.Caller(ctx, s.opts.Auth)
	if err != nil {
		return Order{}, err
	}
	if err := fieldErrors("invalid order id", "id", checkOrderID(r.ID)); err != nil {
		return Order{}, err
	}
	d, _, found, err := s.load(ctx, r.ID)
	if err != nil {
		return Order{}, err
	}
	// Someone else's order is not found, as if it did not exist.
	if !found || (d.UserID != p.UserID && !p.Has(shop.RoleAdmin)) {
		return Order{}, shop.NotFound("order")
	}
	return d.public(), nil
}

// List implements Service.
func (s *Server) List(ctx context.Context, r ListRequest) (Page, error) {
	p, err := shop.Caller(ctx, s.opts.Auth)
	if err != nil {
		return Page{}, err
	}
	limit, offset := "", ""
	if r.Limit < 0 || r.Limit > MaxListLimit {
		limit = fmt.Sprintf("must be from 0 to %d", MaxListLimit)
	}
	if r.Offset < 0 || r.Offset > MaxListOffset {
		offset = fmt.Sprintf("must be from 0 to %d", MaxListOffset)
	}
	user := ""
	if r.UserID != "" && !p.Has(shop.RoleAdmin) && r.UserID != p.UserID {
		return Page{}, shop.Forbidden("only an admin lists other users' orders")
	} else if len(r.UserID) > 128 {
		user = "is too long"
	}
	if err := fieldErrors("invalid list request", "status", checkStatus(r.Status, false), "user_id", user, "limit", limit, "offset", offset); err != nil {
		return Page{}, err
	}
	if r.Limit == 0 {
		r.Limit = DefaultListLimit
	}
	filter := bson.D{}
	switch {
	case !p.Has(shop.RoleAdmin):
		filter = append(filter, bson.E{Key: "user_id", Value: p.UserID})
	case r.UserID != "":
		filter = append(filter, bson.E{Key: "user_id", Value: r.UserID})
	}
	if r.Status != "" {
		filter = append(filter, bson.E{Key: "status", Value: r.Status})
	}
	cur, err := s.orders.Find(ctx, filter, options.Find().
		SetSort(bson.D{{Key: "created_at", Value: -1}, {Key: "_id", Value: 1}}).
		SetSkip(int64(r.Offset)).SetLimit(int64(r.Limit+1)).
		SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return Page{}, s.internal(ctx, "list orders", err)
	}
	var ids []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &ids); err != nil {
		return Page{}, s.internal(ctx, "list orders", err)
	}
	page := Page{Orders: []Order{}}
	if len(ids) > r.Limit {
		ids, page.Next = ids[:r.Limit], r.Offset+r.Limit
	}
	for _, id := range ids {
		// Each order as its versions say (the document may lag on FerretDB).
		d, _, found, err := s.load(ctx, id.ID)
		if err != nil {
			return Page{}, err
		}
		if found {
			page.Orders = append(page.Orders, d.public())
		}
	}
	return page, nil
}

// ---- cancel and status ----

// Cancel implements Service.
func (s *Server) Cancel(ctx context.Context, r CancelRequest) (Order, error) {
	p, err := shop.Caller(ctx, s.opts.Auth)
	if err != nil {
		return Order{}, err
	}
	ctx = audit.WithActor(ctx, p) // the customer or the admin who asks
	if err := fieldErrors("invalid cancel request", "id", checkOrderID(r.ID), "reason", checkText(r.Reason, false, maxReasonLen)); err != nil {
		return Order{}, err
	}
	return idem.Do(ctx, s.requests, MethodCancel, r, func(ctx context.Context) (Order, error) {
		defer s.locks.Lock(r.ID)()
		for {
			d, rev, found, err := s.load(ctx, r.ID)
			if err != nil {
				return Order{}, err
			}
			if !found || (d.UserID != p.UserID && !p.Has(shop.RoleAdmin)) {
				return Order{}, shop.NotFound("order")
			}
			switch {
			case d.Status == StatusCancelled && d.Step == "":
				return d.public(), nil
			case d.Step == stepCancel || d.Status == StatusCancelled:
				if s.now().Before(d.Lease) {
					return Order{}, shop.Unavailable("the order is being cancelled; try again")
				}
				if ok, err := s.claim(ctx, d, &rev); err != nil {
					return Order{}, err
				} else if ok {
					return s.runDetached(ctx, d, rev)
				}
				continue
			case d.Status == StatusPending:
				return Order{}, shop.Conflict("the order is being placed: cancel it once it is paid")
			case d.Status != StatusPaid:
				return Order{}, shop.Conflict("a " + d.Status + " order cannot be cancelled")
			case d.Step != "" && s.now().Before(d.Lease):
				return Order{}, shop.Unavailable("the order is being processed; try again")
			}
			if d.Committed && s.opts.Operator == nil {
				return Order{}, shop.Unavailable("cannot restock: the order service has no operator session configured")
			}
			next := *d
			next.Step, next.Attempts = stepCancel, 0
			next.Owner, next.Lease = uuid.NewString(), s.now().Add(s.opts.Lease)
			next.Reason = r.Reason
			if next.Reason == "" {
				next.Reason = "cancelled by the customer"
				if d.UserID != p.UserID {
					next.Reason = "cancelled by the shop"
				}
			}
			ok, err := s.store(ctx, MethodCancel, d, &next, &rev, "")
			if err != nil {
				return Order{}, err
			}
			if ok {
				return s.runDetached(ctx, &next, rev)
			}
		}
	})
}

// SetStatus implements Service.
func (s *Server) SetStatus(ctx context.Context, r SetStatusRequest) (Order, error) {
	p, err := shop.RequireAdmin(ctx, s.opts.Auth)
	if err != nil {
		return Order{}, err
	}
	ctx = audit.WithActor(ctx, p)
	status := checkStatus(r.Status, true)
	if status == "" && r.Status != StatusShipped && r.Status != StatusDelivered {
		status = "must be shipped or delivered"
	}
	if err := fieldErrors("invalid status change", "id", checkOrderID(r.ID), "status", status); err != nil {
		return Order{}, err
	}
	return idem.Do(ctx, s.requests, MethodSetStatus, r, func(ctx context.Context) (Order, error) {
		defer s.locks.Lock(r.ID)()
		for {
			d, rev, found, err := s.load(ctx, r.ID)
			if err != nil {
				return Order{}, err
			}
			if !found {
				return Order{}, shop.NotFound("order")
			}
			if d.Status == r.Status {
				return d.public(), nil
			}
			from := StatusPaid
			if r.Status == StatusDelivered {
				from = StatusShipped
			}
			if d.Status != from {
				return Order{}, shop.Conflict(fmt.Sprintf("a %s order cannot become %s (only %s → %s)", d.Status, r.Status, from, r.Status))
			}
			if d.Step != "" {
				return Order{}, shop.Unavailable("the order is being processed; try again")
			}
			next := *d
			next.Status = r.Status
			event := ""
			if r.Status == StatusShipped {
				event = shop.EventOrderShipped
			}
			ok, err := s.store(ctx, MethodSetStatus, d, &next, &rev, event)
			if err != nil {
				return Order{}, err
			}
			if ok {
				return next.public(), nil
			}
		}
	})
}

// History implements Service. It reads the order as its versions say
// (on FerretDB the document may lag behind its log), as Get does.
func (s *Server) History(ctx context.Context, r shop.HistoryRequest) (shop.History, error) {
	if _, err := shop.RequireAdmin(ctx, s.opts.Auth); err != nil {
		return shop.History{}, err
	}
	kind := ""
	if r.Kind != "" && r.Kind != ServiceName {
		kind = "must be empty or " + ServiceName
	}
	if err := fieldErrors("invalid history request", "id", checkOrderID(r.ID), "kind", kind); err != nil {
		return shop.History{}, err
	}
	d, _, found, err := s.load(ctx, r.ID)
	if err != nil {
		return shop.History{}, err
	}
	if !found {
		return shop.History{}, shop.NotFound("order " + r.ID)
	}
	return d.Log.History(ServiceName, r.ID, false), nil
}

// ---- helpers ----

// internal logs a storage failure and returns the error the caller
// sees (shop.StorageFailure).
func (s *Server) internal(ctx context.Context, what string, err error) error {
	out := shop.StorageFailure(ctx, "order: "+what, err)
	if errors.Is(out, shop.ErrInternal) {
		s.log.ErrorContext(ctx, "order: "+what, "err", err)
	}
	return out
}
