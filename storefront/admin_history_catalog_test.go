package storefront_test

import (
	"net/url"
	"testing"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/attribute"
	"github.com/shopbus/shopbus/shop/catalog/option"
	"github.com/shopbus/shopbus/storefront"
)

// TestAdminAttributeHistory: the attribute and attribute group pages show
// their audit logs, newest first, naming the admin and the fields of each
// change made through the console; an attribute's delete shows in the
// group it left; the "new" pages have no History; when the attribute
// service cannot give a log, the page says so instead of showing an empty
// one.
func TestAdminAttributeHistory(t *testing.T) {
	f := newShop(t, storefront.Options{})
	admin := adminBrowser(t, f)

	wantNoHistorySection(t, admin, "/admin/attributes/new")
	form := url.Values{"code": {"material"}, "name": {"Material"}, "type": {"enum"}, "values": {"leather\ncanvas"}}
	if loc := saved(t, admin, "create", "/admin/attributes/new", "/admin/attributes", nil, form); loc != "/admin/attributes/material?done=attribute_created" {
		t.Fatalf("create: sent to %q", loc)
	}
	edit := "/admin/attributes/material"
	saved(t, admin, "update", edit, edit, nil, url.Values{"name": {"Upper"}, "values": {"leather\ncanvas\nmesh"}})
	saved(t, admin, "save unchanged", edit, edit, nil, url.Values{"name": {"Upper"}, "values": {"leather\r\ncanvas\r\nmesh\r\n"}})
	_, page := admin.page(edit)
	wantHistory(t, page,
		historyRow{adminEmail, attribute.MethodUpdate, "name, values"},
		historyRow{adminEmail, attribute.MethodCreate, "name, type, values"},
	)

	// A group holding it.
	wantNoHistorySection(t, admin, "/admin/attribute-groups/new")
	gform := url.Values{"code": {"look"}, "name": {"Look"}, "position": {"1"}, "attributes": {"color", "material"}}
	saved(t, admin, "create a group", "/admin/attribute-groups/new", "/admin/attribute-groups", nil, gform)
	gpath := "/admin/attribute-groups/look"
	saved(t, admin, "rename the group", gpath, gpath, nil, url.Values{"name": {"Looks"}, "position": {"1"}, "attributes": {"color", "material"}})
	if loc := saved(t, admin, "delete the attribute", edit+"/delete", edit+"/delete", nil, nil); loc != "/admin/attributes?done=attribute_deleted" {
		t.Fatalf("delete the attribute: sent to %q", loc)
	}
	_, page = admin.page(gpath)
	wantHistory(t, page,
		historyRow{adminEmail, attribute.MethodDelete, "attributes"},
		historyRow{adminEmail, attribute.MethodUpdateGroup, "name"},
		historyRow{adminEmail, attribute.MethodCreateGroup, "attributes, name, position"},
	)

	// The deleted attribute's log, over the bus as any client reads it.
	h, err := attribute.NewClient(f.bus).History(busContext(admin), shop.HistoryRequest{ID: "material"})
	if err != nil || !h.Deleted || len(h.Changes) != 3 || h.Changes[0].Action != attribute.MethodDelete || h.Changes[0].Email != adminEmail {
		t.Fatalf("History of the deleted attribute: %+v, %v", h, err)
	}

	// The attribute service cannot give the logs: the pages still work and say so.
	other := failingAdmin(t, f, attribute.MethodHistory)
	wantHistoryUnavailable(t, other, "/admin/attributes/color", `name="name" value="`)
	wantHistoryUnavailable(t, other, gpath, `name="name" value="Looks"`)
}

// TestAdminOptionHistory: the option group page shows its audit log,
// newest first: the group's creation, renaming and each value added,
// relabelled or removed, naming the admin and the fields; the "new" page
// has no History; when the option service cannot give the log, the page
// says so instead of showing an empty one.
func TestAdminOptionHistory(t *testing.T) {
	f := newShop(t, storefront.Options{})
	admin := adminBrowser(t, f)

	wantNoHistorySection(t, admin, "/admin/options/new")
	gedit := "/admin/options/width"
	if loc := saved(t, admin, "create", "/admin/options/new", "/admin/options", nil,
		url.Values{"code": {"width"}, "name": {"Width"}, "position": {"1"}, "values": {"n Narrow\nw Wide"}}); loc != gedit+"?done=option_created" {
		t.Fatalf("create: sent to %q", loc)
	}
	for _, step := range []struct {
		action string
		fields url.Values
	}{
		{gedit + "/values", url.Values{"value": {"x"}, "label": {"Extra wide"}}},
		{gedit + "/values/n", url.Values{"label": {"Slim"}}},
		{gedit + "/values/n", url.Values{"label": {"Slim"}}}, // no change
		{gedit + "/values/w/remove", nil},
		{gedit, url.Values{"name": {"Fit"}, "position": {"1"}}},
	} {
		saved(t, admin, step.action, gedit, step.action, nil, step.fields)
	}
	_, page := admin.page(gedit)
	wantHistory(t, page,
		historyRow{adminEmail, option.MethodUpdateGroup, "name"},
		historyRow{adminEmail, option.MethodRemoveValue, "values"},
		historyRow{adminEmail, option.MethodUpdateValue, "values"},
		historyRow{adminEmail, option.MethodAddValue, "values"},
		historyRow{adminEmail, option.MethodCreateGroup, "name, position, values"},
	)

	// The option service cannot give the log: the page still works and says so.
	wantHistoryUnavailable(t, failingAdmin(t, f, option.MethodHistory), gedit, `<tr class="option-value" data-code="x">`)
}
