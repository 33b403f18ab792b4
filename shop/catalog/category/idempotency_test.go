package category_test

import (
	"context"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/idem"
	"github.com/shopbus/shopbus/internal/idem/idemtest"
	"github.com/shopbus/shopbus/shop/catalog/category"
	ct "github.com/shopbus/shopbus/shop/catalog/internal/catalogtest"
	"github.com/shopbus/shopbus/transport"
)

// TestRequestsApplyOnce sends every state-changing method twice with one
// request id: the repeat answers the same and changes nothing.
func TestRequestsApplyOnce(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		root := create(t, c, "Root", "")
		renamed := create(t, c, "To rename", "")
		moved := create(t, c, "To move", "")
		withChild := create(t, c, "To delete", "")
		create(t, c, "Orphan", withChild.ID)
		admin := func(*testing.T) context.Context { return c.Admin }
		name, slug := "Renamed", "renamed"
		cases := []idemtest.Case{
			{Method: category.MethodCreate, Body: ct.JSON(t, category.CreateRequest{Name: "Shoes", ParentID: root.ID})},
			{Method: category.MethodCreateMany, Body: ct.JSON(t, category.CreateManyRequest{Items: []category.CreateRequest{{Name: "Bags", ParentID: root.ID}, {Name: "Belts"}}})},
			{Method: category.MethodUpdate, Body: ct.JSON(t, category.UpdateRequest{ID: renamed.ID, Name: &name, Slug: &slug})},
			{Method: category.MethodMove, Body: ct.JSON(t, category.MoveRequest{ID: moved.ID, ParentID: root.ID})},
			{Method: category.MethodDelete, Body: ct.JSON(t, category.DeleteRequest{ID: withChild.ID, Reparent: true})},
		}
		for _, cs := range cases {
			cs.Ctx = admin
			t.Run(cs.Method, func(t *testing.T) { ct.ApplyOnce(t, bus, c.CategoryDB, cs) })
		}
		idemtest.Covered(t, category.Handler(c.CategoryServer).Methods(), []string{
			category.MethodGet, category.MethodGetMany, category.MethodGetBySlug, category.MethodHoldsSlug, category.MethodHoldsSlugs,
			category.MethodListChildren, category.MethodTree, category.MethodAncestors, category.MethodHistory,
		}, cases)
	})
}

// TestCreateAfterCrash: a create that stored its category but died before
// remembering its outcome runs again and returns the same category; one
// that died after reserving its slug gets that slug.
func TestCreateAfterCrash(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		srv := c.CategoryServer
		req := category.CreateRequest{Name: "Hats"}
		ctx := transport.WithRequestID(c.Admin, transport.NewRequestID())
		first := ct.Must(srv.Create(ctx, req))(t)
		forget(t, c)
		again := ct.Must(srv.Create(ctx, req))(t)
		if again.ID != first.ID || again.Slug != "hats" || again.Version != 1 {
			t.Fatalf("re-run created %+v, want %+v", again, first)
		}
		count(t, c, "categories", bson.D{}, 1)
		count(t, c, "category_slugs", bson.D{}, 1)

		// The slug is reserved, the category not stored yet.
		ctx = transport.WithRequestID(c.Admin, transport.NewRequestID())
		id := idem.NewID(ctx, "category")
		if _, err := c.CategoryDB.Collection("category_slugs").InsertOne(ctx, bson.D{{Key: "_id", Value: "caps"}, {Key: "category_id", Value: id}}); err != nil {
			t.Fatal(err)
		}
		caps := ct.Must(srv.Create(ctx, category.CreateRequest{Name: "Caps"}))(t)
		if caps.ID != id || caps.Slug != "caps" {
			t.Fatalf("created %+v, want id %s with slug caps", caps, id)
		}
		count(t, c, "category_slugs", bson.D{}, 2)

		// The same for a create_many: the categories it stored are found
		// by their ids, nothing is made twice.
		ctx = transport.WithRequestID(c.Admin, transport.NewRequestID())
		many := category.CreateManyRequest{Items: []category.CreateRequest{{Name: "Scarves"}, {Name: "Gloves", ParentID: caps.ID}}}
		made := ct.Must(srv.CreateMany(ctx, many))(t)
		forget(t, c)
		remade := ct.Must(srv.CreateMany(ctx, many))(t)
		for i := range made {
			if made[i].Category == nil || remade[i].Category == nil || remade[i].Category.ID != made[i].Category.ID || remade[i].Category.Slug != made[i].Category.Slug {
				t.Fatalf("item %d: re-run made %+v, want %+v", i, remade[i], made[i])
			}
		}
		count(t, c, "categories", bson.D{}, 4)
		count(t, c, "category_slugs", bson.D{}, 4)
	})
}

// forget drops the category service's memory of handled requests, as if
// it had died after each change and before recording its outcome.
func forget(t *testing.T, c *ct.Catalog) {
	t.Helper()
	if _, err := c.CategoryDB.Collection(idem.Collection).DeleteMany(context.Background(), bson.D{}); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, c *ct.Catalog, coll string, filter bson.D, want int64) {
	t.Helper()
	n, err := c.CategoryDB.Collection(coll).CountDocuments(context.Background(), filter)
	if err != nil {
		t.Fatal(err)
	}
	if n != want {
		t.Errorf("%s holds %d documents, want %d", coll, n, want)
	}
}
