package kit_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop/catalog/internal/kit"
)

// TestSnapshot: Get loads the data once and again only after a raise of
// the stamp, by this copy or another on the same stamp (another replica);
// a write whose raise was lost is seen once maxAge has passed.
func TestSnapshot(t *testing.T) {
	ctx := context.Background()
	db := testenv.MongoDB(t, "snapshot")
	data, stamps := db.Collection("data"), db.Collection("stamps")
	const maxAge = 500 * time.Millisecond
	newCopy := func(loads *atomic.Int32) *kit.Snapshot[string] {
		return kit.NewSnapshot(stamps, "data", maxAge, nil, func(ctx context.Context) (string, error) {
			loads.Add(1)
			var d struct {
				V string `bson:"v"`
			}
			err := data.FindOne(ctx, bson.D{{Key: "_id", Value: "d"}}).Decode(&d)
			if errors.Is(err, mongo.ErrNoDocuments) {
				err = nil
			}
			return d.V, err
		})
	}
	write := func(v string) {
		t.Helper()
		if _, err := data.ReplaceOne(ctx, bson.D{{Key: "_id", Value: "d"}}, bson.D{{Key: "v", Value: v}}, options.Replace().SetUpsert(true)); err != nil {
			t.Fatal(err)
		}
	}
	var loads, otherLoads atomic.Int32
	snap, other := newCopy(&loads), newCopy(&otherLoads)
	get := func(want string, wantLoads int32) {
		t.Helper()
		got, err := snap.Get(ctx)
		if err != nil || got != want || loads.Load() != wantLoads {
			t.Fatalf("Get = %q, %v after %d loads; want %q after %d", got, err, loads.Load(), want, wantLoads)
		}
	}

	write("one")
	get("one", 1)
	get("one", 1) // from memory
	write("two")
	snap.Changed(ctx)
	get("two", 2)
	write("three") // by another replica, which raises the stamp
	other.Changed(ctx)
	beforeLoad := time.Now()
	var wg sync.WaitGroup
	for range 8 { // Gets at once that find the copy stale load it once
		wg.Go(func() {
			if got, err := snap.Get(ctx); err != nil || got != "three" {
				t.Errorf("Get = %q, %v; want three", got, err)
			}
		})
	}
	wg.Wait()
	get("three", 3)

	write("four") // a raise lost
	start := time.Now()
	for {
		got, err := snap.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got == "four" {
			break
		}
		if time.Since(start) > 10*maxAge {
			t.Fatalf("a write without a raise is not seen after %v", time.Since(start))
		}
		time.Sleep(maxAge / 10)
	}
	if age := time.Since(beforeLoad); age < maxAge {
		t.Errorf("a write without a raise was seen %v after the load, before maxAge %v: the copy is not kept", age, maxAge)
	}
}

// TestSnapshotRaisesAtOnce: raises at once on a stamp not yet stored all
// land (an upsert that loses the race to create the stamp document is
// tried again) and move the stamp, so a copy loaded before them reloads.
func TestSnapshotRaisesAtOnce(t *testing.T) {
	ctx := context.Background()
	stamps := testenv.MongoDB(t, "snapshot").Collection("stamps")
	var logs testenv.Buffer
	logger := logs.Logger()
	var loads atomic.Int32
	newCopy := func() *kit.Snapshot[int32] {
		return kit.NewSnapshot(stamps, "data", time.Minute, logger, func(context.Context) (int32, error) { return loads.Add(1), nil })
	}
	reader := newCopy()
	if _, err := reader.Get(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 32 {
		writer := newCopy()
		wg.Go(func() { writer.Changed(ctx) })
	}
	wg.Wait()
	if strings.Contains(logs.String(), "cannot raise") {
		t.Errorf("a raise was lost:\n%s", logs.String())
	}
	if v, err := reader.Get(ctx); err != nil || v != 2 {
		t.Errorf("Get after the raises = %d, %v; want the second load", v, err)
	}
}
