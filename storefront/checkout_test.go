package storefront_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/inventory"
	"github.com/shopbus/shopbus/shop/order"
	"github.com/shopbus/shopbus/storefront"
)

// variantOf returns the variant of p whose size is size.
func variantOf(t *testing.T, p product.Product, size string) product.Variant {
	t.Helper()
	for _, v := range p.Variants {
		if v.Options["size"] == size {
			return v
		}
	}
	t.Fatalf("%s has no size %s: %+v", p.Slug, size, p.Variants)
	return product.Variant{}
}

// TestStockOnProductPage shows the three stock states on product pages,
// the add-to-cart button disabled when sold out (a SKU without a stock
// record is sold out), per-variant stock, the stock in the API's product,
// a change of stock on the next visit, and a page without its stock line
// when the inventory service does not answer.
func TestStockOnProductPage(t *testing.T) {
	f := newShop(t, storefront.Options{StockTimeout: 200 * time.Millisecond})
	b := f.browser(t)
	trail := f.products["trail-runner"]
	small, medium := variantOf(t, trail, "s"), variantOf(t, trail, "m")
	enabled, disabled := "<button>Add to cart</button>", "<button disabled>Sold out</button>"
	check := func(path, stock, button string) {
		t.Helper()
		code, html := b.page(path)
		if code != 200 || !strings.Contains(html, stock) || !strings.Contains(html, button) {
			t.Errorf("%s: %d, want %q and %q in\n%s", path, code, stock, button, html)
		}
		if button == enabled && strings.Contains(html, "disabled") {
			t.Errorf("%s: something disabled on a page in stock", path)
		}
	}
	for range 2 { // the first visit, and a visit whose stock call starts with the product's
		check("/red-runner", `<p class="stock stock-in_stock">In stock</p>`, enabled)
		check("/blue-runner", `<p class="stock stock-low">Only 3 left</p>`, enabled)
		check("/blue-boot", `<p class="stock stock-sold_out">Sold out</p>`, disabled)
		check("/trail-runner", `<p class="stock stock-in_stock">In stock</p>`, enabled)
		check("/trail-runner?variant="+medium.ID, `<p class="stock stock-sold_out">Sold out</p>`, disabled)
	}
	// The sold-out variant is marked among the choices; the one in stock is not.
	_, html := b.page("/trail-runner?variant=" + medium.ID)
	if !strings.Contains(html, `?variant=`+medium.ID+`" class="selected" aria-current="true">Medium</a><small class="variant-sold-out">sold out</small>`) ||
		strings.Contains(html, `Small</a><small`) {
		t.Errorf("variant choice without the sold-out mark:\n%s", html)
	}

	// The API's product carries its stock, and each variant's.
	var p storefront.ProductView
	b.json("GET", "/api/products/blue-runner", nil, 200, &p)
	if p.Stock == nil || *p.Stock != (storefront.StockLevel{Available: 3, State: storefront.StockLow}) || p.VariantStock != nil {
		t.Errorf("blue runner stock: %+v %+v", p.Stock, p.VariantStock)
	}
	b.json("GET", "/api/products/trail-runner", nil, 200, &p)
	if p.Stock == nil || *p.Stock != (storefront.StockLevel{Available: 10, State: storefront.StockInStock}) ||
		p.VariantStock[medium.ID].State != storefront.StockSoldOut || p.VariantStock[small.ID].Available != 10 {
		t.Errorf("trail runner stock: %+v %+v", p.Stock, p.VariantStock)
	}
	b.json("GET", "/api/products/blue-boot", nil, 200, &p)
	if p.Stock == nil || p.Stock.State != storefront.StockSoldOut {
		t.Errorf("blue boot stock: %+v", p.Stock)
	}

	// A delivery shows on the next visit (the stock is never cached).
	if _, err := inventory.NewClient(f.bus).SetStock(f.admin, inventory.SetStockRequest{SKU: f.products["blue-boot"].SKU, OnHand: 2}); err != nil {
		t.Fatal(err)
	}
	check("/blue-boot", `<p class="stock stock-low">Only 2 left</p>`, enabled)

	// Without the inventory service: the page, without its stock line,
	// the button enabled, a warning.
	f.bus.stop(t, inventory.ServiceName)
	start := time.Now()
	code, html := b.page("/blue-boot")
	if code != 200 || strings.Contains(html, `class="stock`) || !strings.Contains(html, enabled) {
		t.Errorf("product page without inventory: %d\n%s", code, html)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("product page without inventory took %v", took)
	}
	if !f.logs.warned(inventory.ServiceName) {
		t.Error("no warning about the inventory service")
	}
	resp, body := b.do("GET", "/api/products/red-runner", nil)
	if resp.StatusCode != 200 || strings.Contains(string(body), `"stock"`) {
		t.Errorf("API product without inventory: %d %s", resp.StatusCode, body)
	}
}

// checkoutBody is a valid POST /api/checkout body.
func checkoutBody(email string) map[string]any {
	return map[string]any{
		"email": email,
		"address": map[string]any{"name": "Ann Buyer", "line1": "Hauptstr. 1", "postal_code": "10115",
			"city": "Berlin", "country": "DE"},
		"shipping_method": "standard",
	}
}

// checkout posts body to /api/checkout with key and returns the status
// and the order or error.
func (b *browser) checkout(body any, key string, wantStatus int) (order.Order, storefront.APIError) {
	b.t.Helper()
	var h []string
	if key != "" {
		h = []string{storefront.IdempotencyHeader, key}
	}
	resp, data := b.do("POST", "/api/checkout", body, h...)
	if resp.StatusCode != wantStatus {
		b.t.Fatalf("POST /api/checkout: %d %s, want %d", resp.StatusCode, data, wantStatus)
	}
	var o order.Order
	var e storefront.APIError
	if wantStatus == http.StatusCreated {
		decodeJSON(b.t, data, &o)
		if loc := resp.Header.Get("Location"); loc != "/api/orders/"+o.ID {
			b.t.Errorf("Location %q for order %s", loc, o.ID)
		}
	} else {
		decodeJSON(b.t, data, &e)
	}
	return o, e
}

// waitCartWithout waits until the shopper's cart no longer holds
// productID (the order service's confirmation removes ordered lines).
func waitCartWithout(t *testing.T, b *browser, productID string) {
	t.Helper()
	waitFor(t, "the ordered lines to leave the cart", func() bool { return quantity(b.cartOf(), productID) == 0 })
}

// available returns a SKU's available units.
func available(t *testing.T, f *fixture, sku string) int64 {
	t.Helper()
	st, err := inventory.NewClient(f.bus).Get(context.Background(), inventory.GetRequest{SKU: sku})
	if err != nil {
		t.Fatal(err)
	}
	return st.Available
}

// TestCheckoutAPI checks out through the JSON API on both buses: shipping
// methods, refusals (guest, no key, unknown field, bad address), success
// with the right totals, the same key twice (one order, one payment
// authorisation), a declined payment and a sold-out line (failed orders
// with their reasons), a price change (a conflict, then accepted), the
// shopper's orders and no one else's, and cancelling.
func TestCheckoutAPI(t *testing.T) {
	eachShop(t, storefront.Options{}, func(t *testing.T, f *fixture) {
		var methods []order.ShippingMethod
		guest := f.browser(t)
		guest.json("GET", "/api/shipping-methods", nil, 200, &methods)
		if len(methods) != 2 || methods[0].Code != "standard" || methods[0].Price != eur(490) || methods[0].Name == "" {
			t.Fatalf("shipping methods: %+v", methods)
		}
		if _, e := guest.checkout(checkoutBody("guest@front.test"), "guest-key", 401); e.Error.Code != "unauthenticated" {
			t.Errorf("guest checkout: %+v", e.Error)
		}
		guest.apiError("GET", "/api/orders", nil, 401)

		b := customer(t, f, "ann@front.test")
		red, blue, boot := f.products["red-runner"], f.products["blue-runner"], f.products["blue-boot"]
		b.json("POST", "/api/cart/items", storefront.CartItem{ProductID: red.ID, Quantity: 2}, 200, nil)

		if _, e := b.checkout(checkoutBody("ann@front.test"), "", 400); e.Error.Field(storefront.IdempotencyHeader) == "" {
			t.Errorf("checkout without a key: %+v", e.Error)
		}
		bad := checkoutBody("ann@front.test")
		bad["coupon"] = "FREE"
		if _, e := b.checkout(bad, "k-bad-1", 400); e.Error.Field("coupon") == "" {
			t.Errorf("unknown field: %+v", e.Error)
		}
		bad = checkoutBody("ann@front.test")
		bad["address"].(map[string]any)["country"] = "US"
		if _, e := b.checkout(bad, "k-bad-2", 400); e.Error.Field("address.country") == "" {
			t.Errorf("a country not shipped to: %+v", e.Error)
		}

		// Success: 2 × 59.00 + 4.90 = 122.90 EUR, of which 19% VAT 19.62.
		o, _ := b.checkout(checkoutBody("ann@front.test"), "k-1", 201)
		want := order.Total{Currency: "EUR", Items: 11800, Shipping: 490, Total: 12290, Tax: 1962, TaxRate: 1900}
		if o.Status != order.StatusPaid || len(o.Totals) != 1 || o.Totals[0] != want || len(o.Lines) != 1 || o.Lines[0].Quantity != 2 {
			t.Fatalf("order: %+v", o)
		}
		// The same key again: the same order, one authorisation.
		again, _ := b.checkout(checkoutBody("ann@front.test"), "k-1", 201)
		if again.ID != o.ID || again.Status != order.StatusPaid {
			t.Errorf("the same key again: %s %s, first %s", again.ID, again.Status, o.ID)
		}
		if n := f.pay.Authorizations(o.ID); n != 1 {
			t.Errorf("%d authorisations for one order", n)
		}
		if n := available(t, f, red.SKU); n != 48 {
			t.Errorf("red runner available after the order: %d, want 48", n)
		}
		waitCartWithout(t, b, red.ID)

		// A declined payment: a failed order that says why.
		f.pay.SetMode(order.FakeDecline)
		b.json("POST", "/api/cart/items", storefront.CartItem{ProductID: blue.ID, Quantity: 1}, 200, nil)
		declined, _ := b.checkout(checkoutBody("ann@front.test"), "k-2", 201)
		if declined.Status != order.StatusFailed || !strings.Contains(declined.Reason, "declined") {
			t.Errorf("declined order: %s %q", declined.Status, declined.Reason)
		}
		f.pay.SetMode(order.FakeApprove)
		if n := available(t, f, blue.SKU); n != 3 {
			t.Errorf("blue runner available after a declined order: %d, want 3", n)
		}

		// A line sold out: a failed order naming it; nothing authorised.
		b.json("POST", "/api/cart/items", storefront.CartItem{ProductID: boot.ID, Quantity: 1}, 200, nil)
		soldOut, _ := b.checkout(checkoutBody("ann@front.test"), "k-3", 201)
		if soldOut.Status != order.StatusFailed || !strings.Contains(soldOut.Reason, "out of stock") || !strings.Contains(soldOut.Reason, "Blue Boot") {
			t.Errorf("sold-out order: %s %q", soldOut.Status, soldOut.Reason)
		}
		if n := f.pay.Authorizations(soldOut.ID); n != 0 {
			t.Errorf("%d authorisations for an order without stock", n)
		}
		b.json("DELETE", "/api/cart/items/"+boot.ID, nil, 200, nil)

		// A price change: a conflict naming the line, then accepted.
		newPrice := eur(7400)
		if _, err := product.NewClient(f.bus).Update(f.admin, product.UpdateRequest{ID: blue.ID, Price: &newPrice}); err != nil {
			t.Fatal(err)
		}
		_, e := b.checkout(checkoutBody("ann@front.test"), "k-4", 409)
		if e.Error.Code != "conflict" || !strings.Contains(e.Error.Field("lines[0].unit_price"), "74.00 EUR") {
			t.Errorf("price change: %+v", e.Error)
		}
		accept := checkoutBody("ann@front.test")
		accept["accept_prices"] = true
		accepted, _ := b.checkout(accept, "k-5", 201)
		if accepted.Status != order.StatusPaid || accepted.Totals[0].Items != 7400 || accepted.Totals[0].Total != 7890 {
			t.Errorf("accepted order: %+v", accepted)
		}

		// The shopper's orders, newest first; one of them; no one else's.
		var page order.Page
		b.json("GET", "/api/orders", nil, 200, &page)
		if len(page.Orders) != 4 || page.Orders[0].ID != accepted.ID || page.Orders[3].ID != o.ID {
			t.Errorf("orders: %+v", page.Orders)
		}
		b.json("GET", "/api/orders?status=failed", nil, 200, &page)
		if len(page.Orders) != 2 {
			t.Errorf("failed orders: %d", len(page.Orders))
		}
		b.json("GET", "/api/orders?offset=1&limit=1", nil, 200, &page)
		if len(page.Orders) != 1 || page.Orders[0].ID != soldOut.ID || page.Next != 2 {
			t.Errorf("second page: %+v", page)
		}
		b.apiError("GET", "/api/orders?offset=-1", nil, 400)
		var got order.Order
		b.json("GET", "/api/orders/"+o.ID, nil, 200, &got)
		if got.ID != o.ID || got.Totals[0] != want {
			t.Errorf("GET order: %+v", got)
		}
		other := customer(t, f, "bob@front.test")
		other.apiError("GET", "/api/orders/"+o.ID, nil, 404)
		other.apiError("POST", "/api/orders/"+o.ID+"/cancel", nil, 404)
		other.json("GET", "/api/orders", nil, 200, &page)
		if len(page.Orders) != 0 {
			t.Errorf("another shopper sees %d orders", len(page.Orders))
		}

		// Cancelling a paid order restocks it; a failed one cannot be.
		var cancelled order.Order
		b.json("POST", "/api/orders/"+o.ID+"/cancel", nil, 200, &cancelled)
		if cancelled.Status != order.StatusCancelled {
			t.Errorf("cancelled: %+v", cancelled)
		}
		waitFor(t, "the cancelled units back on hand", func() bool { return available(t, f, red.SKU) == 50 })
		if e := b.apiError("POST", "/api/orders/"+declined.ID+"/cancel", nil, 409); e.Error.Code != "conflict" {
			t.Errorf("cancel a failed order: %+v", e.Error)
		}
	})
}

// TestCheckoutForms checks out with the HTML forms: a guest is sent to
// log in; the details form (e-mail prefilled, the countries shipped to,
// the shipping methods); a field missing; the review's totals, which the
// order placed shows too; a form without the CSRF token refused; a double
// submit placing one order; the confirmation page; "My orders", only the
// shopper's; a declined payment's reason; a price change confirmed; and
// cancelling.
func TestCheckoutForms(t *testing.T) {
	f := newShop(t, storefront.Options{})
	guest := f.browser(t)
	if code, loc := guest.redirect("/checkout"); code != 303 || loc != "/login?next=/checkout" {
		t.Errorf("guest checkout: %d %s", code, loc)
	}
	if code, loc := guest.redirect("/orders"); code != 303 || loc != "/login?next=/orders" {
		t.Errorf("guest orders: %d %s", code, loc)
	}

	b := customer(t, f, "cleo@front.test")
	red, blue := f.products["red-runner"], f.products["blue-runner"]
	// An empty cart has nothing to check out.
	if code, loc := b.redirect("/checkout"); code != 303 || loc != "/cart" {
		t.Errorf("checkout with an empty cart: %d %s", code, loc)
	}
	b.json("POST", "/api/cart/items", storefront.CartItem{ProductID: red.ID, Quantity: 1}, 200, nil)
	code, html := b.page("/checkout")
	if code != 200 || !strings.Contains(html, `name="email" value="cleo@front.test"`) || !strings.Contains(html, `<option value="DE">Germany</option>`) ||
		!strings.Contains(html, `value="standard" checked`) || !strings.Contains(html, `value="express"`) || !strings.Contains(html, `href="/orders">My orders</a>`) {
		t.Fatalf("checkout page: %d\n%s", code, html)
	}
	details := url.Values{"email": {"cleo@front.test"}, "name": {"Cleo Buyer"}, "line1": {"Rue 2"}, "postal_code": {"75001"},
		"city": {"Paris"}, "country": {"FR"}, "shipping_method": {"express"}}

	// A field missing: the form again, saying which.
	missing := cloneForm(details)
	missing.Del("city")
	code, _, html = b.submit("/checkout", "/checkout/review", nil, missing)
	if code != 400 || !strings.Contains(html, `data-field="city">is required`) || !strings.Contains(html, `value="Cleo Buyer"`) {
		t.Errorf("review without a city: %d\n%s", code, html)
	}

	// The review: 59.00 + 9.90 express = 68.90 EUR, with 20% French VAT 11.48.
	code, _, review := b.submit("/checkout", "/checkout/review", nil, details)
	for _, want := range []string{"Red Runner", `<td class="grand-total">68.90 EUR</td>`, "Includes 20% VAT</th><td>11.48 EUR", "9.90 EUR", "France"} {
		if !strings.Contains(review, want) {
			t.Errorf("review without %q", want)
		}
	}
	if code != 200 {
		t.Fatalf("review: %d\n%s", code, review)
	}
	place := forms(review, "/checkout/place")
	if len(place) != 1 || place[0].Get(storefront.IdempotencyField) == "" || place[0].Get("country") != "FR" {
		t.Fatalf("place form: %v", place)
	}

	// Without the CSRF token: refused, no order.
	noCSRF := cloneForm(place[0])
	noCSRF.Del(storefront.CSRFField)
	if code, _, _ := b.post("/checkout/place", noCSRF); code != 403 {
		t.Errorf("place without CSRF: %d", code)
	}
	var page order.Page
	b.json("GET", "/api/orders", nil, 200, &page)
	if len(page.Orders) != 0 {
		t.Fatalf("an order without CSRF: %+v", page.Orders)
	}

	// Placed, twice (a double submit): one order.
	code, loc, _ := b.post("/checkout/place", place[0])
	code2, loc2, _ := b.post("/checkout/place", place[0])
	if code != 303 || !strings.HasPrefix(loc, "/orders/") || code2 != 303 || loc2 != loc {
		t.Fatalf("place: %d %s, again: %d %s", code, loc, code2, loc2)
	}
	id := strings.TrimPrefix(loc, "/orders/")
	b.json("GET", "/api/orders", nil, 200, &page)
	if len(page.Orders) != 1 || page.Orders[0].ID != id || f.pay.Authorizations(id) != 1 {
		t.Fatalf("orders after a double submit: %+v", page.Orders)
	}
	code, html = b.page(loc)
	for _, want := range []string{"Thank you", id, `<td class="grand-total">68.90 EUR</td>`, "Includes 20% VAT</th><td>11.48 EUR", "status-paid", "Cleo Buyer"} {
		if !strings.Contains(html, want) {
			t.Errorf("confirmation page without %q", want)
		}
	}
	if code != 200 || len(forms(html, loc+"/cancel")) != 1 {
		t.Fatalf("confirmation page: %d\n%s", code, html)
	}
	if code, html = b.page("/orders"); code != 200 || !strings.Contains(html, `href="/orders/`+id+`"`) || !strings.Contains(html, "68.90 EUR") {
		t.Errorf("my orders: %d\n%s", code, html)
	}
	other := customer(t, f, "dan@front.test")
	if code, _ := other.page(loc); code != 404 {
		t.Errorf("another shopper's order: %d", code)
	}
	if code, html := other.page("/orders"); code != 200 || strings.Contains(html, id) {
		t.Errorf("another shopper's orders list: %d", code)
	}
	waitCartWithout(t, b, red.ID)

	// A declined payment: the order page says why.
	f.pay.SetMode(order.FakeDecline)
	b.json("POST", "/api/cart/items", storefront.CartItem{ProductID: blue.ID, Quantity: 1}, 200, nil)
	_, _, review = b.submit("/checkout", "/checkout/review", nil, details)
	code, loc, _ = b.post("/checkout/place", forms(review, "/checkout/place")[0])
	f.pay.SetMode(order.FakeApprove)
	if code != 303 {
		t.Fatalf("declined place: %d", code)
	}
	if code, html = b.page(loc); code != 200 || !strings.Contains(html, "We could not place your order") || !strings.Contains(html, "the payment was declined") ||
		strings.Contains(html, "/cancel") {
		t.Errorf("declined order page: %d\n%s", code, html)
	}

	// A price change between the review and "Place order": the review
	// again with the changed line, then confirmed.
	_, _, review = b.submit("/checkout", "/checkout/review", nil, details)
	newPrice := eur(7200)
	if _, err := product.NewClient(f.bus).Update(f.admin, product.UpdateRequest{ID: blue.ID, Price: &newPrice}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the cart to see the new price", func() bool {
		c := b.cartOf()
		return len(c.Lines) == 1 && c.Lines[0].UnitPrice == newPrice
	})
	// A review made now shows the change at once (the quote's conflict).
	_, _, fresh := b.submit("/checkout", "/checkout/review", nil, details)
	if !strings.Contains(fresh, "Blue Runner was 69.00 EUR, now 72.00 EUR") || !strings.Contains(fresh, `<td class="grand-total">81.90 EUR</td>`) ||
		len(forms(fresh, "/checkout/place")) != 1 || forms(fresh, "/checkout/place")[0].Get("accept_prices") != "1" {
		t.Fatalf("review after a price change:\n%s", fresh)
	}
	code, _, html = b.post("/checkout/place", forms(review, "/checkout/place")[0])
	confirm := forms(html, "/checkout/place")
	if code != 409 || !strings.Contains(html, "Blue Runner was 69.00 EUR, now 72.00 EUR") || len(confirm) != 1 || confirm[0].Get("accept_prices") != "1" ||
		!strings.Contains(html, `<td class="grand-total">81.90 EUR</td>`) {
		t.Fatalf("price changed: %d\n%s", code, html)
	}
	code, loc, _ = b.post("/checkout/place", confirm[0])
	if code != 303 {
		t.Fatalf("confirmed place: %d", code)
	}
	if _, html = b.page(loc); !strings.Contains(html, `<td class="grand-total">81.90 EUR</td>`) || !strings.Contains(html, "status-paid") {
		t.Errorf("order at the new price:\n%s", html)
	}

	// Cancelling the first order with its form.
	if code, to, _ := b.submit("/orders/"+id, "/orders/"+id+"/cancel", nil, nil); code != 303 || to != "/orders/"+id {
		t.Fatalf("cancel: %d %s", code, to)
	}
	if _, html = b.page("/orders/" + id); !strings.Contains(html, "Order cancelled") || strings.Contains(html, "/cancel") {
		t.Errorf("cancelled order page:\n%s", html)
	}
	if matches := regexp.MustCompile(`class="order-link"`).FindAllString(func() string { _, h := b.page("/orders"); return h }(), -1); len(matches) != 3 {
		t.Errorf("my orders lists %d orders, want 3", len(matches))
	}
}

// decodeJSON decodes data into out, failing the test if it cannot.
func decodeJSON(t testing.TB, data []byte, out any) {
	t.Helper()
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatalf("%v in %s", err, data)
	}
}

func cloneForm(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
