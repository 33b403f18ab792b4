package storefront_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/shopbus/shopbus/shop/catalog/attribute"
	"github.com/shopbus/shopbus/shop/catalog/option"
	"github.com/shopbus/shopbus/shop/content/seo"
	"github.com/shopbus/shopbus/storefront"
)

// TestAdminMoreAccess: the SEO, attribute and option group pages are for
// admins only (a guest is sent to log in, a customer gets 403 pages and
// cannot act), and a form without the admin's CSRF token changes nothing.
func TestAdminMoreAccess(t *testing.T) {
	f := newShop(t, storefront.Options{})
	red := f.products["red-runner"]
	seoPath := "/admin/seo/product/" + red.ID
	pages := []string{"/admin/seo", "/admin/seo?path=/red-runner", seoPath, "/admin/seo/page/about", "/admin/attributes",
		"/admin/attributes/new", "/admin/attributes/color", "/admin/attributes/color/delete", "/admin/options",
		"/admin/options/new", "/admin/options/size", "/admin/options/size/delete", "/admin/attribute-groups/new"}
	actions := map[string]url.Values{
		seoPath:                               {"title": {"Forged"}},
		seoPath + "/delete":                   {},
		"/admin/seo/page/about":               {"path": {"/about"}, "title": {"Forged"}},
		"/admin/attributes":                   {"code": {"forged"}, "name": {"Forged"}, "type": {"text"}},
		"/admin/attributes/color":             {"name": {"Forged"}, "values": {"red\nblue\ngreen"}},
		"/admin/attributes/color/delete":      {},
		"/admin/options":                      {"code": {"forged"}, "name": {"Forged"}},
		"/admin/options/size":                 {"name": {"Forged"}, "position": {"0"}},
		"/admin/options/size/values":          {"value": {"xl"}, "label": {"Forged"}},
		"/admin/options/size/values/s":        {"label": {"Forged"}},
		"/admin/options/size/values/s/remove": {},
		"/admin/options/size/delete":          {},
	}
	attrs, opts, meta := attribute.NewClient(f.bus), option.NewClient(f.bus), seo.NewClient(f.bus)
	color, err := attrs.Get(context.Background(), attribute.CodeRequest{Code: "color"})
	if err != nil {
		t.Fatal(err)
	}
	size, err := opts.GetGroup(context.Background(), option.GroupRequest{Code: "size"})
	if err != nil {
		t.Fatal(err)
	}
	unchanged := func(who string) {
		t.Helper()
		list, err := attrs.List(context.Background(), attribute.ListRequest{})
		if err != nil || len(list) != 1 || list[0].Version != color.Version {
			t.Fatalf("after %s's posts the attributes changed: %+v %v", who, list, err)
		}
		if gs, err := attrs.ListGroups(context.Background(), attribute.ListRequest{}); err != nil || len(gs) != 0 {
			t.Fatalf("after %s's posts there are attribute groups: %+v %v", who, gs, err)
		}
		groups, err := opts.ListGroups(context.Background(), option.ListGroupsRequest{})
		if err != nil || len(groups) != 1 || groups[0].Version != size.Version {
			t.Fatalf("after %s's posts the option groups changed: %+v %v", who, groups, err)
		}
		if md, err := meta.Get(f.admin, seo.GetRequest{Kind: seo.KindProduct, EntityID: red.ID}); err == nil && len(md.Explicit) > 0 {
			t.Fatalf("after %s's posts the product's SEO changed: %+v", who, md)
		}
		if _, err := meta.Get(f.admin, seo.GetRequest{Kind: seo.KindPage, EntityID: "about"}); storefront.StatusOf(err) != 404 {
			t.Fatalf("after %s's posts a page exists: %v", who, err)
		}
	}

	guest := f.browser(t)
	for _, p := range pages {
		if code, loc := guest.redirect(p); code != 303 || loc != "/login?next="+strings.ReplaceAll(url.QueryEscape(p), "%2F", "/") {
			t.Errorf("guest GET %s: %d %q", p, code, loc)
		}
	}
	for path, form := range actions {
		if code, loc, _ := guest.post(path, guest.withToken(form)); code != 303 || loc != "/login?next=/admin" {
			t.Errorf("guest POST %s: %d %q", path, code, loc)
		}
	}
	unchanged("a guest")

	cust := customer(t, f, "cora@front.test")
	for _, p := range pages {
		if code, html := cust.page(p); code != 403 || !strings.Contains(html, "for its staff only") {
			t.Errorf("customer GET %s: %d", p, code)
		}
	}
	for path, form := range actions {
		if code, _, _ := cust.post(path, cust.withToken(form)); code != 403 {
			t.Errorf("customer POST %s: %d", path, code)
		}
	}
	unchanged("a customer")

	admin := adminBrowser(t, f)
	code, html := admin.page("/admin")
	for _, want := range []string{`href="/admin/seo"`, `href="/admin/attributes"`, `href="/admin/options"`, `href="/admin/attributes/new"`, `href="/admin/options/new"`} {
		if code != 200 || !strings.Contains(html, want) {
			t.Errorf("dashboard without %q: %d", want, code)
		}
	}
	for _, p := range pages {
		if code, _ := admin.page(p); code != 200 {
			t.Errorf("admin GET %s: %d", p, code)
		}
	}
	for _, p := range []string{"/admin/attributes/nothing", "/admin/attributes/Bad!/delete", "/admin/options/nothing", "/admin/options/nothing/delete", "/admin/attribute-groups/nothing",
		"/admin/seo/widget/x", "/admin/seo/product/no-such-product", "/admin/seo/page/about/delete", "/admin/seo/page/bad!id"} {
		if code, _ := admin.page(p); code != 404 {
			t.Errorf("admin GET %s: %d, want 404", p, code)
		}
	}
	other := f.browser(t)
	other.page("/")
	for _, token := range []string{"", "wrong", other.cookie(storefront.CSRFCookie).Value} {
		for path, form := range actions {
			v := cloneForm(form)
			if token != "" {
				v.Set(storefront.CSRFField, token)
			}
			if code, _, body := admin.post(path, v); code != 403 || !strings.Contains(body, "form has expired") {
				t.Errorf("admin POST %s with token %q: %d", path, token, code)
			}
		}
	}
	unchanged("the admin's forged")
}

// TestAdminSEO, on both buses: an override of a product's title shown by
// its page; the service's refusals next to their fields; a content page
// created, moved (its old address redirects to the new one on the
// public site), refused a taken address, and deleted; an address looked
// up; overrides dropped again.
func TestAdminSEO(t *testing.T) {
	eachShop(t, storefront.Options{}, func(t *testing.T, f *fixture) {
		admin, shopper := adminBrowser(t, f), f.browser(t)
		red := f.products["red-runner"]
		edit := "/admin/seo/product/" + red.ID

		// The product's metadata is known from its events.
		waitFor(t, "the seo service to know Red Runner", func() bool {
			code, html := admin.page(edit)
			return code == 200 && strings.Contains(html, `<dd class="seo-title">Red Runner</dd>`)
		})
		if code, html := admin.page("/admin/seo?path=/red-runner"); code != 200 || !strings.Contains(html, `<a class="seo-link" href="`+edit+`">`) {
			t.Errorf("looking /red-runner up: %d\n%s", code, html)
		}
		// The shopper's visit fills the storefront's memo of the page's
		// metadata; the console's write shows at once all the same.
		if code, html := shopper.page("/red-runner"); code != 200 || !strings.Contains(html, "<title>Red Runner") {
			t.Fatalf("the product page: %d", code)
		}
		code, loc, body := admin.submit(edit, edit, nil, url.Values{"title": {"Fast red shoes"}, "robots": {"noindex, follow"}})
		if code != 303 || loc != edit+"?done=saved" {
			t.Fatalf("override: %d %q\n%s", code, loc, body)
		}
		if code, html := shopper.page("/red-runner"); code != 200 || !strings.Contains(html, "<title>Fast red shoes") ||
			!strings.Contains(html, `content="noindex, follow"`) {
			t.Errorf("the product page after the override: %d\n%s", code, html)
		}
		if _, html := admin.page(loc); !strings.Contains(html, "Your changes were saved.") || !strings.Contains(html, `value="Fast red shoes"`) ||
			!strings.Contains(html, `<dd class="seo-explicit">title, robots</dd>`) {
			t.Errorf("the form after saving:\n%s", html)
		}
		// The service's refusals, next to their fields; nothing changes.
		code, _, html := admin.submit(edit, edit, nil, url.Values{"title": {"Other"}, "robots": {"sometimes"}, "og_image": {"ftp://x"}})
		if code != 400 || !strings.Contains(html, `data-field="robots">unknown directive`) || !strings.Contains(html, `data-field="og_image">`) ||
			!strings.Contains(html, `value="sometimes"`) {
			t.Errorf("bad robots and image: %d\n%s", code, html)
		}
		if _, html := shopper.page("/red-runner"); !strings.Contains(html, "<title>Fast red shoes") {
			t.Errorf("a refused save changed the title:\n%s", html)
		}
		// Back to the defaults after a confirmation.
		code, loc, _ = admin.submit(edit+"/delete", edit+"/delete", nil, nil)
		if code != 303 || loc != "/admin/seo?done=seo_deleted" {
			t.Fatalf("dropping the overrides: %d %q", code, loc)
		}
		if _, html := shopper.page("/red-runner"); strings.Contains(html, "Fast red shoes") || !strings.Contains(html, "<title>Red Runner") {
			t.Errorf("the product page after dropping the overrides:\n%s", html)
		}

		// A content page, created, then moved: its old address redirects.
		page := "/admin/seo/page/about"
		if code, html := admin.page(page); code != 200 || !strings.Contains(html, "New page") {
			t.Fatalf("new page form: %d\n%s", code, html)
		}
		if code, _, html := admin.submit(page, page, nil, url.Values{"title": {"About us"}}); code != 400 || !strings.Contains(html, `data-field="path">is required`) {
			t.Errorf("a page without an address: %d\n%s", code, html)
		}
		code, loc, body = admin.submit(page, page, nil, url.Values{"path": {"/about-us"}, "title": {"About us"}, "description": {"Who we are."}})
		if code != 303 || loc != page+"?done=page_created" {
			t.Fatalf("create a page: %d %q\n%s", code, loc, body)
		}
		if code, html := shopper.page("/about-us"); code != 200 || !strings.Contains(html, "Who we are.") {
			t.Fatalf("the page: %d\n%s", code, html)
		}
		if code, loc, body := admin.submit(page, page, nil, url.Values{"path": {"/about"}, "title": {"About us"}}); code != 303 || loc != page+"?done=saved" {
			t.Fatalf("move the page: %d %q\n%s", code, loc, body)
		}
		if code, loc := shopper.redirect("/about-us"); code != 301 || loc != "/about" {
			t.Errorf("the old address: %d %q, want 301 /about", code, loc)
		}
		if code, html := shopper.page("/about"); code != 200 || !strings.Contains(html, "<title>About us") {
			t.Errorf("the moved page: %d\n%s", code, html)
		}
		if _, html := admin.page("/admin/seo?path=/about-us"); !strings.Contains(html, `redirects permanently (301) to <a href="/about">`) {
			t.Errorf("looking the old address up:\n%s", html)
		}
		// Another page may not take its address.
		other := "/admin/seo/page/contact"
		if code, _, html := admin.submit(other, other, nil, url.Values{"path": {"/about"}, "title": {"Contact"}}); code != 409 || !strings.Contains(html, `data-field="path">`) {
			t.Errorf("a taken address: %d\n%s", code, html)
		}
		// Deleted after a confirmation.
		if code, html := admin.page(page + "/delete"); code != 200 || !strings.Contains(html, "Delete the page /about?") {
			t.Errorf("page delete confirmation: %d\n%s", code, html)
		}
		if code, loc, _ := admin.submit(page+"/delete", page+"/delete", nil, nil); code != 303 || loc != "/admin/seo?done=seo_deleted" {
			t.Fatalf("delete the page: %d %q", code, loc)
		}
		if code, _ := shopper.page("/about"); code != 404 {
			t.Errorf("the deleted page: %d", code)
		}
		if _, html := admin.page("/admin/seo?path=/about"); !strings.Contains(html, "knows nothing at /about") {
			t.Errorf("looking the deleted page up:\n%s", html)
		}
	})
}

// TestAdminAttributesOptions, on both buses: an enum attribute created
// and offered by the product form; a malformed code, an enum without
// values and a taken code next to their fields; values edited; an
// attribute group created and edited; the attribute deleted after a
// confirmation (leaving its group), then the group. An option group created, its values added, relabelled
// and removed; a taken value code next to its field; a group variants use
// cannot be deleted, another can.
func TestAdminAttributesOptions(t *testing.T) {
	eachShop(t, storefront.Options{}, func(t *testing.T, f *fixture) {
		admin := adminBrowser(t, f)
		attrs, opts := attribute.NewClient(f.bus), option.NewClient(f.bus)

		// Attributes.
		form := url.Values{"code": {"material"}, "name": {"Material"}, "type": {"enum"}, "values": {"leather\r\ncanvas\r\n"}}
		code, loc, body := admin.submit("/admin/attributes/new", "/admin/attributes", nil, form)
		if code != 303 || loc != "/admin/attributes/material?done=attribute_created" {
			t.Fatalf("create an attribute: %d %q\n%s", code, loc, body)
		}
		if a, err := attrs.Get(context.Background(), attribute.CodeRequest{Code: "material"}); err != nil || a.Type != "enum" || !slices.Equal(a.Values, []string{"leather", "canvas"}) {
			t.Fatalf("created: %+v %v", a, err)
		}
		if _, html := admin.page("/admin/attributes"); !strings.Contains(html, `<a class="attribute-link" href="/admin/attributes/material">`) || !strings.Contains(html, "leather, canvas") {
			t.Errorf("the list:\n%s", html)
		}
		if _, html := admin.page("/admin/products/new"); !strings.Contains(html, `<select name="attr.material">`) || !strings.Contains(html, `<option value="canvas"`) {
			t.Errorf("the product form does not offer the new attribute:\n%s", html)
		}
		bad := cloneForm(form)
		bad.Set("code", "Bad Code!")
		if code, _, html := admin.submit("/admin/attributes/new", "/admin/attributes", nil, bad); code != 400 || !strings.Contains(html, `data-field="code">`) ||
			!strings.Contains(html, `value="Bad Code!"`) {
			t.Errorf("a malformed code: %d\n%s", code, html)
		}
		bad = cloneForm(form)
		bad.Set("code", "finish")
		bad.Set("values", "")
		if code, _, html := admin.submit("/admin/attributes/new", "/admin/attributes", nil, bad); code != 400 || !strings.Contains(html, `data-field="values">`) {
			t.Errorf("an enum without values: %d\n%s", code, html)
		}
		if code, _, html := admin.submit("/admin/attributes/new", "/admin/attributes", nil, form); code != 409 || !strings.Contains(html, `data-field="code">`) {
			t.Errorf("a taken code: %d\n%s", code, html)
		}
		edit := "/admin/attributes/material"
		if code, loc, _ := admin.submit(edit, edit, nil, url.Values{"name": {"Upper"}, "values": {"leather\ncanvas\nmesh"}}); code != 303 || loc != edit+"?done=saved" {
			t.Fatalf("edit: %d %q", code, loc)
		}
		if a, _ := attrs.Get(context.Background(), attribute.CodeRequest{Code: "material"}); a.Name != "Upper" || !slices.Equal(a.Values, []string{"leather", "canvas", "mesh"}) {
			t.Errorf("edited: %+v", a)
		}
		// An attribute group holding it and the colour.
		code, loc, body = admin.submit("/admin/attribute-groups/new", "/admin/attribute-groups", nil,
			url.Values{"code": {"look"}, "name": {"Look"}, "position": {"1"}, "attributes": {"color", "material"}})
		if code != 303 || loc != "/admin/attribute-groups/look?done=attribute_group_created" {
			t.Fatalf("create a group: %d %q\n%s", code, loc, body)
		}
		if code, _, html := admin.submit("/admin/attribute-groups/new", "/admin/attribute-groups", nil,
			url.Values{"code": {"Look!"}, "name": {"Look"}}); code != 400 || !strings.Contains(html, `data-field="code">`) {
			t.Errorf("a malformed group code: %d\n%s", code, html)
		}
		gpath := "/admin/attribute-groups/look"
		if code, html := admin.page(gpath); code != 200 || !strings.Contains(html, `value="material" checked`) || !strings.Contains(html, `value="color" checked`) {
			t.Errorf("the group form: %d\n%s", code, html)
		}
		if code, loc, _ := admin.submit(gpath, gpath, nil, url.Values{"name": {"Looks"}, "position": {"1"}, "attributes": {"material"}}); code != 303 || loc != gpath+"?done=saved" {
			t.Fatalf("edit the group: %d %q", code, loc)
		}
		if g, err := attrs.GetGroup(context.Background(), attribute.CodeRequest{Code: "look"}); err != nil || g.Name != "Looks" || !slices.Equal(g.Attributes, []string{"material"}) {
			t.Errorf("edited group: %+v %v", g, err)
		}
		if _, html := admin.page("/admin/attributes"); !strings.Contains(html, `<a class="attribute-group-link" href="/admin/attribute-groups/look">Looks</a>`) {
			t.Errorf("the list without the group:\n%s", html)
		}
		if code, html := admin.page(edit + "/delete"); code != 200 || len(forms(html, edit+"/delete")) != 1 {
			t.Fatalf("delete confirmation: %d\n%s", code, html)
		}
		if code, loc, _ := admin.submit(edit+"/delete", edit+"/delete", nil, nil); code != 303 || loc != "/admin/attributes?done=attribute_deleted" {
			t.Fatalf("delete: %d %q", code, loc)
		}
		if _, err := attrs.Get(context.Background(), attribute.CodeRequest{Code: "material"}); storefront.StatusOf(err) != 404 {
			t.Errorf("deleted attribute: %v", err)
		}
		if g, err := attrs.GetGroup(context.Background(), attribute.CodeRequest{Code: "look"}); err != nil || len(g.Attributes) != 0 {
			t.Errorf("the group after its attribute was deleted: %+v %v", g, err)
		}
		if code, loc, _ := admin.submit(gpath+"/delete", gpath+"/delete", nil, nil); code != 303 || loc != "/admin/attributes?done=attribute_group_deleted" {
			t.Fatalf("delete the group: %d %q", code, loc)
		}
		if _, err := attrs.GetGroup(context.Background(), attribute.CodeRequest{Code: "look"}); storefront.StatusOf(err) != 404 {
			t.Errorf("deleted group: %v", err)
		}

		// Option groups.
		code, loc, body = admin.submit("/admin/options/new", "/admin/options", nil,
			url.Values{"code": {"width"}, "name": {"Width"}, "position": {"1"}, "values": {"n Narrow\nw Wide"}})
		gedit := "/admin/options/width"
		if code != 303 || loc != gedit+"?done=option_created" {
			t.Fatalf("create a group: %d %q\n%s", code, loc, body)
		}
		group := func() option.Group {
			t.Helper()
			g, err := opts.GetGroup(context.Background(), option.GroupRequest{Code: "width"})
			if err != nil {
				t.Fatal(err)
			}
			return g
		}
		if g := group(); g.Name != "Width" || len(g.Values) != 2 || g.Values[1] != (option.Value{Code: "w", Label: "Wide"}) {
			t.Fatalf("created: %+v", g)
		}
		if code, loc, _ := admin.submit(gedit, gedit+"/values", nil, url.Values{"value": {"x"}, "label": {"Extra wide"}}); code != 303 || loc != gedit+"?done=value_added" {
			t.Fatalf("add a value: %d %q", code, loc)
		}
		if code, _, html := admin.submit(gedit, gedit+"/values", nil, url.Values{"value": {"x"}, "label": {"Again"}}); code != 409 || !strings.Contains(html, `data-field="value">`) {
			t.Errorf("a taken value code: %d\n%s", code, html)
		}
		if code, loc, _ := admin.submit(gedit, gedit+"/values/n", nil, url.Values{"label": {"Slim"}}); code != 303 || loc != gedit+"?done=saved" {
			t.Fatalf("relabel: %d %q", code, loc)
		}
		if code, loc, _ := admin.submit(gedit, gedit+"/values/w/remove", nil, nil); code != 303 || loc != gedit+"?done=value_removed" {
			t.Fatalf("remove a value: %d %q", code, loc)
		}
		if code, loc, _ := admin.submit(gedit, gedit, nil, url.Values{"name": {"Fit"}, "position": {"2"}}); code != 303 || loc != gedit+"?done=saved" {
			t.Fatalf("rename: %d %q", code, loc)
		}
		g := group()
		if want := []option.Value{{Code: "n", Label: "Slim"}, {Code: "x", Label: "Extra wide"}}; g.Name != "Fit" || g.Position != 2 || !slices.Equal(g.Values, want) {
			t.Errorf("edited group: %+v", g)
		}
		if _, html := admin.page(gedit); !strings.Contains(html, `<tr class="option-value" data-code="x">`) || !strings.Contains(html, `value="Slim"`) {
			t.Errorf("the group page:\n%s", html)
		}
		// Size is used by Trail Runner's variants.
		sdel := "/admin/options/size/delete"
		if code, _, html := admin.submit(sdel, sdel, nil, nil); code != 409 || !strings.Contains(html, `class="flash"`) {
			t.Errorf("deleting a group in use: %d\n%s", code, html)
		}
		if code, loc, _ := admin.submit(gedit+"/delete", gedit+"/delete", nil, nil); code != 303 || loc != "/admin/options?done=option_deleted" {
			t.Fatalf("delete a group: %d %q", code, loc)
		}
		if _, html := admin.page("/admin/options"); strings.Contains(html, "/admin/options/width") || !strings.Contains(html, "/admin/options/size") {
			t.Errorf("the list after deleting:\n%s", html)
		}
	})
}
