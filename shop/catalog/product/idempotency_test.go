package product_test

import (
	"context"
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/idem"
	"github.com/shopbus/shopbus/internal/idem/idemtest"
	"github.com/shopbus/shopbus/shop"
	ct "github.com/shopbus/shopbus/shop/catalog/internal/catalogtest"
	"github.com/shopbus/shopbus/shop/catalog/option"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/transport"
)

// TestRequestsApplyOnce sends every state-changing method twice with one
// request id: the repeat answers the same and changes nothing.
func TestRequestsApplyOnce(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		w := setup(t, bus)
		made := func(title, status string) product.Product {
			r := w.shirt()
			r.Title, r.Status = title, status
			return ct.Must(w.Products.Create(w.Admin, r))(t)
		}
		updated := made("To update", "")
		published := made("To publish", "")
		unpublished := made("To unpublish", shop.StatusPublished)
		deleted := made("To delete", "")
		title, groups := "Updated", []string{"size"}
		cases := []idemtest.Case{
			{Method: product.MethodCreate, Body: ct.JSON(t, w.shirt())},
			{Method: product.MethodCreateMany, Body: ct.JSON(t, product.CreateManyRequest{Items: []product.CreateRequest{
				{Title: "Batch one", Price: eur(100), CategoryIDs: []string{w.shirts.ID}, OptionGroups: []string{"size"}},
				{Title: "Batch two", Price: eur(200), Attributes: map[string]any{"fit": "slim"}},
			}})},
			{Method: product.MethodUpdate, Body: ct.JSON(t, product.UpdateRequest{ID: updated.ID, Title: &title, OptionGroups: &groups})},
			{Method: product.MethodPublish, Body: ct.JSON(t, product.GetRequest{ID: published.ID})},
			{Method: product.MethodUnpublish, Body: ct.JSON(t, product.GetRequest{ID: unpublished.ID})},
			{Method: product.MethodDelete, Body: ct.JSON(t, product.GetRequest{ID: deleted.ID})},
			{Method: product.MethodPutImage, Body: ct.JSON(t, product.PutImageRequest{Data: jpegWithExif(t, gradient(300, 200))})},
		}
		for _, c := range cases {
			c.Ctx = func(*testing.T) context.Context { return w.Admin }
			t.Run(c.Method, func(t *testing.T) { ct.ApplyOnce(t, bus, w.ProductDB, c) })
		}
		idemtest.Covered(t, product.Handler(w.ProductServer).Methods(), []string{
			product.MethodGet, product.MethodGetBySlug, product.MethodHoldsSlug, product.MethodHoldsSlugs, product.MethodList, product.MethodImage,
			product.MethodHistory,
		}, cases)
	})
}

// TestCreateAfterCrash: a create that stored its product but died before
// remembering its outcome runs again and returns the same product, with
// the same variants, and stores nothing more.
func TestCreateAfterCrash(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		w := setup(t, bus)
		ctx := transport.WithRequestID(w.Admin, transport.NewRequestID())
		first := ct.Must(w.ProductServer.Create(ctx, w.shirt()))(t)
		if _, err := w.ProductDB.Collection(idem.Collection).DeleteMany(ctx, bson.D{}); err != nil {
			t.Fatal(err)
		}
		again := ct.Must(w.ProductServer.Create(ctx, w.shirt()))(t)
		if again.ID != first.ID || again.Slug != first.Slug || again.Version != 1 || !slices.Equal(variantIDs(again), variantIDs(first)) {
			t.Fatalf("re-run created %+v, want %+v", again, first)
		}
		for coll, want := range map[string]int64{"products": 1, "product_slugs": 1} {
			if n, err := w.ProductDB.Collection(coll).CountDocuments(ctx, bson.D{}); err != nil || n != want {
				t.Errorf("%s holds %d documents (%v), want %d", coll, n, err, want)
			}
		}
		vs := ct.Must(w.Options.GetVariants(ctx, option.ProductRequest{ProductID: first.ID}))(t)
		if got := len(vs.Variants); got != len(first.Variants) {
			t.Errorf("the option service holds %d variants, want %d", got, len(first.Variants))
		}
	})
}

// TestCreateManyAfterCrash: a create_many that stored its products but
// died before remembering its outcome runs again and returns the same
// products, with the same variants, and stores nothing more.
func TestCreateManyAfterCrash(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		w := setup(t, bus)
		ctx := transport.WithRequestID(w.Admin, transport.NewRequestID())
		req := product.CreateManyRequest{Items: []product.CreateRequest{w.shirt(), {Title: "Plain", Price: eur(1)}}}
		first := ct.Must(w.ProductServer.CreateMany(ctx, req))(t)
		if _, err := w.ProductDB.Collection(idem.Collection).DeleteMany(ctx, bson.D{}); err != nil {
			t.Fatal(err)
		}
		again := ct.Must(w.ProductServer.CreateMany(ctx, req))(t)
		for i := range first {
			a, b := again[i].Product, first[i].Product
			if a == nil || b == nil || a.ID != b.ID || a.Slug != b.Slug || a.Version != 1 || !slices.Equal(variantIDs(*a), variantIDs(*b)) {
				t.Fatalf("re-run made %+v, want %+v", again[i], first[i])
			}
		}
		for coll, want := range map[string]int64{"products": 2, "product_slugs": 2} {
			if n, err := w.ProductDB.Collection(coll).CountDocuments(ctx, bson.D{}); err != nil || n != want {
				t.Errorf("%s holds %d documents (%v), want %d", coll, n, err, want)
			}
		}
	})
}

func variantIDs(p product.Product) []string {
	var ids []string
	for _, v := range p.Variants {
		ids = append(ids, v.ID)
	}
	return ids
}
