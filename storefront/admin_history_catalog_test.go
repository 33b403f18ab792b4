package storefront_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/attribute"
	"github.com/shopbus/shopbus/shop/catalog/option"
	"github.com/shopbus/shopbus/storefront"
	"github.com/shopbus/shopbus/transport"
)

// historyUnavailable fails t unless page is the working edit page
// (status 200, holding want) saying that the history cannot be shown,
// without rows.
func historyUnavailable(t *testing.T, code int, page, want string) {
	t.Helper()
	if code != 200 || !strings.Contains(page, "The history cannot be shown right now") || !strings.Contains(page, want) {
		t.Fatalf("page without history: %d\n%s", code, page)
	}
	if rows, _ := historyRows(page); len(rows) != 0 {
		t.Fatalf("rows shown without an answer: %v", rows)
	}
}

// failingAdmin is an admin browser on a second storefront of f whose calls
// of method fail.
func failingAdmin(t *testing.T, f *fixture, method string) *browser {
	t.Helper()
	_, srv, _ := f.newFront(t, storefront.Options{}, func(b transport.Bus) transport.Bus { return failMethod{b, method} })
	b := newBrowser(t, srv.URL)
	b.json("POST", "/api/login", map[string]string{"email": adminEmail, "password": adminPassword}, 200, nil)
	return b
}

// TestAdminAttributeHistory: the attribute and attribute group pages show
// their audit logs, newest first, naming the admin and the fields of each
// change made through the console; an attribute's delete shows in the
// group it left; the "new" pages have no History; when the attribute
// service cannot give a log, the page says so instead of showing an empty
// one.
func TestAdminAttributeHistory(t *testing.T) {
	f := newShop(t, storefront.Options{})
	admin := adminBrowser(t, f)

	if _, page := admin.page("/admin/attributes/new"); strings.Contains(page, `id="history"`) {
		t.Errorf("the new attribute page has a History section")
	}
	form := url.Values{"code": {"material"}, "name": {"Material"}, "type": {"enum"}, "values": {"leather\ncanvas"}}
	if code, loc, body := admin.submit("/admin/attributes/new", "/admin/attributes", nil, form); code != 303 || loc != "/admin/attributes/material?done=attribute_created" {
		t.Fatalf("create: %d %q\n%s", code, loc, body)
	}
	edit := "/admin/attributes/material"
	if code, _, body := admin.submit(edit, edit, nil, url.Values{"name": {"Upper"}, "values": {"leather\ncanvas\nmesh"}}); code != 303 {
		t.Fatalf("update: %d\n%s", code, body)
	}
	if code, _, body := admin.submit(edit, edit, nil, url.Values{"name": {"Upper"}, "values": {"leather\r\ncanvas\r\nmesh\r\n"}}); code != 303 { // saved unchanged
		t.Fatalf("save unchanged: %d\n%s", code, body)
	}
	_, page := admin.page(edit)
	wantHistory(t, page,
		historyRow{adminEmail, attribute.MethodUpdate, "name, values"},
		historyRow{adminEmail, attribute.MethodCreate, "name, type, values"},
	)

	// A group holding it.
	if _, page := admin.page("/admin/attribute-groups/new"); strings.Contains(page, `id="history"`) {
		t.Errorf("the new attribute group page has a History section")
	}
	gform := url.Values{"code": {"look"}, "name": {"Look"}, "position": {"1"}, "attributes": {"color", "material"}}
	if code, loc, body := admin.submit("/admin/attribute-groups/new", "/admin/attribute-groups", nil, gform); code != 303 {
		t.Fatalf("create a group: %d %q\n%s", code, loc, body)
	}
	gpath := "/admin/attribute-groups/look"
	if code, _, body := admin.submit(gpath, gpath, nil, url.Values{"name": {"Looks"}, "position": {"1"}, "attributes": {"color", "material"}}); code != 303 {
		t.Fatalf("rename the group: %d\n%s", code, body)
	}
	if code, loc, _ := admin.submit(edit+"/delete", edit+"/delete", nil, nil); code != 303 || loc != "/admin/attributes?done=attribute_deleted" {
		t.Fatalf("delete the attribute: %d %q", code, loc)
	}
	_, page = admin.page(gpath)
	wantHistory(t, page,
		historyRow{adminEmail, attribute.MethodDelete, "attributes"},
		historyRow{adminEmail, attribute.MethodUpdateGroup, "name"},
		historyRow{adminEmail, attribute.MethodCreateGroup, "attributes, name, position"},
	)

	// The deleted attribute's log, over the bus as any client reads it.
	ctx := shop.WithToken(context.Background(), admin.cookie(storefront.SessionCookie).Value)
	h, err := attribute.NewClient(f.bus).History(ctx, shop.HistoryRequest{ID: "material"})
	if err != nil || !h.Deleted || len(h.Changes) != 3 || h.Changes[0].Action != attribute.MethodDelete || h.Changes[0].Email != adminEmail {
		t.Fatalf("History of the deleted attribute: %+v, %v", h, err)
	}

	// The attribute service cannot give the logs: the pages still work and say so.
	other := failingAdmin(t, f, attribute.MethodHistory)
	code, page := other.page("/admin/attributes/color")
	historyUnavailable(t, code, page, `name="name" value="`)
	code, page = other.page(gpath)
	historyUnavailable(t, code, page, `name="name" value="Looks"`)
}

// TestAdminOptionHistory: the option group page shows its audit log,
// newest first: the group's creation, renaming and each value added,
// relabelled or removed, naming the admin and the fields; the "new" page
// has no History; when the option service cannot give the log, the page
// says so instead of showing an empty one.
func TestAdminOptionHistory(t *testing.T) {
	f := newShop(t, storefront.Options{})
	admin := adminBrowser(t, f)

	if _, page := admin.page("/admin/options/new"); strings.Contains(page, `id="history"`) {
		t.Errorf("the new option group page has a History section")
	}
	code, loc, body := admin.submit("/admin/options/new", "/admin/options", nil,
		url.Values{"code": {"width"}, "name": {"Width"}, "position": {"1"}, "values": {"n Narrow\nw Wide"}})
	gedit := "/admin/options/width"
	if code != 303 || loc != gedit+"?done=option_created" {
		t.Fatalf("create: %d %q\n%s", code, loc, body)
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
		if code, _, body := admin.submit(gedit, step.action, nil, step.fields); code != 303 {
			t.Fatalf("%s: %d\n%s", step.action, code, body)
		}
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
	other := failingAdmin(t, f, option.MethodHistory)
	code, page = other.page(gedit)
	historyUnavailable(t, code, page, `<tr class="option-value" data-code="x">`)
}
