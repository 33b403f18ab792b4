package storefront_test

import (
	"context"
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/order"
	"github.com/shopbus/shopbus/storefront"
)

// adminBrowser logs the fixture's admin in, in a browser of its own, and
// fetches a page so that it holds a CSRF token.
func adminBrowser(t *testing.T, f *fixture) *browser {
	t.Helper()
	b := f.browser(t)
	b.json("POST", "/api/login", auth.LoginRequest{Email: adminEmail, Password: adminPassword}, 200, nil)
	b.page("/admin")
	return b
}

// withToken is a form carrying b's CSRF token (fetching a page for one
// if b has none).
func (b *browser) withToken(v url.Values) url.Values {
	b.t.Helper()
	if b.cookie(storefront.CSRFCookie) == nil {
		b.page("/")
	}
	out := cloneForm(v)
	out.Set(storefront.CSRFField, b.cookie(storefront.CSRFCookie).Value)
	return out
}

// getProduct returns a product as the product service has it.
func getProduct(t *testing.T, f *fixture, id string) product.Product {
	t.Helper()
	p, err := product.NewClient(f.bus).Get(context.Background(), product.GetRequest{ID: id})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var productLinkRE = regexp.MustCompile(`<a class="product-link" href="/admin/products/([^"]+)">`)

// TestAdminAccess: the console is for admins only. A guest is sent to log
// in and comes back; a customer gets 403 pages and cannot act; a form
// without the admin's CSRF token changes nothing.
func TestAdminAccess(t *testing.T) {
	f := newShop(t, storefront.Options{})
	secret := f.products["secret-shoe"]
	pages := []string{"/admin", "/admin/products", "/admin/products/new", "/admin/products/" + secret.ID,
		"/admin/products/" + secret.ID + "/delete", "/admin/orders", "/admin/orders/some-order", "/admin/nothing"}
	actions := map[string]url.Values{
		"/admin/products":                           {"title": {"Forged"}, "price": {"1"}, "currency": {"EUR"}, "status": {"published"}},
		"/admin/products/" + secret.ID:              {"title": {"Forged"}, "price": {"1"}, "currency": {"EUR"}, "status": {"published"}},
		"/admin/products/" + secret.ID + "/publish": {},
		"/admin/products/" + secret.ID + "/delete":  {},
		"/admin/products/" + secret.ID + "/stock":   {"sku": {secret.SKU}, "on_hand": {"7"}},
		"/admin/orders/some-order/status":           {"status": {"shipped"}},
		"/admin/orders/some-order/cancel":           {},
	}
	unchanged := func(who string) {
		t.Helper()
		p := getProduct(t, f, secret.ID)
		if p.Status != shop.StatusDraft || p.Title != secret.Title || p.Version != secret.Version {
			t.Fatalf("after %s's posts the product changed: %+v", who, p)
		}
		if available(t, f, f.products["red-runner"].SKU) != 50 {
			t.Fatalf("after %s's posts the stock changed", who)
		}
		var list product.Page
		list, err := product.NewClient(f.bus).List(context.Background(), product.ListRequest{})
		if err != nil || len(list.Items) != len(f.products) {
			t.Fatalf("after %s's posts: %d products, %v", who, len(list.Items), err)
		}
	}

	// A guest is sent to log in, and comes back.
	guest := f.browser(t)
	for _, p := range pages {
		code, loc := guest.redirect(p)
		if want := "/login?next=" + strings.ReplaceAll(url.QueryEscape(p), "%2F", "/"); code != 303 || loc != want {
			t.Errorf("guest GET %s: %d %q, want 303 %q", p, code, loc, want)
		}
	}
	if code, loc := guest.redirect("/admin/products?status=draft"); code != 303 || loc != "/login?next=/admin/products%3Fstatus%3Ddraft" {
		t.Errorf("guest GET with a query: %d %q", code, loc)
	}
	for path, form := range actions {
		if code, loc, _ := guest.post(path, guest.withToken(form)); code != 303 || loc != "/login?next=/admin" {
			t.Errorf("guest POST %s: %d %q", path, code, loc)
		}
	}
	unchanged("a guest")
	code, loc, _ := guest.submit("/login?next=/admin", "/login", nil, url.Values{"email": {adminEmail}, "password": {adminPassword}})
	if code != 303 || loc != "/admin" {
		t.Fatalf("login for the console: %d %q", code, loc)
	}
	if code, html := guest.page(loc); code != 200 || !strings.Contains(html, "<h1>Dashboard</h1>") {
		t.Errorf("the console after logging in: %d\n%s", code, html)
	}

	// A customer gets the 403 page and cannot act.
	cust := customer(t, f, "carl@front.test")
	for _, p := range pages {
		if code, html := cust.page(p); code != 403 || !strings.Contains(html, "for its staff only") {
			t.Errorf("customer GET %s: %d\n%s", p, code, html)
		}
	}
	for path, form := range actions {
		if code, _, html := cust.post(path, cust.withToken(form)); code != 403 || !strings.Contains(html, "for its staff only") {
			t.Errorf("customer POST %s: %d", path, code)
		}
	}
	unchanged("a customer")

	// The admin: the dashboard with its sections and counts; an unknown
	// console page is a 404.
	admin := adminBrowser(t, f)
	code, html := admin.page("/admin")
	for _, want := range []string{`href="/admin/products"`, `href="/admin/orders"`, `href="/admin/products/new"`,
		`<span class="published-count">4</span>`, `<span class="to-ship">0</span>`, adminEmail} {
		if !strings.Contains(html, want) {
			t.Errorf("dashboard without %q", want)
		}
	}
	if code != 200 {
		t.Fatalf("dashboard: %d\n%s", code, html)
	}
	if code, _ := admin.page("/admin/nothing"); code != 404 {
		t.Errorf("unknown console page: %d", code)
	}
	if code, loc := admin.redirect("/admin/"); code != 301 || loc != "/admin" {
		t.Errorf("/admin/: %d %q", code, loc)
	}

	// Without the admin's token (none, a wrong one, a guest's): 403,
	// nothing changed.
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
	// With the token the same action works.
	if code, loc, _ := admin.submit("/admin/products/"+secret.ID, "/admin/products/"+secret.ID+"/publish", nil, nil); code != 303 ||
		loc != "/admin/products/"+secret.ID+"?done=published" {
		t.Fatalf("publish with the token: %d %q", code, loc)
	}
	if p := getProduct(t, f, secret.ID); p.Status != shop.StatusPublished {
		t.Errorf("published: %+v", p)
	}
}

// productFields is a whole product form (the helper posts only hidden
// fields by itself).
func productFields(title, price, categoryID, color, status string) url.Values {
	return url.Values{"title": {title}, "description": {"Fresh from the console."}, "price": {price}, "currency": {"EUR"},
		"status": {status}, "category_ids": {categoryID}, "attr.color": {color}}
}

// TestAdminProducts, on both buses: the list with search, status filter
// and paging; a product created through the form, listed, published and
// shown by the shop; a bad price and a bad attribute value shown next to
// their fields, changing nothing; a taken slug; an edit that also
// unpublishes; stock set and shown as "Only N left"; delete after a
// confirmation.
func TestAdminProducts(t *testing.T) {
	eachShop(t, storefront.Options{}, func(t *testing.T, f *fixture) {
		admin := adminBrowser(t, f)
		running := f.cats["running"]

		// The list: every product, drafts too; filtered; searched.
		listed := func(path string) []string {
			t.Helper()
			code, html := admin.page(path)
			if code != 200 {
				t.Fatalf("GET %s: %d\n%s", path, code, html)
			}
			var ids []string
			for _, m := range productLinkRE.FindAllStringSubmatch(html, -1) {
				ids = append(ids, m[1])
			}
			return ids
		}
		titles := func(ids []string) string {
			var out []string
			for _, id := range ids {
				out = append(out, getProduct(t, f, id).Title)
			}
			return strings.Join(out, ", ")
		}
		for path, want := range map[string]string{
			"/admin/products":                       "Secret Shoe, Trail Runner, Blue Boot, Blue Runner, Red Runner",
			"/admin/products?status=draft":          "Secret Shoe",
			"/admin/products?q=runner":              "Trail Runner, Blue Runner, Red Runner",
			"/admin/products?q=BLUE+run":            "Blue Runner",
			"/admin/products?q=runner&status=draft": "",
		} {
			if got := titles(listed(path)); got != want {
				t.Errorf("%s lists %q, want %q", path, got, want)
			}
		}
		if code, _ := admin.page("/admin/products?status=gone"); code != 400 {
			t.Errorf("unknown status: %d", code)
		}
		// Paging, two at a time.
		var all []string
		path := "/admin/products?limit=2"
		for range 5 {
			code, page := admin.page(path)
			if code != 200 {
				t.Fatalf("GET %s: %d", path, code)
			}
			for _, m := range productLinkRE.FindAllStringSubmatch(page, -1) {
				all = append(all, m[1])
			}
			m := regexp.MustCompile(`<a rel="next" href="([^"]+)">`).FindStringSubmatch(page)
			if m == nil {
				break
			}
			path = html.UnescapeString(m[1])
		}
		if got := titles(all); got != "Secret Shoe, Trail Runner, Blue Boot, Blue Runner, Red Runner" {
			t.Errorf("paged list: %q", got)
		}

		// Create through the form.
		code, loc, body := admin.submit("/admin/products/new", "/admin/products", nil, productFields("Green Runner", "49.90", running.ID, "red", "draft"))
		if code != 303 || !strings.HasPrefix(loc, "/admin/products/") || !strings.HasSuffix(loc, "?done=created") {
			t.Fatalf("create: %d %q\n%s", code, loc, body)
		}
		id := strings.TrimSuffix(strings.TrimPrefix(loc, "/admin/products/"), "?done=created")
		edit := "/admin/products/" + id
		p := getProduct(t, f, id)
		if p.Title != "Green Runner" || p.Slug != "green-runner" || p.Price != eur(4990) || p.Status != shop.StatusDraft ||
			len(p.CategoryIDs) != 1 || p.CategoryIDs[0] != running.ID || p.Attributes["color"] != "red" || p.Description != "Fresh from the console." {
			t.Fatalf("created: %+v", p)
		}
		code, html := admin.page(loc)
		for _, want := range []string{"The product was created.", `name="price" value="49.90"`, `value="` + running.ID + `" checked`,
			`<option value="red" selected>red</option>`, "no stock record"} {
			if !strings.Contains(html, want) {
				t.Errorf("edit page without %q", want)
			}
		}
		if code != 200 {
			t.Fatalf("edit page: %d\n%s", code, html)
		}
		if ids := listed("/admin/products?q=green"); len(ids) != 1 || ids[0] != id {
			t.Errorf("search for the new product: %v", ids)
		}
		if code, _ := f.browser(t).page("/green-runner"); code != 404 {
			t.Errorf("a draft in the shop: %d", code)
		}

		// Publish: the shop shows it.
		if code, loc, _ := admin.submit(edit, edit+"/publish", nil, nil); code != 303 || loc != edit+"?done=published" {
			t.Fatalf("publish: %d %q", code, loc)
		}
		shopper := f.browser(t)
		if code, html := shopper.page("/green-runner"); code != 200 || !strings.Contains(html, "Green Runner") || !strings.Contains(html, "49.90 EUR") ||
			!strings.Contains(html, "Sold out") {
			t.Errorf("the published product in the shop: %d\n%s", code, html)
		}

		// A bad price: the form again, the error next to the field,
		// nothing changed.
		code, _, html = admin.submit(edit, edit, nil, productFields("Green Runner", "12,50", running.ID, "red", "published"))
		if code != 400 || !strings.Contains(html, `data-field="price">must be a number such as 12 or 12.50</small>`) ||
			!strings.Contains(html, `name="price" value="12,50"`) {
			t.Errorf("bad price: %d\n%s", code, html)
		}
		// A value the attribute service refuses: its message next to the field.
		code, _, html = admin.submit(edit, edit, nil, productFields("Green Runner", "45", running.ID, "green", "published"))
		if code != 400 || !strings.Contains(html, `data-field="attr.color">`) || !strings.Contains(html, "Please check the fields marked below.") {
			t.Errorf("bad attribute value: %d\n%s", code, html)
		}
		if p := getProduct(t, f, id); p.Price != eur(4990) || p.Attributes["color"] != "red" || p.Version != 2 {
			t.Errorf("refused edits changed the product: %+v", p)
		}
		// A taken slug: the service's conflict next to the slug.
		taken := productFields("Red Copy", "10", running.ID, "red", "draft")
		taken.Set("slug", "red-runner")
		code, _, html = admin.submit("/admin/products/new", "/admin/products", nil, taken)
		if code != 409 || !strings.Contains(html, `data-field="slug">slug &#34;red-runner&#34; is taken</small>`) {
			t.Errorf("taken slug: %d\n%s", code, html)
		}

		// An edit that changes the price and makes it a draft again.
		code, loc, _ = admin.submit(edit, edit, nil, productFields("Green Runner", "45", running.ID, "", "draft"))
		if code != 303 || loc != edit+"?done=saved" {
			t.Fatalf("save: %d %q", code, loc)
		}
		if p := getProduct(t, f, id); p.Price != eur(4500) || p.Status != shop.StatusDraft || len(p.Attributes) != 0 {
			t.Errorf("saved: %+v", p)
		}
		admin.submit(edit, edit+"/publish", nil, nil)

		// Stock: set on hand; the shop says how many are left.
		sku := getProduct(t, f, id).SKU
		if code, _, html := admin.submit(edit, edit+"/stock", url.Values{"sku": {sku}}, url.Values{"on_hand": {"-3"}}); code != 400 ||
			!strings.Contains(html, `data-field="on_hand">must be a whole number, at least 0`) {
			t.Errorf("negative stock: %d\n%s", code, html)
		}
		if code, loc, _ := admin.submit(edit, edit+"/stock", url.Values{"sku": {sku}}, url.Values{"on_hand": {"4"}}); code != 303 || loc != edit+"?done=stock" {
			t.Fatalf("set stock: %d %q", code, loc)
		}
		if _, html := admin.page(edit); !strings.Contains(html, `<td class="on-hand">4</td>`) {
			t.Errorf("edit page without the stock:\n%s", html)
		}
		if code, html := shopper.page("/green-runner"); code != 200 || !strings.Contains(html, `<p class="stock stock-low">Only 4 left</p>`) ||
			!strings.Contains(html, "45.00 EUR") {
			t.Errorf("the shop after setting stock: %d\n%s", code, html)
		}
		// Another product's SKU is not this one's to set.
		red := f.products["red-runner"]
		if code, _, _ := admin.submit(edit, edit+"/stock", url.Values{"sku": {sku}}, url.Values{"sku": {red.SKU}, "on_hand": {"1"}}); code != 400 ||
			available(t, f, red.SKU) != 50 {
			t.Errorf("setting another product's SKU: %d", code)
		}

		// Variants and their stock on a product with options.
		trail := f.products["trail-runner"]
		code, html = admin.page("/admin/products/" + trail.ID)
		if code != 200 || strings.Count(html, `class="stock-form"`) != 3 || !strings.Contains(html, ">Size: Medium<") {
			t.Errorf("a product with variants: %d\n%s", code, html)
		}

		// Delete: a confirmation first, then gone.
		code, html = admin.page(edit + "/delete")
		if code != 200 || len(forms(html, edit+"/delete")) != 1 || !strings.Contains(html, "cannot be undone") {
			t.Fatalf("delete confirmation: %d\n%s", code, html)
		}
		if _, err := product.NewClient(f.bus).Get(context.Background(), product.GetRequest{ID: id}); err != nil {
			t.Fatal("asking to delete deleted the product")
		}
		code, loc, _ = admin.submit(edit+"/delete", edit+"/delete", nil, nil)
		if code != 303 || loc != "/admin/products?done=deleted" {
			t.Fatalf("delete: %d %q", code, loc)
		}
		if _, html := admin.page(loc); !strings.Contains(html, "The product was deleted.") || strings.Contains(html, "Green Runner") {
			t.Errorf("list after deleting:\n%s", html)
		}
		if _, err := product.NewClient(f.bus).Get(context.Background(), product.GetRequest{ID: id}); storefront.StatusOf(err) != 404 {
			t.Errorf("deleted product: %v", err)
		}
		if code, _ := admin.page(edit); code != 404 {
			t.Errorf("edit page of a deleted product: %d", code)
		}
	})
}

// TestAdminOrders, on both buses: every customer's orders by status;
// an order shipped, then delivered (the customer sees it); a stale
// action refused with the service's message; an order cancelled with a
// reason, its stock back on hand.
func TestAdminOrders(t *testing.T) {
	eachShop(t, storefront.Options{}, func(t *testing.T, f *fixture) {
		red, blue := f.products["red-runner"], f.products["blue-runner"]
		cust := customer(t, f, "olga@front.test")
		cust.json("POST", "/api/cart/items", storefront.CartItem{ProductID: red.ID, Quantity: 2}, 200, nil)
		o1, _ := cust.checkout(checkoutBody("olga@front.test"), "admin-order-1", 201)
		waitCartWithout(t, cust, red.ID)
		cust.json("POST", "/api/cart/items", storefront.CartItem{ProductID: blue.ID, Quantity: 1}, 200, nil)
		o2, _ := cust.checkout(checkoutBody("olga@front.test"), "admin-order-2", 201)
		if o1.Status != order.StatusPaid || o2.Status != order.StatusPaid {
			t.Fatalf("orders: %s %s", o1.Status, o2.Status)
		}
		admin := adminBrowser(t, f)
		if _, html := admin.page("/admin"); !strings.Contains(html, `<span class="to-ship">2</span>`) {
			t.Errorf("dashboard without 2 orders to ship:\n%s", html)
		}
		for path, want := range map[string][]string{
			"/admin/orders":                {o2.ID, o1.ID},
			"/admin/orders?status=paid":    {o2.ID, o1.ID},
			"/admin/orders?status=shipped": nil,
		} {
			code, html := admin.page(path)
			got := regexp.MustCompile(`class="order-link" href="/admin/orders/([^"]+)"`).FindAllStringSubmatch(html, -1)
			ok := code == 200 && len(got) == len(want)
			for i := range got {
				ok = ok && got[i][1] == want[i]
			}
			if !ok {
				t.Errorf("%s: %d %v, want %v", path, code, got, want)
			}
		}
		if code, _ := admin.page("/admin/orders?status=lost"); code != 400 {
			t.Errorf("unknown status: %d", code)
		}

		// Ship, then deliver.
		detail := "/admin/orders/" + o1.ID
		code, html := admin.page(detail)
		if code != 200 || !strings.Contains(html, "olga@front.test") || !strings.Contains(html, "Red Runner") ||
			len(forms(html, detail+"/cancel")) != 1 || strings.Contains(html, "Mark delivered") {
			t.Fatalf("order page: %d\n%s", code, html)
		}
		ship := forms(html, detail+"/status")
		if len(ship) != 1 || ship[0].Get("status") != "shipped" {
			t.Fatalf("ship form: %v", ship)
		}
		if code, loc, _ := admin.post(detail+"/status", ship[0]); code != 303 || loc != detail+"?done=shipped" {
			t.Fatalf("ship: %d %q", code, loc)
		}
		code, html = admin.page(detail + "?done=shipped")
		if next := forms(html, detail+"/status"); code != 200 || !strings.Contains(html, "The order is marked shipped.") || !strings.Contains(html, "status-shipped") ||
			len(forms(html, detail+"/cancel")) != 0 || len(next) != 1 || next[0].Get("status") != "delivered" {
			t.Errorf("shipped order page: %d\n%s", code, html)
		}
		if _, html := cust.page("/orders/" + o1.ID); !strings.Contains(html, "status-shipped") {
			t.Errorf("the customer does not see it shipped:\n%s", html)
		}
		if code, loc, _ := admin.submit(detail, detail+"/status", url.Values{"status": {"delivered"}}, nil); code != 303 || loc != detail+"?done=delivered" {
			t.Fatalf("deliver: %d %q", code, loc)
		}
		if _, html := admin.page(detail); len(forms(html, detail+"/status"))+len(forms(html, detail+"/cancel")) != 0 || !strings.Contains(html, "status-delivered") {
			t.Errorf("a delivered order has actions:\n%s", html)
		}
		// The ship form again, as a new request: the service's refusal on the page.
		stale := cloneForm(ship[0])
		stale.Set(storefront.IdempotencyField, "a-new-key")
		code, _, html = admin.post(detail+"/status", stale)
		if code != 409 || !strings.Contains(html, `class="flash"`) || !strings.Contains(html, "status-delivered") {
			t.Errorf("shipping a delivered order: %d\n%s", code, html)
		}
		if o, err := order.NewClient(f.bus).Get(f.admin, order.GetRequest{ID: o1.ID}); err != nil || o.Status != order.StatusDelivered {
			t.Errorf("delivered order: %+v %v", o, err)
		}

		// Cancel with a reason: the customer sees it, the stock is back.
		detail = "/admin/orders/" + o2.ID
		if available(t, f, blue.SKU) != 2 {
			t.Fatalf("blue runner stock after the order: %d", available(t, f, blue.SKU))
		}
		code, loc, _ := admin.submit(detail, detail+"/cancel", nil, url.Values{"reason": {"Damaged in the warehouse"}})
		if code != 303 || loc != detail+"?done=cancelled" {
			t.Fatalf("cancel: %d %q", code, loc)
		}
		if _, html := admin.page(detail); !strings.Contains(html, "status-cancelled") || !strings.Contains(html, "Damaged in the warehouse") {
			t.Errorf("cancelled order page:\n%s", html)
		}
		if _, html := cust.page("/orders/" + o2.ID); !strings.Contains(html, "Order cancelled") || !strings.Contains(html, "Damaged in the warehouse") {
			t.Errorf("the customer's cancelled order:\n%s", html)
		}
		waitFor(t, "the stock back on hand", func() bool { return available(t, f, blue.SKU) == 3 })
		if code, _ := admin.page("/admin/orders/no-such-order"); code != 404 {
			t.Errorf("unknown order: %d", code)
		}
	})
}
