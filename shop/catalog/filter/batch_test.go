package filter_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/filter"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/inproc"
)

// backlogEvent is one event of a backlog, as published.
type backlogEvent struct {
	id        string // empty for a fresh one
	key       string
	body      any
	malformed bool // the service must park it
}

// productEvent and stockEvent are backlog events of a product version and
// of a SKU's stock.
func productEvent(p shop.ProductSnapshot) backlogEvent {
	return backlogEvent{key: shop.EventProductUpdated, body: shop.ProductChanged{Product: p, Occurred: p.UpdatedAt}}
}

func stockEvent(sku string, available, version int64) backlogEvent {
	return backlogEvent{key: shop.EventStockChanged, body: shop.StockChanged{SKU: sku, Available: available, OnHand: available, Version: version, Occurred: t0}}
}

// eventBacklog is a seed's worth of product, stock and category events
// with what can go wrong in one batch: a product created and changed
// (its first-seen time is the first version's), an older version after
// a newer one, created and deleted, deleted at its first version, a
// stock change older than the one before it, an event delivered twice
// and an undecodable event in the middle.
func eventBacklog() []backlogEvent {
	b1 := prod("b1", "Bench", 1000, []string{"c-bench"}, map[string]any{"color": "red"}, 5)
	b1v2 := b1
	b1v2.Version, b1v2.Title, b1v2.UpdatedAt = 2, "Bench Deluxe", t0
	b2 := prod("b2", "Bucket", 200, []string{"c-bench"}, map[string]any{"color": "blue"}, 4)
	b2v2, b2v3 := b2, b2
	b2v2.Version, b2v2.Title = 2, "Bucket v2"
	b2v3.Version, b2v3.Title, b2v3.Attributes = 3, "Bucket v3", map[string]any{"color": "green"}
	b3 := withVariants(prod("b3", "Boot", 5000, []string{"c-bench"}, map[string]any{"color": "black"}, 3), "B3-S", "B3-M")
	b4 := prod("b4", "Broom", 300, []string{"c-bench"}, nil, 2)
	b4.SKU = "B4"
	b4v2 := b4
	b4v2.Version = 2
	b5 := prod("b5", "Bin", 100, nil, nil, 1)
	b6 := prod("b6", "Bowl draft", 700, []string{"c-bench"}, nil, 1)
	b6.Status = shop.StatusDraft
	b1.SKU, b2.SKU, b1v2.SKU, b2v2.SKU, b2v3.SKU = "B1", "B2", "B1", "B2", "B2"

	cat := shop.CategorySnapshot{ID: "c-bench", Slug: "bench", Name: "Bench", Version: 1}
	catV2 := cat
	catV2.Version, catV2.Name = 2, "Benches"
	evs := []backlogEvent{
		{key: shop.EventCategoryCreated, body: shop.CategoryChanged{Category: cat}},
		productEvent(b1),
		stockEvent("B1", 3, 1),
		productEvent(b2),
		productEvent(b1v2),
		productEvent(b2v3),
		{key: shop.EventProductUpdated, body: map[string]any{"product": "not an object"}, malformed: true},
		productEvent(b2v2), // older than v3, which came before it
		productEvent(b3),
		withID("b3-v1", productEvent(b3)),
		withID("b3-v1", productEvent(b3)), // the same event again: dropped
		stockEvent("B3-S", 0, 2),
		stockEvent("B3-S", 5, 1), // older
		stockEvent("B3-M", 2, 1),
		productEvent(b4),
		stockEvent("B4", 1, 1),
		{key: shop.EventProductDeleted, body: shop.ProductChanged{Product: b4v2, Deleted: true, Occurred: t0}},
		{key: shop.EventProductDeleted, body: shop.ProductChanged{Product: b5, Deleted: true, Occurred: t0}},
		productEvent(b6),
		stockEvent("UNSOLD", 9, 1),
		{key: shop.EventCategoryUpdated, body: shop.CategoryChanged{Category: catV2}},
	}
	// More first versions, with their stock: new documents in bulk.
	for i := range 20 {
		p := prod(fmt.Sprint("f", i), fmt.Sprint("Filler ", i), int64(100+i), []string{"c-bench"}, map[string]any{"size": fmt.Sprint(i % 3)}, 10+i)
		p.SKU = fmt.Sprint("F", i)
		evs = append(evs, productEvent(p), stockEvent(p.SKU, int64(i%2), 1))
	}
	return evs
}

func withID(id string, ev backlogEvent) backlogEvent {
	ev.id = id
	return ev
}

func publishBacklog(t *testing.T, bus transport.Bus, ev backlogEvent) {
	t.Helper()
	b, err := json.Marshal(ev.body)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Publish(context.Background(), transport.Event{ID: ev.id, Key: ev.key, Body: b}); err != nil {
		t.Fatalf("publish %s: %v", ev.key, err)
	}
}

// TestBacklogInBatches: events that queued up while the service was away
// are applied in batches with the result of applying them one at a time
// (the read model and the stored documents alike), and the undecodable
// one among them is parked alone.
func TestBacklogInBatches(t *testing.T) {
	backlog := eventBacklog()
	wellFormed := int64(-1) // the repeat is dropped uncounted
	for _, ev := range backlog {
		if !ev.malformed {
			wellFormed++
		}
	}

	// The reference: each event published once the one before it was
	// handled, on a bus of its own.
	refBus := bustest.New(t, "inproc")
	refDB := testenv.MongoDB(t, "filter_backlog_ref")
	ref := newEventServer(t, refDB)
	refSub, err := filter.Subscribe(refBus, ref, transport.WithBatch(1), transport.WithMaxAttempts(3), transport.WithRetryDelay(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { refSub.Close() })
	handled := int64(0)
	for i, ev := range backlog {
		publishBacklog(t, refBus, ev)
		switch {
		case ev.malformed:
			eq(t, "parked by the reference", len(waitParked(t, refBus, 1)), 1)
		case ev.id != "" && backlog[i-1].id == ev.id:
			// A repeat: dropped, handled by nobody.
		default:
			handled++
			waitHandled(t, ref, handled)
		}
	}

	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		// The subscriber's queue exists, the service is away.
		for _, pattern := range []string{filter.ProductEvents, filter.CategoryEvents, filter.StockEvents} {
			sub, err := bus.Subscribe(filter.ServiceName, pattern, transport.EventHandlerFunc(func(context.Context, transport.Event) error {
				return fmt.Errorf("no event expected yet")
			}))
			if err != nil {
				t.Fatal(err)
			}
			sub.Close()
		}
		for _, ev := range backlog {
			publishBacklog(t, bus, ev)
		}
		db := testenv.MongoDB(t, "filter_backlog")
		srv := newEventServer(t, db)
		// One run per subscription, so that the versions of a product
		// are handled in the order they came, as by the reference: two
		// runs at once may apply a product's second version before its
		// first, which then changes nothing (its first-seen time is the
		// second's), as two events handled one each at once may.
		sub, err := filter.Subscribe(bus, srv, transport.WithBatch(transport.MaxBatch), transport.WithConcurrency(transport.MaxBatch),
			transport.WithMaxAttempts(3), transport.WithRetryDelay(20*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sub.Close() })
		waitHandled(t, srv, wellFormed)
		parked := waitParked(t, bus, 1)
		if len(parked) != 1 || string(parked[0].Body) != `{"product":"not an object"}` {
			t.Errorf("parked %d events, want the undecodable one alone: %v", len(parked), parked)
		}
		st := srv.EventStats()
		eq(t, "failed deliveries (one event, three attempts)", st.Failed, int64(3))
		if _, ok := bus.(*inproc.Bus); ok {
			// The repeat came in the batch of its first copy, and was
			// dropped there. (RabbitMQ may hand the two copies to two
			// runs at once, which then both handle theirs, the second
			// changing nothing, as with one event at a time.)
			eq(t, "events handled (the repeat dropped)", st.Applied+st.Ignored, wellFormed)
		}

		// The backlog is applied once the model is the reference's; the
		// counts above cannot tell on RabbitMQ (see the repeat).
		var diffs []string
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			diffs = append(readModelDiffs(t, ref, srv), documentDiffs(t, refDB, db)...)
			if len(diffs) == 0 || time.Now().After(deadline) {
				break
			}
		}
		for _, d := range diffs {
			t.Error(d)
		}
		// And that model is the one expected.
		res := mustQuery(t, srv, filter.Query{Limit: 100})
		eq(t, "visible products", res.Total, 23) // b1, b2, b3 and 20 fillers
		eq(t, "the newest is the product seen first most recently", res.Items[0].ID, "b3")
		eq(t, "category renamed", mustQuery(t, srv, filter.Query{CategoryID: "c-bench"}).Category.Name, "Benches")
		eq(t, "b2's title", mustQuery(t, srv, filter.Query{Text: "bucket"}).Items[0].Title, "Bucket v3")
		if !srv.Index().InStock("b3") || srv.Index().InStock("f0") {
			t.Error("the stock of b3 (a variant with 2) or of f0 (none) is wrong")
		}
	})
}

// newEventServer opens a filter server on db, not yet subscribed.
func newEventServer(t *testing.T, db *mongo.Database) *filter.Server {
	t.Helper()
	srv, err := filter.New(db, filter.Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// readModelDiffs returns how got answers a set of queries differently
// from want.
func readModelDiffs(t *testing.T, want, got filter.Service) []string {
	t.Helper()
	queries := []filter.Query{
		{Limit: 100},
		{Sort: filter.SortPriceDesc, Limit: 100},
		{Sort: filter.SortTitle, Limit: 100},
		{InStock: true, Limit: 100},
		{CategoryID: "c-bench", Limit: 100},
		{Text: "b", Attributes: []filter.AttributeFilter{{Code: "color", Values: []string{"green", "black"}}}},
	}
	var diffs []string
	for _, q := range queries {
		w, g := mustQuery(t, want, q), mustQuery(t, got, q)
		wb, _ := json.Marshal(w)
		gb, _ := json.Marshal(g)
		if string(wb) != string(gb) {
			diffs = append(diffs, fmt.Sprintf("query %+v:\n got  %s\n want %s", q, gb, wb))
		}
	}
	return diffs
}

// documentDiffs returns how the service's collections differ between
// the databases.
func documentDiffs(t *testing.T, want, got *mongo.Database) []string {
	t.Helper()
	var diffs []string
	for _, coll := range []string{"products", "categories", "stock"} {
		w, g := allDocs(t, want.Collection(coll)), allDocs(t, got.Collection(coll))
		if len(w) == 0 {
			diffs = append(diffs, coll+": the reference stored nothing")
		}
		if len(w) != len(g) {
			diffs = append(diffs, fmt.Sprintf("%s: %d documents stored, want %d", coll, len(g), len(w)))
			continue
		}
		for i := range w {
			if w[i] != g[i] {
				diffs = append(diffs, fmt.Sprintf("%s stored:\n got  %s\n want %s", coll, g[i], w[i]))
			}
		}
	}
	return diffs
}

// allDocs returns the documents of coll as extended JSON, by _id.
func allDocs(t *testing.T, coll *mongo.Collection) []string {
	t.Helper()
	ctx := context.Background()
	cur, err := coll.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	var docs []bson.Raw
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d.String()
	}
	return out
}
