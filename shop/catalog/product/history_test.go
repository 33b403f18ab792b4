package product_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/shoptest"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/category"
	ct "github.com/shopbus/shopbus/shop/catalog/internal/catalogtest"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/transport"
)

// TestHistory checks the product's audit log: each write names its admin,
// its action and the fields it changed, newest first; a change the shop
// makes itself (re-filing after a category is deleted) names no one; the
// log outlives the product; only admins may read it.
func TestHistory(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		w := setup(t, bus)
		ps := w.Products
		p := ct.Must(ps.Create(w.Admin, product.CreateRequest{Title: "Mug", Price: eur(900), CategoryIDs: []string{w.sale.ID}}))(t)
		title := "Cup"
		price := eur(1200)
		ct.Must(ps.Update(w.Admin, product.UpdateRequest{ID: p.ID, Title: &title, Price: &price}))(t)
		ct.Must(ps.Update(w.Admin, product.UpdateRequest{ID: p.ID, Title: &title}))(t) // no change: no entry
		ct.Must(ps.Publish(w.Admin, product.GetRequest{ID: p.ID}))(t)

		h := ct.Must(ps.History(w.Admin, shop.HistoryRequest{ID: p.ID}))(t)
		want := []struct {
			action string
			fields []string
		}{
			{product.MethodPublish, []string{"published_at", "status"}},
			{product.MethodUpdate, []string{"price", "title"}},
			{product.MethodCreate, []string{"category_ids", "price", "sku", "slug", "status", "title"}},
		}
		if h.ID != p.ID || h.Kind != product.ServiceName || h.Deleted || len(h.Changes) != len(want) {
			t.Fatalf("history = %+v, want %d changes", h, len(want))
		}
		for i, c := range h.Changes {
			if c.Action != want[i].action || !slices.Equal(c.Fields, want[i].fields) ||
				c.Email != shoptest.AdminEmail || c.UserID == "" || c.Time.IsZero() {
				t.Errorf("change %d = %+v, want %s of %v by %s", i, c, want[i].action, want[i].fields, shoptest.AdminEmail)
			}
		}

		// Re-filed by the shop itself when its category goes.
		ct.Eventually(t, "category deleted", func() error {
			_, err := w.Categories.Delete(w.Admin, category.DeleteRequest{ID: w.sale.ID, Reparent: true})
			return err
		})
		ct.Eventually(t, "re-filing recorded", func() error {
			h, err := ps.History(w.Admin, shop.HistoryRequest{ID: p.ID})
			if err != nil {
				return err
			}
			c := h.Changes[0]
			if c.Action != shop.EventCategoryDeleted || c.Email != "" || c.UserID != "" || !slices.Equal(c.Fields, []string{"category_ids"}) {
				return fmt.Errorf("newest change %+v", c)
			}
			return nil
		})

		for _, tc := range []struct {
			ctx  context.Context
			code transport.Code
		}{
			{context.Background(), transport.CodeUnauthenticated},
			{w.Customer, transport.CodeForbidden},
		} {
			_, err := ps.History(tc.ctx, shop.HistoryRequest{ID: p.ID})
			ct.WantCode(t, err, tc.code)
		}
		_, err := ps.History(w.Admin, shop.HistoryRequest{ID: "../etc"})
		ct.WantCode(t, err, transport.CodeInvalid)
		_, err = ps.History(w.Admin, shop.HistoryRequest{ID: p.ID, Kind: "category"})
		ct.WantCode(t, err, transport.CodeInvalid)
		if _, err := ps.History(w.Admin, shop.HistoryRequest{ID: "0123456789abcdef01234567"}); !errors.Is(err, shop.ErrNotFound) {
			t.Fatalf("unknown product: %v", err)
		}

		// Deleted: the log stays, the delete on top.
		ct.Must(ps.Delete(w.Admin, product.GetRequest{ID: p.ID}))(t)
		ct.Eventually(t, "tombstone gone", func() error {
			n, err := w.ProductDB.Collection("products").CountDocuments(context.Background(), map[string]any{"_id": p.ID})
			if err != nil || n != 0 {
				return fmt.Errorf("%d documents, %v", n, err)
			}
			return nil
		})
		h = ct.Must(ps.History(w.Admin, shop.HistoryRequest{ID: p.ID}))(t)
		if !h.Deleted || len(h.Changes) != 5 || h.Changes[0].Action != product.MethodDelete || h.Changes[0].Email != shoptest.AdminEmail {
			t.Fatalf("history after delete = %+v", h)
		}
	})
}
