package category

import (
	"context"
	"encoding/json"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/shopbus/shopbus/internal/docstore"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/internal/kit"
	"github.com/shopbus/shopbus/transport"
)

// ProductEvents is the pattern of the events the category service consumes.
const ProductEvents = "product.product.*"

// Subscribe feeds srv's product read model (which category holds which
// product) from the product events on bus, under the subscriber name
// "category". Handling is idempotent: an event older than what is stored
// for the product is ignored. An undecodable event fails, so the bus
// retries it and then parks it in the dead-letter queue. Repeats are not
// looked up in a store of handled event ids: that would cost two writes'
// worth of commands for every event to spare one for a rare repeat.
//
// Events that wait are handled in batches (HandleProductEvents) of up to
// DefaultEventBatch, two batches at once; a WithBatch or WithConcurrency
// among opts sets them instead (a concurrency alone, a batch of half of
// it).
func Subscribe(bus transport.Bus, srv *Server, opts ...transport.ConsumerOption) (transport.Subscription, error) {
	return bus.Subscribe(ServiceName, ProductEvents, productEvents{srv}, transport.BatchDefaults(DefaultEventBatch, opts)...)
}

// DefaultEventBatch is the most product events Subscribe hands the
// service in one handler call by default (transport.WithBatch), with a
// concurrency of twice that, so that two calls run at once. Events that
// queue up, as they do while a catalogue is seeded, are applied a batch
// at a time: the references of new products with one insert, which the
// embedded store writes several times faster than an insert each.
const DefaultEventBatch = 50

// productEvents hands product events to s one at a time
// (HandleProductEvent) or a batch at a time (HandleProductEvents).
type productEvents struct{ s *Server }

// HandleEvent implements transport.EventHandler.
func (h productEvents) HandleEvent(ctx context.Context, ev transport.Event) error {
	return h.s.HandleProductEvent(ctx, ev)
}

// HandleEvents implements transport.BatchEventHandler.
func (h productEvents) HandleEvents(ctx context.Context, evs []transport.Event) []error {
	return h.s.HandleProductEvents(ctx, evs)
}

// productRef is what a product event tells the read model: the
// product's categories (none once deleted) at a version.
type productRef struct {
	id          string
	version     int64
	deleted     bool
	categoryIDs []string
}

// decodeProductEvent decodes a product.product.* event; a body that
// cannot be decoded or lacks a product id or version is an error.
func decodeProductEvent(ev transport.Event) (productRef, error) {
	var pc shop.ProductChanged
	if err := json.Unmarshal(ev.Body, &pc); err != nil {
		return productRef{}, fmt.Errorf("category: malformed product event %s: %w", ev.ID, err)
	}
	p := pc.Product
	if !kit.ValidID(p.ID) || p.Version <= 0 {
		return productRef{}, fmt.Errorf("category: product event %s lacks a product id or version", ev.ID)
	}
	r := productRef{id: p.ID, version: p.Version, deleted: pc.Deleted || ev.Key == shop.EventProductDeleted, categoryIDs: []string{}}
	if !r.deleted {
		for _, id := range p.CategoryIDs {
			if kit.ValidID(id) {
				r.categoryIDs = append(r.categoryIDs, id)
			}
		}
	}
	return r, nil
}

// fields are the fields of r's document but its _id.
func (r productRef) fields() bson.D {
	return bson.D{{Key: "category_ids", Value: r.categoryIDs}, {Key: "version", Value: r.version}, {Key: "deleted", Value: r.deleted}}
}

// doc is r's whole document.
func (r productRef) doc() bson.D {
	return append(bson.D{{Key: "_id", Value: r.id}}, r.fields()...)
}

// olderThan is the condition of writing r: only over an older version.
// If a newer one is stored, r is stale and changes nothing.
func (r productRef) olderThan() docstore.Cond { return docstore.Less("version", r.version) }

// HandleProductEvent applies one product.product.* event to the read model.
func (s *Server) HandleProductEvent(ctx context.Context, ev transport.Event) error {
	r, err := decodeProductEvent(ev)
	if err != nil {
		return err
	}
	return s.storeRef(ctx, r)
}

// storeRef writes r over an older version of the product's document.
func (s *Server) storeRef(ctx context.Context, r productRef) error {
	if r.version == 1 {
		// A new product, rarely stored yet: one insert, also on FerretDB
		// (these three fields are the whole document).
		_, err := docstore.ReplaceNew(ctx, s.refs, r.id, r.doc(), r.olderThan())
		return err
	}
	_, err := docstore.Update(ctx, s.refs, r.id, bson.D{{Key: "$set", Value: r.fields()}}, true, r.olderThan())
	return err
}

// HandleProductEvents applies a batch of product.product.* events to the
// read model, with the result HandleProductEvent reaches one event at a
// time in the order given, and returns one error per event. An event
// that cannot be decoded gets its error alone. Of the events of one
// product only the one with the newest version (the first of them, on a
// tie) is written; the others are superseded, handled with nothing to
// do. The version-1 documents are written with one
// docstore.ReplaceNewMany, the others one by one as HandleProductEvent
// does; an event whose write fails gets the error. A batch of one event
// is HandleProductEvent's.
func (s *Server) HandleProductEvents(ctx context.Context, evs []transport.Event) []error {
	errs := make([]error, len(evs))
	if len(evs) == 1 {
		errs[0] = s.HandleProductEvent(ctx, evs[0])
		return errs
	}
	var refs []productRef
	var at []int // at[k] is the index in evs of refs[k]'s event
	byID := map[string]int{}
	for i, ev := range evs {
		r, err := decodeProductEvent(ev)
		if err != nil {
			errs[i] = err
			continue
		}
		k, ok := byID[r.id]
		switch {
		case !ok:
			byID[r.id] = len(refs)
			refs, at = append(refs, r), append(at, i)
		case r.version > refs[k].version:
			refs[k], at[k] = r, i
		}
	}
	var items []docstore.NewItem
	var itemAt []int // itemAt[j] is the index in evs of items[j]'s event
	for k, r := range refs {
		if r.version == 1 {
			items = append(items, docstore.NewItem{ID: r.id, Doc: r.doc(), Conds: []docstore.Cond{r.olderThan()}})
			itemAt = append(itemAt, at[k])
			continue
		}
		errs[at[k]] = s.storeRef(ctx, r)
	}
	if len(items) > 0 {
		stored, err := docstore.ReplaceNewMany(ctx, s.refs, items)
		if err != nil {
			for j, i := range itemAt {
				if !stored[j] {
					errs[i] = err
				}
			}
		}
	}
	return errs
}
