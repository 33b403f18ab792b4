package article_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/idem"
	"github.com/shopbus/shopbus/internal/idem/idemtest"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/content/article"
	"github.com/shopbus/shopbus/transport"
)

// TestRequestsApplyOnce sends every state-changing method twice with one
// request id: the first call changes something, the repeat answers the
// same and changes nothing.
func TestRequestsApplyOnce(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus)
		upd := must[article.Article](t)(f.client.Create(f.Admin, article.CreateRequest{Title: "To update"}))
		del := must[article.Article](t)(f.client.Create(f.Admin, article.CreateRequest{Title: "To delete"}))
		admin := func(*testing.T) context.Context { return f.Admin }
		cases := []idemtest.Case{
			{Method: article.MethodCreate, Body: `{"title":"Fresh news","tags":["News"]}`, Ctx: admin},
			// Run twice, an update at a version would be a conflict.
			{Method: article.MethodUpdate, Body: fmt.Sprintf(`{"id":%q,"version":1,"title":"Updated","slug":"","status":"published"}`, upd.ID), Ctx: admin},
			{Method: article.MethodDelete, Body: fmt.Sprintf(`{"id":%q}`, del.ID), Ctx: admin},
		}
		opts := idemtest.Options{
			// The relay clears the outbox on its own time.
			Ignore: []string{"outbox", "outbox_pending"},
			Settle: func(t *testing.T) {
				if _, err := f.srv.PublishPending(context.Background()); err != nil {
					t.Fatal(err)
				}
			},
		}
		for _, c := range cases {
			t.Run(c.Method, func(t *testing.T) {
				before := idemtest.Snapshot(t, f.db, opts.Ignore...)
				idemtest.Twice(t, bus, f.db, c, opts)
				if reflect.DeepEqual(before, idemtest.Snapshot(t, f.db, opts.Ignore...)) {
					t.Errorf("%s %s changed nothing: the case proves nothing", c.Method, c.Body)
				}
			})
		}
		idemtest.Covered(t, article.Handler(f.srv).Methods(),
			[]string{article.MethodGet, article.MethodGetBySlug, article.MethodHoldsSlug, article.MethodHoldsSlugs, article.MethodList, article.MethodHistory}, cases)
	})
}

// TestCreateAgainAfterACrash: a create run again because its outcome was
// not remembered (its runner died after the change) answers the same
// article and creates no second one, whichever of its writes the first run
// made.
func TestCreateAgainAfterACrash(t *testing.T) {
	f := start(t, bustest.New(t, "inproc"))
	for i, lost := range []string{"", "articles"} { // what the crash lost besides the outcome
		ctx := transport.WithRequestID(f.Admin, transport.NewRequestID())
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		req := article.CreateRequest{Title: fmt.Sprintf("Crash %d", i), Status: article.StatusPublished}
		a1, err := f.srv.Create(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.db.Collection(idem.Collection).DeleteMany(ctx, bson.D{}); err != nil {
			t.Fatal(err)
		}
		if lost != "" { // the slug was reserved, the article not written
			if _, err := f.db.Collection(lost).DeleteOne(ctx, bson.D{{Key: "_id", Value: a1.ID}}); err != nil {
				t.Fatal(err)
			}
		}
		a2, err := f.srv.Create(ctx, req)
		if err != nil {
			t.Fatalf("run again (lost %q): %v", lost, err)
		}
		if a2.ID != a1.ID || a2.Slug != a1.Slug || a2.Title != a1.Title || a2.Version != 1 {
			t.Errorf("run again (lost %q): %+v, first %+v", lost, a2, a1)
		}
		if n, err := f.db.Collection("articles").CountDocuments(ctx, bson.D{{Key: "title", Value: req.Title}}); err != nil || n != 1 {
			t.Errorf("articles titled %q: %d, %v; want 1", req.Title, n, err)
		}
		if n, err := f.db.Collection("slugs").CountDocuments(ctx, bson.D{{Key: "article_id", Value: a1.ID}}); err != nil || n != 1 {
			t.Errorf("slugs of the article: %d, %v; want 1", n, err)
		}
		got, err := f.client.GetBySlug(f.anon, article.GetBySlugRequest{Slug: a1.Slug})
		if err != nil || got.ID != a1.ID {
			t.Errorf("by slug %s: %+v, %v", a1.Slug, got, err)
		}
		f.events.wait(t, shop.EventArticleCreated, a1.ID, 1)
	}
}
