package docstore

import (
	"context"
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"
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
