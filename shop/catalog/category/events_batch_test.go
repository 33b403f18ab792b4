package category_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/category"
	ct "github.com/shopbus/shopbus/shop/catalog/internal/catalogtest"
	"github.com/shopbus/shopbus/transport"
)

// productBacklog is a seed's worth of product events with what can go
// wrong in one batch: a product created and changed, an older version
// after a newer one, created and deleted, deleted at its first version,
// a first version twice, and an undecodable event in the middle (index
// malformedAt).
func productBacklog(t *testing.T) (evs []transport.Event, malformedAt int) {
	t.Helper()
	product := func(key, id string, version int64, cats ...string) transport.Event {
		body, err := json.Marshal(shop.ProductChanged{
			Product: shop.ProductSnapshot{ID: id, Version: version, CategoryIDs: cats},
			Deleted: key == shop.EventProductDeleted,
		})
		if err != nil {
			t.Fatal(err)
		}
		return transport.Event{Key: key, Body: body}
	}
	updated := func(id string, version int64, cats ...string) transport.Event {
		return product(shop.EventProductUpdated, id, version, cats...)
	}
	evs = []transport.Event{
		updated("p1", 1, "c1"),
		updated("p2", 1, "c1", "c2"),
		updated("p1", 2, "c2"),
		updated("p3", 3, "c3"),
		{Key: shop.EventProductUpdated, Body: []byte(`{"product": "nope"}`)},
		updated("p3", 2, "c1"), // older than v3, which came before it
		updated("p4", 1, "c1"),
		product(shop.EventProductDeleted, "p4", 2, "c1"),
		product(shop.EventProductDeleted, "p5", 1, "c1"),
		updated("p6", 2, "c2", "not an id!"),
		updated("p2", 1, "c3"), // the same version again: changes nothing
	}
	malformedAt = 4
	for i := range 20 {
		evs = append(evs, updated(fmt.Sprint("f", i), 1, fmt.Sprint("c", i%3+1)))
	}
	return evs, malformedAt
}

// ref is a product_refs document.
type ref struct {
	ID          string   `bson:"_id"`
	CategoryIDs []string `bson:"category_ids"`
	Version     int64    `bson:"version"`
	Deleted     bool     `bson:"deleted"`
}

func storedRefs(t *testing.T, db *mongo.Database) string {
	t.Helper()
	ctx := context.Background()
	cur, err := db.Collection("product_refs").Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	var refs []ref
	if err := cur.All(ctx, &refs); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(refs)
}

// TestProductEventsInBatches: product events applied in a batch, called
// directly or as a backlog the subscription finds, store what applying
// them one at a time stores, and the undecodable one among them fails
// (and is parked) alone.
func TestProductEventsInBatches(t *testing.T) {
	ctx := context.Background()
	backlog, malformedAt := productBacklog(t)

	// The reference: one event at a time.
	refDB := testenv.MongoDB(t, "category_batch_ref")
	refSrv := ct.Must(category.New(refDB, category.Options{}))(t)
	for i, ev := range backlog {
		if err := refSrv.HandleProductEvent(ctx, ev); (err != nil) != (i == malformedAt) {
			t.Fatalf("one at a time, event %d: %v", i, err)
		}
	}
	want := storedRefs(t, refDB)
	for _, w := range []string{"{f0 [c1] 1 false}", "{f19 [c2] 1 false}", "{p1 [c2] 2 false}", "{p2 [c1 c2] 1 false}",
		"{p3 [c3] 3 false}", "{p4 [] 2 true}", "{p5 [] 1 true}", "{p6 [c2] 2 false}"} {
		if !strings.Contains(want, w) {
			t.Errorf("the reference stored %s, without %s", want, w)
		}
	}

	// One call with the whole backlog.
	db := testenv.MongoDB(t, "category_batch")
	srv := ct.Must(category.New(db, category.Options{}))(t)
	errs := srv.HandleProductEvents(ctx, backlog)
	for i, err := range errs {
		if (err != nil) != (i == malformedAt) {
			t.Errorf("in a batch, event %d: %v", i, err)
		}
	}
	if got := storedRefs(t, db); got != want {
		t.Errorf("stored by one batch:\n got  %s\n want %s", got, want)
	}

	// The backlog a subscription finds when it starts.
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		away, err := bus.Subscribe(category.ServiceName, category.ProductEvents, transport.EventHandlerFunc(func(context.Context, transport.Event) error {
			return fmt.Errorf("no event expected yet")
		}))
		if err != nil {
			t.Fatal(err)
		}
		away.Close()
		for _, ev := range backlog {
			if err := bus.Publish(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		db := testenv.MongoDB(t, "category_backlog")
		srv := ct.Must(category.New(db, category.Options{}))(t)
		sub, err := category.Subscribe(bus, srv, transport.WithMaxAttempts(3), transport.WithRetryDelay(20*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sub.Close() })
		var parked []transport.Event
		ct.Eventually(t, "the backlog handled, the undecodable event parked", func() error {
			dead, err := bus.DrainDeadLetters(ctx, category.ServiceName)
			if err != nil {
				return err
			}
			parked = append(parked, dead...)
			if got := storedRefs(t, db); got != want {
				return fmt.Errorf("stored %s, want %s", got, want)
			}
			if len(parked) == 0 {
				return fmt.Errorf("nothing parked")
			}
			return nil
		})
		if len(parked) != 1 || string(parked[0].Body) != string(backlog[malformedAt].Body) {
			t.Errorf("parked %d events, want the undecodable one alone: %v", len(parked), parked)
		}
	})
}
