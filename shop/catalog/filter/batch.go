package filter

import (
	"context"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/shopbus/shopbus/internal/docstore"
	"github.com/shopbus/shopbus/transport"
)

// DefaultEventBatch is the most events Subscribe hands the service in one
// handler call by default (transport.WithBatch), with a concurrency of
// twice that, so that two calls run at once. Events that queue up, as
// they do while a catalogue is seeded, are applied a batch at a time:
// the first versions of a batch go to each collection with one insert,
// which the embedded store writes several times faster than an insert
// each.
const DefaultEventBatch = 50

// eventHandler applies events to s one at a time (HandleEvent) or a
// batch at a time (HandleEvents).
type eventHandler struct{ s *Server }

// HandleEvent implements transport.EventHandler.
func (h eventHandler) HandleEvent(ctx context.Context, ev transport.Event) error {
	return h.s.handleEvent(ctx, ev)
}

// HandleEvents implements transport.BatchEventHandler.
func (h eventHandler) HandleEvents(ctx context.Context, evs []transport.Event) []error {
	return h.s.handleEvents(ctx, evs)
}

// handleEvents applies a batch of events with the result handleEvent
// would reach one event at a time, in the order given, and returns one
// error per event. An event that cannot be decoded gets its error alone.
// Of the changes to one product, category or SKU, only the newest is
// applied: the others are superseded, handled with nothing to do (and
// counted as ignored). The changes that would change the index are
// persisted first, the first versions (version 1, not deleted) with one
// ReplaceNewMany per collection and the others one by one as
// storeVersioned does; an event whose write fails gets the error, and
// the index is left as it was for it. Then every change stored is applied
// to the index, or the newer version the database turned out to hold.
// A batch of one event (the bus hands a subscriber that keeps up one
// event at a time) is handleEvent's.
func (s *Server) handleEvents(ctx context.Context, evs []transport.Event) []error {
	if len(evs) == 1 {
		return []error{s.handleEvent(ctx, evs[0])}
	}
	errs := make([]error, len(evs))
	var products chains[product]
	var categories chains[categoryRec]
	var stock chains[stockRec]
	for i, ev := range evs {
		c, err := s.decodeEvent(ev)
		if err != nil {
			errs[i] = err
			continue
		}
		switch c.kind {
		case productChange:
			products.add(i, c.product)
		case categoryChange:
			categories.add(i, c.category)
		case stockChange:
			stock.add(i, c.stock)
		}
	}

	var ready []readyChange
	prods, at := persistNewest(ctx, s.products, &products, func(chain []product) (product, bool) {
		p, ok := s.idx.prepareChain(chain)
		if p.Deleted {
			// A tombstone, as applyProduct stores.
			p = product{ID: p.ID, Version: p.Version, Deleted: true, Created: p.Created}
		}
		return p, ok
	}, errs)
	for k, p := range prods {
		ready = append(ready, readyChange{at[k], change{kind: productChange, product: p}})
	}
	cats, at := persistNewest(ctx, s.categories, &categories, func(chain []categoryRec) (categoryRec, bool) {
		last := chain[len(chain)-1]
		return last, s.idx.prepareCategory(last)
	}, errs)
	for k, c := range cats {
		ready = append(ready, readyChange{at[k], change{kind: categoryChange, category: c}})
	}
	sts, at := persistNewest(ctx, s.stock, &stock, func(chain []stockRec) (stockRec, bool) {
		last := chain[len(chain)-1]
		return last, s.idx.prepareStock(last)
	}, errs)
	for k, st := range sts {
		ready = append(ready, readyChange{at[k], change{kind: stockChange, stock: st}})
	}

	// Apply in the order the events came, under one lock.
	slices.SortFunc(ready, func(a, b readyChange) int { return a.at - b.at })
	applied := make([]bool, len(evs))
	s.idx.mu.Lock()
	for _, c := range ready {
		switch c.kind {
		case productChange:
			applied[c.at] = s.idx.apply(c.product)
		case categoryChange:
			applied[c.at] = s.idx.applyCategory(c.category)
		case stockChange:
			applied[c.at] = s.idx.applyStock(c.stock)
		}
	}
	s.idx.mu.Unlock()

	for i, err := range errs {
		switch {
		case err != nil:
			s.failed.Add(1)
		case applied[i]:
			s.applied.Add(1)
		default:
			s.ignored.Add(1)
		}
	}
	return errs
}

// readyChange is a change of a batch stored and ready to apply to the
// index; at is the index of its event in the batch.
type readyChange struct {
	at int
	change
}

// versioned is a record of the read model as the service stores it: a
// product, a category or a SKU's stock.
type versioned interface {
	product | categoryRec | stockRec
	// versionOf returns the record's id, version and whether it is a
	// deletion.
	versionOf() (id string, version int64, deleted bool)
}

func (p product) versionOf() (string, int64, bool)     { return p.ID, p.Version, p.Deleted }
func (c categoryRec) versionOf() (string, int64, bool) { return c.ID, c.Version, c.Deleted }
func (st stockRec) versionOf() (string, int64, bool)   { return st.SKU, st.Version, false }

// supersedes reports whether next is newer than held (see newer).
func supersedes[T versioned](held, next T) bool {
	_, hv, hd := held.versionOf()
	_, v, d := next.versionOf()
	return newer(hv, hd, v, d)
}

// chain is the changes of one entity within a batch that one-at-a-time
// handling could apply, in the order they came: each newer than the one
// before it. The last is the one the batch applies.
type chain[T versioned] struct {
	recs []T
	at   []int // at[k] is the index in the batch of recs[k]'s event
}

// chains groups the changes of a batch by entity, in the order each
// entity first came.
type chains[T versioned] struct {
	byID  map[string]*chain[T]
	order []*chain[T]
}

// add adds rec, the change of event at, to its entity's chain when it is
// newer than the chain's last; one that is not is superseded.
func (cs *chains[T]) add(at int, rec T) {
	id, _, _ := rec.versionOf()
	c := cs.byID[id]
	if c == nil {
		if cs.byID == nil {
			cs.byID = map[string]*chain[T]{}
		}
		c = &chain[T]{}
		cs.byID[id] = c
		cs.order = append(cs.order, c)
	} else if !supersedes(c.recs[len(c.recs)-1], rec) {
		return
	}
	c.recs, c.at = append(c.recs, rec), append(c.at, at)
}

// persistNewest stores the newest change of each entity of cs in coll,
// when prepare (given the entity's chain) says it would change the index,
// and returns what to apply to the index (the change, or the version the
// database holds when it holds that one or a newer one) with the index
// of each one's event. The error of a change that failed is set in errs.
func persistNewest[T versioned](ctx context.Context, coll *mongo.Collection, cs *chains[T], prepare func(chain []T) (T, bool), errs []error) ([]T, []int) {
	var recs []T
	var at []int
	for _, c := range cs.order {
		rec, ok := prepare(c.recs)
		if !ok {
			continue
		}
		recs, at = append(recs, rec), append(at, c.at[len(c.at)-1])
	}
	stored, storeErrs := storeVersionedMany(ctx, coll, recs)
	var out []T
	var outAt []int
	for k, rec := range stored {
		if storeErrs[k] != nil {
			errs[at[k]] = storeErrs[k]
			continue
		}
		out, outAt = append(out, rec), append(outAt, at[k])
	}
	return out, outAt
}

// storeVersionedMany is storeVersioned for many records of coll, one per
// id: the first versions (version 1, not deleted) with one
// docstore.ReplaceNewMany, the others one by one. It returns, for each,
// the record or the one the database holds instead, or the error.
func storeVersionedMany[T versioned](ctx context.Context, coll *mongo.Collection, recs []T) ([]T, []error) {
	out := slices.Clone(recs)
	errs := make([]error, len(recs))
	var items []docstore.NewItem
	var firstAt []int // firstAt[k] is the index in recs of items[k]
	for i, rec := range recs {
		id, version, deleted := rec.versionOf()
		if version == 1 && !deleted {
			items = append(items, docstore.NewItem{ID: id, Doc: rec, Conds: []docstore.Cond{docstore.Less("version", version)}})
			firstAt = append(firstAt, i)
			continue
		}
		out[i], errs[i] = storeVersioned(ctx, coll, id, version, deleted, rec)
	}
	if len(items) == 0 {
		return out, errs
	}
	stored, err := docstore.ReplaceNewMany(ctx, coll, items)
	for k, i := range firstAt {
		switch {
		case stored[k]:
		case err != nil:
			errs[i] = err
		default:
			out[i], errs[i] = loadStored[T](ctx, coll, items[k].ID)
		}
	}
	return out, errs
}

// loadStored returns the record of coll whose _id is id.
func loadStored[T any](ctx context.Context, coll *mongo.Collection, id string) (T, error) {
	var cur T
	err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&cur)
	return cur, err
}

// prepareChain is prepare for a product changed several times in one
// batch: chain holds its versions, each newer than the one before. It
// reports whether the last would change the index and, if so, returns
// it with the Created that handling the chain one version at a time
// would give it: the earliest first-seen time of the version held and of
// the versions of the chain newer than that one. It takes the read lock.
func (x *Index) prepareChain(chain []product) (product, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	last := chain[len(chain)-1]
	r := x.recs[last.ID]
	var created int64
	if r != nil {
		if !newer(r.version, r.deleted, last.Version, last.Deleted) {
			return last, false
		}
		created = r.created
	}
	for _, p := range chain {
		if r != nil && !newer(r.version, r.deleted, p.Version, p.Deleted) {
			continue // applied one at a time, it would change nothing
		}
		// As prepare and apply do: the time held, unless p's is earlier
		// or the time held is unknown.
		if created == 0 || p.Created != 0 && p.Created < created {
			created = p.Created
		}
	}
	last.Created = created
	return last, true
}
