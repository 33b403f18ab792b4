package category_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/category"
	ct "github.com/shopbus/shopbus/shop/catalog/internal/catalogtest"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/transport"
)

func create(t *testing.T, c *ct.Catalog, name, parent string) category.Category {
	t.Helper()
	return ct.Must(c.Categories.Create(c.Admin, category.CreateRequest{Name: name, ParentID: parent}))(t)
}

func TestCreateGetSlugsAndReads(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		cats := c.Categories

		men := create(t, c, "Men", "")
		shoes := ct.Must(cats.Create(c.Admin, category.CreateRequest{Name: "Men's Shoes", ParentID: men.ID, Description: "All shoes.\nFor men."}))(t)
		if shoes.Slug != "mens-shoes" || shoes.ParentID != men.ID || !slices.Equal(shoes.Ancestors, []string{men.ID}) || shoes.Version != 1 {
			t.Fatalf("created %+v", shoes)
		}
		// A generated slug that is taken gets a numeric suffix.
		shoes2 := create(t, c, "Mens Shoes", "")
		if shoes2.Slug != "mens-shoes-2" {
			t.Fatalf("second generated slug = %q, want mens-shoes-2", shoes2.Slug)
		}
		if s := create(t, c, "Crème Brûlée & Café", "").Slug; s != "creme-brulee-and-cafe" {
			t.Fatalf("slug = %q", s)
		}
		// An explicit slug that is taken is a conflict; a malformed one invalid.
		_, err := cats.Create(c.Admin, category.CreateRequest{Name: "Other", Slug: "mens-shoes"})
		ct.WantCode(t, err, transport.CodeConflict)
		_, err = cats.Create(c.Admin, category.CreateRequest{Name: "Other", Slug: "Not A Slug"})
		ct.WantField(t, err, "slug")
		explicit := ct.Must(cats.Create(c.Admin, category.CreateRequest{Name: "Boots", Slug: "boots-2024", ParentID: shoes.ID, Position: -1}))(t)
		if explicit.Slug != "boots-2024" || !slices.Equal(explicit.Ancestors, []string{men.ID, shoes.ID}) {
			t.Fatalf("explicit %+v", explicit)
		}

		got := ct.Must(cats.Get(context.Background(), category.GetRequest{ID: shoes.ID}))(t)
		if got.Name != "Men's Shoes" || got.Description != "All shoes.\nFor men." || !got.CreatedAt.Equal(shoes.CreatedAt) {
			t.Fatalf("get %+v", got)
		}
		bySlug := ct.Must(cats.GetBySlug(context.Background(), category.GetBySlugRequest{Slug: "boots-2024"}))(t)
		if bySlug.ID != explicit.ID {
			t.Fatalf("by slug %+v", bySlug)
		}
		_, err = cats.GetBySlug(context.Background(), category.GetBySlugRequest{Slug: "nope"})
		ct.WantCode(t, err, transport.CodeNotFound)
		_, err = cats.Get(context.Background(), category.GetRequest{ID: "no-such-id"})
		ct.WantCode(t, err, transport.CodeNotFound)

		// Children, ordered by position then name.
		sandals := create(t, c, "Sandals", shoes.ID)
		aqua := create(t, c, "Aqua", shoes.ID)
		kids := ct.Must(cats.ListChildren(context.Background(), category.ListChildrenRequest{ParentID: shoes.ID}))(t)
		if ids := idsOf(kids); !slices.Equal(ids, []string{explicit.ID, aqua.ID, sandals.ID}) {
			t.Fatalf("children = %v", namesOf(kids))
		}
		roots := ct.Must(cats.ListChildren(context.Background(), category.ListChildrenRequest{}))(t)
		if len(roots) != 3 {
			t.Fatalf("roots = %v", namesOf(roots))
		}
		_, err = cats.ListChildren(context.Background(), category.ListChildrenRequest{ParentID: "missing"})
		ct.WantCode(t, err, transport.CodeNotFound)

		// Breadcrumbs: root first, down to the parent.
		crumbs := ct.Must(cats.Ancestors(context.Background(), category.AncestorsRequest{ID: sandals.ID}))(t)
		if !slices.Equal(idsOf(crumbs), []string{men.ID, shoes.ID}) {
			t.Fatalf("ancestors = %v", namesOf(crumbs))
		}
		if crumbs := ct.Must(cats.Ancestors(context.Background(), category.AncestorsRequest{ID: men.ID}))(t); len(crumbs) != 0 {
			t.Fatalf("ancestors of a root = %v", namesOf(crumbs))
		}

		// Whole trees, and a subtree.
		forest := ct.Must(cats.Tree(context.Background(), category.TreeRequest{}))(t)
		if len(forest) != 3 {
			t.Fatalf("forest has %d roots", len(forest))
		}
		sub := ct.Must(cats.Tree(context.Background(), category.TreeRequest{RootID: men.ID}))(t)
		if len(sub) != 1 || sub[0].ID != men.ID || len(sub[0].Children) != 1 || len(sub[0].Children[0].Children) != 3 ||
			sub[0].Children[0].Children[1].Name != "Aqua" {
			t.Fatalf("subtree = %+v", sub)
		}
	})
}

func TestUpdateRenameAndSlugChange(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		rec := ct.Record(t, bus, "recorder", "category.#")
		cats := c.Categories
		a := create(t, c, "Shirts", "")

		name := "Dress Shirts"
		renamed := ct.Must(cats.Update(c.Admin, category.UpdateRequest{ID: a.ID, Name: &name}))(t)
		if renamed.Name != name || renamed.Slug != "shirts" || renamed.Version != 2 {
			t.Fatalf("renamed %+v", renamed)
		}
		// Setting the same values again changes nothing and announces nothing.
		same := ct.Must(cats.Update(c.Admin, category.UpdateRequest{ID: a.ID, Name: &name}))(t)
		if same.Version != 2 {
			t.Fatalf("no-op update bumped the version: %+v", same)
		}

		slug := "dress-shirts"
		moved := ct.Must(cats.Update(c.Admin, category.UpdateRequest{ID: a.ID, Slug: &slug}))(t)
		if moved.Slug != slug || moved.Version != 3 {
			t.Fatalf("slug change %+v", moved)
		}
		_, err := cats.GetBySlug(context.Background(), category.GetBySlugRequest{Slug: "shirts"})
		ct.WantCode(t, err, transport.CodeNotFound)
		// The old slug is free again.
		if again := create(t, c, "Shirts", ""); again.Slug != "shirts" {
			t.Fatalf("old slug not freed: %q", again.Slug)
		}
		taken := "shirts"
		_, err = cats.Update(c.Admin, category.UpdateRequest{ID: a.ID, Slug: &taken})
		ct.WantCode(t, err, transport.CodeConflict)
		empty := " "
		_, err = cats.Update(c.Admin, category.UpdateRequest{ID: a.ID, Name: &empty})
		ct.WantField(t, err, "name")

		ev := ct.Wait(t, rec, shop.EventCategoryUpdated, func(e shop.CategoryChanged) bool { return e.Category.Version == 3 })
		if ev.OldSlug != "shirts" || ev.Category.Slug != slug || ev.Category.Name != name {
			t.Fatalf("slug change event %+v", ev)
		}
		ct.Wait(t, rec, shop.EventCategoryCreated, func(e shop.CategoryChanged) bool { return e.Category.ID == a.ID && e.Category.Version == 1 })
		ct.Wait(t, rec, shop.EventCategoryUpdated, func(e shop.CategoryChanged) bool { return e.Category.Version == 2 && e.OldSlug == "" })
		for _, e := range rec.Events() {
			if e.Key == shop.EventCategoryUpdated && strings.Contains(string(e.Body), `"version":4`) {
				t.Fatalf("a failed update was announced: %s", e.Body)
			}
		}
	})
}

func TestMove(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		rec := ct.Record(t, bus, "recorder", "category.category.*")
		cats := c.Categories
		a := create(t, c, "A", "")
		b := create(t, c, "B", a.ID)
		cc := create(t, c, "C", b.ID)
		d := create(t, c, "D", cc.ID)
		x := create(t, c, "X", "")

		// Cycles are invalid: under itself, under a descendant.
		_, err := cats.Move(c.Admin, category.MoveRequest{ID: b.ID, ParentID: b.ID})
		ct.WantField(t, err, "parent_id")
		_, err = cats.Move(c.Admin, category.MoveRequest{ID: b.ID, ParentID: d.ID})
		ct.WantField(t, err, "parent_id")
		_, err = cats.Move(c.Admin, category.MoveRequest{ID: b.ID, ParentID: "unknown"})
		ct.WantField(t, err, "parent_id")
		_, err = cats.Move(c.Admin, category.MoveRequest{ID: "unknown", ParentID: x.ID})
		ct.WantCode(t, err, transport.CodeNotFound)

		// Move B (with C and D) under X.
		moved := ct.Must(cats.Move(c.Admin, category.MoveRequest{ID: b.ID, ParentID: x.ID}))(t)
		if moved.ParentID != x.ID || !slices.Equal(moved.Ancestors, []string{x.ID}) {
			t.Fatalf("moved %+v", moved)
		}
		gotD := ct.Must(cats.Get(context.Background(), category.GetRequest{ID: d.ID}))(t)
		if !slices.Equal(gotD.Ancestors, []string{x.ID, b.ID, cc.ID}) || gotD.Version != 2 {
			t.Fatalf("descendant after move %+v", gotD)
		}
		if kids := ct.Must(cats.ListChildren(context.Background(), category.ListChildrenRequest{ParentID: a.ID}))(t); len(kids) != 0 {
			t.Fatalf("A still has children %v", namesOf(kids))
		}
		// Descendants' updates are announced with their new ancestors.
		ct.Wait(t, rec, shop.EventCategoryUpdated, func(e shop.CategoryChanged) bool {
			return e.Category.ID == d.ID && slices.Equal(e.Category.Ancestors, []string{x.ID, b.ID, cc.ID}) && e.Category.Version == 2
		})
		ct.Wait(t, rec, shop.EventCategoryUpdated, func(e shop.CategoryChanged) bool {
			return e.Category.ID == cc.ID && slices.Equal(e.Category.Ancestors, []string{x.ID, b.ID})
		})
		// Move C to the top level.
		root := ct.Must(cats.Move(c.Admin, category.MoveRequest{ID: cc.ID}))(t)
		if root.ParentID != "" || len(root.Ancestors) != 0 {
			t.Fatalf("moved to root %+v", root)
		}
		gotD = ct.Must(cats.Get(context.Background(), category.GetRequest{ID: d.ID}))(t)
		if !slices.Equal(gotD.Ancestors, []string{cc.ID}) {
			t.Fatalf("descendant after move to root %+v", gotD)
		}
	})
}

func TestDelete(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		rec := ct.Record(t, bus, "recorder", "#")
		cats := c.Categories
		top := create(t, c, "Top", "")
		mid := create(t, c, "Mid", top.ID)
		leaf := create(t, c, "Leaf", mid.ID)
		other := create(t, c, "Other", "")

		// Children block a delete unless reparenting.
		_, err := cats.Delete(c.Admin, category.DeleteRequest{ID: mid.ID})
		ct.WantCode(t, err, transport.CodeConflict)

		// So do products: the category service learns of them from
		// product events.
		p := ct.Must(c.Products.Create(c.Admin, product.CreateRequest{
			Title: "Lamp", Price: shop.Money{Amount: 1999, Currency: "EUR"}, CategoryIDs: []string{other.ID, mid.ID},
		}))(t)
		// Wait for that (a delete tried earlier would succeed and spoil the
		// rest), then the delete is refused.
		ct.Eventually(t, "the category service to learn of the product", func() error {
			n, err := c.CategoryDB.Collection("product_refs").CountDocuments(context.Background(), bson.D{{Key: "category_ids", Value: other.ID}})
			if err == nil && n != 1 {
				err = fmt.Errorf("%d products known under the category", n)
			}
			return err
		})
		_, err = cats.Delete(c.Admin, category.DeleteRequest{ID: other.ID})
		ct.WantCode(t, err, transport.CodeConflict)

		// Reparent: Leaf moves under Top, the product is re-filed under Top.
		deleted := ct.Must(cats.Delete(c.Admin, category.DeleteRequest{ID: mid.ID, Reparent: true}))(t)
		if deleted.ID != mid.ID {
			t.Fatalf("deleted %+v", deleted)
		}
		_, err = cats.Get(context.Background(), category.GetRequest{ID: mid.ID})
		ct.WantCode(t, err, transport.CodeNotFound)
		gotLeaf := ct.Must(cats.Get(context.Background(), category.GetRequest{ID: leaf.ID}))(t)
		if gotLeaf.ParentID != top.ID || !slices.Equal(gotLeaf.Ancestors, []string{top.ID}) {
			t.Fatalf("leaf after reparent %+v", gotLeaf)
		}
		ev := ct.Wait(t, rec, shop.EventCategoryDeleted, func(e shop.CategoryChanged) bool { return e.Category.ID == mid.ID })
		if !ev.Deleted || ev.Category.ParentID != top.ID || !slices.Equal(ev.Category.Ancestors, []string{top.ID}) {
			t.Fatalf("deleted event %+v", ev)
		}
		ct.Eventually(t, "product re-filed under the parent", func() error {
			got, err := c.Products.Get(context.Background(), product.GetRequest{ID: p.ID})
			if err != nil {
				return err
			}
			if !slices.Equal(got.CategoryIDs, []string{other.ID, top.ID}) {
				return fmt.Errorf("categories = %v", got.CategoryIDs)
			}
			return nil
		})
		// The slug is free again.
		if again := create(t, c, "Mid", ""); again.Slug != "mid" {
			t.Fatalf("slug of a deleted category not freed: %q", again.Slug)
		}

		// Once the product leaves, Other can go.
		ct.Must(c.Products.Delete(c.Admin, product.GetRequest{ID: p.ID}))(t)
		ct.Eventually(t, "delete allowed once the product is gone", func() error {
			_, err := cats.Delete(c.Admin, category.DeleteRequest{ID: other.ID})
			return err
		})
		_, err = cats.Delete(c.Admin, category.DeleteRequest{ID: other.ID})
		ct.WantCode(t, err, transport.CodeNotFound)
	})
}

func TestAdminRequired(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		cats := c.Categories
		a := create(t, c, "A", "")
		name := "B"
		for _, tc := range []struct {
			ctx  context.Context
			code transport.Code
		}{
			{context.Background(), transport.CodeUnauthenticated},
			{shop.WithToken(context.Background(), "not-a-session"), transport.CodeUnauthenticated},
			{c.Customer, transport.CodeForbidden},
		} {
			_, err := cats.Create(tc.ctx, category.CreateRequest{Name: "X"})
			ct.WantCode(t, err, tc.code)
			_, err = cats.Update(tc.ctx, category.UpdateRequest{ID: a.ID, Name: &name})
			ct.WantCode(t, err, tc.code)
			_, err = cats.Move(tc.ctx, category.MoveRequest{ID: a.ID})
			ct.WantCode(t, err, tc.code)
			_, err = cats.Delete(tc.ctx, category.DeleteRequest{ID: a.ID})
			ct.WantCode(t, err, tc.code)
		}
		// Reads are public.
		ct.Must(cats.Get(context.Background(), category.GetRequest{ID: a.ID}))(t)
		if got := ct.Must(cats.Get(c.Customer, category.GetRequest{ID: a.ID}))(t); got.Version != 1 {
			t.Fatalf("a refused write changed the category: %+v", got)
		}
	})
}

func TestValidation(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		cats := c.Categories
		for _, tc := range []struct {
			req   category.CreateRequest
			field string
		}{
			{category.CreateRequest{}, "name"},
			{category.CreateRequest{Name: "   "}, "name"},
			{category.CreateRequest{Name: strings.Repeat("x", 201)}, "name"},
			{category.CreateRequest{Name: "a\x00b"}, "name"},
			{category.CreateRequest{Name: "ok", Slug: "$gt"}, "slug"},
			{category.CreateRequest{Name: "ok", ParentID: "$gt"}, "parent_id"},
			{category.CreateRequest{Name: "ok", ParentID: "no-such-category"}, "parent_id"},
			{category.CreateRequest{Name: "ok", Description: strings.Repeat("x", 20001)}, "description"},
		} {
			_, err := cats.Create(c.Admin, tc.req)
			ct.WantField(t, err, tc.field)
		}
		_, err := cats.Get(context.Background(), category.GetRequest{ID: "$where"})
		ct.WantField(t, err, "id")
		_, err = cats.GetBySlug(context.Background(), category.GetBySlugRequest{Slug: "a\x00"})
		ct.WantField(t, err, "slug")
		// A body of the wrong shape is invalid too.
		_, err = bus.Call(c.Admin, category.MethodCreate, []byte(`{"name": 5}`))
		ct.WantField(t, err, "name")
		if roots := ct.Must(cats.ListChildren(context.Background(), category.ListChildrenRequest{}))(t); len(roots) != 0 {
			t.Fatalf("invalid requests created categories: %v", namesOf(roots))
		}
		// Letters of any script make the slug; a name without any still
		// gets one.
		if s := create(t, c, "日本", "").Slug; s != "日本" {
			t.Fatalf("slug = %q", s)
		}
		if s := create(t, c, "🎉 !!", "").Slug; s != "category" {
			t.Fatalf("slug = %q", s)
		}
	})
}

func TestDepthLimit(t *testing.T) {
	c := ct.Start(t, bustest.New(t, "inproc"), ct.Config{})
	parent := ""
	var first category.Category
	for i := range category.MaxDepth {
		cat := create(t, c, "Level", parent)
		if i == 0 {
			first = cat
		}
		parent = cat.ID
	}
	_, err := c.Categories.Create(c.Admin, category.CreateRequest{Name: "Too deep", ParentID: parent})
	ct.WantField(t, err, "parent_id")
	other := create(t, c, "Other", "")
	_, err = c.Categories.Move(c.Admin, category.MoveRequest{ID: first.ID, ParentID: other.ID})
	ct.WantField(t, err, "parent_id")
}

func TestEventsAndMalformedProductEvents(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		rec := ct.Record(t, bus, "recorder", "category.category.*")
		a := create(t, c, "Garden", "")
		b := create(t, c, "Tools", a.ID)
		ev := ct.Wait(t, rec, shop.EventCategoryCreated, func(e shop.CategoryChanged) bool { return e.Category.ID == b.ID })
		want := shop.CategorySnapshot{ID: b.ID, Slug: "tools", Name: "Tools", ParentID: a.ID, Ancestors: []string{a.ID}, Version: 1}
		if ev.Category.ID != want.ID || ev.Category.Slug != want.Slug || ev.Category.ParentID != want.ParentID ||
			!slices.Equal(ev.Category.Ancestors, want.Ancestors) || ev.Category.Version != 1 || ev.Deleted || ev.Occurred.IsZero() {
			t.Fatalf("created event %+v", ev)
		}
		deleted := ct.Must(c.Categories.Delete(c.Admin, category.DeleteRequest{ID: b.ID}))(t)
		dev := ct.Wait(t, rec, shop.EventCategoryDeleted, func(e shop.CategoryChanged) bool { return e.Category.ID == b.ID })
		if !dev.Deleted || dev.Category.Version != 2 || deleted.Version != 2 {
			t.Fatalf("deleted event %+v", dev)
		}

		// A malformed product event is retried, then parked, not lost.
		if err := bus.Publish(context.Background(), transport.Event{Key: shop.EventProductCreated, Body: []byte(`{"product": "nope"}`)}); err != nil {
			t.Fatal(err)
		}
		ct.Eventually(t, "malformed event parked", func() error {
			dead, err := bus.DrainDeadLetters(context.Background(), category.ServiceName)
			if err != nil {
				return err
			}
			if len(dead) != 1 || dead[0].Key != shop.EventProductCreated {
				return fmt.Errorf("dead letters: %d", len(dead))
			}
			return nil
		})
	})
}

func TestProductEventsAreIdempotent(t *testing.T) {
	db := testenv.MongoDB(t, t.Name())
	srv := ct.Must(category.New(db, category.Options{}))(t)
	ctx := context.Background()
	send := func(version int64, deleted bool, cats ...string) {
		t.Helper()
		body := `{"product":{"id":"p1","version":` + strconv.FormatInt(version, 10) + `,"category_ids":["` + strings.Join(cats, `","`) + `"]},"deleted":` + map[bool]string{true: "true", false: "false"}[deleted] + `}`
		if err := srv.HandleProductEvent(ctx, transport.Event{Key: shop.EventProductUpdated, Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	send(2, false, "c1")
	send(1, false, "c2") // stale: ignored
	send(2, false, "c3") // repeat: ignored
	n, err := db.Collection("product_refs").CountDocuments(ctx, map[string]any{"category_ids": "c1"})
	if err != nil || n != 1 {
		t.Fatalf("c1 refs = %d, %v", n, err)
	}
	for _, cat := range []string{"c2", "c3"} {
		if n, _ := db.Collection("product_refs").CountDocuments(ctx, map[string]any{"category_ids": cat}); n != 0 {
			t.Fatalf("stale event applied: %s has %d", cat, n)
		}
	}
	send(3, true, "c1")
	if n, _ := db.Collection("product_refs").CountDocuments(ctx, map[string]any{"category_ids": "c1"}); n != 0 {
		t.Fatalf("deleted product still counted")
	}
	send(2, false, "c1") // older than the deletion: ignored
	if n, _ := db.Collection("product_refs").CountDocuments(ctx, map[string]any{"category_ids": "c1"}); n != 0 {
		t.Fatalf("a stale event resurrected a deleted product")
	}
}

func TestPublishPending(t *testing.T) {
	bus := bustest.New(t, "inproc")
	c := ct.Start(t, bus, ct.Config{})
	db := testenv.MongoDB(t, t.Name())
	// While the broker fails, changes are stored with their events.
	silent := ct.Must(category.New(db, category.Options{Auth: c.Auth.Client, Events: brokerAway{}}))(t)
	a := ct.Must(silent.Create(c.Admin, category.CreateRequest{Name: "Pending"}))(t)
	name := "Pending 2"
	ct.Must(silent.Update(c.Admin, category.UpdateRequest{ID: a.ID, Name: &name}))(t)
	rec := ct.Record(t, bus, "recorder", "category.#")
	loud := ct.Must(category.New(db, category.Options{Auth: c.Auth.Client, Events: bus}))(t)
	if n := ct.Must(loud.PublishPending(context.Background()))(t); n != 2 {
		t.Fatalf("published %d pending events, want 2 (created, then updated)", n)
	}
	ct.Wait(t, rec, shop.EventCategoryCreated, func(e shop.CategoryChanged) bool { return e.Category.ID == a.ID && e.Category.Version == 1 })
	ev := ct.Wait(t, rec, shop.EventCategoryUpdated, func(e shop.CategoryChanged) bool { return e.Category.ID == a.ID })
	if ev.Category.Version != 2 || ev.Category.Name != name {
		t.Fatalf("pending event %+v", ev)
	}
	if evs := rec.Events(); evs[0].Key != shop.EventCategoryCreated || evs[1].Key != shop.EventCategoryUpdated {
		t.Fatalf("events out of order: %s, %s", evs[0].Key, evs[1].Key)
	}
	if n := ct.Must(loud.PublishPending(context.Background()))(t); n != 0 {
		t.Fatalf("published %d events twice", n)
	}
}

func idsOf(cs []category.Category) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func namesOf(cs []category.Category) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
	}
	return out
}

// brokerAway is a publisher whose broker is unreachable.
type brokerAway struct{}

func (brokerAway) Publish(context.Context, transport.Event) error {
	return shop.Unavailable("broker away")
}

// TestGetManyAndHoldsSlugs: GetMany returns the categories named that
// exist, in the order named, each once (not deleted, unknown or malformed
// ones), as Get returns each; HoldsSlugs names the slugs held in the
// order asked. More than the limit is invalid.
func TestGetManyAndHoldsSlugs(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		cats := c.Categories
		ctx := context.Background()
		a := create(t, c, "Alpha", "")
		b := create(t, c, "Beta", a.ID)
		gone := create(t, c, "Gone", "")
		ct.Must(cats.Delete(c.Admin, category.DeleteRequest{ID: gone.ID}))(t)

		got := ct.Must(cats.GetMany(ctx, category.GetManyRequest{IDs: []string{b.ID, "unknown-id", gone.ID, a.ID, b.ID, "not an id!"}}))(t)
		if len(got) != 2 || got[0].ID != b.ID || got[1].ID != a.ID {
			t.Fatalf("GetMany = %+v, want Beta then Alpha", got)
		}
		for _, g := range got {
			one := ct.Must(cats.Get(ctx, category.GetRequest{ID: g.ID}))(t)
			if fmt.Sprint(one) != fmt.Sprint(g) {
				t.Errorf("GetMany gave %+v, Get %+v", g, one)
			}
		}
		if none := ct.Must(cats.GetMany(ctx, category.GetManyRequest{}))(t); none == nil || len(none) != 0 {
			t.Fatalf("GetMany of nothing = %#v, want an empty list", none)
		}
		ids := make([]string, category.MaxGetMany+1)
		for i := range ids {
			ids[i] = "id-" + strconv.Itoa(i)
		}
		_, err := cats.GetMany(ctx, category.GetManyRequest{IDs: ids})
		ct.WantCode(t, err, transport.CodeInvalid)

		held := ct.Must(cats.HoldsSlugs(ctx, shop.SlugsRequest{Slugs: []string{"beta", "free", "alpha", "Alpha", "alpha"}}))(t)
		if strings.Join(held.Held, ",") != "beta,alpha" {
			t.Fatalf("HoldsSlugs = %q, want beta,alpha", held.Held)
		}
		_, err = cats.HoldsSlugs(ctx, shop.SlugsRequest{Slugs: make([]string, shop.MaxSlugsAsked+1)})
		ct.WantCode(t, err, transport.CodeInvalid)
	})
}
