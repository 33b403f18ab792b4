package category_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/category"
	ct "github.com/shopbus/shopbus/shop/catalog/internal/catalogtest"
	"github.com/shopbus/shopbus/transport"
)

// TestCreateMany makes several categories in one call: each as Create
// makes it (slug, parent, ancestors), each announced once; one that is
// invalid or in conflict gets its own error and the others are made; a
// repeat of the request makes nothing more; bad shapes and callers are
// refused.
func TestCreateMany(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		cats := c.Categories
		rec := ct.Record(t, bus, "recorder", "category.category.*")
		men := create(t, c, "Men", "")
		shoes := create(t, c, "Shoes", men.ID)

		req := category.CreateManyRequest{Items: []category.CreateRequest{
			{Name: "Boots", ParentID: shoes.ID, Description: "Tall ones."},   // 0: made
			{Name: "Lost", ParentID: "no-such-category"},                     // 1: unknown parent
			{Name: "Women", Position: 2},                                     // 2: made, a root
			{Name: "Men"},                                                    // 3: made, a suffixed slug
			{Name: "Taken", Slug: "shoes"},                                   // 4: a category's slug
			{Name: ""},                                                       // 5: invalid
			{Name: "Sandals", ParentID: shoes.ID, Slug: "summer-sandals"},    // 6: made
			{Name: "Also sandals", ParentID: men.ID, Slug: "summer-sandals"}, // 7: taken by 6
		}}
		ctx := transport.WithRequestID(c.Admin, transport.NewRequestID())
		res := ct.Must(cats.CreateMany(ctx, req))(t)
		if len(res) != len(req.Items) {
			t.Fatalf("%d results for %d categories", len(res), len(req.Items))
		}
		wantErr := func(i int, code transport.Code, field string) {
			t.Helper()
			r := res[i]
			if r.Category != nil || r.Error == nil || r.Error.Code != code {
				t.Fatalf("result %d: %+v, want a %s error", i, r, code)
			}
			if field != "" {
				ct.WantField(t, r.Error, field)
			}
		}
		wantErr(1, transport.CodeInvalid, "parent_id")
		wantErr(4, transport.CodeConflict, "")
		wantErr(5, transport.CodeInvalid, "name")
		wantErr(7, transport.CodeConflict, "")

		made := map[int]category.Category{}
		for _, i := range []int{0, 2, 3, 6} {
			if res[i].Error != nil || res[i].Category == nil {
				t.Fatalf("result %d: %+v, want a category", i, res[i])
			}
			made[i] = *res[i].Category
		}
		if b := made[0]; b.Slug != "boots" || b.ParentID != shoes.ID || !slices.Equal(b.Ancestors, []string{men.ID, shoes.ID}) || b.Description != "Tall ones." || b.Version != 1 {
			t.Fatalf("boots %+v", b)
		}
		if w := made[2]; w.Slug != "women" || w.ParentID != "" || len(w.Ancestors) != 0 || w.Position != 2 {
			t.Fatalf("women %+v", w)
		}
		if made[3].Slug != "men-2" || made[6].Slug != "summer-sandals" {
			t.Fatalf("men %+v, sandals %+v", made[3], made[6])
		}
		for _, m := range made {
			got := ct.Must(cats.Get(context.Background(), category.GetRequest{ID: m.ID}))(t)
			if got.Slug != m.Slug || got.Version != 1 || !slices.Equal(got.Ancestors, m.Ancestors) {
				t.Fatalf("get %+v, want %+v", got, m)
			}
			h := ct.Must(cats.History(c.Admin, shop.HistoryRequest{ID: m.ID}))(t)
			if len(h.Changes) != 1 || h.Changes[0].Action != category.MethodCreateMany || h.Changes[0].Email == "" {
				t.Fatalf("history of %s: %+v", m.Slug, h)
			}
		}
		// GetMany, which answers from its copy, sees them at once.
		if got := ct.Must(cats.GetMany(context.Background(), category.GetManyRequest{IDs: []string{made[0].ID, made[6].ID}}))(t); len(got) != 2 {
			t.Fatalf("get_many: %+v", got)
		}
		// The refused ones left their slugs free.
		if lost := create(t, c, "Lost", ""); lost.Slug != "lost" {
			t.Fatalf("lost: %+v", lost)
		}

		// One created event per category made.
		for _, m := range made {
			ct.Wait(t, rec, shop.EventCategoryCreated, func(e shop.CategoryChanged) bool {
				return e.Category.ID == m.ID && e.Category.Slug == m.Slug && slices.Equal(e.Category.Ancestors, m.Ancestors)
			})
		}

		// The same request again: the same categories, nothing new.
		again := ct.Must(cats.CreateMany(ctx, req))(t)
		for i, m := range made {
			if again[i].Category == nil || again[i].Category.ID != m.ID {
				t.Fatalf("repeat, result %d: %+v, want %s", i, again[i], m.ID)
			}
		}
		time.Sleep(200 * time.Millisecond)
		count := map[string]int{}
		for _, ev := range rec.Events() {
			if ev.Key != shop.EventCategoryCreated {
				continue
			}
			var cc shop.CategoryChanged
			if err := json.Unmarshal(ev.Body, &cc); err != nil {
				t.Fatal(err)
			}
			count[cc.Category.ID]++
		}
		for _, m := range made {
			if count[m.ID] != 1 {
				t.Fatalf("%d created events for %s, want 1", count[m.ID], m.Slug)
			}
		}
		if n := len(count); n != 7 { // men, shoes, lost and the four made
			t.Fatalf("created events for %d categories, want 7: %v", n, count)
		}
		if b := ct.Must(c.CategoryServer.EventBacklog(context.Background()))(t); b.Pending != 0 {
			t.Fatalf("backlog %d, want 0", b.Pending)
		}

		// Refusals.
		_, err := cats.CreateMany(c.Admin, category.CreateManyRequest{})
		ct.WantField(t, err, "items")
		_, err = cats.CreateMany(c.Admin, category.CreateManyRequest{Items: make([]category.CreateRequest, category.MaxCreateMany+1)})
		ct.WantField(t, err, "items")
		one := category.CreateManyRequest{Items: []category.CreateRequest{{Name: "Nobody's"}}}
		_, err = cats.CreateMany(context.Background(), one)
		ct.WantCode(t, err, transport.CodeUnauthenticated)
		_, err = cats.CreateMany(c.Customer, one)
		ct.WantCode(t, err, transport.CodeForbidden)
		if _, err := cats.GetBySlug(context.Background(), category.GetBySlugRequest{Slug: "nobodys"}); err == nil {
			t.Fatal("a refused create_many made its category")
		}
	})
}

// TestCreatesBesideMovesAndDeletes: creations under a category run at
// once with each other, never with a move or a delete of the tree. So a
// category created while its parent moves gets the parent's new
// ancestors, and one created while its parent is deleted is either
// refused (unknown parent) or moved up with the parent's other children:
// no category is left under a deleted parent or with stale ancestors.
func TestCreatesBesideMovesAndDeletes(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		cats := c.Categories
		a, b := create(t, c, "A", ""), create(t, c, "B", "")
		for round := range 8 {
			p := create(t, c, "P", a.ID)
			var wg sync.WaitGroup
			for i := range 12 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					name := fmt.Sprintf("Child %d-%d", round, i)
					var err error
					if i%2 == 0 {
						_, err = cats.Create(c.Admin, category.CreateRequest{Name: name, ParentID: p.ID})
					} else {
						var res []category.CreateResult
						res, err = cats.CreateMany(c.Admin, category.CreateManyRequest{Items: []category.CreateRequest{{Name: name, ParentID: p.ID}}})
						if err == nil && res[0].Error != nil {
							err = res[0].Error
						}
					}
					if err != nil && !errors.Is(err, shop.ErrInvalid) { // invalid: P is gone
						t.Errorf("create %s: %v", name, err)
					}
				}()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := cats.Move(c.Admin, category.MoveRequest{ID: p.ID, ParentID: b.ID}); err != nil {
					t.Errorf("move: %v", err)
				}
				if _, err := cats.Delete(c.Admin, category.DeleteRequest{ID: p.ID, Reparent: true}); err != nil {
					t.Errorf("delete: %v", err)
				}
			}()
			wg.Wait()
		}
		// Every live category as stored, whether a tree reaches it or not.
		type stored struct {
			ID        string   `bson:"_id"`
			Name      string   `bson:"name"`
			ParentID  string   `bson:"parent_id"`
			Ancestors []string `bson:"ancestors"`
			Deleted   bool     `bson:"deleted"`
		}
		cur, err := c.CategoryDB.Collection("categories").Find(context.Background(), bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		var docs []stored
		if err := cur.All(context.Background(), &docs); err != nil {
			t.Fatal(err)
		}
		byID := map[string]stored{}
		for _, d := range docs {
			if !d.Deleted {
				byID[d.ID] = d
			}
		}
		if len(byID) < 3 {
			t.Fatalf("%d categories stored", len(byID))
		}
		for _, cat := range byID {
			if cat.ParentID == "" {
				continue
			}
			parent, ok := byID[cat.ParentID]
			if !ok {
				t.Errorf("%s (%s) sits under %s, which is not in the tree", cat.Name, cat.ID, cat.ParentID)
				continue
			}
			if want := append(slices.Clone(parent.Ancestors), parent.ID); !slices.Equal(cat.Ancestors, want) {
				t.Errorf("%s has ancestors %v, want %v", cat.Name, cat.Ancestors, want)
			}
		}
	})
}
