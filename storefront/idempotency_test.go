package storefront_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/storefront"
)

// customer registers and logs in a new customer in a browser of its own.
func customer(t *testing.T, f *fixture, email string) *browser {
	t.Helper()
	b := f.browser(t)
	creds := auth.RegisterRequest{Email: email, Password: "customer-password"}
	b.json("POST", "/api/register", creds, 201, nil)
	b.json("POST", "/api/login", creds, 200, nil)
	return b
}

// TestIdempotencyKey: the same Idempotency-Key twice adds once and
// answers the same; with another body it is a 422; another visitor's
// same key is another request; a malformed key is refused.
func TestIdempotencyKey(t *testing.T) {
	f := newShop(t, storefront.Options{})
	mia := customer(t, f, "mia@keys.test")
	noah := customer(t, f, "noah@keys.test")
	item := storefront.CartItem{ProductID: f.products["red-runner"].ID, Quantity: 1}
	add := func(b *browser, body any, key string) (int, string) {
		resp, data := b.do("POST", "/api/cart/items", body, storefront.IdempotencyHeader, key)
		return resp.StatusCode, string(data)
	}
	code1, body1 := add(mia, item, "add-1")
	code2, body2 := add(mia, item, "add-1")
	if code1 != 200 || code2 != 200 || body1 != body2 {
		t.Fatalf("the same key twice: %d %s / %d %s", code1, body1, code2, body2)
	}
	var c cart.Cart
	mia.json("GET", "/api/cart", nil, 200, &c)
	if len(c.Lines) != 1 || c.Lines[0].Quantity != 1 {
		t.Fatalf("after the same key twice the cart is %+v; want one line of 1", c.Lines)
	}

	resp, data := mia.do("POST", "/api/cart/items", storefront.CartItem{ProductID: item.ProductID, Quantity: 2}, storefront.IdempotencyHeader, "add-1")
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(data), storefront.IdempotencyHeader) {
		t.Errorf("the key with another body: %d %s; want 422 naming the header", resp.StatusCode, data)
	}

	if code, body := add(noah, item, "add-1"); code != 200 || !strings.Contains(body, item.ProductID) {
		t.Errorf("another visitor's same key: %d %s", code, body)
	}
	noah.json("GET", "/api/cart", nil, 200, &c)
	if len(c.Lines) != 1 || c.Lines[0].Quantity != 1 {
		t.Errorf("the other visitor's cart: %+v", c.Lines)
	}

	if code, body := add(mia, item, strings.Repeat("k", 256)); code != 400 || !strings.Contains(body, storefront.IdempotencyHeader) {
		t.Errorf("a 256-byte key: %d %s; want 400", code, body)
	}
	// Without a key every add adds.
	mia.json("POST", "/api/cart/items", item, 200, nil)
	mia.json("GET", "/api/cart", nil, 200, &c)
	if len(c.Lines) != 1 || c.Lines[0].Quantity != 2 {
		t.Errorf("an add without a key: %+v; want the line at 2", c.Lines)
	}
}

// TestFormDoubleSubmit: a form posted twice as rendered (a double click,
// a resubmit) adds once.
func TestFormDoubleSubmit(t *testing.T) {
	f := newShop(t, storefront.Options{})
	b := customer(t, f, "double@keys.test")
	code, page := b.page("/red-runner")
	if code != 200 {
		t.Fatalf("product page: %d", code)
	}
	found := forms(page, "/cart/add")
	if len(found) == 0 || found[0].Get(storefront.IdempotencyField) == "" {
		t.Fatalf("the add form has no %s: %v", storefront.IdempotencyField, found)
	}
	form := found[0]
	form.Set("quantity", "1")
	for range 2 {
		if code, _, body := b.post("/cart/add", url.Values(form)); code != http.StatusSeeOther && code != 200 {
			t.Fatalf("post: %d %s", code, body)
		}
	}
	var c cart.Cart
	b.json("GET", "/api/cart", nil, 200, &c)
	if len(c.Lines) != 1 || c.Lines[0].Quantity != 1 {
		t.Errorf("after a double submit the cart is %+v; want one line of 1", c.Lines)
	}
	// A form rendered again carries a new key: a second add adds.
	if _, again := b.page("/red-runner"); forms(again, "/cart/add")[0].Get(storefront.IdempotencyField) == form.Get(storefront.IdempotencyField) {
		t.Error("two renderings of the form share a key")
	}
}

// TestAuthDownIsNotLoggedOut: while the auth service does not answer, a
// logged-in shopper is told "unavailable" (503, Retry-After) on /api/me,
// /api/cart, adds and the cart page, never shown as a guest or given a
// guest cart; pages that need no session still work.
func TestAuthDownIsNotLoggedOut(t *testing.T) {
	f := newShop(t, budgets)
	b := customer(t, f, "outage@keys.test")
	b.json("POST", "/api/cart/items", storefront.CartItem{ProductID: f.products["red-runner"].ID, Quantity: 1}, 200, nil)

	f.bus.stop(t, "auth")
	_, srv, _ := f.newFront(t, budgets) // no cached sessions
	down := &browser{t: t, c: b.c, base: srv.URL}
	for _, req := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/me", nil},
		{"GET", "/api/cart", nil},
		{"POST", "/api/cart/items", storefront.CartItem{ProductID: f.products["blue-runner"].ID, Quantity: 1}},
	} {
		resp, data := down.do(req.method, req.path, req.body)
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s with auth down: %d %s; want 503 with Retry-After", req.method, req.path, resp.StatusCode, data)
		}
	}
	if down.cookie(storefront.CartCookie) != nil {
		t.Error("a guest cart was started for a logged-in shopper")
	}
	if code, _ := down.page("/cart"); code != 503 {
		t.Errorf("cart page with auth down: %d, want 503", code)
	}
	if code, _ := down.page("/red-runner"); code != 200 {
		t.Errorf("product page with auth down: %d, want 200", code)
	}

	f.bus.start(t, "auth")
	var c cart.Cart
	down.json("GET", "/api/cart", nil, 200, &c)
	if len(c.Lines) != 1 || c.Lines[0].ProductID != f.products["red-runner"].ID {
		t.Errorf("after the outage the cart is %+v; want the one line added before", c.Lines)
	}
}
