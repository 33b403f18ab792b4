package attribute_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/shoptest"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/attribute"
	ct "github.com/shopbus/shopbus/shop/catalog/internal/catalogtest"
	"github.com/shopbus/shopbus/transport"
)

// change is one expected entry of an audit log.
type change struct {
	action string
	fields []string
}

// wantLog fails t unless h is the live log of id (kind) with want, newest
// first, each made by the test's admin.
func wantLog(t *testing.T, h shop.History, kind, id string, deleted bool, want ...change) {
	t.Helper()
	if h.ID != id || h.Kind != kind || h.Deleted != deleted || len(h.Changes) != len(want) {
		t.Fatalf("history = %+v, want %s %s (deleted %v) with %d changes", h, kind, id, deleted, len(want))
	}
	for i, c := range h.Changes {
		if c.Action != want[i].action || !slices.Equal(c.Fields, want[i].fields) ||
			c.Email != shoptest.AdminEmail || c.UserID == "" || c.Time.IsZero() {
			t.Errorf("change %d = %+v, want %s of %v by %s", i, c, want[i].action, want[i].fields, shoptest.AdminEmail)
		}
	}
}

// TestHistory checks the audit logs of attributes and groups: each write
// names its admin, its action and the fields it changed, newest first; a
// write that changes nothing adds nothing; deleting an attribute is
// recorded in the groups it leaves; the logs outlive what they describe;
// only admins may read them.
func TestHistory(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		attrs := c.Attributes
		ct.Must(attrs.Create(c.Admin, attribute.CreateRequest{Code: "width", Name: "Width", Type: attribute.TypeNumber, Unit: "cm"}))(t)
		ct.Must(attrs.Create(c.Admin, attribute.CreateRequest{Code: "height", Name: "Height", Type: attribute.TypeNumber}))(t)
		name, unit := "Breite", "mm"
		ct.Must(attrs.Update(c.Admin, attribute.UpdateRequest{Code: "width", Name: &name, Unit: &unit}))(t)
		same := ct.Must(attrs.Update(c.Admin, attribute.UpdateRequest{Code: "width", Name: &name}))(t) // no change: no entry
		if same.Version != 2 {
			t.Fatalf("an update that changes nothing made version %d, want 2", same.Version)
		}

		h := ct.Must(attrs.History(c.Admin, shop.HistoryRequest{ID: "width"}))(t)
		wantLog(t, h, attribute.KindAttribute, "width", false,
			change{attribute.MethodUpdate, []string{"name", "unit"}},
			change{attribute.MethodCreate, []string{"name", "type", "unit"}},
		)
		h = ct.Must(attrs.History(c.Admin, shop.HistoryRequest{ID: "width", Kind: attribute.KindAttribute}))(t)
		if len(h.Changes) != 2 {
			t.Fatalf("kind %q: %+v", attribute.KindAttribute, h)
		}

		// Groups.
		ct.Must(attrs.CreateGroup(c.Admin, attribute.CreateGroupRequest{Code: "dims", Name: "Dimensions", Attributes: []string{"width", "height"}}))(t)
		pos := 3
		ct.Must(attrs.UpdateGroup(c.Admin, attribute.UpdateGroupRequest{Code: "dims", Position: &pos}))(t)
		dimsName := "Dimensions"
		ct.Must(attrs.UpdateGroup(c.Admin, attribute.UpdateGroupRequest{Code: "dims", Name: &dimsName}))(t) // no change
		// An attribute's delete takes it out of the group: the group's log says so.
		ct.Must(attrs.Delete(c.Admin, attribute.CodeRequest{Code: "height"}))(t)
		h = ct.Must(attrs.History(c.Admin, shop.HistoryRequest{ID: "dims", Kind: attribute.KindGroup}))(t)
		wantLog(t, h, attribute.KindGroup, "dims", false,
			change{attribute.MethodDelete, []string{"attributes"}},
			change{attribute.MethodUpdateGroup, []string{"position"}},
			change{attribute.MethodCreateGroup, []string{"attributes", "name", "position"}}, // position 0 is stored, so it counts
		)
		// A group's code is not an attribute's: the kinds are apart.
		if _, err := attrs.History(c.Admin, shop.HistoryRequest{ID: "dims"}); !errors.Is(err, shop.ErrNotFound) {
			t.Fatalf("group code as an attribute: %v", err)
		}

		// Deleted: the logs stay, the delete on top.
		h = ct.Must(attrs.History(c.Admin, shop.HistoryRequest{ID: "height"}))(t)
		wantLog(t, h, attribute.KindAttribute, "height", true,
			change{attribute.MethodDelete, nil},
			change{attribute.MethodCreate, []string{"name", "type"}},
		)
		// Created again at the same code: the code's history reads on.
		ct.Must(attrs.Create(c.Admin, attribute.CreateRequest{Code: "height", Name: "Height", Type: attribute.TypeText}))(t)
		h = ct.Must(attrs.History(c.Admin, shop.HistoryRequest{ID: "height"}))(t)
		wantLog(t, h, attribute.KindAttribute, "height", false,
			change{attribute.MethodCreate, []string{"name", "type"}},
			change{attribute.MethodDelete, nil},
			change{attribute.MethodCreate, []string{"name", "type"}},
		)
		ct.Must(attrs.DeleteGroup(c.Admin, attribute.CodeRequest{Code: "dims"}))(t)
		h = ct.Must(attrs.History(c.Admin, shop.HistoryRequest{ID: "dims", Kind: attribute.KindGroup}))(t)
		if !h.Deleted || len(h.Changes) != 4 || h.Changes[0].Action != attribute.MethodDeleteGroup || h.Changes[0].Email != shoptest.AdminEmail {
			t.Fatalf("group history after delete = %+v", h)
		}

		// Refused writes leave no entry.
		_, err := attrs.Update(c.Customer, attribute.UpdateRequest{Code: "width", Name: &unit})
		ct.WantCode(t, err, transport.CodeForbidden)
		if h := ct.Must(attrs.History(c.Admin, shop.HistoryRequest{ID: "width"}))(t); len(h.Changes) != 2 {
			t.Fatalf("a refused write was recorded: %+v", h)
		}

		for _, tc := range []struct {
			ctx  context.Context
			code transport.Code
		}{
			{context.Background(), transport.CodeUnauthenticated},
			{c.Customer, transport.CodeForbidden},
		} {
			_, err := attrs.History(tc.ctx, shop.HistoryRequest{ID: "width"})
			ct.WantCode(t, err, tc.code)
		}
		for _, r := range []shop.HistoryRequest{
			{ID: "../etc"},
			{ID: ""},
			{ID: "width", Kind: "option"},
		} {
			_, err := attrs.History(c.Admin, r)
			ct.WantCode(t, err, transport.CodeInvalid)
		}
		if _, err := attrs.History(c.Admin, shop.HistoryRequest{ID: "depth"}); !errors.Is(err, shop.ErrNotFound) {
			t.Fatalf("unknown attribute: %v", err)
		}
		if _, err := attrs.History(c.Admin, shop.HistoryRequest{ID: "depth", Kind: attribute.KindGroup}); !errors.Is(err, shop.ErrNotFound) {
			t.Fatalf("unknown group: %v", err)
		}
	})
}
