package option_test

import (
	"testing"

	"github.com/shopbus/shopbus/internal/audit/audittest"
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
		admin := audittest.By(shoptest.AdminEmail)
		logs := audittest.Reader{History: opts.History, Admin: c.Admin, Kind: option.KindGroup}
		size, colour := shop.HistoryRequest{ID: "size"}, shop.HistoryRequest{ID: "colour"}
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

		sizeLog := []audittest.Change{
			admin(option.MethodRemoveValue, "values"),
			admin(option.MethodUpdateValue, "values"),
			admin(option.MethodAddValue, "values"),
			admin(option.MethodUpdateGroup, "position"),
			admin(option.MethodUpdateGroup, "name"),
			admin(option.MethodCreateGroup, "name", "position", "values"), // position 0 is stored, so it counts
		}
		logs.Want(t, size, false, sizeLog...)
		logs.Want(t, shop.HistoryRequest{ID: "size", Kind: option.KindGroup}, false, sizeLog...)

		// A group in use cannot go, and its failed delete is not recorded.
		_, err = opts.DeleteGroup(c.Admin, option.GroupRequest{Code: "size"})
		ct.WantCode(t, err, transport.CodeConflict)
		logs.Want(t, size, false, sizeLog...)
		// Deleted: the log stays, the delete on top.
		ct.Must(opts.DeleteGroup(c.Admin, option.GroupRequest{Code: "colour"}))(t)
		colourCreated := admin(option.MethodCreateGroup, "name", "position", "values")
		logs.Want(t, colour, true, admin(option.MethodDeleteGroup), colourCreated)
		// Created again at the same code: the code's history reads on.
		ct.Must(opts.CreateGroup(c.Admin, option.CreateGroupRequest{Code: "colour", Name: "Colour", Values: []option.Value{{Code: "red", Label: "Red"}}}))(t)
		logs.Want(t, colour, false, colourCreated, admin(option.MethodDeleteGroup), colourCreated)

		audittest.CheckRefusals(t, opts.History, audittest.Refusals{
			Admin: c.Admin, Customer: c.Customer,
			Readable: []shop.HistoryRequest{size},
			Invalid:  []shop.HistoryRequest{{ID: "../etc"}, {ID: ""}, {ID: "size", Kind: "variant"}},
			Unknown:  []shop.HistoryRequest{{ID: "sleeve"}},
		})
	})
}
