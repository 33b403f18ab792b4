package docstore

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/internal/testenv"
)

// newItem is the item storing version v of document id unless the
// document is at v or newer, as the read models store first versions.
func newItem(id string, v int64, note string) NewItem {
	return NewItem{ID: id, Doc: doc{ID: id, Version: v, Note: note}, Conds: []Cond{Less("version", v)}}
}

// ReplaceNewMany stores as ReplaceNew does for each item in turn: new
// documents inserted, existing ones replaced only when older, repeats of
// an id handled in order after its first item.
func TestReplaceNewMany(t *testing.T) {
	eachWay(t, func(t *testing.T, coll *mongo.Collection) {
		ctx := context.Background()
		got, err := ReplaceNewMany(ctx, coll, []NewItem{newItem("a", 1, "a1"), newItem("b", 1, "b1"), newItem("c", 3, "c3")})
		if err != nil || !slices.Equal(got, []bool{true, true, true}) {
			t.Fatalf("all new: %v, %v", got, err)
		}

		got, err = ReplaceNewMany(ctx, coll, []NewItem{
			newItem("d", 1, "d1"),       // new
			newItem("a", 2, "a2"),       // exists, older: replaced
			newItem("c", 2, "c2"),       // exists, newer: left alone
			newItem("b", 1, "b1 again"), // exists at that version: left alone
			newItem("e", 1, "e1"),       // new
		})
		if err != nil || !slices.Equal(got, []bool{true, true, false, false, true}) {
			t.Fatalf("mixed: %v, %v", got, err)
		}

		// One id three times: the first is inserted, then the others are
		// handled in turn as writes over an existing document.
		got, err = ReplaceNewMany(ctx, coll, []NewItem{
			newItem("f", 1, "f1"),
			newItem("g", 2, "g2"),
			newItem("f", 3, "f3"),
			newItem("f", 2, "f2"), // older than f3, which came before it
			newItem("g", 4, "g4"),
		})
		if err != nil || !slices.Equal(got, []bool{true, true, true, false, true}) {
			t.Fatalf("repeated ids: %v, %v", got, err)
		}

		for id, want := range map[string]string{"a": "a2", "b": "b1", "c": "c3", "d": "d1", "e": "e1", "f": "f3", "g": "g4"} {
			if d, found := load(t, coll, id); !found || d.Note != want {
				t.Errorf("%s: %+v (found %v), want note %q", id, d, found, want)
			}
		}

		// A malformed condition fails the call before anything is written.
		bad := newItem("h", 1, "h1")
		bad.Conds = []Cond{Equal("version", int64(0))}
		if _, err := ReplaceNewMany(ctx, coll, []NewItem{newItem("i", 1, "i1"), bad}); err == nil {
			t.Error("an equality condition was accepted")
		}
		if _, found := load(t, coll, "i"); found {
			t.Error("a call with a malformed condition wrote a document")
		}

		if got, err := ReplaceNewMany(ctx, coll, nil); err != nil || len(got) != 0 {
			t.Errorf("nothing to store: %v, %v", got, err)
		}
	})
}

// New documents cost one command whatever their number; each existing
// one costs what ReplaceNew's fallback costs; no items cost none.
func TestReplaceNewManyCommands(t *testing.T) {
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
	scansFilters(ctx, client) // asked once per client
	count := func(what string, items []NewItem, want []bool, commandsWanted int64) {
		t.Helper()
		before := commands.Load()
		got, err := ReplaceNewMany(ctx, coll, items)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("%s: %v, %v; want %v", what, got, err, want)
		}
		if n := commands.Load() - before; n != commandsWanted {
			t.Errorf("%s: %d commands, want %d", what, n, commandsWanted)
		}
	}
	var fresh []NewItem
	var all []bool
	for i := range 50 {
		fresh = append(fresh, newItem(fmt.Sprint("n", i), 1, "new"))
		all = append(all, true)
	}
	count("50 new documents", fresh, all, 1)

	replace := int64(1)
	if scansFilters(ctx, client) {
		replace = 2 // a find, then the replace by _id
	}
	count("one new, one existing and older", []NewItem{newItem("m", 1, "new"), newItem("n0", 2, "newer")},
		[]bool{true, true}, 1+replace)
	count("nothing", nil, []bool{}, 0)
}

// A newer version written by Replace while ReplaceNewMany inserts the
// first one is never lost, both where this package checks conditions and
// where the server does: Replace may find the document missing, then
// fail to create it once the insert landed; it must check its condition
// against that document, not take the duplicate key for a failed one.
func TestReplaceNewManyBesideReplace(t *testing.T) {
	eachWay(t, func(t *testing.T, coll *mongo.Collection) {
		ctx := context.Background()
		for i := range 200 {
			id := fmt.Sprint("r", i)
			var wg sync.WaitGroup
			wg.Go(func() {
				if _, err := ReplaceNewMany(ctx, coll, []NewItem{newItem("other"+id, 1, "other"), newItem(id, 1, "first")}); err != nil {
					t.Error(err)
				}
			})
			wg.Go(func() {
				if _, err := Replace(ctx, coll, id, doc{ID: id, Version: 2, Note: "second"}, true, Less("version", int64(2))); err != nil {
					t.Error(err)
				}
			})
			wg.Wait()
			if d, _ := load(t, coll, id); d.Version != 2 {
				t.Fatalf("round %d: stored %+v, want version 2", i, d)
			}
		}
	})
}
