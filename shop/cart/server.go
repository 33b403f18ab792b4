package cart

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/shopbus/shopbus/internal/docstore"
	"github.com/shopbus/shopbus/internal/idem"
	"github.com/shopbus/shopbus/internal/indexes"
	"github.com/shopbus/shopbus/internal/keylock"
	"github.com/shopbus/shopbus/internal/outbox"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/transport"
)

// Defaults for Options fields left zero.
const (
	DefaultMaxQuantity     = 99
	DefaultMaxLines        = 100
	DefaultGuestCartTTL    = 30 * 24 * time.Hour
	DefaultCleanupInterval = time.Hour
)

// maxUnits bounds MaxQuantity × MaxLines, so that no cart total
// overflows (see shop.MaxAmount).
const maxUnits = 90_000

// Options configure a Server. Auth and Products are required; for the
// rest the zero value means the defaults.
type Options struct {
	// Auth authenticates the callers' tokens (usually auth.NewClient(bus)).
	Auth shop.Authenticator
	// Products looks up products (usually product.NewClient(bus)).
	Products Products
	// MaxQuantity caps the quantity of one line (default 99).
	MaxQuantity int
	// MaxLines caps the number of lines in one cart (default 100).
	MaxLines int
	// GuestCartTTL is how long a guest cart lives after its last change
	// (default 30 days).
	GuestCartTTL time.Duration
	// CleanupInterval is how often Run calls CleanupExpired (default 1h).
	CleanupInterval time.Duration
	// Now is the clock (default time.Now); tests inject their own.
	Now func() time.Time
	// Logger receives what the service logs (default slog.Default()).
	Logger *slog.Logger
}

const (
	collCarts = "carts"
	// collHandledEvents holds the ids of the product events handled.
	collHandledEvents = "handled_events"
)

// Server is the cart service on MongoDB. Create it with New. Its methods
// are safe for concurrent use.
type Server struct {
	opts  Options
	log   *slog.Logger
	carts *mongo.Collection
	// productCarts lists the carts that may hold each product (see
	// reprice.go).
	productCarts *mongo.Collection
	// versions writes carts by compare-and-set on their version, safe
	// across replicas on MongoDB and FerretDB alike.
	versions *docstore.Versions
	locks    keylock.Map
	// seen holds the ids of the events handled, so that a repeat is dropped.
	seen outbox.Seen
}

// cartDoc is a cart in the carts collection.
type cartDoc struct {
	ID     string    `bson:"_id"`
	UserID string    `bson:"user_id,omitempty"`
	Lines  []lineDoc `bson:"lines"`
	// MergedFrom lists the last guest carts merged into this one, so a
	// retried merge adds nothing twice.
	MergedFrom []string `bson:"merged_from,omitempty"`
	// Requests lists the last requests applied to the cart, in the same
	// write as their change, so a redelivered or retried request is never
	// applied twice (see update).
	Requests  []appliedRequest `bson:"requests,omitempty"`
	Version   int64            `bson:"version"`
	CreatedAt time.Time        `bson:"created_at"`
	UpdatedAt time.Time        `bson:"updated_at"`
	// ExpiresAt is set on guest carts only.
	ExpiresAt time.Time `bson:"expires_at,omitempty"`
}

// lineDoc is one line of a cart. ProductVersion is the version of the
// product snapshot the line reflects; events older than it are ignored.
type lineDoc struct {
	ProductID      string            `bson:"product_id"`
	VariantID      string            `bson:"variant_id,omitempty"`
	Title          string            `bson:"title"`
	Slug           string            `bson:"slug,omitempty"`
	SKU            string            `bson:"sku,omitempty"`
	Options        map[string]string `bson:"options,omitempty"`
	UnitPrice      shop.Money        `bson:"unit_price"`
	Quantity       int               `bson:"quantity"`
	PriceChanged   bool              `bson:"price_changed,omitempty"`
	PreviousPrice  *shop.Money       `bson:"previous_price,omitempty"`
	Unavailable    bool              `bson:"unavailable,omitempty"`
	ProductVersion int64             `bson:"product_version"`
	AddedAt        time.Time         `bson:"added_at"`
}

// maxMergedFrom is how many merged guest cart ids a cart remembers.
const maxMergedFrom = 20

// appliedRequest is a request applied to a cart: its method and request
// id, and the fingerprint of what it asked (idem.Fingerprint).
type appliedRequest struct {
	Key         string    `bson:"k"`
	Fingerprint string    `bson:"f"`
	At          time.Time `bson:"at"`
}

// A cart remembers its last maxRequests requests, for at most requestTTL:
// far more than a caller's retries and redeliveries need (seconds).
const (
	maxRequests = 32
	requestTTL  = 10 * time.Minute
)

// request identifies the request under way in ctx for the in-document
// memory; ok is false when the call carries no request id.
type request struct {
	key, fingerprint string
}

func requestOf(ctx context.Context, method string, r any) (request, bool, error) {
	id := transport.RequestID(ctx)
	if id == "" {
		return request{}, false, nil
	}
	fp, err := idem.Fingerprint(ctx, method, r)
	if err != nil {
		return request{}, false, err
	}
	return request{key: method + " " + id, fingerprint: fp[:16]}, true, nil
}

// seen reports whether c has had req applied; a request id used for
// another request is invalid.
func (c *cartDoc) seen(req request) (bool, error) {
	for _, a := range c.Requests {
		if a.Key == req.key {
			if a.Fingerprint != req.fingerprint {
				return false, shop.Invalid("request id reused", "request_id", "was used for a different request")
			}
			return true, nil
		}
	}
	return false, nil
}

// remember records req as applied to c, forgetting the oldest requests
// beyond the bounds.
func (c *cartDoc) remember(req request, now time.Time) {
	keep := c.Requests[:0]
	for _, a := range c.Requests {
		if now.Sub(a.At) < requestTTL {
			keep = append(keep, a)
		}
	}
	keep = append(keep, appliedRequest{Key: req.key, Fingerprint: req.fingerprint, At: now})
	if n := len(keep); n > maxRequests {
		keep = keep[n-maxRequests:]
	}
	c.Requests = keep
}

// New returns the cart service storing its data in db, and creates the
// indexes it needs.
func New(db *mongo.Database, opts Options) (*Server, error) {
	if db == nil {
		return nil, errors.New("cart: nil database")
	}
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	s := &Server{opts: opts, log: opts.Logger, carts: db.Collection(collCarts), productCarts: db.Collection(collProductCarts), seen: outbox.NewStoredSeen(db.Collection(collHandledEvents), 0, nil)}
	s.versions = docstore.NewVersions(s.carts, "version", opts.Logger)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Carts are read by _id. These serve the rare scans (carts holding a
	// changed product, expired guest carts) on a real MongoDB; FerretDB
	// scans regardless.
	if err := indexes.Ensure(ctx, s.carts, bson.D{{Key: "lines.product_id", Value: 1}}, bson.D{{Key: "expires_at", Value: 1}}); err != nil {
		return nil, fmt.Errorf("cart: %w", err)
	}
	if err := s.listStoredCarts(ctx); err != nil {
		return nil, fmt.Errorf("cart: list the carts of each product: %w", err)
	}
	return s, nil
}

func (o *Options) setDefaults() error {
	if o.Auth == nil {
		return shop.Invalid("invalid cart options", "Auth", "is required")
	}
	if o.Products == nil {
		return shop.Invalid("invalid cart options", "Products", "is required")
	}
	ints := []struct {
		name string
		v    *int
		def  int
	}{{"MaxQuantity", &o.MaxQuantity, DefaultMaxQuantity}, {"MaxLines", &o.MaxLines, DefaultMaxLines}}
	for _, f := range ints {
		if *f.v < 0 {
			return shop.Invalid("invalid cart options", f.name, "must not be negative")
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	// Totals are sums of quantity × price: with prices at most
	// shop.MaxAmount they fit an int64 while quantity × lines does.
	if o.MaxQuantity > maxUnits || o.MaxLines > maxUnits || o.MaxQuantity*o.MaxLines > maxUnits {
		return shop.Invalid("invalid cart options", "MaxQuantity", fmt.Sprintf("times MaxLines must be at most %d", maxUnits))
	}
	durations := []struct {
		name string
		d    *time.Duration
		def  time.Duration
	}{{"GuestCartTTL", &o.GuestCartTTL, DefaultGuestCartTTL}, {"CleanupInterval", &o.CleanupInterval, DefaultCleanupInterval}}
	for _, f := range durations {
		if *f.d < 0 {
			return shop.Invalid("invalid cart options", f.name, "must not be negative")
		}
		if *f.d == 0 {
			*f.d = f.def
		}
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

// Cart ids: a user's cart is "u_" + user id; a guest cart is "g_" + 24
// random bytes in base64url.
const (
	userPrefix     = "u_"
	guestPrefix    = "g_"
	guestRandBytes = 24
	maxIDLen       = 128
)

func userCartID(userID string) string { return userPrefix + userID }

// newGuestCartID returns the id of a new guest cart: derived from the
// request id when ctx carries one (a repeat of the request names the same
// cart; request ids are as unguessable as the caller keeps them), random
// otherwise.
func newGuestCartID(ctx context.Context) (string, error) {
	b := make([]byte, guestRandBytes)
	if id := transport.RequestID(ctx); id != "" {
		sum := sha256.Sum256([]byte("cart.guest\x00" + id))
		copy(b, sum[:])
	} else if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return guestPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// owner is the cart a request is about.
type owner struct {
	cartID string
	userID string // empty for a guest cart
	// create says a missing cart may be created: always for a user's
	// cart, for a guest cart only when the service just made up its id.
	create bool
	// keepExpiry says the change is not the customer's (a product event)
	// and does not extend a guest cart's life.
	keepExpiry bool
}

func (o owner) guest() bool { return o.userID == "" }

// resolve finds the cart the caller means by cartID (already validated)
// and checks the caller may use it. newGuest allows making up a new guest
// cart when a caller without a token gives no id.
func (s *Server) resolve(ctx context.Context, cartID string, newGuest bool) (owner, error) {
	if token := shop.TokenFrom(ctx); token != "" {
		p, err := s.opts.Auth.Authenticate(ctx, token)
		if err != nil {
			return owner{}, err
		}
		id := userCartID(p.UserID)
		if cartID != "" && cartID != id {
			return owner{}, shop.Forbidden("not your cart")
		}
		return owner{cartID: id, userID: p.UserID, create: true}, nil
	}
	switch {
	case cartID == "" && newGuest:
		id, err := newGuestCartID(ctx)
		if err != nil {
			return owner{}, fmt.Errorf("cart: new cart id: %w", err)
		}
		return owner{cartID: id, create: true}, nil
	case cartID == "":
		return owner{}, shop.Invalid("no cart named", "cart_id", "is required without a session token")
	case strings.HasPrefix(cartID, userPrefix):
		return owner{}, shop.Forbidden("not your cart: log in to use a customer's cart")
	}
	return owner{cartID: cartID}, nil
}

// load returns the cart with id, or nil if there is none or it is an
// expired guest cart.
func (s *Server) load(ctx context.Context, id string) (*cartDoc, error) {
	c, _, err := s.loadRev(ctx, id)
	return c, err
}

// loadRev is load that also returns the cart's revision, for a write: a
// cart that expired is nil, but its revision is that of its document.
func (s *Server) loadRev(ctx context.Context, id string) (*cartDoc, docstore.Rev, error) {
	var c cartDoc
	rev, found, err := s.versions.Load(ctx, id, &c)
	if err != nil {
		return nil, rev, s.internal(ctx, "load cart", err)
	}
	if !found || (!c.ExpiresAt.IsZero() && !c.ExpiresAt.After(s.now())) {
		return nil, rev, nil
	}
	return &c, rev, nil
}

// errUnchanged, returned by an update function, skips the write.
var errUnchanged = errors.New("cart unchanged")

// maxWriteAttempts bounds the compare-and-set retries of one change.
const maxWriteAttempts = 10

// update applies fn to the cart of o and stores the result with a
// compare-and-set on its version, retrying from a fresh read when another
// writer got there first. fn may return errUnchanged to skip the write.
// It returns the cart as stored (or as read, when unchanged).
//
// The request under way (method and r, see requestOf) is recorded in the
// same write; a cart that records it already is returned as it is, so a
// redelivered or retried request changes nothing, whichever replica gets
// it and whenever the first attempt died.
//
// The compare-and-set holds across replicas (docstore.Versions); within
// this process writes to one cart are also serialised (package keylock),
// so that they do not compete for nothing.
func (s *Server) update(ctx context.Context, method string, r any, o owner, fn func(c *cartDoc, now time.Time) error) (*cartDoc, error) {
	req, tracked, err := requestOf(ctx, method, r)
	if err != nil {
		return nil, err
	}
	defer s.locks.Lock(o.cartID)()
	for attempt := 0; attempt < maxWriteAttempts; attempt++ {
		if attempt > 0 {
			// Another process won the compare-and-set: back off a little,
			// with jitter, before reading again.
			if err := sleep(ctx, time.Duration(1+mathrand.IntN(attempt*2))*time.Millisecond); err != nil {
				return nil, err
			}
		}
		now := s.now()
		c, rev, err := s.loadRev(ctx, o.cartID)
		if err != nil {
			return nil, err
		}
		if c == nil {
			if !o.create {
				return nil, shop.NotFound("cart")
			}
			// A new cart, or a new life for an expired guest cart's id.
			c = &cartDoc{ID: o.cartID, UserID: o.userID, CreatedAt: now, Version: rev.Version}
		}
		if tracked {
			if done, err := c.seen(req); err != nil || done {
				return c, err
			}
		}
		if err := fn(c, now); errors.Is(err, errUnchanged) {
			return c, nil
		} else if err != nil {
			return nil, err
		}
		if tracked {
			c.remember(req, now)
		}
		c.Version++
		c.UpdatedAt = now
		if o.guest() && !o.keepExpiry {
			c.ExpiresAt = now.Add(s.opts.GuestCartTTL)
		}
		stored, err := s.versions.Store(ctx, c.ID, c, rev)
		if err != nil {
			return nil, s.internal(ctx, "store cart", err)
		}
		if stored {
			return c, nil
		}
	}
	return nil, shop.Unavailable("cart is changing too fast; try again")
}

// applied returns the cart cartID when it records the request under way
// (method and r) as applied already; done is false otherwise.
func (s *Server) applied(ctx context.Context, method string, r any, cartID string) (c Cart, done bool, err error) {
	req, tracked, err := requestOf(ctx, method, r)
	if err != nil || !tracked {
		return Cart{}, false, err
	}
	doc, err := s.load(ctx, cartID)
	if err != nil || doc == nil {
		return Cart{}, false, err
	}
	if done, err = doc.seen(req); err != nil || !done {
		return Cart{}, false, err
	}
	return doc.public(), true, nil
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Get implements Service.
func (s *Server) Get(ctx context.Context, r CartRequest) (Cart, error) {
	if err := fieldErrors("invalid cart request", "cart_id", checkCartID(r.CartID)); err != nil {
		return Cart{}, err
	}
	o, err := s.resolve(ctx, r.CartID, false)
	if err != nil {
		return Cart{}, err
	}
	c, err := s.load(ctx, o.cartID)
	if err != nil {
		return Cart{}, err
	}
	if c == nil {
		if o.guest() {
			return Cart{}, shop.NotFound("cart")
		}
		c = &cartDoc{ID: o.cartID, UserID: o.userID}
	}
	return c.public(), nil
}

// AddItem implements Service.
func (s *Server) AddItem(ctx context.Context, r AddItemRequest) (Cart, error) {
	if err := fieldErrors("invalid item",
		"cart_id", checkCartID(r.CartID),
		"product_id", checkRef(r.ProductID, true),
		"variant_id", checkRef(r.VariantID, false),
		"quantity", s.checkQuantity(r.Quantity)); err != nil {
		return Cart{}, err
	}
	o, err := s.resolve(ctx, r.CartID, true)
	if err != nil {
		return Cart{}, err
	}
	p, err := s.opts.Products.Get(ctx, product.GetRequest{ID: r.ProductID})
	if err != nil {
		// An id the product service finds malformed names no product.
		if errors.Is(err, shop.ErrNotFound) || errors.Is(err, shop.ErrInvalid) {
			return Cart{}, shop.NotFound("product")
		}
		return Cart{}, err
	}
	line, err := lineFromProduct(p, r.ProductID, r.VariantID)
	if err != nil {
		return Cart{}, err
	}
	// Listed before the line is stored, so that no product event misses
	// it, and again after, in case a product event unlisted the cart
	// meanwhile (see productCarts).
	if err := s.listCart(ctx, o.cartID, r.ProductID); err != nil {
		return Cart{}, err
	}
	c, err := s.update(ctx, MethodAddItem, r, o, func(c *cartDoc, now time.Time) error {
		if i := c.find(r.ProductID, r.VariantID); i >= 0 {
			l := &c.Lines[i]
			l.Quantity = min(l.Quantity+r.Quantity, s.opts.MaxQuantity)
			if line.ProductVersion >= l.ProductVersion {
				// The customer sees the product as it is now.
				l.refresh(line)
			}
			return nil
		}
		if len(c.Lines) >= s.opts.MaxLines {
			return shop.Conflict(fmt.Sprintf("the cart already holds the maximum of %d lines", s.opts.MaxLines))
		}
		nl := line
		nl.Quantity = r.Quantity
		nl.AddedAt = now
		c.Lines = append(c.Lines, nl)
		return nil
	})
	if err != nil {
		return Cart{}, err
	}
	if err := s.listCart(ctx, o.cartID, r.ProductID); err != nil {
		return Cart{}, err
	}
	return c.public(), nil
}

// lineFromProduct builds the snapshot of a product (and variant) for a
// line, or returns not_found if it cannot be bought.
func lineFromProduct(p product.Product, productID, variantID string) (lineDoc, error) {
	if p.ID != productID || p.Status != shop.StatusPublished {
		return lineDoc{}, shop.NotFound("product")
	}
	l := lineDoc{ProductID: p.ID, VariantID: variantID, Title: p.Title, Slug: p.Slug, SKU: p.SKU, UnitPrice: p.Price, ProductVersion: p.Version}
	switch {
	case variantID != "":
		i := slices.IndexFunc(p.Variants, func(v product.Variant) bool { return v.ID == variantID })
		if i < 0 {
			return lineDoc{}, shop.NotFound("variant")
		}
		v := p.Variants[i]
		l.SKU, l.Options, l.UnitPrice = v.SKU, v.Options, v.Price
		if l.UnitPrice.Currency == "" {
			l.UnitPrice = p.Price
		}
	case len(p.Variants) > 0:
		return lineDoc{}, shop.Invalid("invalid item", "variant_id", "is required: the product comes in variants")
	}
	if l.UnitPrice.Validate("unit_price") != nil {
		return lineDoc{}, shop.NotFound("price of the product") // not for sale
	}
	return l, nil
}

func findVariant(p shop.ProductSnapshot, id string) (shop.VariantSnapshot, bool) {
	for _, v := range p.Variants {
		if v.ID == id {
			return v, true
		}
	}
	return shop.VariantSnapshot{}, false
}

// variantPrice is the variant's own price, or the product's if it has none.
func variantPrice(p shop.ProductSnapshot, v shop.VariantSnapshot) shop.Money {
	if v.Price.Currency == "" {
		return p.Price
	}
	return v.Price
}

// refresh makes l show the product as in fresh and clears its flags: the
// customer has just seen the current price.
func (l *lineDoc) refresh(fresh lineDoc) {
	l.Title, l.SKU, l.Options, l.UnitPrice = fresh.Title, fresh.SKU, fresh.Options, fresh.UnitPrice
	l.ProductVersion = fresh.ProductVersion
	l.PriceChanged, l.PreviousPrice, l.Unavailable = false, nil, false
}

func (c *cartDoc) find(productID, variantID string) int {
	return slices.IndexFunc(c.Lines, func(l lineDoc) bool { return l.ProductID == productID && l.VariantID == variantID })
}

// UpdateItem implements Service.
func (s *Server) UpdateItem(ctx context.Context, r UpdateItemRequest) (Cart, error) {
	if err := fieldErrors("invalid item",
		"cart_id", checkCartID(r.CartID),
		"product_id", checkRef(r.ProductID, true),
		"variant_id", checkRef(r.VariantID, false),
		"quantity", s.checkQuantity(r.Quantity)); err != nil {
		return Cart{}, err
	}
	return s.changeLine(ctx, MethodUpdateItem, r, r.CartID, func(c *cartDoc, now time.Time) error {
		i := c.find(r.ProductID, r.VariantID)
		if i < 0 {
			return shop.NotFound("cart line")
		}
		l := &c.Lines[i]
		l.Quantity = r.Quantity
		// The customer acted on the line, having seen its current price.
		l.PriceChanged, l.PreviousPrice = false, nil
		return nil
	})
}

// RemoveItem implements Service.
func (s *Server) RemoveItem(ctx context.Context, r RemoveItemRequest) (Cart, error) {
	if err := fieldErrors("invalid item",
		"cart_id", checkCartID(r.CartID),
		"product_id", checkRef(r.ProductID, true),
		"variant_id", checkRef(r.VariantID, false)); err != nil {
		return Cart{}, err
	}
	return s.changeLine(ctx, MethodRemoveItem, r, r.CartID, func(c *cartDoc, now time.Time) error {
		i := c.find(r.ProductID, r.VariantID)
		if i < 0 {
			return shop.NotFound("cart line")
		}
		c.Lines = slices.Delete(c.Lines, i, i+1)
		return nil
	})
}

// Clear implements Service.
func (s *Server) Clear(ctx context.Context, r CartRequest) (Cart, error) {
	if err := fieldErrors("invalid cart request", "cart_id", checkCartID(r.CartID)); err != nil {
		return Cart{}, err
	}
	return s.changeLine(ctx, MethodClear, r, r.CartID, func(c *cartDoc, now time.Time) error {
		if len(c.Lines) == 0 {
			return errUnchanged
		}
		c.Lines = nil
		return nil
	})
}

// changeLine applies fn to an existing cart of the caller. A user without
// a cart gets an empty one, to which fn applies as to any other.
func (s *Server) changeLine(ctx context.Context, method string, r any, cartID string, fn func(c *cartDoc, now time.Time) error) (Cart, error) {
	o, err := s.resolve(ctx, cartID, false)
	if err != nil {
		return Cart{}, err
	}
	c, err := s.update(ctx, method, r, o, fn)
	if err != nil {
		return Cart{}, err
	}
	return c.public(), nil
}

// Merge implements Service.
func (s *Server) Merge(ctx context.Context, r MergeRequest) (Cart, error) {
	msg := checkCartID(r.GuestCartID)
	if r.GuestCartID == "" {
		msg = "is required"
	} else if msg == "" && !strings.HasPrefix(r.GuestCartID, guestPrefix) {
		msg = "must name a guest cart"
	}
	if err := fieldErrors("invalid merge", "guest_cart_id", msg); err != nil {
		return Cart{}, err
	}
	if shop.TokenFrom(ctx) == "" {
		return Cart{}, shop.Unauthenticated("log in to merge a guest cart")
	}
	o, err := s.resolve(ctx, "", false)
	if err != nil {
		return Cart{}, err
	}
	// A repeat finds the guest cart gone: answer it from the cart it went into.
	if c, done, err := s.applied(ctx, MethodMerge, r, o.cartID); err != nil || done {
		return c, err
	}
	guest, err := s.load(ctx, r.GuestCartID)
	if err != nil {
		return Cart{}, err
	}
	if guest == nil || guest.UserID != "" {
		return Cart{}, shop.NotFound("guest cart")
	}
	// Listed before and after, as in AddItem.
	products := guest.productIDs()
	if err := s.listCart(ctx, o.cartID, products...); err != nil {
		return Cart{}, err
	}
	c, err := s.update(ctx, MethodMerge, r, o, func(c *cartDoc, now time.Time) error {
		if slices.Contains(c.MergedFrom, guest.ID) {
			return errUnchanged
		}
		for _, gl := range guest.Lines {
			if i := c.find(gl.ProductID, gl.VariantID); i >= 0 {
				l := &c.Lines[i]
				l.Quantity = min(l.Quantity+gl.Quantity, s.opts.MaxQuantity)
				if gl.ProductVersion > l.ProductVersion {
					q, added := l.Quantity, l.AddedAt
					*l = gl
					l.Quantity, l.AddedAt = q, added
				}
				continue
			}
			if len(c.Lines) >= s.opts.MaxLines {
				s.log.WarnContext(ctx, "cart: guest line dropped in merge: cart full", "cart_id", c.ID, "product_id", gl.ProductID)
				continue
			}
			c.Lines = append(c.Lines, gl)
		}
		c.MergedFrom = append(c.MergedFrom, guest.ID)
		if n := len(c.MergedFrom); n > maxMergedFrom {
			c.MergedFrom = c.MergedFrom[n-maxMergedFrom:]
		}
		return nil
	})
	if err != nil {
		return Cart{}, err
	}
	if err := s.listCart(ctx, o.cartID, products...); err != nil {
		return Cart{}, err
	}
	unlock := s.locks.Lock(guest.ID)
	_, err = s.carts.DeleteOne(ctx, bson.D{{Key: "_id", Value: guest.ID}})
	unlock()
	if err != nil {
		// The merge itself is done and recorded; the guest cart expires.
		s.log.WarnContext(ctx, "cart: cannot delete merged guest cart", "cart_id", guest.ID, "err", err)
	}
	return c.public(), nil
}

// CleanupExpired deletes guest carts past their expiry and returns how
// many. Expired carts are ignored by every request anyway; this only
// reclaims space. Call it periodically (Run does).
func (s *Server) CleanupExpired(ctx context.Context) (int64, error) {
	res, err := s.carts.DeleteMany(ctx, bson.D{{Key: "expires_at", Value: bson.D{{Key: "$lte", Value: s.now()}}}})
	if err != nil {
		return 0, s.internal(ctx, "delete expired carts", err)
	}
	return res.DeletedCount, nil
}

// Run calls CleanupExpired every Options.CleanupInterval until ctx ends,
// logging failures, and then returns nil.
func (s *Server) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.CleanupInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := s.CleanupExpired(ctx); err != nil && ctx.Err() == nil {
				s.log.ErrorContext(ctx, "cart: cleanup failed", "err", err)
			}
		}
	}
}

// public returns the cart as the service shows it, with subtotals and
// totals.
func (c *cartDoc) public() Cart {
	out := Cart{
		ID:        c.ID,
		UserID:    c.UserID,
		Lines:     make([]Line, 0, len(c.Lines)),
		Totals:    shop.Totals{},
		Version:   c.Version,
		UpdatedAt: c.UpdatedAt,
		ExpiresAt: c.ExpiresAt,
	}
	for _, l := range c.Lines {
		line := Line{
			ProductID:     l.ProductID,
			VariantID:     l.VariantID,
			Title:         l.Title,
			Slug:          l.Slug,
			SKU:           l.SKU,
			Options:       l.Options,
			UnitPrice:     l.UnitPrice,
			Quantity:      l.Quantity,
			Subtotal:      shop.Money{Amount: l.UnitPrice.Amount * int64(l.Quantity), Currency: l.UnitPrice.Currency},
			PriceChanged:  l.PriceChanged,
			PreviousPrice: l.PreviousPrice,
			Unavailable:   l.Unavailable,
			AddedAt:       l.AddedAt,
		}
		if !l.Unavailable {
			// Cannot overflow: prices and quantities are bounded (setDefaults).
			_ = out.Totals.Add(line.Subtotal)
		}
		out.Lines = append(out.Lines, line)
	}
	return out
}

// internal logs a storage failure and returns the error the caller
// sees (shop.StorageFailure).
func (s *Server) internal(ctx context.Context, what string, err error) error {
	out := shop.StorageFailure(ctx, "cart: "+what, err)
	if errors.Is(out, shop.ErrInternal) {
		s.log.ErrorContext(ctx, "cart: "+what, "err", err)
	}
	return out
}
