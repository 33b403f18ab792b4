package storefront_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/storefront"
	"github.com/shopbus/shopbus/transport"
)

// eachShop runs fn on a shop on each bus: the in-process one and RabbitMQ.
func eachShop(t *testing.T, opts storefront.Options, fn func(t *testing.T, f *fixture)) {
	for _, kind := range bustest.Kinds {
		t.Run(kind, func(t *testing.T) { fn(t, newShopOn(t, bustest.New(t, kind), opts)) })
	}
}

// customer registers and logs in a new customer in a browser of its own.
func customer(t *testing.T, f *fixture, email string) *browser {
	t.Helper()
	b := f.browser(t)
	creds := auth.RegisterRequest{Email: email, Password: "customer-password"}
	b.json("POST", "/api/register", creds, 201, nil)
	b.json("POST", "/api/login", creds, 200, nil)
	return b
}

// keyed sends a JSON request with an Idempotency-Key and returns the
// status and the body.
func (b *browser) keyed(method, path string, body any, key string) (int, string) {
	b.t.Helper()
	resp, data := b.do(method, path, body, storefront.IdempotencyHeader, key)
	return resp.StatusCode, string(data)
}

// cartOf returns the visitor's cart.
func (b *browser) cartOf() cart.Cart {
	b.t.Helper()
	var c cart.Cart
	b.json("GET", "/api/cart", nil, 200, &c)
	return c
}

// quantity returns the quantity of productID in c, 0 if absent.
func quantity(c cart.Cart, productID string) int {
	n := 0
	for _, l := range c.Lines {
		if l.ProductID == productID {
			n += l.Quantity
		}
	}
	return n
}

// wantReused checks a 422 answer naming the Idempotency-Key header.
func wantReused(t *testing.T, what string, code int, body string) {
	t.Helper()
	var e storefront.APIError
	if code != http.StatusUnprocessableEntity || json.Unmarshal([]byte(body), &e) != nil || e.Error == nil ||
		e.Error.Code != transport.CodeInvalid || e.Error.Field(storefront.IdempotencyHeader) == "" {
		t.Errorf("%s: %d %s; want 422 with a field error on %s", what, code, body, storefront.IdempotencyHeader)
	}
}

// TestIdempotencyKey: on each bus, the same Idempotency-Key twice on a
// change applies it once and answers the same; with another body it is a
// 422 that changes nothing; another visitor's same key is another request;
// without a key every request applies.
func TestIdempotencyKey(t *testing.T) {
	eachShop(t, storefront.Options{}, func(t *testing.T, f *fixture) {
		mia := customer(t, f, "mia@keys.test")
		noah := customer(t, f, "noah@keys.test")
		red := f.products["red-runner"].ID
		item := storefront.CartItem{ProductID: red, Quantity: 1}

		code1, body1 := mia.keyed("POST", "/api/cart/items", item, "add-1")
		code2, body2 := mia.keyed("POST", "/api/cart/items", item, "add-1")
		if code1 != 200 || code2 != 200 || body1 != body2 {
			t.Fatalf("the same key twice: %d %s / %d %s", code1, body1, code2, body2)
		}
		if c := mia.cartOf(); len(c.Lines) != 1 || c.Lines[0].Quantity != 1 {
			t.Fatalf("after the same key twice the cart is %+v; want one line of 1", c.Lines)
		}
		code, body := mia.keyed("POST", "/api/cart/items", storefront.CartItem{ProductID: red, Quantity: 2}, "add-1")
		wantReused(t, "the key again with another body", code, body)
		if q := quantity(mia.cartOf(), red); q != 1 {
			t.Errorf("after the refused body the quantity is %d, want 1", q)
		}

		// Another visitor's "add-1" is a request of its own.
		if code, body := noah.keyed("POST", "/api/cart/items", item, "add-1"); code != 200 || !strings.Contains(body, red) {
			t.Errorf("another visitor's same key: %d %s", code, body)
		}
		if c := noah.cartOf(); len(c.Lines) != 1 || c.Lines[0].Quantity != 1 {
			t.Errorf("the other visitor's cart: %+v", c.Lines)
		}
		if q := quantity(mia.cartOf(), red); q != 1 {
			t.Errorf("the other visitor's add reached mia's cart: quantity %d", q)
		}

		// PUT and DELETE too.
		path := "/api/cart/items/" + red
		code1, body1 = mia.keyed("PUT", path, storefront.Quantity{Quantity: 3}, "put-1")
		code2, body2 = mia.keyed("PUT", path, storefront.Quantity{Quantity: 3}, "put-1")
		if code1 != 200 || code2 != 200 || body1 != body2 {
			t.Errorf("the same PUT twice: %d %s / %d %s", code1, body1, code2, body2)
		}
		code, body = mia.keyed("PUT", path, storefront.Quantity{Quantity: 4}, "put-1")
		wantReused(t, "the PUT key with another quantity", code, body)
		code1, body1 = mia.keyed("DELETE", path, nil, "del-1")
		code2, body2 = mia.keyed("DELETE", path, nil, "del-1")
		if code1 != 200 || code2 != 200 || body1 != body2 {
			t.Errorf("the same DELETE twice: %d %s / %d %s", code1, body1, code2, body2)
		}
		// With another key the second removal is a request of its own.
		if code, body := mia.keyed("DELETE", path, nil, "del-2"); code != 404 {
			t.Errorf("removing the removed line with a new key: %d %s, want 404", code, body)
		}

		// Without a key every add adds.
		mia.json("POST", "/api/cart/items", item, 200, nil)
		mia.json("POST", "/api/cart/items", item, 200, nil)
		if q := quantity(mia.cartOf(), red); q != 2 {
			t.Errorf("two adds without a key: quantity %d, want 2", q)
		}
	})
}

// TestIdempotencyKeyMalformed refuses a key that is empty, too long, not
// printable ASCII or given twice, with 400 naming the header or field, and
// changes nothing; a key of the longest length is accepted.
func TestIdempotencyKeyMalformed(t *testing.T) {
	f := newShop(t, storefront.Options{})
	b := customer(t, f, "malformed@keys.test")
	red := f.products["red-runner"].ID
	body, _ := json.Marshal(storefront.CartItem{ProductID: red, Quantity: 1})
	for name, keys := range map[string][]string{
		"empty":     {""},
		"256 bytes": {strings.Repeat("k", 256)},
		"a tab":     {"add\t1"},
		"non-ASCII": {"ключ"},
		"twice":     {"add-1", "add-2"},
	} {
		req, _ := http.NewRequest("POST", b.base+"/api/cart/items", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for _, k := range keys {
			req.Header.Add(storefront.IdempotencyHeader, k)
		}
		resp, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e storefront.APIError
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != 400 || e.Error == nil || e.Error.Field(storefront.IdempotencyHeader) == "" {
			t.Errorf("key %s: %d %+v; want 400 naming %s", name, resp.StatusCode, e.Error, storefront.IdempotencyHeader)
		}
	}
	if c := b.cartOf(); len(c.Lines) != 0 {
		t.Errorf("a refused key changed the cart: %+v", c.Lines)
	}
	if code, body := b.keyed("POST", "/api/cart/items", storefront.CartItem{ProductID: red, Quantity: 1}, strings.Repeat("k", 255)); code != 200 {
		t.Errorf("a 255-byte key: %d %s", code, body)
	}

	// A form's empty field is refused the same way.
	_, page := b.page("/red-runner")
	form := forms(page, "/cart/add")[0]
	form.Set(storefront.IdempotencyField, "")
	if code, _, html := b.post("/cart/add", form); code != 400 || !strings.Contains(html, storefront.IdempotencyField) {
		t.Errorf("a form with an empty key: %d\n%s", code, html)
	}
	if q := quantity(b.cartOf(), red); q != 1 {
		t.Errorf("quantity %d after the refused form, want 1", q)
	}
}

// TestGuestIdempotencyKey: a guest without cookies may send a key too. Its
// first add starts a cart and gives it a visitor cookie; the same key again
// (now with the new cookies) answers the same without adding, another body
// is a 422, and another cookieless guest's same key starts a cart of its
// own. Registering without cookies is scoped by the address: the same key
// again is answered as the first time, another address with the same key
// registers.
func TestGuestIdempotencyKey(t *testing.T) {
	eachShop(t, storefront.Options{}, func(t *testing.T, f *fixture) {
		red := f.products["red-runner"].ID
		item := storefront.CartItem{ProductID: red, Quantity: 1}
		g := f.browser(t)
		code1, body1 := g.keyed("POST", "/api/cart/items", item, "guest-add")
		if code1 != 200 || g.cookie(storefront.CartCookie) == nil || g.cookie(storefront.CSRFCookie) == nil {
			t.Fatalf("a cookieless guest's first add: %d %s; cart cookie %v, visitor cookie %v",
				code1, body1, g.cookie(storefront.CartCookie), g.cookie(storefront.CSRFCookie))
		}
		code2, body2 := g.keyed("POST", "/api/cart/items", item, "guest-add")
		if code2 != 200 || body2 != body1 {
			t.Errorf("the same key again with the new cookies: %d %s / %s", code2, body2, body1)
		}
		c := g.cartOf()
		if len(c.Lines) != 1 || c.Lines[0].Quantity != 1 {
			t.Errorf("the guest's cart after the same key twice: %+v; want one line of 1", c.Lines)
		}
		code, body := g.keyed("POST", "/api/cart/items", storefront.CartItem{ProductID: red, Quantity: 3}, "guest-add")
		wantReused(t, "the guest's key with another body", code, body)
		// A later add with another key goes into the same cart.
		if code, body := g.keyed("POST", "/api/cart/items", item, "guest-add-2"); code != 200 {
			t.Fatalf("a second add: %d %s", code, body)
		}
		if got := g.cartOf(); got.ID != c.ID || quantity(got, red) != 2 {
			t.Errorf("after a second key the cart is %s %+v; want %s with 2", got.ID, got.Lines, c.ID)
		}

		other := f.browser(t)
		if code, body := other.keyed("POST", "/api/cart/items", item, "guest-add"); code != 200 {
			t.Fatalf("another guest's same key: %d %s", code, body)
		}
		if oc := other.cartOf(); oc.ID == c.ID || quantity(oc, red) != 1 {
			t.Errorf("another guest's same key: cart %s %+v (the first guest's is %s)", oc.ID, oc.Lines, c.ID)
		}
		if got := g.cartOf(); quantity(got, red) != 2 {
			t.Errorf("another guest's add reached the first guest's cart: %+v", got.Lines)
		}

		creds := auth.RegisterRequest{Email: "keyed@keys.test", Password: "customer-password"}
		code1, body1 = f.browser(t).keyed("POST", "/api/register", creds, "reg-1")
		code2, body2 = f.browser(t).keyed("POST", "/api/register", creds, "reg-1")
		if code1 != 201 || code2 != 201 || body1 != body2 {
			t.Errorf("registering twice with one key, without cookies: %d %s / %d %s", code1, body1, code2, body2)
		}
		other2 := auth.RegisterRequest{Email: "keyed2@keys.test", Password: "customer-password"}
		if code, body := f.browser(t).keyed("POST", "/api/register", other2, "reg-1"); code != 201 {
			t.Errorf("another address with the same key: %d %s, want 201", code, body)
		}
	})
}

// TestFormDoubleSubmit: on each bus, a form posted twice as rendered (a
// double click, a resubmit) applies once, for a guest (whose second post
// carries the cart cookie the first one set) and for a customer; a form
// rendered again carries a new key.
func TestFormDoubleSubmit(t *testing.T) {
	eachShop(t, storefront.Options{}, func(t *testing.T, f *fixture) {
		red := f.products["red-runner"].ID
		for _, who := range []string{"guest", "customer"} {
			var b *browser
			if who == "guest" {
				b = f.browser(t)
			} else {
				b = customer(t, f, "double@keys.test")
			}
			code, page := b.page("/red-runner")
			if code != 200 {
				t.Fatalf("%s: product page: %d", who, code)
			}
			found := forms(page, "/cart/add")
			if len(found) == 0 || found[0].Get(storefront.IdempotencyField) == "" {
				t.Fatalf("%s: the add form has no %s: %v", who, storefront.IdempotencyField, found)
			}
			form := found[0]
			form.Set("quantity", "1")
			for i := range 2 {
				if code, loc, body := b.post("/cart/add", form); code != http.StatusSeeOther || loc != "/cart" {
					t.Fatalf("%s: post %d: %d %s %s", who, i+1, code, loc, body)
				}
			}
			if who == "guest" && b.cookie(storefront.CartCookie) == nil {
				t.Fatal("the guest has no cart cookie")
			}
			if c := b.cartOf(); len(c.Lines) != 1 || c.Lines[0].Quantity != 1 {
				t.Errorf("%s: after a double submit the cart is %+v; want one line of 1", who, c.Lines)
			}
			if _, again := b.page("/red-runner"); forms(again, "/cart/add")[0].Get(storefront.IdempotencyField) == form.Get(storefront.IdempotencyField) {
				t.Errorf("%s: two renderings of the form share a key", who)
			}

			// The remove form twice: the second is answered as the first
			// (without the key it would be a 404 for the line).
			_, cartPage := b.page("/cart")
			remove := forms(cartPage, "/cart/remove")
			if len(remove) != 1 || remove[0].Get(storefront.IdempotencyField) == "" {
				t.Fatalf("%s: remove forms %v", who, remove)
			}
			for i := range 2 {
				if code, loc, body := b.post("/cart/remove", remove[0]); code != http.StatusSeeOther || loc != "/cart" {
					t.Errorf("%s: remove %d: %d %s %s", who, i+1, code, loc, body)
				}
			}
			if q := quantity(b.cartOf(), red); q != 0 {
				t.Errorf("%s: after removing the quantity is %d", who, q)
			}
		}
	})
}

// TestAuthDownIsNotLoggedOut: on each bus, while the auth service does
// not answer (its consumers detached), a logged-in shopper is told
// "unavailable" (503, Retry-After) on /api/me, /api/cart, cart changes and
// the cart page, never shown as a guest or given a guest cart; pages that
// need no session still work, with a header saying the account is
// unavailable. When auth is back the cart is as it was.
func TestAuthDownIsNotLoggedOut(t *testing.T) {
	eachShop(t, budgets, func(t *testing.T, f *fixture) {
		red, blue := f.products["red-runner"].ID, f.products["blue-runner"].ID
		b := customer(t, f, "outage@keys.test")
		b.json("POST", "/api/cart/items", storefront.CartItem{ProductID: red, Quantity: 1}, 200, nil)
		_, page := b.page("/red-runner") // the add form, rendered before the outage
		addForm := forms(page, "/cart/add")[0]

		f.bus.stop(t, "auth")
		_, srv, _ := f.newFront(t, budgets) // no cached sessions
		down := &browser{t: t, c: b.c, base: srv.URL}
		for _, req := range []struct {
			method, path string
			body         any
			want         string // in the error message
		}{
			{"GET", "/api/me", nil, "try again"},
			{"GET", "/api/cart", nil, "try again"},
			{"POST", "/api/cart/items", storefront.CartItem{ProductID: blue, Quantity: 1}, "nothing was changed"},
			{"PUT", "/api/cart/items/" + red, storefront.Quantity{Quantity: 5}, "nothing was changed"},
			{"DELETE", "/api/cart/items/" + red, nil, "nothing was changed"},
		} {
			resp, data := down.do(req.method, req.path, req.body)
			var e storefront.APIError
			_ = json.Unmarshal(data, &e)
			if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || e.Error == nil ||
				e.Error.Code != transport.CodeUnavailable || !strings.Contains(e.Error.Message, req.want) {
				t.Errorf("%s %s with auth down: %d Retry-After %q %s; want 503, Retry-After, %q",
					req.method, req.path, resp.StatusCode, resp.Header.Get("Retry-After"), data, req.want)
			}
		}
		if code, _, html := down.post("/cart/add", addForm); code != 503 || !strings.Contains(html, "nothing was changed") {
			t.Errorf("the add form with auth down: %d\n%s", code, html)
		}
		if down.cookie(storefront.CartCookie) != nil {
			t.Error("a guest cart was started for a logged-in shopper")
		}
		if code, html := down.page("/cart"); code != 503 || !strings.Contains(html, "temporarily unavailable") {
			t.Errorf("cart page with auth down: %d, want 503 with a notice\n%s", code, html)
		}
		for _, path := range []string{"/", "/red-runner"} {
			start := time.Now()
			code, html := down.page(path)
			if code != 200 || !strings.Contains(html, "Your account is temporarily unavailable") || strings.Contains(html, `href="/login`) {
				t.Errorf("%s with auth down: %d; want 200 with the account unavailable and no login link\n%s", path, code, html)
			}
			if took := time.Since(start); took >= budgets.CallTimeout {
				t.Errorf("%s with auth down took %v: it waited out the session check", path, took)
			}
		}
		if down.cookie(storefront.SessionCookie) == nil {
			t.Error("the session cookie was dropped while auth was down")
		}

		f.bus.start(t, "auth")
		c := down.cartOf()
		if len(c.Lines) != 1 || c.Lines[0].ProductID != red || c.Lines[0].Quantity != 1 {
			t.Errorf("after the outage the cart is %+v; want the one line added before", c.Lines)
		}
		if code, html := down.page("/"); code != 200 || !strings.Contains(html, "outage@keys.test") {
			t.Errorf("home page after the outage: %d, the shopper not shown", code)
		}
	})
}

// StatusOf is the status of an error of code.
func StatusOf(code transport.Code) int { return storefront.StatusOf(&transport.Error{Code: code}) }

// failBus fails the calls of the given methods with an error of the given
// code, as a broker whose channel closed does, before they reach a service.
type failBus struct {
	transport.Bus
	fail map[string]transport.Code
}

func (b failBus) Call(ctx context.Context, method string, body []byte) ([]byte, error) {
	if code, ok := b.fail[method]; ok {
		return nil, transport.Errorf(code, "%s: channel/connection is not open", method)
	}
	return b.Bus.Call(ctx, method, body)
}

// TestSessionCheckFails: whatever error stops the storefront from checking
// a session (unavailable, deadline exceeded, internal) makes /api/me,
// /api/cart and a cart change answer 503 with Retry-After and start no
// guest cart; an API logout that auth did not confirm keeps the cookie. A
// session auth rejects (unauthenticated) is a guest's.
func TestSessionCheckFails(t *testing.T) {
	f := newShop(t, storefront.Options{})
	b := customer(t, f, "fails@keys.test")
	red := f.products["red-runner"].ID
	opts := storefront.Options{CallTimeout: 500 * time.Millisecond}
	for _, code := range []transport.Code{transport.CodeUnavailable, transport.CodeDeadlineExceeded, transport.CodeInternal} {
		_, srv, _ := f.newFront(t, opts, func(bus transport.Bus) transport.Bus {
			return failBus{Bus: bus, fail: map[string]transport.Code{auth.MethodAuthenticate: code, auth.MethodLogout: code}}
		})
		down := &browser{t: t, c: b.c, base: srv.URL}
		for _, req := range []struct {
			method, path string
			body         any
		}{
			{"GET", "/api/me", nil},
			{"GET", "/api/cart", nil},
			{"POST", "/api/cart/items", storefront.CartItem{ProductID: red, Quantity: 1}},
		} {
			resp, data := down.do(req.method, req.path, req.body, storefront.IdempotencyHeader, "k-"+string(code))
			if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
				t.Errorf("%s: %s %s: %d %s; want 503 with Retry-After", code, req.method, req.path, resp.StatusCode, data)
			}
		}
		// Logging out: auth's own error (503, or 500 for internal), and the
		// cookie kept for a retry.
		if resp, data := down.do("POST", "/api/logout", nil); resp.StatusCode != StatusOf(code) {
			t.Errorf("%s: logout: %d %s", code, resp.StatusCode, data)
		}
		if down.cookie(storefront.CartCookie) != nil || down.cookie(storefront.SessionCookie) == nil {
			t.Errorf("%s: cart cookie %v, session cookie %v; want none and kept", code, down.cookie(storefront.CartCookie), down.cookie(storefront.SessionCookie))
		}
	}
	if c := b.cartOf(); len(c.Lines) != 0 {
		t.Errorf("the customer's cart changed: %+v", c.Lines)
	}
	b.json("GET", "/api/me", nil, 200, nil) // the logout did not happen

	// A session auth rejects is no session: the visitor is a guest.
	_, srv, _ := f.newFront(t, opts, func(bus transport.Bus) transport.Bus {
		return failBus{Bus: bus, fail: map[string]transport.Code{auth.MethodAuthenticate: transport.CodeUnauthenticated}}
	})
	rejected := &browser{t: t, c: b.c, base: srv.URL}
	rejected.apiError("GET", "/api/me", nil, 401)
	if rejected.cookie(storefront.SessionCookie) != nil {
		t.Error("a session auth rejected kept its cookie")
	}
}

// TestUnavailableChange: a change whose service does not answer is a 503
// that says the outcome is unknown (and, with a key, that repeating it with
// the key is safe); repeated with the same key once the service is back,
// it is applied exactly once.
func TestUnavailableChange(t *testing.T) {
	f := newShop(t, budgets)
	b := customer(t, f, "unknown@keys.test")
	red, boot := f.products["red-runner"].ID, f.products["blue-boot"].ID

	f.bus.stop(t, "cart")
	var e storefront.APIError
	resp, data := b.do("POST", "/api/cart/items", storefront.CartItem{ProductID: red, Quantity: 1}, storefront.IdempotencyHeader, "unknown-1")
	if err := json.Unmarshal(data, &e); err != nil || resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" ||
		!strings.Contains(e.Error.Message, "outcome is unknown") || !strings.Contains(e.Error.Message, "same Idempotency-Key") {
		t.Errorf("a keyed add with cart down: %d %s", resp.StatusCode, data)
	}
	resp, data = b.do("POST", "/api/cart/items", storefront.CartItem{ProductID: boot, Quantity: 1})
	if err := json.Unmarshal(data, &e); err != nil || resp.StatusCode != 503 ||
		!strings.Contains(e.Error.Message, "outcome is unknown") || strings.Contains(e.Error.Message, "try again") {
		t.Errorf("an add without a key with cart down: %d %s; must not invite a plain retry", resp.StatusCode, data)
	}
	resp, data = b.do("GET", "/api/cart", nil)
	if err := json.Unmarshal(data, &e); err != nil || resp.StatusCode != 503 || !strings.Contains(e.Error.Message, "try again") {
		t.Errorf("reading the cart with cart down: %d %s", resp.StatusCode, data)
	}
	_, page := b.page("/blue-runner")
	form := forms(page, "/cart/add")[0]
	if code, _, html := b.post("/cart/add", form); code != 503 || !strings.Contains(html, "cannot tell whether your change was made") {
		t.Errorf("the add form with cart down: %d\n%s", code, html)
	}

	f.bus.start(t, "cart")
	// Requests left in the queue may be served now; the keyed add, repeated
	// until it succeeds, is in the cart once whatever happened to the first.
	waitFor(t, "the keyed add to succeed", func() bool {
		code, _ := b.keyed("POST", "/api/cart/items", storefront.CartItem{ProductID: red, Quantity: 1}, "unknown-1")
		return code == 200
	})
	b.keyed("POST", "/api/cart/items", storefront.CartItem{ProductID: red, Quantity: 1}, "unknown-1")
	if q := quantity(b.cartOf(), red); q != 1 {
		t.Errorf("the keyed add repeated: quantity %d, want 1", q)
	}
}
