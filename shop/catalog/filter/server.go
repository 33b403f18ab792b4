package filter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/shopbus/shopbus/internal/docstore"
	"github.com/shopbus/shopbus/internal/outbox"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/transport"
)

// Collections of the service's own database.
const (
	productsCollection   = "products"   // one document per product id: the read model
	categoriesCollection = "categories" // one document per category id
)

// seenEvents is how many event ids the service remembers to drop repeats.
const seenEvents = 100_000

// maxSourcePages bounds a rebuild, against a source that never ends.
const maxSourcePages = 1_000_000

// Options configures New. The zero value works, but Rebuild then fails.
type Options struct {
	// Auth checks the admin session that Rebuild requires.
	Auth shop.Authenticator
	// Products is where Rebuild reads the products from.
	Products ProductSource
	// Categories, if set, is where Rebuild reads the categories from.
	Categories CategorySource
	// Logger receives event handling problems; nil means slog.Default().
	Logger *slog.Logger
	// Subscriber names this replica's own event subscription; empty means
	// ServiceName, for a single replica. Each replica keeps its own
	// in-memory model and needs every event: give each replica a name of
	// its own (for example "filter-" and the pod's name). A named replica
	// also joins the durable ServiceName subscription, which the replicas
	// share, so that the database misses no event while every replica is
	// away; its own queue expires after ReplicaQueueExpiry.
	Subscriber string
	// ReplicaQueueExpiry is how long a named replica's own event queue
	// outlives the replica (a replica back within that time misses
	// nothing; one gone for good leaves nothing behind). Zero means one
	// hour.
	ReplicaQueueExpiry time.Duration
}

// DefaultReplicaQueueExpiry is the ReplicaQueueExpiry used when none is set.
const DefaultReplicaQueueExpiry = time.Hour

// Server is the MongoDB-backed filter service. It keeps its read model in
// memory (an Index) and in its own database, one document per product,
// per category and per SKU's stock keyed by id, written on every change;
// New loads it back.
type Server struct {
	idx        *Index
	products   *mongo.Collection
	categories *mongo.Collection
	stock      *mongo.Collection
	opts       Options
	log        *slog.Logger
	rebuildMu  sync.Mutex
	// seen holds the ids of the last events handled, so that a repeat is
	// dropped; in memory, like the index (repeats after a restart find
	// the index at a newer version and change nothing either).
	seen outbox.Seen

	applied, ignored, failed atomic.Int64
}

// EventStats counts the events a Server has handled since it started.
type EventStats struct {
	// Applied counts events that changed the read model.
	Applied int64 `json:"applied"`
	// Ignored counts events that changed nothing: repeated, older than
	// what is held, or of a kind the service does not use.
	Ignored int64 `json:"ignored"`
	// Failed counts failed deliveries (each retry of an event counts).
	Failed int64 `json:"failed"`
}

// EventStats returns the event counters.
func (s *Server) EventStats() EventStats {
	return EventStats{Applied: s.applied.Load(), Ignored: s.ignored.Load(), Failed: s.failed.Load()}
}

var _ Service = (*Server)(nil)

// New opens the filter service on db and loads its read model into memory.
// The service looks documents up by _id only, so it creates no further
// indexes.
func New(db *mongo.Database, opts Options) (*Server, error) {
	s := &Server{
		idx:        NewIndex(),
		products:   db.Collection(productsCollection),
		categories: db.Collection(categoriesCollection),
		stock:      db.Collection(stockCollection),
		opts:       opts,
		log:        opts.Logger,
		seen:       outbox.NewMemorySeen(seenEvents),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if err := s.load(context.Background()); err != nil {
		return nil, err
	}
	return s, nil
}

// load merges the stored read model into the index; what the index holds
// at a newer version stays.
func (s *Server) load(ctx context.Context) error {
	cats, err := loadAll[categoryRec](ctx, s.categories)
	if err != nil {
		return fmt.Errorf("filter: load categories: %w", err)
	}
	prods, err := loadAll[product](ctx, s.products)
	if err != nil {
		return fmt.Errorf("filter: load products: %w", err)
	}
	stock, err := loadAll[stockRec](ctx, s.stock)
	if err != nil {
		return fmt.Errorf("filter: load stock: %w", err)
	}
	s.idx.mu.Lock()
	defer s.idx.mu.Unlock()
	for _, c := range cats {
		s.idx.applyCategory(c)
	}
	for _, st := range stock {
		s.idx.applyStock(st)
	}
	for _, p := range prods {
		s.idx.apply(p)
	}
	return nil
}

func loadAll[T any](ctx context.Context, coll *mongo.Collection) ([]T, error) {
	cur, err := coll.Find(ctx, bson.D{})
	if err != nil {
		return nil, err
	}
	defer cur.Close(ctx)
	var out []T
	for cur.Next(ctx) {
		var v T
		if err := cur.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, cur.Err()
}

// Index returns the in-memory read model, for inspection.
func (s *Server) Index() *Index { return s.idx }

// Query implements Service.
func (s *Server) Query(ctx context.Context, q Query) (Result, error) {
	if ctx.Err() != nil {
		return Result{}, transport.ContextError(ctx)
	}
	return s.idx.Query(q)
}

// storeVersioned writes doc over an older version of it (over the same
// version too, for a deletion) and returns it; when the database holds
// that version or a newer one (written by a replica sharing the
// database), it returns the stored one instead.
func storeVersioned[T any](ctx context.Context, coll *mongo.Collection, id string, version int64, deleted bool, doc T) (T, error) {
	older := docstore.Less("version", version)
	if deleted {
		older = docstore.LessOrEqual("version", version)
	}
	var stored bool
	var err error
	if version == 1 && !deleted {
		// A first version (the entity was just created) is rarely stored
		// yet: insert it, in one round trip also on FerretDB.
		stored, err = docstore.ReplaceNew(ctx, coll, id, doc, older)
	} else {
		stored, err = docstore.Replace(ctx, coll, id, doc, true, older)
	}
	if err != nil || stored {
		return doc, err
	}
	return loadStored[T](ctx, coll, id)
}

// applyProduct persists p and applies it to the index, if it is newer than
// what is held. Persisting first means a failure leaves both unchanged, and
// the event is retried. When the database already holds that version or a
// newer one (written by a replica sharing the database), the stored
// version is applied instead. A deletion is stored as a tombstone.
func (s *Server) applyProduct(ctx context.Context, p product) (bool, error) {
	if !s.idx.prepare(&p) {
		return false, nil
	}
	if p.Deleted {
		p = product{ID: p.ID, Version: p.Version, Deleted: true, Created: p.Created}
	}
	p, err := storeVersioned(ctx, s.products, p.ID, p.Version, p.Deleted, p)
	if err != nil {
		return false, err
	}
	s.idx.mu.Lock()
	defer s.idx.mu.Unlock()
	return s.idx.apply(p), nil
}

func (s *Server) applyCategory(ctx context.Context, c categoryRec) (bool, error) {
	if !s.idx.prepareCategory(c) {
		return false, nil
	}
	c, err := storeVersioned(ctx, s.categories, c.ID, c.Version, c.Deleted, c)
	if err != nil {
		return false, err
	}
	s.idx.mu.Lock()
	defer s.idx.mu.Unlock()
	return s.idx.applyCategory(c), nil
}

// Rebuild implements Service. It needs Options.Products, and an admin
// session in ctx. One rebuild runs at a time; events keep being applied
// meanwhile, and a product changed by an event during the rebuild is never
// removed by it.
func (s *Server) Rebuild(ctx context.Context, _ RebuildRequest) (RebuildResult, error) {
	var res RebuildResult
	if _, err := shop.RequireAdmin(ctx, s.opts.Auth); err != nil {
		return res, err
	}
	if s.opts.Products == nil {
		return res, shop.Unavailable("filter: no product source configured")
	}
	s.rebuildMu.Lock()
	defer s.rebuildMu.Unlock()

	if s.opts.Categories != nil {
		before := s.idx.categoryVersions()
		seen := map[string]bool{}
		err := eachPage(ctx, s.opts.Categories.CategoryPage, func(snap shop.CategorySnapshot) error {
			res.Categories++
			c, err := categoryFromEvent(shop.CategoryChanged{Category: snap}, false)
			if err != nil {
				s.log.Warn("filter: rebuild skips a malformed category", "err", err)
				return nil
			}
			seen[c.ID] = true
			applied, err := s.applyCategory(ctx, c)
			if applied {
				res.CategoriesApplied++
			}
			return err
		})
		if err != nil {
			return res, err
		}
		for id, v := range before {
			if !seen[id] {
				removed, err := s.applyCategory(ctx, categoryRec{ID: id, Version: v, Deleted: true})
				if err != nil {
					return res, err
				}
				if removed {
					res.CategoriesRemoved++
				}
			}
		}
	}

	before := s.idx.productVersions()
	seen := map[string]bool{}
	err := eachPage(ctx, s.opts.Products.ProductPage, func(sp SourceProduct) error {
		res.Products++
		p, err := productFromEvent(shop.ProductChanged{Product: sp.Snapshot}, false)
		if !sp.CreatedAt.IsZero() {
			p.Created = sp.CreatedAt.UnixNano()
		}
		if err != nil {
			s.log.Warn("filter: rebuild skips a malformed product", "err", err)
			return nil
		}
		seen[p.ID] = true
		applied, err := s.applyProduct(ctx, p)
		if applied {
			res.Applied++
		}
		return err
	})
	if err != nil {
		return res, err
	}
	for id, v := range before {
		if !seen[id] {
			// Deleting at the version held: if an event changed the product
			// meanwhile, its version is newer and the deletion is ignored.
			removed, err := s.applyProduct(ctx, product{ID: id, Version: v, Deleted: true})
			if err != nil {
				return res, err
			}
			if removed {
				res.Removed++
			}
		}
	}
	return res, nil
}

// eachPage calls fn for every element of every page of a source.
func eachPage[T any](ctx context.Context, page func(context.Context, string) ([]T, string, error), fn func(T) error) error {
	cursor := ""
	for range maxSourcePages {
		items, next, err := page(ctx, cursor)
		if err != nil {
			return sourceError(err)
		}
		for _, it := range items {
			if err := fn(it); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		if next == cursor {
			return shop.Internal("filter: the source returned the same cursor twice")
		}
		cursor = next
	}
	return shop.Internal(fmt.Sprintf("filter: the source has more than %d pages", maxSourcePages))
}

// sourceError keeps a bus error from the source, and reports anything else
// as the source being unavailable.
func sourceError(err error) error {
	var e *transport.Error
	if errors.As(err, &e) {
		return err
	}
	return &shop.Error{Code: transport.CodeUnavailable, Message: "filter: source failed: " + err.Error(), Cause: err}
}

// productVersions returns the version of every product held and not
// deleted.
func (x *Index) productVersions() map[string]int64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	m := make(map[string]int64, len(x.recs))
	for id, r := range x.recs {
		if !r.deleted {
			m[id] = r.version
		}
	}
	return m
}

// categoryVersions returns the version of every category described by an
// event and not deleted.
func (x *Index) categoryVersions() map[string]int64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	m := map[string]int64{}
	for id, c := range x.cats {
		if c.known {
			m[id] = c.version
		}
	}
	return m
}
