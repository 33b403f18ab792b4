package docstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/shopbus/shopbus/internal/testenv"
)

type doc struct {
	ID      string    `bson:"_id"`
	Version int64     `bson:"version"`
	Note    string    `bson:"note,omitempty"`
	At      time.Time `bson:"at,omitzero"`
}

// eachWay runs fn with the conditions checked here (by _id) and with the
// whole filter sent to the server: both must give the same results.
func eachWay(t *testing.T, fn func(t *testing.T, coll *mongo.Collection)) {
	for _, serverFilters := range []bool{false, true} {
		name := "checked-here"
		if serverFilters {
			name = "server-filter"
		}
		t.Run(name, func(t *testing.T) {
			forceServerFilters = serverFilters
			t.Cleanup(func() { forceServerFilters = false })
			fn(t, testenv.MongoDB(t, "docstore").Collection("docs"))
		})
	}
}

func load(t *testing.T, coll *mongo.Collection, id string) (doc, bool) {
	t.Helper()
	var d doc
	err := coll.FindOne(context.Background(), bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return doc{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return d, true
}

func must(t *testing.T, what string, got bool, err error, want bool) {
	t.Helper()
	if err != nil || got != want {
		t.Fatalf("%s: %v, %v; want %v", what, got, err, want)
	}
}

func TestReplaceOnVersion(t *testing.T) {
	eachWay(t, func(t *testing.T, coll *mongo.Collection) {
		ctx := context.Background()
		ok, err := Replace(ctx, coll, "a", doc{ID: "a", Version: 1}, false, Equal("version", int64(0)))
		must(t, "replace a missing document", ok, err, false)
		if _, found := load(t, coll, "a"); found {
			t.Fatal("a replace without upsert created a document")
		}
		if _, err := coll.InsertOne(ctx, doc{ID: "a", Version: 1, Note: "one"}); err != nil {
			t.Fatal(err)
		}
		ok, err = Replace(ctx, coll, "a", doc{ID: "a", Version: 2, Note: "two"}, false, Equal("version", int64(1)))
		must(t, "replace at the right version", ok, err, true)
		ok, err = Replace(ctx, coll, "a", doc{ID: "a", Version: 2, Note: "stale"}, false, Equal("version", int64(1)))
		must(t, "replace at a stale version", ok, err, false)
		if d, _ := load(t, coll, "a"); d.Note != "two" || d.Version != 2 {
			t.Fatalf("after a stale replace: %+v", d)
		}
		// Integers compare by value whatever their width.
		ok, err = Replace(ctx, coll, "a", doc{ID: "a", Version: 3, Note: "three"}, false, Equal("version", 2))
		must(t, "replace with an int condition", ok, err, true)
		// A missing field fails every condition.
		ok, err = Replace(ctx, coll, "a", doc{ID: "a"}, false, Equal("missing", int64(0)))
		must(t, "condition on a missing field", ok, err, false)
	})
}

// Read models store a version only over an older one: Less with upsert.
func TestUpsertUnlessNewer(t *testing.T) {
	eachWay(t, func(t *testing.T, coll *mongo.Collection) {
		ctx := context.Background()
		store := func(v int64, op func(string, any) Cond) (bool, error) {
			return Replace(ctx, coll, "p", doc{ID: "p", Version: v, Note: fmt.Sprint(v)}, true, op("version", v))
		}
		ok, err := store(5, Less)
		must(t, "first version", ok, err, true)
		ok, err = store(3, Less)
		must(t, "older version", ok, err, false)
		ok, err = store(5, Less)
		must(t, "same version", ok, err, false)
		ok, err = store(5, LessOrEqual) // e.g. a deletion at the same version
		must(t, "same version, or equal", ok, err, true)
		ok, err = store(8, Less)
		must(t, "newer version", ok, err, true)
		if d, _ := load(t, coll, "p"); d.Version != 8 {
			t.Fatalf("stored %+v, want version 8", d)
		}

		set := func(v int64) bson.D {
			return bson.D{{Key: "$set", Value: bson.D{{Key: "version", Value: v}, {Key: "note", Value: "set"}}}}
		}
		ok, err = Update(ctx, coll, "q", set(2), true, Less("version", int64(2)))
		must(t, "update-upsert a missing document", ok, err, true)
		ok, err = Update(ctx, coll, "q", set(1), true, Less("version", int64(1)))
		must(t, "update-upsert an older version", ok, err, false)
		if d, _ := load(t, coll, "q"); d.Version != 2 || d.Note != "set" {
			t.Fatalf("stored %+v", d)
		}
		if _, err := Update(ctx, coll, "q", set(3), true, Equal("version", int64(2))); err == nil {
			t.Fatal("upsert with an equality condition was accepted")
		}
	})
}

func TestUpdateAndDeleteOnCondition(t *testing.T) {
	eachWay(t, func(t *testing.T, coll *mongo.Collection) {
		ctx := context.Background()
		at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
		if _, err := coll.InsertOne(ctx, doc{ID: "d", Version: 4, Note: "x", At: at}); err != nil {
			t.Fatal(err)
		}
		unset := bson.D{{Key: "$unset", Value: bson.D{{Key: "note", Value: ""}}}}
		ok, err := Update(ctx, coll, "d", unset, false, Equal("version", int64(3)))
		must(t, "update at a stale version", ok, err, false)
		ok, err = Update(ctx, coll, "d", unset, false, Equal("version", int64(4)), Equal("at", at))
		must(t, "update at the right version and time", ok, err, true)
		if d, _ := load(t, coll, "d"); d.Note != "" {
			t.Fatalf("note not unset: %+v", d)
		}
		ok, err = Delete(ctx, coll, "d", Equal("at", at.Add(time.Second)))
		must(t, "delete at another time", ok, err, false)
		ok, err = Delete(ctx, coll, "d", Less("version", int64(5)), Equal("at", at))
		must(t, "delete on condition", ok, err, true)
		if _, found := load(t, coll, "d"); found {
			t.Fatal("still there after delete")
		}
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "s"}, {Key: "owner", Value: "ann"}}); err != nil {
			t.Fatal(err)
		}
		ok, err = Delete(ctx, coll, "s", Equal("owner", "bob"))
		must(t, "delete another's", ok, err, false)
		ok, err = Delete(ctx, coll, "s", Equal("owner", "ann"))
		must(t, "delete one's own", ok, err, true)
		if _, err := Delete(ctx, coll, "s", Equal("owner", 1.5)); err == nil {
			t.Fatal("a condition on a float was accepted")
		}
	})
}

// Writers in one process that read a version and write the next never lose
// an update: every successful write is counted in the final version. (On
// the embedded FerretDB, sending the filter to the server loses updates:
// its conditional replace reads, then writes. So that way is checked only
// on MongoDB.)
func TestConcurrentWritersLoseNothing(t *testing.T) {
	eachWay(t, func(t *testing.T, coll *mongo.Collection) {
		ctx := context.Background()
		if forceServerFilters && isFerretDB(ctx, coll.Database().Client()) {
			return // FerretDB: not atomic, as said above
		}
		if _, err := coll.InsertOne(ctx, doc{ID: "c"}); err != nil {
			t.Fatal(err)
		}
		var (
			wg        sync.WaitGroup
			mu        sync.Mutex
			succeeded int64
		)
		for range 8 {
			wg.Go(func() {
				for range 10 {
					cur, _ := load(t, coll, "c")
					ok, err := Replace(ctx, coll, "c", doc{ID: "c", Version: cur.Version + 1}, false, Equal("version", cur.Version))
					if err != nil {
						t.Error(err)
						return
					}
					if ok {
						mu.Lock()
						succeeded++
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		if d, _ := load(t, coll, "c"); d.Version != succeeded || succeeded == 0 {
			t.Fatalf("final version %d after %d successful writes", d.Version, succeeded)
		}
	})
}

func TestDetectsTheEmbeddedStore(t *testing.T) {
	client := testenv.MongoClient(t)
	want := os.Getenv(testenv.EnvMongoURI) == "" // the embedded FerretDB
	if got := scansFilters(context.Background(), client); got != want {
		t.Fatalf("scansFilters = %v on this store, want %v", got, want)
	}
}

// BenchmarkConditionalReplace replaces one document at a known version in
// a collection of 2,000, the way services write: "server-filter" sends
// {_id, version} to the server (the baseline), "checked-here" finds the
// document by _id and checks the version in Go; "ratio" is checked-here's
// time per write over server-filter's. On the embedded FerretDB that ratio
// is the point; on MongoDB both go through the _id index.
func BenchmarkConditionalReplace(b *testing.B) {
	ctx := context.Background()
	coll := testenv.MongoDB(b, "docstore").Collection("docs")
	docs := make([]any, 2000)
	for i := range docs {
		docs[i] = doc{ID: fmt.Sprintf("d%04d", i), Note: "some text to parse in every document of the collection"}
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		b.Fatal(err)
	}
	var baseline time.Duration
	for _, serverFilters := range []bool{true, false} {
		name := map[bool]string{true: "server-filter", false: "checked-here"}[serverFilters]
		b.Run(name, func(b *testing.B) {
			forceServerFilters = serverFilters
			defer func() { forceServerFilters = false }()
			// Start every run from version 0.
			if _, err := coll.UpdateMany(ctx, bson.D{}, bson.D{{Key: "$set", Value: bson.D{{Key: "version", Value: int64(0)}}}}); err != nil {
				b.Fatal(err)
			}
			version := map[string]int64{}
			start := time.Now()
			for n := 0; b.Loop(); n++ {
				id := fmt.Sprintf("d%04d", (n*7919)%len(docs))
				v := version[id]
				ok, err := Replace(ctx, coll, id, doc{ID: id, Version: v + 1}, false, Equal("version", v))
				if err != nil || !ok {
					b.Fatalf("replace %s at %d: %v %v", id, v, ok, err)
				}
				version[id] = v + 1
			}
			perOp := time.Since(start) / time.Duration(b.N)
			if serverFilters {
				baseline = perOp
			} else if baseline > 0 {
				b.ReportMetric(float64(perOp)/float64(baseline), "ratio")
			}
		})
	}
}
