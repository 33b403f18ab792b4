package storefront_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/shopbus/shopbus/shop/content/seo"
	"github.com/shopbus/shopbus/storefront"
)

// TestAdminRedirectsAccess: the redirect pages are for admins only (a
// guest is sent to log in, a customer gets 403 pages and cannot act),
// and a form without the admin's CSRF token changes nothing.
func TestAdminRedirectsAccess(t *testing.T) {
	f := newShop(t, storefront.Options{})
	meta := seo.NewClient(f.bus)
	if _, err := meta.PutRedirect(f.admin, seo.PutRedirectRequest{From: "/keep", To: "/red-runner"}); err != nil {
		t.Fatal(err)
	}
	pages := []string{"/admin/seo/redirects", "/admin/seo/redirects?prefix=/k", "/admin/seo/redirects/delete?from=/keep"}
	actions := map[string]url.Values{
		"/admin/seo/redirects":                   {"from": {"/forged"}, "to": {"/red-runner"}, "status": {"301"}},
		"/admin/seo/redirects/delete?from=/keep": {},
	}
	unchanged := func(who string) {
		t.Helper()
		p, err := meta.ListRedirects(f.admin, seo.ListRedirectsRequest{})
		if err != nil || len(p.Redirects) != 1 || p.Redirects[0].From != "/keep" {
			t.Fatalf("after %s's posts the redirects are %+v, %v", who, p, err)
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

	cust := customer(t, f, "rita@front.test")
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
	for _, p := range pages {
		if code, _ := admin.page(p); code != 200 {
			t.Errorf("admin GET %s: %d", p, code)
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

// TestAdminRedirects, on both buses: redirects added in the console
// answer on the shop with their status and Location (a path of the shop
// with the visitor's query, a temporary one, another site, a UTF-8
// address); a live product is not hidden by a redirect from its address;
// the service's refusals are shown next to their fields; the list
// searches by prefix and pages; a redirect is deleted after a
// confirmation.
func TestAdminRedirects(t *testing.T) {
	eachShop(t, storefront.Options{}, func(t *testing.T, f *fixture) {
		admin, shopper := adminBrowser(t, f), f.browser(t)
		const list = "/admin/seo/redirects"
		if code, html := admin.page("/admin/seo"); code != 200 || !strings.Contains(html, `href="`+list+`"`) {
			t.Fatalf("the SEO page does not link the redirects: %d", code)
		}
		if code, html := admin.page(list); code != 200 || !strings.Contains(html, "No redirects") {
			t.Fatalf("the empty list: %d\n%s", code, html)
		}
		add := func(from, to, status string) (int, string, string) {
			t.Helper()
			return admin.submit(list, list, nil, url.Values{"from": {from}, "to": {to}, "status": {status}})
		}
		for _, c := range []struct{ from, to, status, loc string }{
			{"https://old-shop.example/item/12", "/red-runner", "301", list + "?prefix=%2Fitem%2F12&done=redirect_saved"},
			{"/summer", "/blue-boot", "302", list + "?prefix=%2Fsummer&done=redirect_saved"},
			{"/partners/ann", "https://partner.example/landing?src=shop", "302", list + "?prefix=%2Fpartners%2Fann&done=redirect_saved"},
			{"/soldes/été", "/search?q=boot", "301", list + "?prefix=%2Fsoldes%2F%C3%A9t%C3%A9&done=redirect_saved"},
			{"/red-runner", "/blue-boot", "301", list + "?prefix=%2Fred-runner&done=redirect_saved"},
		} {
			if code, loc, body := add(c.from, c.to, c.status); code != 303 || loc != c.loc {
				t.Fatalf("add %s → %s: %d %q\n%s", c.from, c.to, code, loc, body)
			}
		}
		if _, html := admin.page(list + "?prefix=%2Fitem%2F12&done=redirect_saved"); !strings.Contains(html, "The redirect was saved.") ||
			!strings.Contains(html, `<td class="redirect-from">/item/12</td>`) || strings.Contains(html, `redirect-from">/summer`) {
			t.Errorf("the list after adding:\n%s", html)
		}

		for _, c := range []struct {
			path string
			code int
			loc  string
		}{
			{"/item/12?utm_source=old", 301, "/red-runner?utm_source=old"},
			{"/item/12/", 301, "/red-runner"},
			{"/summer", 302, "/blue-boot"},
			{"/summer?x=1", 302, "/blue-boot?x=1"},
			{"/partners/ann?x=1", 302, "https://partner.example/landing?src=shop"},
			{"/soldes/%C3%A9t%C3%A9", 301, "/search?q=boot"},
		} {
			if code, loc := shopper.redirect(c.path); code != c.code || loc != c.loc {
				t.Errorf("GET %s: %d %q, want %d %q", c.path, code, loc, c.code, c.loc)
			}
		}
		// The live product wins over the redirect from its address.
		if code, html := shopper.page("/red-runner"); code != 200 || !strings.Contains(html, "<title>Red Runner") {
			t.Errorf("the product with a redirect from its address: %d", code)
		}
		// The address lookup on the SEO page shows a temporary redirect.
		if _, html := admin.page("/admin/seo?path=/summer"); !strings.Contains(html, `redirects temporarily (302) to <a href="/blue-boot">`) {
			t.Errorf("looking /summer up:\n%s", html)
		}

		// Refusals, next to their fields; nothing is stored.
		for _, c := range []struct {
			from, to, status string
			code             int
			field            string
		}{
			{"/admin/secret", "/red-runner", "301", 400, "from"},
			{"/cart", "/red-runner", "301", 400, "from"},
			{"/promo?x=1", "/red-runner", "301", 400, "from"},
			{"/promo", "javascript:alert(1)", "301", 400, "to"},
			{"/promo", "/promo", "301", 400, "to"},
			{"/promo", "/red-runner", "307", 400, "status"},
			{"/blue-boot", "/summer", "301", 409, "to"}, // /summer → /blue-boot: a loop
		} {
			code, _, html := add(c.from, c.to, c.status)
			if code != c.code || !strings.Contains(html, `data-field="`+c.field+`">`) || !strings.Contains(html, `value="`+c.to+`"`) {
				t.Errorf("add %s → %s (%s): %d, want %d with an error at %s\n%s", c.from, c.to, c.status, code, c.code, c.field, html)
			}
		}
		meta := seo.NewClient(f.bus)
		if p, err := meta.ListRedirects(f.admin, seo.ListRedirectsRequest{}); err != nil || len(p.Redirects) != 5 {
			t.Fatalf("after the refusals: %+v, %v", p, err)
		}

		// Paging: AdminPageSize to a page.
		for i := range storefront.AdminPageSize + 1 {
			if _, err := meta.PutRedirect(f.admin, seo.PutRedirectRequest{From: fmt.Sprintf("/bulk/%03d", i), To: "/blue-boot"}); err != nil {
				t.Fatal(err)
			}
		}
		_, html := admin.page(list + "?prefix=bulk/")
		next := fmt.Sprintf(`<a rel="next" href="%s?cursor=%%2Fbulk%%2F%03d&amp;prefix=%%2Fbulk%%2F">`, list, storefront.AdminPageSize-1)
		if n := strings.Count(html, `<td class="redirect-from">/bulk/`); n != storefront.AdminPageSize || !strings.Contains(html, next) {
			t.Fatalf("first page of /bulk/: %d rows, next link %q in\n%s", n, next, html)
		}
		_, html = admin.page(fmt.Sprintf("%s?cursor=/bulk/%03d&prefix=/bulk/", list, storefront.AdminPageSize-1))
		if n := strings.Count(html, `<td class="redirect-from">/bulk/`); n != 1 || strings.Contains(html, `rel="next"`) || !strings.Contains(html, "First page") {
			t.Fatalf("second page of /bulk/: %d rows\n%s", n, html)
		}

		// Deleted after a confirmation.
		confirm := "/admin/seo/redirects/delete?from=%2Fsummer"
		if code, html := admin.page(confirm); code != 200 || !strings.Contains(html, "Delete the redirect from /summer?") {
			t.Fatalf("delete confirmation: %d\n%s", code, html)
		}
		if code, loc, _ := admin.submit(confirm, "/admin/seo/redirects/delete?from=%2Fsummer", nil, nil); code != 303 || loc != list+"?done=redirect_deleted" {
			t.Fatalf("delete: %d %q", code, loc)
		}
		if code, _ := shopper.page("/summer"); code != 404 {
			t.Errorf("/summer after deleting its redirect: %d", code)
		}
		for _, p := range []string{confirm, "/admin/seo/redirects/delete?from=nothing", "/admin/seo/redirects/delete"} {
			if code, _ := admin.page(p); code != 404 {
				t.Errorf("GET %s: %d, want 404", p, code)
			}
		}
		if _, err := meta.DeleteRedirect(context.Background(), seo.DeleteRedirectRequest{From: "/item/12"}); err == nil {
			t.Error("a guest deleted a redirect")
		}
	})
}
