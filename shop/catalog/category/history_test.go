package category_test

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
	"github.com/shopbus/shopbus/transport"
)

// TestHistory checks the category's audit log: each write (create,
// update, move, delete) names its admin, its action and the fields it
// changed, newest first; a no-op write adds nothing; the subcategories a
// move or a reparenting delete rewrites record that request too; the log
// outlives the category; only admins may read it.
func TestHistory(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		cats := c.Categories
		admin := audittest.By(shoptest.AdminEmail)
		logs := audittest.Reader{History: cats.History, Admin: c.Admin, Kind: category.ServiceName}
		top := create(t, c, "Top", "")
		other := create(t, c, "Other", "")
		mid := create(t, c, "Mid", top.ID)
		leaf := create(t, c, "Leaf", mid.ID)

		name, desc := "Middle", "In between."
		ct.Must(cats.Update(c.Admin, category.UpdateRequest{ID: mid.ID, Name: &name, Description: &desc}))(t)
		ct.Must(cats.Update(c.Admin, category.UpdateRequest{ID: mid.ID, Name: &name}))(t)    // no change: no entry
		ct.Must(cats.Move(c.Admin, category.MoveRequest{ID: mid.ID, ParentID: other.ID}))(t) // Leaf's ancestors follow
		ct.Must(cats.Move(c.Admin, category.MoveRequest{ID: mid.ID, ParentID: other.ID}))(t) // already there: no entry

		createdUnder := admin(category.MethodCreate, "ancestors", "name", "parent_id", "position", "slug")
		createdTop := admin(category.MethodCreate, "name", "position", "slug")
		midLog := []audittest.Change{
			admin(category.MethodMove, "ancestors", "parent_id"),
			admin(category.MethodUpdate, "description", "name"),
			createdUnder,
		}
		logs.Want(t, shop.HistoryRequest{ID: mid.ID}, false, midLog...)
		logs.Want(t, shop.HistoryRequest{ID: leaf.ID, Kind: category.ServiceName}, false, admin(category.MethodMove, "ancestors"), createdUnder)
		logs.Want(t, shop.HistoryRequest{ID: top.ID}, false, createdTop)

		audittest.CheckRefusals(t, cats.History, audittest.Refusals{
			Admin: c.Admin, Customer: c.Customer,
			Readable: []shop.HistoryRequest{{ID: mid.ID}},
			Invalid:  []shop.HistoryRequest{{ID: "../etc"}, {}, {ID: mid.ID, Kind: "product"}},
			Unknown:  []shop.HistoryRequest{{ID: "0123456789abcdef01234567"}},
		})

		// Deleted with reparenting: Leaf moves up (recorded as the delete
		// that moved it), Middle's log stays with the delete on top.
		ct.Must(cats.Delete(c.Admin, category.DeleteRequest{ID: mid.ID, Reparent: true}))(t)
		logs.Want(t, shop.HistoryRequest{ID: leaf.ID}, false,
			admin(category.MethodDelete, "ancestors", "parent_id"),
			admin(category.MethodMove, "ancestors"),
			createdUnder,
		)
		ct.Eventually(t, "tombstone gone", func() error {
			n, err := c.CategoryDB.Collection("categories").CountDocuments(context.Background(), map[string]any{"_id": mid.ID})
			if err != nil || n != 0 {
				return fmt.Errorf("%d documents, %v", n, err)
			}
			return nil
		})
		logs.Want(t, shop.HistoryRequest{ID: mid.ID}, true, append([]audittest.Change{admin(category.MethodDelete)}, midLog...)...)

		// A delete without reparenting, the simple case.
		ct.Must(cats.Delete(c.Admin, category.DeleteRequest{ID: top.ID}))(t)
		logs.Want(t, shop.HistoryRequest{ID: top.ID}, true, admin(category.MethodDelete), createdTop)
	})
}
