package docstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

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

func TestSwap(t *testing.T) {
	eachWay(t, func(t *testing.T, coll *mongo.Collection) {
		ctx := context.Background()
		ok, err := Swap(ctx, coll, "w", doc{ID: "w", Version: 1}, Equal("version", int64(0)))
		must(t, "swap a missing document", ok, err, false)
		if _, found := load(t, coll, "w"); found {
			t.Fatal("a swap created a document")
		}
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "w"}, {Key: "version", Value: int64(1)}, {Key: "note", Value: "one"}, {Key: "owner", Value: "ann"}}); err != nil {
			t.Fatal(err)
		}
		ok, err = Swap(ctx, coll, "w", doc{ID: "w", Version: 2, Note: "two"}, Equal("version", int64(1)))
		must(t, "swap at the right version", ok, err, true)
		if d, _ := load(t, coll, "w"); d.Note != "two" || d.Version != 2 {
			t.Fatalf("after a swap: %+v", d)
		}
		// A failed condition leaves the document as it was, every field.
		if _, err := coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: "w"}}, bson.D{{Key: "version", Value: int64(2)}, {Key: "note", Value: "two"}, {Key: "owner", Value: "bob"}}); err != nil {
			t.Fatal(err)
		}
		ok, err = Swap(ctx, coll, "w", doc{ID: "w", Version: 3, Note: "stale"}, Equal("version", int64(2)), Equal("owner", "ann"))
		must(t, "swap of another's", ok, err, false)
		var raw bson.M
		if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "w"}}).Decode(&raw); err != nil {
			t.Fatal(err)
		}
		if raw["note"] != "two" || raw["owner"] != "bob" || raw["version"] != int64(2) {
			t.Fatalf("after a failed swap: %v, want it untouched", raw)
		}
		if _, err := Swap(ctx, coll, "w", doc{ID: "w"}, Equal("version", 1.5)); err == nil {
			t.Fatal("a condition on a float was accepted")
		}
	})
}

// Swaps in one process that read a version and write the next lose no
// update either: a swap whose condition failed puts back what it replaced.
func TestConcurrentSwapsLoseNothing(t *testing.T) {
	eachWay(t, func(t *testing.T, coll *mongo.Collection) {
		ctx := context.Background()
		if forceServerFilters && isFerretDB(ctx, coll.Database().Client()) {
			return // FerretDB's own conditional writes are not atomic
		}
		if _, err := coll.InsertOne(ctx, doc{ID: "c"}); err != nil {
			t.Fatal(err)
		}
		var (
			wg                sync.WaitGroup
			mu                sync.Mutex
			succeeded, failed int64
		)
		for range 8 {
			wg.Go(func() {
				for range 10 {
					cur, _ := load(t, coll, "c")
					ok, err := Swap(ctx, coll, "c", doc{ID: "c", Version: cur.Version + 1}, Equal("version", cur.Version))
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					if ok {
						succeeded++
					} else {
						failed++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if d, _ := load(t, coll, "c"); d.Version != succeeded || succeeded == 0 {
			t.Fatalf("final version %d after %d successful swaps (%d failed)", d.Version, succeeded, failed)
		}
	})
}

// On the embedded store a swap is one command where Replace sends two, and
// so is ReplaceNew of a new document.
func TestOneCommandWrites(t *testing.T) {
	ctx := context.Background()
	var commands atomic.Int64
	client, err := mongo.Connect(options.Client().ApplyURI(testenv.MongoURI(t)).SetMonitor(&event.CommandMonitor{
		Started: func(_ context.Context, e *event.CommandStartedEvent) {
			if e.CommandName != "buildInfo" {
				commands.Add(1)
			}
		},
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(ctx) })
	coll := client.Database(testenv.MongoDB(t, "docstore").Name()).Collection("docs")
	if _, err := coll.InsertOne(ctx, doc{ID: "s", Version: 1}); err != nil {
		t.Fatal(err)
	}
	scansFilters(ctx, client) // asked once per client
	count := func(what string, write func() (bool, error), want int64) {
		t.Helper()
		before := commands.Load()
		ok, err := write()
		must(t, what, ok, err, true)
		if n := commands.Load() - before; n != want {
			t.Errorf("%s: %d commands, want %d", what, n, want)
		}
	}
	replaces := int64(1)
	if scansFilters(ctx, client) {
		replaces = 2 // a find, then the replace by _id
	}
	count("replace", func() (bool, error) {
		return Replace(ctx, coll, "s", doc{ID: "s", Version: 2}, false, Equal("version", int64(1)))
	}, replaces)
	count("swap", func() (bool, error) {
		return Swap(ctx, coll, "s", doc{ID: "s", Version: 3}, Equal("version", int64(2)))
	}, 1)
	count("replace-new of a new document", func() (bool, error) {
		return ReplaceNew(ctx, coll, "t", doc{ID: "t", Version: 1}, Less("version", int64(1)))
	}, 1)
}

// ReplaceNew stores as Replace with upsert does, whether the document is
// new or not.
func TestReplaceNew(t *testing.T) {
	eachWay(t, func(t *testing.T, coll *mongo.Collection) {
		ctx := context.Background()
		store := func(v int64) (bool, error) {
			return ReplaceNew(ctx, coll, "n", doc{ID: "n", Version: v, Note: fmt.Sprint(v)}, Less("version", v))
		}
		ok, err := store(1)
		must(t, "a new document", ok, err, true)
		ok, err = store(1)
		must(t, "the same version again", ok, err, false)
		ok, err = store(3)
		must(t, "a newer version", ok, err, true)
		ok, err = store(2)
		must(t, "an older version", ok, err, false)
		if d, _ := load(t, coll, "n"); d.Version != 3 || d.Note != "3" {
			t.Fatalf("stored %+v, want version 3", d)
		}
		if _, err := ReplaceNew(ctx, coll, "n", doc{ID: "n", Version: 4}, Equal("version", int64(3))); err == nil {
			t.Fatal("an equality condition was accepted with upsert")
		}
	})
}

// BenchmarkSwap compares, in one run and alternating, a conditional
// Replace with a Swap of the same document size and condition in a
// collection of 2,000: their p50 (replace-p50-ms, swap-p50-ms) and the
// process's CPU time per write (replace-cpu-ms, swap-cpu-ms; the embedded
// server runs in the test process, so its work counts).
func BenchmarkSwap(b *testing.B) {
	ctx := context.Background()
	coll := testenv.MongoDB(b, "docstore").Collection("docs")
	docs := make([]any, 2000)
	for i := range docs {
		docs[i] = doc{ID: fmt.Sprintf("d%04d", i), Note: "some text to parse in every document of the collection"}
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		b.Fatal(err)
	}
	version := map[string]int64{}
	var times [2][]time.Duration
	var cpu [2]time.Duration
	for n := 0; b.Loop(); n++ {
		for k, write := range []func(context.Context, *mongo.Collection, any, any, ...Cond) (bool, error){
			func(ctx context.Context, coll *mongo.Collection, id, d any, conds ...Cond) (bool, error) {
				return Replace(ctx, coll, id, d, false, conds...)
			},
			Swap,
		} {
			id := fmt.Sprintf("d%04d", (2*n+k)*7919%len(docs))
			v := version[id]
			c0, start := cpuTime(), time.Now()
			ok, err := write(ctx, coll, id, doc{ID: id, Version: v + 1, Note: "some text"}, Equal("version", v))
			times[k] = append(times[k], time.Since(start))
			cpu[k] += cpuTime() - c0
			if err != nil || !ok {
				b.Fatalf("write %s at %d: %v %v", id, v, ok, err)
			}
			version[id] = v + 1
		}
	}
	for k, name := range []string{"replace", "swap"} {
		b.ReportMetric(float64(median(times[k]).Microseconds())/1000, name+"-p50-ms")
		b.ReportMetric(float64(cpu[k].Microseconds())/1000/float64(len(times[k])), name+"-cpu-ms")
	}
}

// cpuTime returns the CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestUpsertBesideAnInsertLosesNothing: a checked upsert of version 2
// racing an unchecked insert of version 1 (ReplaceNew's first try, say,
// of another event's handler) never leaves version 1: when the insert
// lands between the upsert's look and its write, the upsert's duplicate
// key is no "newer version there", and the upsert checks again.
func TestUpsertBesideAnInsertLosesNothing(t *testing.T) {
	eachWay(t, func(t *testing.T, coll *mongo.Collection) {
		ctx := context.Background()
		const pairs = 150
		var wg sync.WaitGroup
		for i := range pairs {
			id := fmt.Sprint("race-", i)
			wg.Go(func() {
				if _, err := coll.InsertOne(ctx, doc{ID: id, Version: 1}); err != nil && !mongo.IsDuplicateKeyError(err) {
					t.Error(err)
				}
			})
			wg.Go(func() {
				if _, err := Replace(ctx, coll, id, doc{ID: id, Version: 2}, true, Less("version", 2)); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		for i := range pairs {
			var d doc
			if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprint("race-", i)}}).Decode(&d); err != nil {
				t.Fatal(err)
			}
			if d.Version != 2 {
				t.Fatalf("race-%d is at version %d: the upsert of version 2 was lost", i, d.Version)
			}
		}
	})
}
