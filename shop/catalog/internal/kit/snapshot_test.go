package kit_test

import (
	"context"
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
			if err == mongo.ErrNoDocuments {
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
	get("three", 3)
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
