package category_test

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
	"github.com/shopbus/shopbus/transport"
)

// change is an expected entry of an audit log: its action and changed
// fields, by the test's admin.
type change struct {
	action string
	fields []string
}

// wantChanges fails t unless h lists want, newest first, each by the
// test's admin.
func wantChanges(t *testing.T, h shop.History, want ...change) {
	t.Helper()
	if len(h.Changes) != len(want) {
		t.Fatalf("history of %s %s has %d changes %+v, want %d", h.Kind, h.ID, len(h.Changes), h.Changes, len(want))
	}
	for i, c := range h.Changes {
		if c.Action != want[i].action || !slices.Equal(c.Fields, want[i].fields) ||
			c.Email != shoptest.AdminEmail || c.UserID == "" || c.Time.IsZero() {
			t.Errorf("change %d of %s = %+v, want %s of %v by %s", i, h.ID, c, want[i].action, want[i].fields, shoptest.AdminEmail)
		}
	}
}

// TestHistory checks the category's audit log: each write (create,
// update, move, delete) names its admin, its action and the fields it
// changed, newest first; a no-op write adds nothing; the subcategories a
// move or a reparenting delete rewrites record that request too; the log
// outlives the category; only admins may read it.
func TestHistory(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		cats := c.Categories
		top := create(t, c, "Top", "")
		other := create(t, c, "Other", "")
		mid := create(t, c, "Mid", top.ID)
		leaf := create(t, c, "Leaf", mid.ID)

		name, desc := "Middle", "In between."
		ct.Must(cats.Update(c.Admin, category.UpdateRequest{ID: mid.ID, Name: &name, Description: &desc}))(t)
		ct.Must(cats.Update(c.Admin, category.UpdateRequest{ID: mid.ID, Name: &name}))(t)    // no change: no entry
		ct.Must(cats.Move(c.Admin, category.MoveRequest{ID: mid.ID, ParentID: other.ID}))(t) // Leaf's ancestors follow
		ct.Must(cats.Move(c.Admin, category.MoveRequest{ID: mid.ID, ParentID: other.ID}))(t) // already there: no entry

		h := ct.Must(cats.History(c.Admin, shop.HistoryRequest{ID: mid.ID}))(t)
		if h.ID != mid.ID || h.Kind != category.ServiceName || h.Deleted {
			t.Fatalf("history = %+v", h)
		}
		wantChanges(t, h,
			change{category.MethodMove, []string{"ancestors", "parent_id"}},
			change{category.MethodUpdate, []string{"description", "name"}},
			change{category.MethodCreate, []string{"ancestors", "name", "parent_id", "position", "slug"}},
		)
		wantChanges(t, ct.Must(cats.History(c.Admin, shop.HistoryRequest{ID: leaf.ID, Kind: category.ServiceName}))(t),
			change{category.MethodMove, []string{"ancestors"}},
			change{category.MethodCreate, []string{"ancestors", "name", "parent_id", "position", "slug"}},
		)
		wantChanges(t, ct.Must(cats.History(c.Admin, shop.HistoryRequest{ID: top.ID}))(t),
			change{category.MethodCreate, []string{"name", "position", "slug"}},
		)

		for _, tc := range []struct {
			ctx  context.Context
			code transport.Code
		}{
			{context.Background(), transport.CodeUnauthenticated},
			{c.Customer, transport.CodeForbidden},
		} {
			_, err := cats.History(tc.ctx, shop.HistoryRequest{ID: mid.ID})
			ct.WantCode(t, err, tc.code)
		}
		_, err := cats.History(c.Admin, shop.HistoryRequest{ID: "../etc"})
		ct.WantCode(t, err, transport.CodeInvalid)
		_, err = cats.History(c.Admin, shop.HistoryRequest{})
		ct.WantCode(t, err, transport.CodeInvalid)
		_, err = cats.History(c.Admin, shop.HistoryRequest{ID: mid.ID, Kind: "product"})
		ct.WantCode(t, err, transport.CodeInvalid)
		if _, err := cats.History(c.Admin, shop.HistoryRequest{ID: "0123456789abcdef01234567"}); !errors.Is(err, shop.ErrNotFound) {
			t.Fatalf("unknown category: %v", err)
		}

		// Deleted with reparenting: Leaf moves up (recorded as the delete
		// that moved it), Middle's log stays with the delete on top.
		ct.Must(cats.Delete(c.Admin, category.DeleteRequest{ID: mid.ID, Reparent: true}))(t)
		wantChanges(t, ct.Must(cats.History(c.Admin, shop.HistoryRequest{ID: leaf.ID}))(t),
			change{category.MethodDelete, []string{"ancestors", "parent_id"}},
			change{category.MethodMove, []string{"ancestors"}},
			change{category.MethodCreate, []string{"ancestors", "name", "parent_id", "position", "slug"}},
		)
		ct.Eventually(t, "tombstone gone", func() error {
			n, err := c.CategoryDB.Collection("categories").CountDocuments(context.Background(), map[string]any{"_id": mid.ID})
			if err != nil || n != 0 {
				return fmt.Errorf("%d documents, %v", n, err)
			}
			return nil
		})
		h = ct.Must(cats.History(c.Admin, shop.HistoryRequest{ID: mid.ID}))(t)
		if !h.Deleted {
			t.Fatalf("history after delete = %+v", h)
		}
		wantChanges(t, h,
			change{category.MethodDelete, nil},
			change{category.MethodMove, []string{"ancestors", "parent_id"}},
			change{category.MethodUpdate, []string{"description", "name"}},
			change{category.MethodCreate, []string{"ancestors", "name", "parent_id", "position", "slug"}},
		)

		// A delete without reparenting, the simple case.
		ct.Must(cats.Delete(c.Admin, category.DeleteRequest{ID: top.ID}))(t)
		h = ct.Must(cats.History(c.Admin, shop.HistoryRequest{ID: top.ID}))(t)
		if !h.Deleted {
			t.Fatalf("history after delete = %+v", h)
		}
		wantChanges(t, h,
			change{category.MethodDelete, nil},
			change{category.MethodCreate, []string{"name", "position", "slug"}},
		)
	})
}
