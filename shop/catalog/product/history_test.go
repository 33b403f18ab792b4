package product_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/shopbus/shopbus/internal/audit/audittest"
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
		admin := audittest.By(shoptest.AdminEmail)
		logs := audittest.Reader{History: ps.History, Admin: w.Admin, Kind: product.ServiceName}
		p := ct.Must(ps.Create(w.Admin, product.CreateRequest{Title: "Mug", Price: eur(900), CategoryIDs: []string{w.sale.ID}}))(t)
		title := "Cup"
		price := eur(1200)
		ct.Must(ps.Update(w.Admin, product.UpdateRequest{ID: p.ID, Title: &title, Price: &price}))(t)
		ct.Must(ps.Update(w.Admin, product.UpdateRequest{ID: p.ID, Title: &title}))(t) // no change: no entry
		ct.Must(ps.Publish(w.Admin, product.GetRequest{ID: p.ID}))(t)

		log := []audittest.Change{
			admin(product.MethodPublish, "published_at", "status"),
			admin(product.MethodUpdate, "price", "title"),
			admin(product.MethodCreate, "category_ids", "price", "sku", "slug", "status", "title"),
		}
		logs.Want(t, shop.HistoryRequest{ID: p.ID}, false, log...)

		// Re-filed by the shop itself when its category goes.
		ct.Eventually(t, "category deleted", func() error {
			_, err := w.Categories.Delete(w.Admin, category.DeleteRequest{ID: w.sale.ID, Reparent: true})
			return err
		})
		refiled := audittest.Auto(shop.EventCategoryDeleted, "category_ids")
		ct.Eventually(t, "re-filing recorded", func() error {
			h, err := ps.History(w.Admin, shop.HistoryRequest{ID: p.ID})
			if err != nil {
				return err
			}
			return audittest.Match(h.Changes[0], refiled)
		})
		log = append([]audittest.Change{refiled}, log...)

		audittest.CheckRefusals(t, ps.History, audittest.Refusals{
			Admin: w.Admin, Customer: w.Customer,
			Readable: []shop.HistoryRequest{{ID: p.ID}},
			Invalid:  []shop.HistoryRequest{{ID: "../etc"}, {ID: p.ID, Kind: "category"}},
			Unknown:  []shop.HistoryRequest{{ID: "0123456789abcdef01234567"}},
		})

		// Deleted: the log stays, the delete on top.
		ct.Must(ps.Delete(w.Admin, product.GetRequest{ID: p.ID}))(t)
		ct.Eventually(t, "tombstone gone", func() error {
			n, err := w.ProductDB.Collection("products").CountDocuments(context.Background(), map[string]any{"_id": p.ID})
			if err != nil || n != 0 {
				return fmt.Errorf("%d documents, %v", n, err)
			}
			return nil
		})
		logs.Want(t, shop.HistoryRequest{ID: p.ID}, true, append([]audittest.Change{admin(product.MethodDelete)}, log...)...)
	})
}
