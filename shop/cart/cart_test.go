package cart_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/shoptest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/shop/catalog/option"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/transport"
)

// clock is an adjustable clock for Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is the cart service with the real services it talks to (auth,
// option, product) on one bus, each on its own test database.
type env struct {
	bus      transport.Bus
	auth     *shoptest.Auth
	products *product.Client
	options  *option.Client
	srv      *cart.Server
	cart     *cart.Client
	db       *mongo.Database
	clock    *clock
	guest    context.Context // no token
}

func start(t testing.TB, bus transport.Bus, opts cart.Options) *env {
	t.Helper()
	e := &env{bus: bus, clock: &clock{now: time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)}, guest: context.Background()}
	e.auth = shoptest.StartAuth(t, bus)

	optSrv, err := option.New(testenv.MongoDB(t, "option_"+t.Name()), option.Options{Auth: e.auth.Client})
	if err != nil {
		t.Fatal(err)
	}
	bind(t, func() (transport.Subscription, error) { return option.Bind(bus, optSrv) })
	prodSrv, err := product.New(testenv.MongoDB(t, "product_"+t.Name()), product.Options{
		Auth: e.auth.Client, Events: bus, Variants: option.NewClient(bus),
	})
	if err != nil {
		t.Fatal(err)
	}
	bind(t, func() (transport.Subscription, error) { return product.Bind(bus, prodSrv) })

	e.db = testenv.MongoDB(t, "cart_"+t.Name())
	opts.Auth = auth.NewClient(bus)
	opts.Products = product.NewClient(bus)
	if opts.Now == nil {
		opts.Now = e.clock.Now
	}
	e.srv, err = cart.New(e.db, opts)
	if err != nil {
		t.Fatal(err)
	}
	bind(t, func() (transport.Subscription, error) { return cart.Bind(bus, e.srv) })
	bind(t, func() (transport.Subscription, error) {
		return cart.Subscribe(bus, e.srv, transport.WithMaxAttempts(2), transport.WithRetryDelay(10*time.Millisecond))
	})
	e.products, e.options, e.cart = product.NewClient(bus), option.NewClient(bus), cart.NewClient(bus)
	return e
}

func bind(t testing.TB, f func() (transport.Subscription, error)) {
	t.Helper()
	sub, err := f()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
}

// product creates a published product priced in EUR cents.
func (e *env) product(t testing.TB, title string, cents int64) product.Product {
	t.Helper()
	p, err := e.products.Create(e.auth.Admin, product.CreateRequest{
		Title: title, Status: shop.StatusPublished, Price: shop.Money{Amount: cents, Currency: "EUR"},
	})
	if err != nil {
		t.Fatalf("create product %q: %v", title, err)
	}
	return p
}

// shirt creates a published product in sizes s, m and l; l costs more.
func (e *env) shirt(t *testing.T) product.Product {
	t.Helper()
	if _, err := e.options.CreateGroup(e.auth.Admin, option.CreateGroupRequest{
		Code: "size", Name: "Size", Values: []option.Value{{Code: "s", Label: "S"}, {Code: "m", Label: "M"}, {Code: "l", Label: "L"}},
	}); err != nil {
		t.Fatalf("create option group: %v", err)
	}
	p, err := e.products.Create(e.auth.Admin, product.CreateRequest{
		Title: "Shirt", SKU: "SHIRT", Status: shop.StatusPublished, Price: shop.Money{Amount: 1500, Currency: "EUR"},
		OptionGroups:  []string{"size"},
		VariantPrices: []product.VariantPrice{{Options: map[string]string{"size": "l"}, Price: shop.Money{Amount: 1700, Currency: "EUR"}}},
	})
	if err != nil {
		t.Fatalf("create shirt: %v", err)
	}
	if len(p.Variants) != 3 {
		t.Fatalf("shirt has %d variants, want 3", len(p.Variants))
	}
	return p
}

func variant(t *testing.T, p product.Product, size string) product.Variant {
	t.Helper()
	for _, v := range p.Variants {
		if v.Options["size"] == size {
			return v
		}
	}
	t.Fatalf("no variant of size %s", size)
	return product.Variant{}
}

func wantCode(t *testing.T, err error, code transport.Code) *transport.Error {
	t.Helper()
	var e *transport.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("got error %v, want code %s", err, code)
	}
	return e
}

func line(t *testing.T, c cart.Cart, productID, variantID string) cart.Line {
	t.Helper()
	for _, l := range c.Lines {
		if l.ProductID == productID && l.VariantID == variantID {
			return l
		}
	}
	t.Fatalf("cart %s has no line %s/%s: %+v", c.ID, productID, variantID, c.Lines)
	return cart.Line{}
}

// eventually polls cond until it holds or 15 seconds pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestGuestCart(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		e := start(t, bus, cart.Options{})
		mug := e.product(t, "Mug", 1250)
		tea := e.product(t, "Tea", 499)

		c, err := e.cart.AddItem(e.guest, cart.AddItemRequest{ProductID: mug.ID, Quantity: 2})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(c.ID, "g_") || len(c.ID) < 30 || c.UserID != "" || c.Version != 1 {
			t.Fatalf("new guest cart %+v", c)
		}
		if want := e.clock.Now().Add(cart.DefaultGuestCartTTL); !c.ExpiresAt.Equal(want) {
			t.Errorf("ExpiresAt = %v, want %v", c.ExpiresAt, want)
		}
		l := line(t, c, mug.ID, "")
		if l.Title != "Mug" || l.SKU != mug.SKU || l.SKU == "" || l.Quantity != 2 ||
			l.UnitPrice != (shop.Money{Amount: 1250, Currency: "EUR"}) || l.Subtotal.Amount != 2500 || l.PriceChanged || l.Unavailable {
			t.Fatalf("line %+v", l)
		}
		// A second guest cart is another cart.
		other, err := e.cart.AddItem(e.guest, cart.AddItemRequest{ProductID: mug.ID, Quantity: 1})
		if err != nil || other.ID == c.ID {
			t.Fatalf("second guest cart %+v, %v", other, err)
		}

		c, err = e.cart.AddItem(e.guest, cart.AddItemRequest{CartID: c.ID, ProductID: tea.ID, Quantity: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Lines) != 2 || c.Totals["EUR"] != 2500+3*499 || c.Version != 2 {
			t.Fatalf("cart after second add %+v", c)
		}
		// Adding an existing line adds up, to the cap.
		c, err = e.cart.AddItem(e.guest, cart.AddItemRequest{CartID: c.ID, ProductID: mug.ID, Quantity: 5})
		if err != nil || line(t, c, mug.ID, "").Quantity != 7 {
			t.Fatalf("add to line: %+v, %v", c, err)
		}
		c, err = e.cart.AddItem(e.guest, cart.AddItemRequest{CartID: c.ID, ProductID: mug.ID, Quantity: 99})
		if err != nil || line(t, c, mug.ID, "").Quantity != 99 {
			t.Fatalf("add over the cap: %+v, %v", c, err)
		}
		got, err := e.cart.Get(e.guest, cart.CartRequest{CartID: c.ID})
		if err != nil || got.Version != c.Version || len(got.Lines) != 2 || got.Totals["EUR"] != 99*1250+3*499 {
			t.Fatalf("Get = %+v, %v; want %+v", got, err, c)
		}

		c, err = e.cart.UpdateItem(e.guest, cart.UpdateItemRequest{CartID: c.ID, ProductID: mug.ID, Quantity: 4})
		if err != nil || line(t, c, mug.ID, "").Quantity != 4 {
			t.Fatalf("update: %+v, %v", c, err)
		}
		_, err = e.cart.UpdateItem(e.guest, cart.UpdateItemRequest{CartID: c.ID, ProductID: mug.ID, VariantID: "nope", Quantity: 4})
		wantCode(t, err, transport.CodeNotFound)
		c, err = e.cart.RemoveItem(e.guest, cart.RemoveItemRequest{CartID: c.ID, ProductID: tea.ID})
		if err != nil || len(c.Lines) != 1 || c.Totals["EUR"] != 4*1250 {
			t.Fatalf("remove: %+v, %v", c, err)
		}
		_, err = e.cart.RemoveItem(e.guest, cart.RemoveItemRequest{CartID: c.ID, ProductID: tea.ID})
		wantCode(t, err, transport.CodeNotFound)
		c, err = e.cart.Clear(e.guest, cart.CartRequest{CartID: c.ID})
		if err != nil || len(c.Lines) != 0 || len(c.Totals) != 0 {
			t.Fatalf("clear: %+v, %v", c, err)
		}

		// Unknown guest carts, and guests without a cart id.
		_, err = e.cart.Get(e.guest, cart.CartRequest{CartID: "g_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})
		wantCode(t, err, transport.CodeNotFound)
		_, err = e.cart.AddItem(e.guest, cart.AddItemRequest{CartID: "g_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", ProductID: mug.ID, Quantity: 1})
		wantCode(t, err, transport.CodeNotFound)
		_, err = e.cart.Get(e.guest, cart.CartRequest{})
		wantCode(t, err, transport.CodeInvalid)
	})
}

func TestUserCartOwnership(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		e := start(t, bus, cart.Options{})
		mug := e.product(t, "Mug", 1250)
		alice, alicePrincipal := e.auth.Customer, e.auth.CustomerUser
		bob, _ := e.auth.NewCustomer(t, "bob@shop.test", "")

		empty, err := e.cart.Get(alice, cart.CartRequest{})
		if err != nil || empty.ID != "u_"+alicePrincipal.UserID || empty.UserID != alicePrincipal.UserID || len(empty.Lines) != 0 || !empty.ExpiresAt.IsZero() {
			t.Fatalf("empty user cart %+v, %v", empty, err)
		}
		c, err := e.cart.AddItem(alice, cart.AddItemRequest{ProductID: mug.ID, Quantity: 1})
		if err != nil || c.ID != empty.ID || len(c.Lines) != 1 {
			t.Fatalf("add: %+v, %v", c, err)
		}
		// Naming one's own cart explicitly is fine.
		if got, err := e.cart.Get(alice, cart.CartRequest{CartID: c.ID}); err != nil || len(got.Lines) != 1 {
			t.Fatalf("get own cart by id: %+v, %v", got, err)
		}
		// Bob has his own cart and may not touch Alice's.
		if got, err := e.cart.Get(bob, cart.CartRequest{}); err != nil || len(got.Lines) != 0 || got.ID == c.ID {
			t.Fatalf("bob's cart %+v, %v", got, err)
		}
		_, err = e.cart.Get(bob, cart.CartRequest{CartID: c.ID})
		wantCode(t, err, transport.CodeForbidden)
		_, err = e.cart.AddItem(bob, cart.AddItemRequest{CartID: c.ID, ProductID: mug.ID, Quantity: 1})
		wantCode(t, err, transport.CodeForbidden)
		_, err = e.cart.Clear(bob, cart.CartRequest{CartID: c.ID})
		wantCode(t, err, transport.CodeForbidden)
		// Nor may an admin, or a guest who learnt the id.
		_, err = e.cart.Get(e.auth.Admin, cart.CartRequest{CartID: c.ID})
		wantCode(t, err, transport.CodeForbidden)
		_, err = e.cart.Get(e.guest, cart.CartRequest{CartID: c.ID})
		wantCode(t, err, transport.CodeForbidden)
		_, err = e.cart.RemoveItem(e.guest, cart.RemoveItemRequest{CartID: c.ID, ProductID: mug.ID})
		wantCode(t, err, transport.CodeForbidden)
		// A logged-in user works on their own cart, not on a guest cart.
		g, err := e.cart.AddItem(e.guest, cart.AddItemRequest{ProductID: mug.ID, Quantity: 1})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.cart.Get(alice, cart.CartRequest{CartID: g.ID})
		wantCode(t, err, transport.CodeForbidden)
		// A bad token is unauthenticated, not a guest.
		_, err = e.cart.AddItem(shop.WithToken(context.Background(), "expired-or-forged"), cart.AddItemRequest{ProductID: mug.ID, Quantity: 1})
		wantCode(t, err, transport.CodeUnauthenticated)

		after, err := e.cart.Get(alice, cart.CartRequest{})
		if err != nil || len(after.Lines) != 1 || after.Lines[0].Quantity != 1 {
			t.Fatalf("alice's cart changed: %+v, %v", after, err)
		}
	})
}

func TestAddChecksTheProduct(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		e := start(t, bus, cart.Options{})
		shirt := e.shirt(t)
		draft, err := e.products.Create(e.auth.Admin, product.CreateRequest{Title: "Secret", Price: shop.Money{Amount: 100, Currency: "EUR"}})
		if err != nil {
			t.Fatal(err)
		}
		ctx := e.auth.Customer
		add := func(productID, variantID string) error {
			_, err := e.cart.AddItem(ctx, cart.AddItemRequest{ProductID: productID, VariantID: variantID, Quantity: 1})
			return err
		}
		wantCode(t, add("00000000-0000-0000-0000-000000000000", ""), transport.CodeNotFound)
		wantCode(t, add("no_such_product", ""), transport.CodeNotFound)
		wantCode(t, add(draft.ID, ""), transport.CodeNotFound)
		wantCode(t, add(shirt.ID, "no-such-variant"), transport.CodeNotFound)
		if e := wantCode(t, add(shirt.ID, ""), transport.CodeInvalid); e.Field("variant_id") == "" {
			t.Fatalf("no variant_id field error: %v", e)
		}

		m, l := variant(t, shirt, "m"), variant(t, shirt, "l")
		if err := add(shirt.ID, m.ID); err != nil {
			t.Fatal(err)
		}
		c, err := e.cart.AddItem(ctx, cart.AddItemRequest{ProductID: shirt.ID, VariantID: l.ID, Quantity: 2})
		if err != nil {
			t.Fatal(err)
		}
		lm, ll := line(t, c, shirt.ID, m.ID), line(t, c, shirt.ID, l.ID)
		if lm.SKU != m.SKU || lm.Options["size"] != "m" || lm.UnitPrice.Amount != 1500 || lm.Title != "Shirt" {
			t.Fatalf("size m line %+v", lm)
		}
		if ll.SKU != l.SKU || ll.SKU == lm.SKU || ll.Options["size"] != "l" || ll.UnitPrice.Amount != 1700 || ll.Subtotal.Amount != 3400 {
			t.Fatalf("size l line %+v", ll)
		}
		if c.Totals["EUR"] != 1500+3400 {
			t.Fatalf("totals %v", c.Totals)
		}
	})
}

func TestInvalidInput(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		e := start(t, bus, cart.Options{})
		mug := e.product(t, "Mug", 1250)
		ctx := e.auth.Customer
		adds := []struct {
			name   string
			req    cart.AddItemRequest
			fields []string
		}{
			{"empty", cart.AddItemRequest{}, []string{"product_id", "quantity"}},
			{"zero quantity", cart.AddItemRequest{ProductID: mug.ID}, []string{"quantity"}},
			{"negative quantity", cart.AddItemRequest{ProductID: mug.ID, Quantity: -1}, []string{"quantity"}},
			{"quantity over cap", cart.AddItemRequest{ProductID: mug.ID, Quantity: 100}, []string{"quantity"}},
			{"operator product", cart.AddItemRequest{ProductID: "$gt", Quantity: 1}, []string{"product_id"}},
			{"operator variant", cart.AddItemRequest{ProductID: mug.ID, VariantID: "$ne", Quantity: 1}, []string{"variant_id"}},
			{"nul product", cart.AddItemRequest{ProductID: "ab\x00cd", Quantity: 1}, []string{"product_id"}},
			{"long product", cart.AddItemRequest{ProductID: strings.Repeat("p", 129), Quantity: 1}, []string{"product_id"}},
			{"operator cart", cart.AddItemRequest{CartID: "$where", ProductID: mug.ID, Quantity: 1}, []string{"cart_id"}},
			{"long cart", cart.AddItemRequest{CartID: "g_" + strings.Repeat("a", 200), ProductID: mug.ID, Quantity: 1}, []string{"cart_id"}},
		}
		for _, a := range adds {
			_, err := e.cart.AddItem(ctx, a.req)
			ee := wantCode(t, err, transport.CodeInvalid)
			for _, f := range a.fields {
				if ee.Field(f) == "" {
					t.Errorf("%s: no field error for %s: %v", a.name, f, ee)
				}
			}
			if len(ee.Fields) != len(a.fields) {
				t.Errorf("%s: fields %v, want %v", a.name, ee.Fields, a.fields)
			}
		}
		e2 := wantCode(t, func() error {
			_, err := e.cart.UpdateItem(ctx, cart.UpdateItemRequest{ProductID: mug.ID, Quantity: 0})
			return err
		}(), transport.CodeInvalid)
		if e2.Field("quantity") == "" {
			t.Errorf("update quantity 0: %v", e2)
		}
		for _, body := range []string{
			`{"product_id": {"$gt": ""}, "quantity": 1}`,
			`{"product_id": "x", "quantity": "1"}`,
			`{"product_id": "x", "quantity": 1.5}`,
			`{"cart_id": ["g_x"], "product_id": "x", "quantity": 1}`,
		} {
			_, err := bus.Call(ctx, cart.MethodAddItem, []byte(body))
			if ee := wantCode(t, err, transport.CodeInvalid); len(ee.Fields) == 0 {
				t.Errorf("%s: no field errors: %v", body, ee)
			}
		}
		for _, id := range []string{"", "$gt", "u_someone", "x"} {
			_, err := e.cart.Merge(ctx, cart.MergeRequest{GuestCartID: id})
			if ee := wantCode(t, err, transport.CodeInvalid); ee.Field("guest_cart_id") == "" {
				t.Errorf("merge %q: %v", id, ee)
			}
		}
		// Nothing was stored.
		c, err := e.cart.Get(ctx, cart.CartRequest{})
		if err != nil || len(c.Lines) != 0 || c.Version != 0 {
			t.Fatalf("cart after invalid requests: %+v, %v", c, err)
		}
	})
}

func TestConcurrentAdds(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		e := start(t, bus, cart.Options{})
		const n = 50
		ids := make([]string, n)
		for i := range n {
			ids[i] = e.product(t, fmt.Sprintf("Product %d", i), int64(100+i)).ID
		}
		ctx := e.auth.Customer
		var wg sync.WaitGroup
		errs := make(chan error, n+20)
		for _, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := e.cart.AddItem(ctx, cart.AddItemRequest{ProductID: id, Quantity: 1})
				errs <- err
			}()
		}
		// Twenty adds of the same product at the same time, too.
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := e.cart.AddItem(ctx, cart.AddItemRequest{ProductID: ids[0], Quantity: 1})
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("concurrent add: %v", err)
			}
		}
		c, err := e.cart.Get(ctx, cart.CartRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Lines) != n {
			t.Fatalf("%d lines, want %d: updates were lost", len(c.Lines), n)
		}
		if q := line(t, c, ids[0], "").Quantity; q != 21 {
			t.Fatalf("first product's quantity %d, want 21", q)
		}
		if c.Version != n+20 {
			t.Fatalf("version %d, want %d", c.Version, n+20)
		}
		var want int64
		for i := range n {
			want += int64(100 + i)
		}
		want += 20 * 100
		if c.Totals["EUR"] != want {
			t.Fatalf("total %d, want %d", c.Totals["EUR"], want)
		}
	})
}

func TestMergeOnLogin(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		e := start(t, bus, cart.Options{})
		mug, tea, jam := e.product(t, "Mug", 1250), e.product(t, "Tea", 499), e.product(t, "Jam", 350)

		// Carol shopped before, logged in: her cart holds 98 mugs and jam.
		if _, err := e.auth.Client.Register(context.Background(), auth.RegisterRequest{Email: "carol@shop.test", Password: "password1"}); err != nil {
			t.Fatal(err)
		}
		carol, _ := e.auth.Login(t, "carol@shop.test", "password1")
		if _, err := e.cart.AddItem(carol, cart.AddItemRequest{ProductID: mug.ID, Quantity: 98}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.cart.AddItem(carol, cart.AddItemRequest{ProductID: jam.ID, Quantity: 1}); err != nil {
			t.Fatal(err)
		}
		// Logged out, as a guest, she adds 2 mugs and tea...
		g, err := e.cart.AddItem(e.guest, cart.AddItemRequest{ProductID: mug.ID, Quantity: 2})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.cart.AddItem(e.guest, cart.AddItemRequest{CartID: g.ID, ProductID: tea.ID, Quantity: 3}); err != nil {
			t.Fatal(err)
		}
		// ...then logs in, and the shop merges the guest cart.
		_, err = e.cart.Merge(e.guest, cart.MergeRequest{GuestCartID: g.ID})
		wantCode(t, err, transport.CodeUnauthenticated)
		carol, _ = e.auth.Login(t, "carol@shop.test", "password1")
		c, err := e.cart.Merge(carol, cart.MergeRequest{GuestCartID: g.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Lines) != 3 || line(t, c, mug.ID, "").Quantity != 99 || line(t, c, tea.ID, "").Quantity != 3 || line(t, c, jam.ID, "").Quantity != 1 {
			t.Fatalf("merged cart %+v", c)
		}
		if c.Totals["EUR"] != 99*1250+3*499+350 {
			t.Fatalf("merged totals %v", c.Totals)
		}
		// The guest cart is gone; merging it again is not_found and changes nothing.
		_, err = e.cart.Get(e.guest, cart.CartRequest{CartID: g.ID})
		wantCode(t, err, transport.CodeNotFound)
		_, err = e.cart.Merge(carol, cart.MergeRequest{GuestCartID: g.ID})
		wantCode(t, err, transport.CodeNotFound)
		again, err := e.cart.Get(carol, cart.CartRequest{})
		if err != nil || again.Version != c.Version {
			t.Fatalf("cart after second merge: %+v, %v", again, err)
		}
		// A customer's cart is not a guest cart to merge.
		_, err = e.cart.Merge(e.auth.Customer, cart.MergeRequest{GuestCartID: c.ID})
		wantCode(t, err, transport.CodeInvalid)
	})
}

func TestMergeIsIdempotentAfterACrash(t *testing.T) {
	// A merge recorded in the user's cart whose guest cart survived (the
	// process stopped before deleting it) adds nothing when retried.
	bus := bustest.New(t, "inproc")
	e := start(t, bus, cart.Options{})
	mug := e.product(t, "Mug", 1250)
	g, err := e.cart.AddItem(e.guest, cart.AddItemRequest{ProductID: mug.ID, Quantity: 2})
	if err != nil {
		t.Fatal(err)
	}
	var saved bson.Raw
	if err := e.db.Collection("carts").FindOne(context.Background(), bson.D{{Key: "_id", Value: g.ID}}).Decode(&saved); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cart.Merge(e.auth.Customer, cart.MergeRequest{GuestCartID: g.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Collection("carts").InsertOne(context.Background(), saved); err != nil {
		t.Fatal(err)
	}
	c, err := e.cart.Merge(e.auth.Customer, cart.MergeRequest{GuestCartID: g.ID})
	if err != nil {
		t.Fatal(err)
	}
	if q := line(t, c, mug.ID, "").Quantity; q != 2 {
		t.Fatalf("quantity %d after a retried merge, want 2", q)
	}
	_, err = e.cart.Get(e.guest, cart.CartRequest{CartID: g.ID})
	wantCode(t, err, transport.CodeNotFound)
}

func TestProductChangesReachCarts(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		e := start(t, bus, cart.Options{})
		mug, tea := e.product(t, "Mug", 1250), e.product(t, "Tea", 499)
		shirt := e.shirt(t)
		l := variant(t, shirt, "l")
		ctx := e.auth.Customer
		for _, r := range []cart.AddItemRequest{
			{ProductID: mug.ID, Quantity: 2},
			{ProductID: tea.ID, Quantity: 1},
			{ProductID: shirt.ID, VariantID: l.ID, Quantity: 1},
		} {
			if _, err := e.cart.AddItem(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		g, err := e.cart.AddItem(e.guest, cart.AddItemRequest{ProductID: mug.ID, Quantity: 1})
		if err != nil {
			t.Fatal(err)
		}
		get := func() cart.Cart {
			c, err := e.cart.Get(ctx, cart.CartRequest{})
			if err != nil {
				t.Fatal(err)
			}
			return c
		}

		if s := line(t, get(), mug.ID, "").Slug; s != mug.Slug {
			t.Fatalf("line slug %q, want the product's %q", s, mug.Slug)
		}

		// A new price (and slug) is applied and the price flagged, in
		// every cart holding it.
		newPrice, newSlug := shop.Money{Amount: 1400, Currency: "EUR"}, "big-mug"
		if _, err := e.products.Update(e.auth.Admin, product.UpdateRequest{ID: mug.ID, Price: &newPrice, Slug: &newSlug}); err != nil {
			t.Fatal(err)
		}
		var c cart.Cart
		eventually(t, "the mug's new price reaches the cart", func() bool {
			c = get()
			return line(t, c, mug.ID, "").PriceChanged
		})
		lm := line(t, c, mug.ID, "")
		if lm.UnitPrice != newPrice || lm.PreviousPrice == nil || lm.PreviousPrice.Amount != 1250 || lm.Subtotal.Amount != 2800 || lm.Slug != newSlug {
			t.Fatalf("repriced line %+v", lm)
		}
		if line(t, c, tea.ID, "").PriceChanged {
			t.Fatal("tea flagged too")
		}
		if c.Totals["EUR"] != 2800+499+1700 {
			t.Fatalf("totals %v", c.Totals)
		}
		eventually(t, "the new price reaches the guest cart", func() bool {
			gc, err := e.cart.Get(e.guest, cart.CartRequest{CartID: g.ID})
			return err == nil && line(t, gc, mug.ID, "").UnitPrice == newPrice
		})
		// The customer acts on the line: the flag clears.
		c, err = e.cart.UpdateItem(ctx, cart.UpdateItemRequest{ProductID: mug.ID, Quantity: 3})
		if err != nil || line(t, c, mug.ID, "").PriceChanged || line(t, c, mug.ID, "").PreviousPrice != nil {
			t.Fatalf("after update: %+v, %v", c, err)
		}

		// A variant's own price change reaches its line.
		if _, err := e.products.Update(e.auth.Admin, product.UpdateRequest{ID: shirt.ID, VariantPrices: &[]product.VariantPrice{
			{Options: map[string]string{"size": "l"}, Price: shop.Money{Amount: 1900, Currency: "EUR"}},
		}}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the shirt's new price reaches the cart", func() bool {
			return line(t, get(), shirt.ID, l.ID).UnitPrice.Amount == 1900
		})

		// Unpublished: unavailable and out of the totals; back: available.
		if _, err := e.products.Unpublish(e.auth.Admin, product.GetRequest{ID: tea.ID}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "unpublished tea is unavailable", func() bool {
			c = get()
			return line(t, c, tea.ID, "").Unavailable
		})
		if c.Totals["EUR"] != 3*1400+1900 {
			t.Fatalf("totals with unavailable tea %v", c.Totals)
		}
		_, err = e.cart.AddItem(ctx, cart.AddItemRequest{ProductID: tea.ID, Quantity: 1})
		wantCode(t, err, transport.CodeNotFound)
		if _, err := e.products.Publish(e.auth.Admin, product.GetRequest{ID: tea.ID}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "republished tea is available", func() bool { return !line(t, get(), tea.ID, "").Unavailable })

		// Deleted: unavailable.
		if _, err := e.products.Delete(e.auth.Admin, product.GetRequest{ID: mug.ID}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the deleted mug is unavailable", func() bool {
			c = get()
			return line(t, c, mug.ID, "").Unavailable
		})
		if c.Totals["EUR"] != 499+1900 {
			t.Fatalf("totals after delete %v", c.Totals)
		}
		// Events never extend a guest cart's life.
		gc, err := e.cart.Get(e.guest, cart.CartRequest{CartID: g.ID})
		if err != nil || !gc.ExpiresAt.Equal(g.ExpiresAt) {
			t.Fatalf("guest cart expiry moved: %v -> %v (%v)", g.ExpiresAt, gc.ExpiresAt, err)
		}
	})
}

func TestProductEventsAreIdempotent(t *testing.T) {
	bus := bustest.New(t, "inproc")
	e := start(t, bus, cart.Options{})
	mug := e.product(t, "Mug", 1250)
	ctx := e.auth.Customer
	if _, err := e.cart.AddItem(ctx, cart.AddItemRequest{ProductID: mug.ID, Quantity: 1}); err != nil {
		t.Fatal(err)
	}
	snap := mug.Snapshot()
	event := func(version, cents int64, status string) transport.Event {
		s := snap
		s.Version, s.Price.Amount, s.Status = version, cents, status
		body, _ := json.Marshal(shop.ProductChanged{Product: s})
		return transport.Event{ID: fmt.Sprint("ev-", version), Key: shop.EventProductUpdated, Body: body}
	}
	bg := context.Background()
	v := mug.Version
	if err := e.srv.HandleEvent(bg, event(v+2, 2000, shop.StatusPublished)); err != nil {
		t.Fatal(err)
	}
	before, _ := e.cart.Get(ctx, cart.CartRequest{})
	// A repeat and an older event change nothing.
	for _, ev := range []transport.Event{event(v+2, 2000, shop.StatusPublished), event(v+1, 1800, shop.StatusDraft), event(v, 1, shop.StatusPublished)} {
		if err := e.srv.HandleEvent(bg, ev); err != nil {
			t.Fatal(err)
		}
	}
	after, _ := e.cart.Get(ctx, cart.CartRequest{})
	l := line(t, after, mug.ID, "")
	if after.Version != before.Version || l.UnitPrice.Amount != 2000 || l.Unavailable || l.PreviousPrice.Amount != 1250 {
		t.Fatalf("before %+v\nafter %+v", before, after)
	}
	// Back to the price the customer saw: no longer flagged.
	if err := e.srv.HandleEvent(bg, event(v+3, 1250, shop.StatusPublished)); err != nil {
		t.Fatal(err)
	}
	after, _ = e.cart.Get(ctx, cart.CartRequest{})
	if l := line(t, after, mug.ID, ""); l.PriceChanged || l.PreviousPrice != nil || l.UnitPrice.Amount != 1250 {
		t.Fatalf("line back at its old price %+v", l)
	}
}

func TestMalformedEventsAreParked(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		e := start(t, bus, cart.Options{})
		mug := e.product(t, "Mug", 1250)
		if _, err := e.cart.AddItem(e.auth.Customer, cart.AddItemRequest{ProductID: mug.ID, Quantity: 1}); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		// The bus accepts only JSON bodies; these are JSON of the wrong shape.
		for _, body := range []string{`[1, 2]`, `{"product": {"id": ""}}`, `{"product": "x"}`} {
			if err := bus.Publish(ctx, transport.Event{Key: shop.EventProductUpdated, Body: []byte(body)}); err != nil {
				t.Fatal(err)
			}
		}
		var parked []transport.Event
		eventually(t, "three malformed events are parked", func() bool {
			evs, err := bus.DrainDeadLetters(ctx, cart.ServiceName)
			if err != nil {
				t.Fatal(err)
			}
			parked = append(parked, evs...)
			return len(parked) >= 3
		})
		if len(parked) != 3 {
			t.Fatalf("%d events parked, want 3", len(parked))
		}
		// The subscription still works.
		price := shop.Money{Amount: 990, Currency: "EUR"}
		if _, err := e.products.Update(e.auth.Admin, product.UpdateRequest{ID: mug.ID, Price: &price}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "a good event after the bad ones is applied", func() bool {
			c, err := e.cart.Get(e.auth.Customer, cart.CartRequest{})
			return err == nil && line(t, c, mug.ID, "").UnitPrice == price
		})
	})
}

func TestGuestCartExpiry(t *testing.T) {
	bus := bustest.New(t, "inproc")
	e := start(t, bus, cart.Options{GuestCartTTL: time.Hour})
	mug := e.product(t, "Mug", 1250)
	g, err := e.cart.AddItem(e.guest, cart.AddItemRequest{ProductID: mug.ID, Quantity: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.cart.AddItem(e.auth.Customer, cart.AddItemRequest{ProductID: mug.ID, Quantity: 1}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(50 * time.Minute)
	// A change extends the guest cart's life.
	if _, err := e.cart.AddItem(e.guest, cart.AddItemRequest{CartID: g.ID, ProductID: mug.ID, Quantity: 1}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(50 * time.Minute)
	if _, err := e.cart.Get(e.guest, cart.CartRequest{CartID: g.ID}); err != nil {
		t.Fatalf("guest cart 50 minutes after a change: %v", err)
	}
	e.clock.Advance(10 * time.Minute)
	_, err = e.cart.Get(e.guest, cart.CartRequest{CartID: g.ID})
	wantCode(t, err, transport.CodeNotFound)
	_, err = e.cart.AddItem(e.guest, cart.AddItemRequest{CartID: g.ID, ProductID: mug.ID, Quantity: 1})
	wantCode(t, err, transport.CodeNotFound)
	_, err = e.cart.Merge(e.auth.Customer, cart.MergeRequest{GuestCartID: g.ID})
	wantCode(t, err, transport.CodeNotFound)

	n, err := e.srv.CleanupExpired(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("CleanupExpired = %d, %v; want 1", n, err)
	}
	// A multi-document write the driver does not retry after a failover:
	// repeating it is harmless.
	if n, err := e.srv.CleanupExpired(context.Background()); err != nil || n != 0 {
		t.Fatalf("CleanupExpired again = %d, %v; want 0", n, err)
	}
	// User carts never expire.
	c, err := e.cart.Get(e.auth.Customer, cart.CartRequest{})
	if err != nil || len(c.Lines) != 1 {
		t.Fatalf("user cart after cleanup: %+v, %v", c, err)
	}
}

func TestMaxLines(t *testing.T) {
	bus := bustest.New(t, "inproc")
	e := start(t, bus, cart.Options{MaxLines: 2, MaxQuantity: 5})
	a, b, c := e.product(t, "A", 1), e.product(t, "B", 2), e.product(t, "C", 3)
	ctx := e.auth.Customer
	for _, id := range []string{a.ID, b.ID} {
		if _, err := e.cart.AddItem(ctx, cart.AddItemRequest{ProductID: id, Quantity: 1}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.cart.AddItem(ctx, cart.AddItemRequest{ProductID: c.ID, Quantity: 1})
	wantCode(t, err, transport.CodeConflict)
	// Existing lines still grow, to the configured cap.
	got, err := e.cart.AddItem(ctx, cart.AddItemRequest{ProductID: a.ID, Quantity: 5})
	if err != nil || line(t, got, a.ID, "").Quantity != 5 {
		t.Fatalf("add to a full cart's line: %+v, %v", got, err)
	}
	_, err = e.cart.AddItem(ctx, cart.AddItemRequest{ProductID: a.ID, Quantity: 6})
	wantCode(t, err, transport.CodeInvalid)
}

func TestNewRejectsMissingDependencies(t *testing.T) {
	db := testenv.MongoDB(t, t.Name())
	bus := bustest.New(t, "inproc")
	for _, o := range []cart.Options{
		{},
		{Auth: auth.NewClient(bus)},
		{Products: product.NewClient(bus)},
		{Auth: auth.NewClient(bus), Products: product.NewClient(bus), MaxQuantity: -1},
		// Totals could overflow int64.
		{Auth: auth.NewClient(bus), Products: product.NewClient(bus), MaxQuantity: 1 << 40, MaxLines: 1 << 40},
	} {
		if _, err := cart.New(db, o); !errors.Is(err, shop.ErrInvalid) {
			t.Errorf("New(%+v) = %v, want invalid", o, err)
		}
	}
}
