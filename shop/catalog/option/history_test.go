package option_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/shoptest"
	"github.com/shopbus/shopbus/shop"
	ct "github.com/shopbus/shopbus/shop/catalog/internal/catalogtest"
	"github.com/shopbus/shopbus/shop/catalog/option"
	"github.com/shopbus/shopbus/transport"
)

// TestHistory checks an option group's audit log: each write of the group
// or of its values names its admin, its action and the fields it changed,
// newest first; a write that changes nothing, a refused one and variant
// generation add nothing; the log outlives the group; only admins may
// read it.
func TestHistory(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		opts := c.Options
		groups(t, c) // size (s, m, l) and colour
		name, pos := "Sizes", 2
		ct.Must(opts.UpdateGroup(c.Admin, option.UpdateGroupRequest{Code: "size", Name: &name}))(t)
		same := ct.Must(opts.UpdateGroup(c.Admin, option.UpdateGroupRequest{Code: "size", Name: &name}))(t) // no change: no entry
		if same.Version != 2 {
			t.Fatalf("an update that changes nothing made version %d, want 2", same.Version)
		}
		ct.Must(opts.UpdateGroup(c.Admin, option.UpdateGroupRequest{Code: "size", Position: &pos}))(t)
		ct.Must(opts.AddValue(c.Admin, option.ValueRequest{Group: "size", Code: "xl", Label: "Extra large"}))(t)
		ct.Must(opts.UpdateValue(c.Admin, option.ValueRequest{Group: "size", Code: "xl", Label: "XL"}))(t)
		ct.Must(opts.UpdateValue(c.Admin, option.ValueRequest{Group: "size", Code: "xl", Label: "XL"}))(t) // no change
		ct.Must(opts.RemoveValue(c.Admin, option.ValueRequest{Group: "size", Code: "xl"}))(t)
		// Refused writes and variants leave the group's log alone.
		_, err := opts.AddValue(c.Admin, option.ValueRequest{Group: "size", Code: "m", Label: "Again"})
		ct.WantCode(t, err, transport.CodeConflict)
		_, err = opts.UpdateGroup(c.Customer, option.UpdateGroupRequest{Code: "size", Position: &pos})
		ct.WantCode(t, err, transport.CodeForbidden)
		ct.Must(opts.GenerateVariants(c.Admin, option.GenerateRequest{ProductID: "p1", SKU: "TEE", Groups: []string{"size"}}))(t)
		_, err = opts.RemoveValue(c.Admin, option.ValueRequest{Group: "size", Code: "m"}) // in use
		ct.WantCode(t, err, transport.CodeConflict)

		want := []struct {
			action string
			fields []string
		}{
			{option.MethodRemoveValue, []string{"values"}},
			{option.MethodUpdateValue, []string{"values"}},
			{option.MethodAddValue, []string{"values"}},
			{option.MethodUpdateGroup, []string{"position"}},
			{option.MethodUpdateGroup, []string{"name"}},
			{option.MethodCreateGroup, []string{"name", "position", "values"}}, // position 0 is stored, so it counts
		}
		for _, kind := range []string{"", option.KindGroup} {
			h := ct.Must(opts.History(c.Admin, shop.HistoryRequest{ID: "size", Kind: kind}))(t)
			if h.ID != "size" || h.Kind != option.KindGroup || h.Deleted || len(h.Changes) != len(want) {
				t.Fatalf("kind %q: history = %+v, want %d changes", kind, h, len(want))
			}
			for i, c := range h.Changes {
				if c.Action != want[i].action || !slices.Equal(c.Fields, want[i].fields) ||
					c.Email != shoptest.AdminEmail || c.UserID == "" || c.Time.IsZero() {
					t.Errorf("change %d = %+v, want %s of %v by %s", i, c, want[i].action, want[i].fields, shoptest.AdminEmail)
				}
			}
		}

		// A group in use cannot go, and its failed delete is not recorded.
		_, err = opts.DeleteGroup(c.Admin, option.GroupRequest{Code: "size"})
		ct.WantCode(t, err, transport.CodeConflict)
		if h := ct.Must(opts.History(c.Admin, shop.HistoryRequest{ID: "size"}))(t); h.Deleted || len(h.Changes) != len(want) {
			t.Fatalf("after a refused delete: %+v", h)
		}
		// Deleted: the log stays, the delete on top.
		ct.Must(opts.DeleteGroup(c.Admin, option.GroupRequest{Code: "colour"}))(t)
		h := ct.Must(opts.History(c.Admin, shop.HistoryRequest{ID: "colour"}))(t)
		if !h.Deleted || len(h.Changes) != 2 || h.Changes[0].Action != option.MethodDeleteGroup || h.Changes[0].Fields != nil ||
			h.Changes[0].Email != shoptest.AdminEmail || h.Changes[1].Action != option.MethodCreateGroup {
			t.Fatalf("history after delete = %+v", h)
		}
		// Created again at the same code: the code's history reads on.
		ct.Must(opts.CreateGroup(c.Admin, option.CreateGroupRequest{Code: "colour", Name: "Colour", Values: []option.Value{{Code: "red", Label: "Red"}}}))(t)
		h = ct.Must(opts.History(c.Admin, shop.HistoryRequest{ID: "colour"}))(t)
		if h.Deleted || len(h.Changes) != 3 || h.Changes[0].Action != option.MethodCreateGroup || h.Changes[1].Action != option.MethodDeleteGroup {
			t.Fatalf("history after a delete and a new create = %+v", h)
		}

		for _, tc := range []struct {
			ctx  context.Context
			code transport.Code
		}{
			{context.Background(), transport.CodeUnauthenticated},
			{c.Customer, transport.CodeForbidden},
		} {
			_, err := opts.History(tc.ctx, shop.HistoryRequest{ID: "size"})
			ct.WantCode(t, err, tc.code)
		}
		for _, r := range []shop.HistoryRequest{
			{ID: "../etc"},
			{ID: ""},
			{ID: "size", Kind: "variant"},
		} {
			_, err := opts.History(c.Admin, r)
			ct.WantCode(t, err, transport.CodeInvalid)
		}
		if _, err := opts.History(c.Admin, shop.HistoryRequest{ID: "sleeve"}); !errors.Is(err, shop.ErrNotFound) {
			t.Fatalf("unknown group: %v", err)
		}
	})
}
