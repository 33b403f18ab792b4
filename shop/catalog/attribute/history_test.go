package attribute_test

import (
	"testing"

	"github.com/shopbus/shopbus/internal/audit/audittest"
	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/shoptest"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/attribute"
	ct "github.com/shopbus/shopbus/shop/catalog/internal/catalogtest"
	"github.com/shopbus/shopbus/transport"
)

// TestHistory checks the audit logs of attributes and groups: each write
// names its admin, its action and the fields it changed, newest first; a
// write that changes nothing adds nothing; deleting an attribute is
// recorded in the groups it leaves; the logs outlive what they describe;
// only admins may read them.
func TestHistory(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		attrs := c.Attributes
		admin := audittest.By(shoptest.AdminEmail)
		logs := audittest.Reader{History: attrs.History, Admin: c.Admin, Kind: attribute.KindAttribute}
		width := shop.HistoryRequest{ID: "width"} // the default kind
		height := shop.HistoryRequest{ID: "height", Kind: attribute.KindAttribute}
		dims := shop.HistoryRequest{ID: "dims", Kind: attribute.KindGroup}
		ct.Must(attrs.Create(c.Admin, attribute.CreateRequest{Code: "width", Name: "Width", Type: attribute.TypeNumber, Unit: "cm"}))(t)
		ct.Must(attrs.Create(c.Admin, attribute.CreateRequest{Code: "height", Name: "Height", Type: attribute.TypeNumber}))(t)
		name, unit := "Breite", "mm"
		ct.Must(attrs.Update(c.Admin, attribute.UpdateRequest{Code: "width", Name: &name, Unit: &unit}))(t)
		same := ct.Must(attrs.Update(c.Admin, attribute.UpdateRequest{Code: "width", Name: &name}))(t) // no change: no entry
		if same.Version != 2 {
			t.Fatalf("an update that changes nothing made version %d, want 2", same.Version)
		}

		widthLog := []audittest.Change{
			admin(attribute.MethodUpdate, "name", "unit"),
			admin(attribute.MethodCreate, "name", "type", "unit"),
		}
		logs.Want(t, width, false, widthLog...)
		logs.Want(t, shop.HistoryRequest{ID: "width", Kind: attribute.KindAttribute}, false, widthLog...)

		// Groups.
		ct.Must(attrs.CreateGroup(c.Admin, attribute.CreateGroupRequest{Code: "dims", Name: "Dimensions", Attributes: []string{"width", "height"}}))(t)
		pos := 3
		ct.Must(attrs.UpdateGroup(c.Admin, attribute.UpdateGroupRequest{Code: "dims", Position: &pos}))(t)
		dimsName := "Dimensions"
		ct.Must(attrs.UpdateGroup(c.Admin, attribute.UpdateGroupRequest{Code: "dims", Name: &dimsName}))(t) // no change
		// An attribute's delete takes it out of the group: the group's log says so.
		ct.Must(attrs.Delete(c.Admin, attribute.CodeRequest{Code: "height"}))(t)
		dimsLog := []audittest.Change{
			admin(attribute.MethodDelete, "attributes"),
			admin(attribute.MethodUpdateGroup, "position"),
			admin(attribute.MethodCreateGroup, "attributes", "name", "position"), // position 0 is stored, so it counts
		}
		logs.Want(t, dims, false, dimsLog...)
		// A group's code is not an attribute's: the kinds are apart.
		_, err := attrs.History(c.Admin, shop.HistoryRequest{ID: "dims"})
		ct.WantCode(t, err, transport.CodeNotFound)

		// Deleted: the logs stay, the delete on top.
		heightCreated := admin(attribute.MethodCreate, "name", "type")
		logs.Want(t, height, true, admin(attribute.MethodDelete), heightCreated)
		// Created again at the same code: the code's history reads on.
		ct.Must(attrs.Create(c.Admin, attribute.CreateRequest{Code: "height", Name: "Height", Type: attribute.TypeText}))(t)
		logs.Want(t, height, false, heightCreated, admin(attribute.MethodDelete), heightCreated)
		ct.Must(attrs.DeleteGroup(c.Admin, attribute.CodeRequest{Code: "dims"}))(t)
		logs.Want(t, dims, true, append([]audittest.Change{admin(attribute.MethodDeleteGroup)}, dimsLog...)...)

		// Refused writes leave no entry.
		_, err = attrs.Update(c.Customer, attribute.UpdateRequest{Code: "width", Name: &unit})
		ct.WantCode(t, err, transport.CodeForbidden)
		logs.Want(t, width, false, widthLog...)

		audittest.CheckRefusals(t, attrs.History, audittest.Refusals{
			Admin: c.Admin, Customer: c.Customer,
			Readable: []shop.HistoryRequest{width},
			Invalid:  []shop.HistoryRequest{{ID: "../etc"}, {ID: ""}, {ID: "width", Kind: "option"}},
			Unknown: []shop.HistoryRequest{
				{ID: "depth"}, {ID: "depth", Kind: attribute.KindGroup},
				{ID: "dims"}, // still not an attribute's once the group is deleted
			},
		})
	})
}
