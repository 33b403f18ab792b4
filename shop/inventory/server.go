package inventory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

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
	"github.com/shopbus/shopbus/transport"
)

// Defaults for Options fields left zero.
const (
	DefaultLease         = 30 * time.Second
	DefaultSweepInterval = 15 * time.Second
	DefaultRetention     = 72 * time.Hour
	DefaultMaxHolds      = 10_000
)

// Options configure a Server. The zero value works but cannot authorise
// anything (no Auth) nor announce changes (no Events).
type Options struct {
	// Auth authenticates callers (usually auth.NewClient(bus)).
	Auth shop.Authenticator
	// Events receives inventory.stock.changed (usually the bus). Without
	// it events wait in the documents.
	Events shop.Publisher
	// Lease is how long a runner of a reservation's transition holds it
	// without finishing (default 30 s). A retry takes over a reservation
	// whose lease ran out; the sweeper, once it has been out for another
	// Lease.
	Lease time.Duration
	// SweepInterval is how often Run sweeps (default 15 s).
	SweepInterval time.Duration
	// Retention is how long a finished reservation is kept, so that a late
	// repeat finds it (default 72 h).
	Retention time.Duration
	// MaxHolds caps the open reservations of one SKU (default 10,000):
	// each is recorded in the SKU's stock document.
	MaxHolds int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger reports failures that do not fail a call (default slog.Default()).
	Logger *slog.Logger
}

// Collections of a Server's database.
const (
	collStock        = "stock"
	collReservations = "reservations"
)

// Server is the MongoDB implementation of Service. Its collections: stock
// (one document per SKU, by SKU, holding the counters, the holds of open
// reservations and the outbox), reservations (one per order, by order id)
// and requests (see internal/idem); on FerretDB also the version logs of
// the first two (see internal/docstore.Versions). Create it with New; its
// methods are safe for concurrent use, also by several replicas on one
// database.
type Server struct {
	opts         Options
	log          *slog.Logger
	stock        *mongo.Collection
	reservations *mongo.Collection
	stockV       *docstore.Versions
	resV         *docstore.Versions
	requests     *idem.Store
	relay        *outbox.Relay
	locks        keylock.Map // per SKU, shared with the relay
	resLocks     keylock.Map // per order
}

// stockDoc is one SKU's stock.
type stockDoc struct {
	SKU      string `bson:"_id"`
	OnHand   int64  `bson:"on_hand"`
	Reserved int64  `bson:"reserved"`
	// Available is OnHand − Reserved, stored so that a MongoDB query can
	// select in-stock SKUs.
	Available int64 `bson:"available"`
	// Holds are the open reservations' units of this SKU.
	Holds []hold `bson:"holds,omitempty"`
	// Requests are the last adjustments applied, so that a re-run of one
	// (its outcome not remembered) is not applied twice.
	Requests      []applied `bson:"requests,omitempty"`
	Version       int64     `bson:"version"`
	UpdatedAt     time.Time `bson:"updated_at"`
	outbox.Events `bson:",inline"`
	// Log is the audit log of the admins' changes (see History), written
	// in the same write as each.
	audit.Log `bson:",inline"`
}

// hold is the units one order holds of a SKU.
type hold struct {
	Order    string `bson:"o"`
	Quantity int64  `bson:"q"`
}

// applied is a request applied to a stock document.
type applied struct {
	Key string    `bson:"k"`
	At  time.Time `bson:"at"`
}

// A stock document remembers its last maxApplied adjustments, for at most
// appliedTTL: far more than retries and redeliveries need.
const (
	maxApplied = 16
	appliedTTL = 10 * time.Minute
)

func (d *stockDoc) public() Stock {
	return Stock{SKU: d.SKU, OnHand: d.OnHand, Reserved: d.Reserved, Available: d.OnHand - d.Reserved, Version: d.Version, UpdatedAt: d.UpdatedAt}
}

func (d *stockDoc) holdOf(order string) int {
	return slices.IndexFunc(d.Holds, func(h hold) bool { return h.Order == order })
}

// New returns a Server storing its data in db, and creates its indexes.
func New(db *mongo.Database, opts Options) (*Server, error) {
	if db == nil {
		return nil, errors.New("inventory: nil database")
	}
	for _, d := range []*time.Duration{&opts.Lease, &opts.SweepInterval, &opts.Retention} {
		if *d < 0 {
			return nil, shop.Invalid("invalid inventory options", "Lease", "durations must not be negative")
		}
	}
	opts.Lease = cmpOr(opts.Lease, DefaultLease)
	opts.SweepInterval = cmpOr(opts.SweepInterval, DefaultSweepInterval)
	opts.Retention = cmpOr(opts.Retention, DefaultRetention)
	if opts.MaxHolds <= 0 {
		opts.MaxHolds = DefaultMaxHolds
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{
		opts:         opts,
		log:          opts.Logger,
		stock:        db.Collection(collStock),
		reservations: db.Collection(collReservations),
	}
	s.stockV = docstore.NewVersions(s.stock, "version", s.log)
	s.resV = docstore.NewVersions(s.reservations, "version", s.log)
	s.requests = idem.New(db, idem.Options{Logger: s.log})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The sweeper's look for open reservations; a scan on FerretDB, which
	// uses only _id.
	if err := indexes.Ensure(ctx, s.reservations, bson.D{{Key: "open", Value: 1}}, bson.D{{Key: "updated_at", Value: 1}}); err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	relay, err := outbox.New(ctx, outbox.Config{Collection: s.stock, Publisher: opts.Events, Locks: &s.locks, Name: ServiceName, Logger: s.log})
	if err != nil {
		return nil, err
	}
	s.relay = relay
	return s, nil
}

func cmpOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// now returns the clock's time in UTC at BSON's millisecond precision.
func (s *Server) now() time.Time { return s.opts.Now().UTC().Truncate(time.Millisecond) }

// ---- stock ----

// SetStock implements Service.
func (s *Server) SetStock(ctx context.Context, r SetStockRequest) (Stock, error) {
	p, err := shop.RequireAdmin(ctx, s.opts.Auth)
	if err != nil {
		return Stock{}, err
	}
	ctx = audit.WithActor(ctx, p)
	if err := fieldErrors("invalid stock", "sku", checkSKU(r.SKU), "on_hand", checkUnits(r.OnHand)); err != nil {
		return Stock{}, err
	}
	return idem.Do(ctx, s.requests, MethodSetStock, r, func(ctx context.Context) (Stock, error) {
		return s.setStock(ctx, r)
	})
}

// setStock sets the units on hand of r.SKU (checked).
func (s *Server) setStock(ctx context.Context, r SetStockRequest) (Stock, error) {
	return s.setStockFrom(ctx, MethodSetStock, r, nil)
}

// onHandChanged is the audit log's list of fields of an admin's change:
// the units on hand (available follows them).
var onHandChanged = []string{"on_hand"}

// setStockFrom is setStock, for the request method (recorded in the
// audit log), starting from pre, the stock as loaded before (nil: load
// it).
func (s *Server) setStockFrom(ctx context.Context, method string, r SetStockRequest, pre *loadedStock) (Stock, error) {
	d, err := s.changeStockFrom(ctx, r.SKU, true, pre, func(d *stockDoc, now time.Time) error {
		if r.OnHand < d.Reserved {
			return shop.Conflict(fmt.Sprintf("%d units of %s are reserved: on hand cannot be less", d.Reserved, r.SKU))
		}
		if d.Version > 0 && d.OnHand == r.OnHand {
			return errUnchanged
		}
		d.OnHand = r.OnHand
		d.Record(ctx, method, now, onHandChanged)
		return nil
	})
	if err != nil {
		return Stock{}, err
	}
	return d.public(), nil
}

// setManyConcurrency is how many SKUs of one SetStockMany are written at
// once.
const setManyConcurrency = 8

// SetStockMany implements Service.
func (s *Server) SetStockMany(ctx context.Context, r SetStockManyRequest) ([]StockResult, error) {
	p, err := shop.RequireAdmin(ctx, s.opts.Auth)
	if err != nil {
		return nil, err
	}
	ctx = audit.WithActor(ctx, p)
	var fields []string
	switch {
	case len(r.Items) == 0:
		fields = append(fields, "items", "name at least one SKU")
	case len(r.Items) > MaxLines:
		fields = append(fields, "items", fmt.Sprintf("at most %d SKUs", MaxLines))
	default:
		seen := make(map[string]bool, len(r.Items))
		for i, it := range r.Items {
			at := "items[" + strconv.Itoa(i) + "]"
			msg := checkSKU(it.SKU)
			if msg == "" && seen[it.SKU] {
				msg = "appears twice"
			}
			seen[it.SKU] = true
			fields = append(fields, at+".sku", msg, at+".on_hand", checkUnits(it.OnHand))
		}
	}
	if err := fieldErrors("invalid stock", fields...); err != nil {
		return nil, err
	}
	return idem.Do(ctx, s.requests, MethodSetStockMany, r, func(ctx context.Context) ([]StockResult, error) {
		out := make([]StockResult, len(r.Items))
		errs := make([]error, len(r.Items))
		pre := make([]loadedStock, len(r.Items))
		if !r.IfAbsent {
			s.loadMany(ctx, r.Items, pre)
		} // else the insert finds out which exist: pre says none does
		created, err := s.createStock(ctx, r.Items, pre, out)
		if err != nil {
			return nil, err
		}
		sem := make(chan struct{}, setManyConcurrency)
		var wg sync.WaitGroup
		for i, it := range r.Items {
			out[i].SKU = it.SKU
			if created[i] {
				continue
			}
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				if r.IfAbsent {
					errs[i] = s.keep(ctx, &out[i])
					return
				}
				st, err := s.setStockFrom(ctx, MethodSetStockMany, it, &pre[i])
				if err != nil {
					errs[i] = err
					return
				}
				out[i].Stock = &st
			}()
		}
		wg.Wait()
		for i, err := range errs {
			var e *shop.Error
			switch {
			case err == nil:
			case errors.Is(err, shop.ErrConflict) && errors.As(err, &e):
				out[i].Error = e // for good: reported, the others stand
			default:
				return nil, err // worth retrying: the call fails, and a retry sets the rest
			}
		}
		return out, nil
	})
}

// keep fills in res, the result of a SKU that IfAbsent leaves as it is,
// with its stock as stored.
func (s *Server) keep(ctx context.Context, res *StockResult) error {
	var d stockDoc
	_, found, err := s.stockV.Load(ctx, res.SKU, &d)
	switch {
	case err != nil:
		return s.internal(ctx, "load stock", err)
	case !found: // removed since the insert found it: cannot happen today
		return shop.Unavailable("stock of " + res.SKU + " changed meanwhile: try again")
	}
	st := d.public()
	res.Stock, res.Kept = &st, true
	return nil
}

// loadedStock is the stock of a SKU as loaded, outside its lock.
type loadedStock struct {
	doc   stockDoc
	rev   docstore.Rev
	found bool
	err   error
}

// loadMany loads the stock of every item into pre, setManyConcurrency at
// a time.
func (s *Server) loadMany(ctx context.Context, items []SetStockRequest, pre []loadedStock) {
	sem := make(chan struct{}, setManyConcurrency)
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			p := &pre[i]
			p.rev, p.found, p.err = s.stockV.Load(ctx, it.SKU, &p.doc)
		}()
	}
	wg.Wait()
}

// createStock creates, as set_stock would, the stock of the items whose
// SKU pre found without a record, all with one insert (one transaction on
// FerretDB where an insert each costs one each), publishes their events,
// and reports which it created, filling in their results. A SKU that
// another writer created meanwhile is not created: it is left to
// setStock, as are the SKUs with a record.
func (s *Server) createStock(ctx context.Context, items []SetStockRequest, pre []loadedStock, out []StockResult) ([]bool, error) {
	var fresh []int
	for i, p := range pre {
		if p.err == nil && !p.found {
			fresh = append(fresh, i)
		}
	}
	created := make([]bool, len(items))
	if len(fresh) == 0 {
		return created, nil
	}
	// The new records' events wait in one batch record, not in each
	// record (see outbox.Relay.Begin): two writes for the batch instead
	// of a clearing write per SKU. Until Commit, this process's writers
	// of these SKUs wait (Begin takes their locks).
	now := s.now()
	docs := make([]stockDoc, len(fresh))
	pending := make([]outbox.Doc, len(fresh))
	for k, i := range fresh {
		d := &docs[k]
		*d = stockDoc{SKU: items[i].SKU, OnHand: items[i].OnHand, Version: 1, UpdatedAt: now}
		d.Available = d.OnHand - d.Reserved
		d.Record(ctx, MethodSetStockMany, now, onHandChanged)
		var ev outbox.Events
		ev.Add(eventID(d.SKU, d.Version), shop.EventStockChanged, shop.StockChanged{
			SKU: d.SKU, Available: d.Available, OnHand: d.OnHand, Version: d.Version, Occurred: now,
		}, now)
		pending[k] = outbox.Doc{ID: d.SKU, Version: d.Version, Events: ev}
	}
	b, err := s.relay.Begin(ctx, pending)
	if err != nil {
		return nil, s.internal(ctx, "store stock events", err)
	}
	batch := make([]docstore.StoreItem, len(fresh))
	for k := range docs {
		docs[k].Events = outbox.Events{Batch: b.ID()}
		batch[k] = docstore.StoreItem{ID: docs[k].SKU, Doc: docs[k]}
	}
	stored, err := s.stockV.StoreMany(ctx, batch)
	if cerr := b.Commit(ctx, stored); cerr != nil {
		s.log.Warn("inventory: events not published yet; the relay will retry", "skus", len(fresh), "err", cerr)
	}
	for k, i := range fresh {
		if k < len(stored) && stored[k] {
			st := docs[k].public()
			out[i].Stock = &st
			created[i] = true
		}
	}
	if err != nil {
		return nil, s.internal(ctx, "store stock", err)
	}
	return created, nil
}

// Adjust implements Service.
func (s *Server) Adjust(ctx context.Context, r AdjustRequest) (Stock, error) {
	p, err := shop.RequireAdmin(ctx, s.opts.Auth)
	if err != nil {
		return Stock{}, err
	}
	ctx = audit.WithActor(ctx, p)
	delta := ""
	if r.Delta == 0 || r.Delta > MaxUnits || r.Delta < -MaxUnits {
		delta = fmt.Sprintf("must be from -%d to %d, not 0", MaxUnits, MaxUnits)
	}
	if err := fieldErrors("invalid adjustment", "sku", checkSKU(r.SKU), "delta", delta); err != nil {
		return Stock{}, err
	}
	// An adjustment is not idempotent by nature: the request is recorded
	// in the stock document, in the same write (see changeStock).
	key := ""
	if id := transport.RequestID(ctx); id != "" {
		key = id
	}
	return idem.Do(ctx, s.requests, MethodAdjust, r, func(ctx context.Context) (Stock, error) {
		d, err := s.changeStock(ctx, r.SKU, true, func(d *stockDoc, now time.Time) error {
			if key != "" && slices.ContainsFunc(d.Requests, func(a applied) bool { return a.Key == key }) {
				return errUnchanged // applied by an earlier run of this request
			}
			next := d.OnHand + r.Delta
			switch {
			case next < d.Reserved:
				return shop.Conflict(fmt.Sprintf("%s has %d on hand, %d reserved: cannot take %d off", r.SKU, d.OnHand, d.Reserved, -r.Delta))
			case next > MaxUnits:
				return shop.Conflict(fmt.Sprintf("%s would have more than %d units on hand", r.SKU, MaxUnits))
			}
			d.OnHand = next
			if key != "" {
				d.remember(key, now)
			}
			d.Record(ctx, MethodAdjust, now, onHandChanged)
			return nil
		})
		if err != nil {
			return Stock{}, err
		}
		return d.public(), nil
	})
}

// remember records the request key as applied, forgetting old ones.
func (d *stockDoc) remember(key string, now time.Time) {
	keep := d.Requests[:0:0]
	for _, a := range d.Requests {
		if now.Sub(a.At) < appliedTTL {
			keep = append(keep, a)
		}
	}
	keep = append(keep, applied{Key: key, At: now})
	if n := len(keep); n > maxApplied {
		keep = keep[n-maxApplied:]
	}
	d.Requests = keep
}

// Get implements Service.
func (s *Server) Get(ctx context.Context, r GetRequest) (Stock, error) {
	if err := fieldErrors("invalid stock request", "sku", checkSKU(r.SKU)); err != nil {
		return Stock{}, err
	}
	d, found, err := s.loadStock(ctx, r.SKU)
	if err != nil {
		return Stock{}, err
	}
	if !found {
		return Stock{}, shop.NotFound("stock of " + quote(r.SKU))
	}
	return d.public(), nil
}

// GetMany implements Service.
func (s *Server) GetMany(ctx context.Context, r GetManyRequest) ([]Stock, error) {
	var fields []string
	switch {
	case len(r.SKUs) == 0:
		fields = append(fields, "skus", "name at least one SKU")
	case len(r.SKUs) > MaxLines:
		fields = append(fields, "skus", fmt.Sprintf("at most %d SKUs", MaxLines))
	default:
		for i, sku := range r.SKUs {
			fields = append(fields, fmt.Sprintf("skus[%d]", i), checkSKU(sku))
		}
	}
	if err := fieldErrors("invalid stock request", fields...); err != nil {
		return nil, err
	}
	out := make([]Stock, 0, len(r.SKUs))
	seen := map[string]bool{}
	for _, sku := range r.SKUs {
		if seen[sku] {
			continue
		}
		seen[sku] = true
		// One _id lookup each: what FerretDB serves from its index ($in
		// would scan the collection there).
		d, found, err := s.loadStock(ctx, sku)
		if err != nil {
			return nil, err
		}
		if found {
			out = append(out, d.public())
		}
	}
	return out, nil
}

// History implements Service. It reads the stock document as its
// versions say (on FerretDB the document may lag behind its log), so the
// history is that of the stock Get shows.
func (s *Server) History(ctx context.Context, r shop.HistoryRequest) (shop.History, error) {
	if _, err := shop.RequireAdmin(ctx, s.opts.Auth); err != nil {
		return shop.History{}, err
	}
	kind := ""
	if r.Kind != "" && r.Kind != HistoryKind {
		kind = "must be empty or " + HistoryKind
	}
	if err := fieldErrors("invalid history request", "id", checkSKU(r.ID), "kind", kind); err != nil {
		return shop.History{}, err
	}
	d, found, err := s.loadStock(ctx, r.ID)
	if err != nil {
		return shop.History{}, err
	}
	if !found {
		return shop.History{}, shop.NotFound("stock of " + quote(r.ID))
	}
	return d.Log.History(HistoryKind, r.ID, false), nil
}

func (s *Server) loadStock(ctx context.Context, sku string) (stockDoc, bool, error) {
	var d stockDoc
	_, found, err := s.stockV.Load(ctx, sku, &d)
	if err != nil {
		return stockDoc{}, false, s.internal(ctx, "load stock", err)
	}
	return d, found, nil
}

// errUnchanged, returned by a change function, skips the write.
var errUnchanged = errors.New("unchanged")

// errNoStock, from changeStock, says the SKU has no stock record.
var errNoStock = errors.New("no stock record")

// maxWriteAttempts bounds the compare-and-set attempts of one change.
const maxWriteAttempts = 40

// changeStock applies fn to the stock of sku and stores the result with
// a compare-and-set on its version, retrying from a fresh read when
// another replica got there first. A SKU without a record starts from
// zero when create is set, and is errNoStock otherwise. fn may return
// errUnchanged to skip the write. The change's event is stored in the
// same write and published at once (see internal/outbox). It returns the
// stock as stored, or as read when unchanged.
func (s *Server) changeStock(ctx context.Context, sku string, create bool, fn func(d *stockDoc, now time.Time) error) (*stockDoc, error) {
	return s.changeStockFrom(ctx, sku, create, nil, fn)
}

// changeStockFrom is changeStock starting from pre, the stock as loaded
// before (nil: load it): a stale one only fails the first compare-and-set.
func (s *Server) changeStockFrom(ctx context.Context, sku string, create bool, pre *loadedStock, fn func(d *stockDoc, now time.Time) error) (*stockDoc, error) {
	defer s.locks.Lock(sku)() // this process's writers take turns
	for attempt := 0; attempt < maxWriteAttempts; attempt++ {
		if attempt > 0 {
			// Another replica won: back off a little, with jitter.
			if err := sleep(ctx, time.Duration(1+mathrand.IntN(min(attempt, 10)*2))*time.Millisecond); err != nil {
				return nil, transport.ContextError(ctx)
			}
		}
		var d stockDoc
		var rev docstore.Rev
		var found bool
		var err error
		if attempt == 0 && pre != nil && pre.err == nil {
			d, rev, found = pre.doc, pre.rev, pre.found
		} else {
			rev, found, err = s.stockV.Load(ctx, sku, &d)
		}
		if err != nil {
			return nil, s.internal(ctx, "load stock", err)
		}
		if !found {
			if !create {
				return nil, errNoStock
			}
			d = stockDoc{SKU: sku}
		}
		now := s.now()
		if err := fn(&d, now); errors.Is(err, errUnchanged) {
			return &d, nil
		} else if err != nil {
			return nil, err
		}
		d.Version = rev.Version + 1
		d.Available = d.OnHand - d.Reserved
		d.UpdatedAt = now
		// Only the newest snapshot matters: it replaces any unpublished one.
		d.Events = outbox.Events{}
		d.Events.Add(eventID(sku, d.Version), shop.EventStockChanged, shop.StockChanged{
			SKU: sku, Available: d.Available, OnHand: d.OnHand, Version: d.Version, Occurred: now,
		}, now)
		stored, err := s.stockV.Store(ctx, sku, d, rev)
		if err != nil {
			return nil, s.internal(ctx, "store stock", err)
		}
		if stored {
			s.announce(ctx, &d)
			return &d, nil
		}
	}
	return nil, shop.Unavailable("the stock of " + quote(sku) + " is changing too fast; try again")
}

// ---- helpers ----

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

// internal logs a storage failure and returns the error the caller
// sees (shop.StorageFailure).
func (s *Server) internal(ctx context.Context, what string, err error) error {
	out := shop.StorageFailure(ctx, "inventory: "+what, err)
	if errors.Is(out, shop.ErrInternal) {
		s.log.ErrorContext(ctx, "inventory: "+what, "err", err)
	}
	return out
}

// idsOnly is the projection of the sweeper's looks: ids only.
func idsOnly() *options.FindOptionsBuilder {
	return options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}})
}
