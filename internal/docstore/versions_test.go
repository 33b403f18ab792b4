package docstore

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/shopbus/shopbus/internal/testenv"
)

func versions(coll *mongo.Collection) *Versions { return NewVersions(coll, "version", nil) }

func TestVersionsCompareAndSet(t *testing.T) {
	eachWay(t, func(t *testing.T, coll *mongo.Collection) {
		ctx := context.Background()
		v := versions(coll)
		ok, err := v.Store(ctx, "a", doc{ID: "a", Version: 1, Note: "one"}, Rev{})
		must(t, "create", ok, err, true)
		ok, err = v.Store(ctx, "a", doc{ID: "a", Version: 1, Note: "again"}, Rev{})
		must(t, "create again", ok, err, false)
		var d doc
		rev, found, err := v.Load(ctx, "a", &d)
		if err != nil || !found || rev.Version != 1 || d.Note != "one" {
			t.Fatalf("load: %+v %+v %v %v", d, rev, found, err)
		}
		ok, err = v.Store(ctx, "a", doc{ID: "a", Version: 2, Note: "two"}, rev)
		must(t, "update at version 1", ok, err, true)
		ok, err = v.Store(ctx, "a", doc{ID: "a", Version: 2, Note: "stale"}, rev)
		must(t, "update from a stale revision", ok, err, false)
		if _, err := v.Store(ctx, "a", doc{ID: "a", Version: 5}, rev); err == nil {
			t.Error("a version that does not follow the revision was stored")
		}
		rev, _, _ = v.Load(ctx, "a", &d)
		if rev.Version != 2 || d.Note != "two" {
			t.Errorf("after the updates: %+v at %d", d, rev.Version)
		}
		if rev, found, err := v.Load(ctx, "missing", &d); err != nil || found || rev.Version != 0 {
			t.Errorf("missing: %+v %v %v", rev, found, err)
		}
	})
}

// TestVersionsConcurrentWriters: writers that share nothing but the
// database (as replicas in separate processes) lose no increment.
func TestVersionsConcurrentWriters(t *testing.T) {
	coll := testenv.MongoDB(t, "docstore").Collection("counters")
	ctx := context.Background()
	if ok, err := versions(coll).Store(ctx, "c", doc{ID: "c", Version: 1, Note: "0"}, Rev{}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	const writers, each = 4, 15
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := versions(coll) // a writer of its own
			for range each {
				for {
					var d doc
					rev, _, err := v.Load(ctx, "c", &d)
					if err != nil {
						t.Error(err)
						return
					}
					var n int
					fmt.Sscan(d.Note, &n)
					ok, err := v.Store(ctx, "c", doc{ID: "c", Version: rev.Version + 1, Note: fmt.Sprint(n + 1)}, rev)
					if err != nil {
						t.Error(err)
						return
					}
					if ok {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	var d doc
	rev, _, err := versions(coll).Load(ctx, "c", &d)
	if err != nil || d.Note != fmt.Sprint(writers*each) || rev.Version != writers*each+1 {
		t.Errorf("counter %s at version %d (%v); want %d increments", d.Note, rev.Version, err, writers*each)
	}
}

// TestVersionsLateWriteIsRolledForward: where writes go through the log
// (FerretDB), a write of a killed writer that reaches the server after
// newer versions were stored sets the document back, and every reader
// still gets the newest version; a sweep leaves the document up to date
// and the log empty.
func TestVersionsLateWriteIsRolledForward(t *testing.T) {
	coll := testenv.MongoDB(t, "docstore").Collection("late")
	ctx := context.Background()
	v := versions(coll)
	if !v.logged(ctx) {
		t.Skip("the server compares and sets atomically; no log")
	}
	must2 := func(ok bool, err error) {
		t.Helper()
		if !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	must2(v.Store(ctx, "x", doc{ID: "x", Version: 1, Note: "one"}, Rev{}))
	var d doc
	rev, _, _ := v.Load(ctx, "x", &d)
	must2(v.Store(ctx, "x", doc{ID: "x", Version: 2, Note: "two"}, rev))
	late, err := v.log.FindOne(ctx, bson.D{{Key: "_id", Value: logKey("x", rev.inc, 2)}}).Raw()
	if err != nil {
		t.Fatal(err)
	}
	rev, _, _ = v.Load(ctx, "x", &d)
	must2(v.Store(ctx, "x", doc{ID: "x", Version: 3, Note: "three"}, rev))
	// Version 2's document write lands now.
	if _, err := coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: "x"}}, late.Lookup("doc").Document()); err != nil {
		t.Fatal(err)
	}
	if stale, _ := load(t, coll, "x"); stale.Note != "two" {
		t.Fatalf("the late write did not land: %+v", stale)
	}
	rev, _, err = versions(coll).Load(ctx, "x", &d)
	if err != nil || d.Note != "three" || rev.Version != 3 {
		t.Fatalf("after a late write: %+v at %d (%v); want three at 3", d, rev.Version, err)
	}
	// A writer at the set-back version cannot store over the newer ones.
	ok, err := v.Store(ctx, "x", doc{ID: "x", Version: 3, Note: "lost"}, Rev{Version: 2, inc: rev.inc})
	must(t, "store from the set-back version", ok, err, false)

	v.now = func() time.Time { return time.Now().Add(time.Hour) }
	if n, err := v.Sweep(ctx); err != nil || n != 2 {
		t.Errorf("sweep: %d, %v; want the 2 entries", n, err)
	}
	if stored, _ := load(t, coll, "x"); stored.Note != "three" || stored.Version != 3 {
		t.Errorf("after the sweep the document is %+v", stored)
	}
}

// BenchmarkVersionsStore measures a read-change-write cycle through
// Versions (on FerretDB: a log insert and a log lookup more) against the
// same cycle with Replace on a version condition, in the same run, on
// one document of a collection holding 1,000.
func BenchmarkVersionsStore(b *testing.B) {
	db := testenv.MongoDB(b, "docstore_bench")
	ctx := context.Background()
	plain, logged := db.Collection("plain"), db.Collection("logged")
	v := versions(logged)
	for i := range 1000 {
		id := fmt.Sprint("d", i)
		if _, err := plain.InsertOne(ctx, doc{ID: id, Version: 1}); err != nil {
			b.Fatal(err)
		}
		if ok, err := v.Store(ctx, id, doc{ID: id, Version: 1}, Rev{}); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
	var withReplace, withVersions []time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		var d doc
		if err := plain.FindOne(ctx, bson.D{{Key: "_id", Value: "d500"}}).Decode(&d); err != nil {
			b.Fatal(err)
		}
		if ok, err := Replace(ctx, plain, d.ID, doc{ID: d.ID, Version: d.Version + 1}, false, Equal("version", d.Version)); !ok || err != nil {
			b.Fatal(ok, err)
		}
		withReplace = append(withReplace, time.Since(start))

		start = time.Now()
		rev, _, err := v.Load(ctx, "d500", &d)
		if err != nil {
			b.Fatal(err)
		}
		if ok, err := v.Store(ctx, d.ID, doc{ID: d.ID, Version: rev.Version + 1}, rev); !ok || err != nil {
			b.Fatal(ok, err)
		}
		withVersions = append(withVersions, time.Since(start))
	}
	b.StopTimer()
	p0, p1 := median(withReplace), median(withVersions)
	b.ReportMetric(float64(p0.Microseconds()), "replace-p50-µs")
	b.ReportMetric(float64(p1.Microseconds()), "versions-p50-µs")
	b.ReportMetric(float64(p1)/float64(p0), "ratio")
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
