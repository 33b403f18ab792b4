package docstore

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"

	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/internal/testenv"
)

func TestVersionsStoreMany(t *testing.T) {
	eachWay(t, func(t *testing.T, coll *mongo.Collection) {
		ctx := context.Background()
		v := versions(coll)
		revs := map[string]Rev{}
		for _, id := range []string{"a", "b", "c"} {
			ok, err := v.Store(ctx, id, doc{ID: id, Version: 1, Note: "one"}, Rev{})
			must(t, "create "+id, ok, err, true)
			var d doc
			rev, _, err := v.Load(ctx, id, &d)
			if err != nil || rev.Version != 1 {
				t.Fatalf("load %s: %+v %v", id, rev, err)
			}
			revs[id] = rev
		}
		// Another writer moves b on first.
		ok, err := v.Store(ctx, "b", doc{ID: "b", Version: 2, Note: "theirs"}, revs["b"])
		must(t, "their write", ok, err, true)

		got, err := v.StoreMany(ctx, []StoreItem{
			{ID: "a", Doc: doc{ID: "a", Version: 2, Note: "two"}, Prev: revs["a"]},
			{ID: "b", Doc: doc{ID: "b", Version: 2, Note: "mine"}, Prev: revs["b"]},
			{ID: "c", Doc: doc{ID: "c", Version: 2, Note: "two"}, Prev: revs["c"]},
			{ID: "d", Doc: doc{ID: "d", Version: 1, Note: "new"}},
			{ID: "a", Doc: doc{ID: "a", Version: 1, Note: "exists"}},
		})
		if err != nil || !slices.Equal(got, []bool{true, false, true, true, false}) {
			t.Fatalf("StoreMany: %v, %v", got, err)
		}
		for id, want := range map[string]string{"a": "two", "b": "theirs", "c": "two", "d": "new"} {
			var d doc
			if _, found, err := v.Load(ctx, id, &d); err != nil || !found || d.Note != want {
				t.Errorf("%s: %+v found %v %v; want note %q", id, d, found, err, want)
			}
			// Loading it brought the stored copy up to date.
			if raw, _ := load(t, coll, id); raw.Note != want {
				t.Errorf("%s as stored after a load: %+v; want note %q", id, raw, want)
			}
		}
		// A repeat of the same writes (a stale revision now) stores nothing.
		got, err = v.StoreMany(ctx, []StoreItem{{ID: "a", Doc: doc{ID: "a", Version: 2, Note: "again"}, Prev: revs["a"]}})
		if err != nil || got[0] {
			t.Fatalf("repeat: %v, %v", got, err)
		}
		if _, err := v.StoreMany(ctx, []StoreItem{{ID: "c", Doc: doc{ID: "c", Version: 9}, Prev: revs["c"]}}); err == nil {
			t.Error("a version that does not follow the revision was stored")
		}
		if got, err := v.StoreMany(ctx, nil); err != nil || len(got) != 0 {
			t.Errorf("nothing to store: %v, %v", got, err)
		}
	})
}

// New documents are inserted with one command: those that exist (or come
// twice) are not stored, the others are, and each is loaded as its first
// version.
func TestStoreManyInsertsNewDocumentsAtOnce(t *testing.T) {
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
	v := versions(coll)
	ok, err := v.Store(ctx, "old", doc{ID: "old", Version: 1, Note: "old"}, Rev{})
	must(t, "create old", ok, err, true)
	before := commands.Load()
	got, err := v.StoreMany(ctx, []StoreItem{
		{ID: "n1", Doc: doc{ID: "n1", Version: 1, Note: "new"}},
		{ID: "old", Doc: doc{ID: "old", Version: 1, Note: "again"}},
		{ID: "n2", Doc: doc{ID: "n2", Version: 1, Note: "new"}},
		{ID: "n2", Doc: doc{ID: "n2", Version: 1, Note: "twice"}},
	})
	if err != nil || !slices.Equal(got, []bool{true, false, true, false}) {
		t.Fatalf("StoreMany: %v, %v", got, err)
	}
	if n := commands.Load() - before; n != 1 {
		t.Errorf("%d commands for the new documents, want 1", n)
	}
	for id, want := range map[string]string{"n1": "new", "n2": "new", "old": "old"} {
		var d doc
		rev, found, err := v.Load(ctx, id, &d)
		if err != nil || !found || d.Note != want || rev.Version != 1 {
			t.Errorf("%s: %+v %+v found %v %v; want note %q at version 1", id, d, rev, found, err, want)
		}
		// Its next version stores as after Store.
		ok, err := v.Store(ctx, id, doc{ID: id, Version: 2, Note: "two"}, rev)
		must(t, "the next version of "+id, ok, err, true)
	}
}
