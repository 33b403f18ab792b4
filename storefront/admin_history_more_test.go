package storefront_test

import (
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/shopbus/shopbus/shop/content/seo"
	"github.com/shopbus/shopbus/shop/inventory"
	"github.com/shopbus/shopbus/shop/order"
	"github.com/shopbus/shopbus/storefront"
)

// TestAdminHistoryMore: the History sections of the SEO entry page, the
// redirects (a history page per redirect), the order page and the stock
// page of a SKU, each showing the changes made through the console, and
// each page still working (saying so) when its service cannot give the
// log. The history pages are the console's: a guest is sent to log in, a
// customer gets 403.
func TestAdminHistoryMore(t *testing.T) {
	f := newShop(t, storefront.Options{})
	admin := adminBrowser(t, f)

	t.Run("seo", func(t *testing.T) {
		entry := "/admin/seo/page/about"
		wantNoHistorySection(t, admin, entry) // the new-page form
		if loc := saved(t, admin, "create the page", entry, entry, nil, url.Values{"path": {"/about"}, "title": {"About"}}); loc != entry+"?done=page_created" {
			t.Fatalf("create the page: sent to %q", loc)
		}
		saved(t, admin, "save the page", entry, entry, nil, url.Values{"path": {"/about"}, "title": {"About us"}, "description": {"Who we are."}})
		_, page := admin.page(entry)
		wantHistory(t, page,
			historyRow{adminEmail, seo.MethodPut, "description, title"},
			historyRow{adminEmail, seo.MethodPut, "path, title"},
		)

		// A product's overrides: written, then dropped.
		red := "/admin/seo/product/" + f.products["red-runner"].ID
		saved(t, admin, "override", red, red, nil, url.Values{"title": {"Red Runner, the light one"}, "robots": {"noindex"}})
		if loc := saved(t, admin, "drop the overrides", red+"/delete", red+"/delete", nil, nil); loc != "/admin/seo?done=seo_deleted" {
			t.Fatalf("drop the overrides: sent to %q", loc)
		}
		_, page = admin.page(red)
		wantHistory(t, page,
			historyRow{adminEmail, seo.MethodDelete, "robots, title"},
			historyRow{adminEmail, seo.MethodPut, "robots, title"},
		)

		wantHistoryUnavailable(t, failingAdmin(t, f, seo.MethodHistory), entry, `name="title" value="About us"`)
	})

	t.Run("redirects", func(t *testing.T) {
		list := "/admin/seo/redirects"
		for _, to := range []struct{ to, status string }{{"/red-runner", "301"}, {"/blue-runner", "302"}} {
			saved(t, admin, "save the redirect to "+to.to, list, list, nil, url.Values{"from": {"/old-shop/item/12"}, "to": {to.to}, "status": {to.status}})
		}
		_, page := admin.page(list)
		m := regexp.MustCompile(`<a class="redirect-history" href="([^"]+)">`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("the list has no History link:\n%s", page)
		}
		history := html.UnescapeString(m[1])
		if u, err := url.Parse(history); err != nil || u.Path != "/admin/seo/redirects/history" || u.Query().Get("from") != "/old-shop/item/12" {
			t.Fatalf("History link %q", history)
		}
		code, page := admin.page(history)
		if code != 200 || !strings.Contains(page, `<td class="redirect-from">/old-shop/item/12</td>`) {
			t.Fatalf("history page: %d\n%s", code, page)
		}
		puts := []historyRow{
			{adminEmail, seo.MethodPutRedirect, "status, to"},
			{adminEmail, seo.MethodPutRedirect, "status, to"},
		}
		wantHistory(t, page, puts...)

		// Deleted: its history page still shows the log, the delete on top.
		del := "/admin/seo/redirects/delete?from=" + url.QueryEscape("/old-shop/item/12")
		if loc := saved(t, admin, "delete", del, del, nil, nil); loc != list+"?done=redirect_deleted" {
			t.Fatalf("delete: sent to %q", loc)
		}
		code, page = admin.page(history)
		if code != 200 || strings.Contains(page, `class="redirect-from"`) {
			t.Fatalf("history of a deleted redirect: %d\n%s", code, page)
		}
		wantHistory(t, page, append([]historyRow{{adminEmail, seo.MethodDeleteRedirect, ""}}, puts...)...)

		for _, p := range []string{"/admin/seo/redirects/history?from=/never-redirected", "/admin/seo/redirects/history", "/admin/seo/redirects/history?from=nowhere"} {
			if code, _ := admin.page(p); code != 404 {
				t.Errorf("GET %s: %d, want 404", p, code)
			}
		}
		wantHistoryUnavailable(t, failingAdmin(t, f, seo.MethodHistory), history, "/old-shop/item/12")
	})

	checkout := []historyRow{
		{automatic, order.SagaAction + "capture", "payment, step"},
		{automatic, order.SagaAction + "commit", "committed, status, step"},
		{automatic, order.SagaAction + "authorize", "auth_id, payment, step"},
		{automatic, order.SagaAction + "reserve", "payment_tried, step"},
		{automatic, order.SagaAction + "place", "address, email, lines, shipping, status, step, totals, user_id"},
	}
	cust := customer(t, f, "hanna@front.test")
	buy := func(t *testing.T, slug, key string) order.Order {
		t.Helper()
		p := f.products[slug]
		cust.json("POST", "/api/cart/items", storefront.CartItem{ProductID: p.ID, Quantity: 1}, 200, nil)
		o, _ := cust.checkout(checkoutBody("hanna@front.test"), key, 201)
		if o.Status != order.StatusPaid {
			t.Fatalf("order %+v", o)
		}
		waitCartWithout(t, cust, p.ID)
		return o
	}

	t.Run("orders", func(t *testing.T) {
		shipped := buy(t, "red-runner", "history-order-1")
		detail := "/admin/orders/" + shipped.ID
		_, page := admin.page(detail)
		wantHistory(t, page, checkout...)
		saved(t, admin, "ship", detail, detail+"/status", url.Values{"status": {"shipped"}}, nil)
		_, page = admin.page(detail)
		wantHistory(t, page, append([]historyRow{{adminEmail, order.MethodSetStatus, "status"}}, checkout...)...)

		cancelled := buy(t, "red-runner", "history-order-2")
		detail = "/admin/orders/" + cancelled.ID
		saved(t, admin, "cancel", detail, detail+"/cancel", nil, url.Values{"reason": {"Out of laces"}})
		_, page = admin.page(detail)
		wantHistory(t, page, append([]historyRow{
			{automatic, order.SagaAction + "cancel", "payment, restocked, status, step"},
			{adminEmail, order.MethodCancel, "reason, step"},
		}, checkout...)...)

		wantHistoryUnavailable(t, failingAdmin(t, f, order.MethodHistory), detail, "Out of laces")
	})

	t.Run("stock", func(t *testing.T) {
		blue := f.products["blue-runner"]
		edit := "/admin/products/" + blue.ID
		stock := "/admin/stock/" + blue.SKU
		_, page := admin.page(edit)
		if !strings.Contains(page, `<a class="stock-link" href="`+stock+`?product=`+blue.ID+`">`+blue.SKU+`</a>`) {
			t.Fatalf("the product's stock row has no link to %s:\n%s", stock, page)
		}
		saved(t, admin, "set the stock", edit, edit+"/stock", url.Values{"sku": {blue.SKU}}, url.Values{"on_hand": {"7"}})
		buy(t, "blue-runner", "history-order-3") // checkout's reservation and commit: no entries
		code, page := admin.page(stock + "?product=" + blue.ID)
		if code != 200 || !strings.Contains(page, `<dd class="on-hand">6</dd>`) || !strings.Contains(page, `href="/admin/products/`+blue.ID+`#stock"`) {
			t.Fatalf("stock page: %d\n%s", code, page)
		}
		set := historyRow{adminEmail, inventory.MethodSetStock, "on_hand"}
		wantHistory(t, page, set, set) // the console's, then the fixture's
		for _, p := range []string{"/admin/stock/NO-SUCH-SKU", "/admin/stock/-bad"} {
			if code, _ := admin.page(p); code != 404 {
				t.Errorf("GET %s: %d, want 404", p, code)
			}
		}
		wantHistoryUnavailable(t, failingAdmin(t, f, inventory.MethodHistory), stock, `<dd class="on-hand">6</dd>`)
	})

	t.Run("access", func(t *testing.T) {
		pages := []string{"/admin/stock/" + f.products["red-runner"].SKU, "/admin/seo/redirects/history?from=/old-shop/item/12"}
		guest := f.browser(t)
		for _, p := range pages {
			if code, loc := guest.redirect(p); code != 303 || loc != "/login?next="+strings.ReplaceAll(url.QueryEscape(p), "%2F", "/") {
				t.Errorf("guest GET %s: %d %q", p, code, loc)
			}
		}
		for _, p := range pages {
			if code, page := cust.page(p); code != 403 || !strings.Contains(page, "for its staff only") {
				t.Errorf("customer GET %s: %d", p, code)
			}
		}
	})
}
