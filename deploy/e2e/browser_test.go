package e2e

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// artifactDir is where the browser test keeps its screenshots:
// $SHOP_ARTIFACTS, or artifacts/ next to this file (ignored by git).
func artifactDir(t *testing.T) string {
	dir := os.Getenv("SHOP_ARTIFACTS")
	if dir == "" {
		dir = "artifacts"
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// tab is a headless Chromium tab on the storefront.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string
}

// do runs actions, failing the test with what it was doing.
func (b *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("browser, %s: %v (at %s)", what, err, b.location())
	}
}

// text returns the visible text of the first element matching sel.
func (b *tab) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("browser: text of %s: %v (at %s)", sel, err, b.location())
	}
	return strings.TrimSpace(s)
}

// attr returns an attribute of the first element matching sel.
func (b *tab) attr(sel, name string) string {
	b.t.Helper()
	a, err := chromedp.Run(b.ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
	if err != nil || !a.Exists {
		b.t.Fatalf("browser: attribute %s of %s: %v (at %s)", name, sel, err, b.location())
	}
	return a.Value
}

// count returns how many elements match sel now, without waiting.
func (b *tab) count(sel string) int {
	b.t.Helper()
	nodes, err := chromedp.Run(b.ctx, chromedp.Nodes(chromedp.CSSAll(sel), chromedp.AtLeast(0)))
	if err != nil {
		b.t.Fatalf("browser: nodes %s: %v", sel, err)
	}
	return len(nodes)
}

// location returns the current URL's path and query.
func (b *tab) location() string {
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		return "?"
	}
	if u, err := url.Parse(loc); err == nil {
		return u.RequestURI()
	}
	return loc
}

// follow clicks sel and waits until the browser is at a path and query
// for which at is true, then for ready to be in that page.
func (b *tab) follow(what, sel string, at func(string) bool, ready string) {
	b.t.Helper()
	b.do(what, chromedp.Click(chromedp.CSS(sel)))
	b.waitAt(what, at, ready)
}

// waitAt waits until the browser is at a path and query for which at is
// true, then for ready to be in that page.
func (b *tab) waitAt(what string, at func(string) bool, ready string) {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !at(b.location()) {
		if time.Now().After(deadline) {
			b.t.Fatalf("browser, %s: still at %s", what, b.location())
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.do(what, chromedp.WaitReady(chromedp.CSS(ready)))
}

// browse drives the storefront's HTML pages in a real, headless Chromium,
// as a shopper does with a mouse and a keyboard: register, log out and in
// again, open a category from the navigation, narrow it with a facet
// link, open a product, pick a variant by its options, add it to the cart
// with the page's form and find it in the cart, whose screenshot it keeps
// (artifactDir). Pages work without JavaScript: the storefront's CSP
// forbids scripts, so every step is a link or a form.
func browse(t *testing.T, base, category, email, password string) {
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed (scripts/test.sh installs it): ", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900),
		// The sample products' images live on the internet, which a test
		// machine may not reach: fail those lookups at once instead of
		// letting page loads wait for them.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	browser, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	// The first Run starts the browser; its context must not time out.
	// (Pages are rendered on the server, so waiting for an element to be in
	// the document is enough: WaitReady.)
	if err := chromedp.Do(browser, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(browser, 4*time.Minute)
	defer cancelTimeout()
	b := &tab{t: t, ctx: ctx, base: base}
	is := same

	// Register with the form: the shop logs the new account in.
	b.do("opening the registration form",
		chromedp.Navigate(base+"/register"),
		chromedp.WaitReady(chromedp.CSS(`form.account-form`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), email),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password))
	b.follow("registering", `form.account-form button`, is("/"), `header .user`)
	if user := b.text(`header .user`); user != email {
		t.Fatalf("after registering the header shows %q", user)
	}

	// Log out, then log in with the login form.
	b.follow("logging out", `form.logout button`, is("/"), `header a[href^="/login"]`)
	if header := b.text(`header`); !strings.Contains(header, "Log in") || strings.Contains(header, email) {
		t.Fatalf("still logged in after logging out: %q", header)
	}
	b.follow("opening the login form", `header a[href^="/login"]`, func(p string) bool { return strings.HasPrefix(p, "/login") }, `form.account-form`)
	b.do("filling in the login form",
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), email),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password))
	b.follow("logging in", `form.account-form button`, is("/"), `header .user`)
	if user := b.text(`header .user`); user != email {
		t.Fatalf("after logging in the header shows %q", user)
	}

	// Open the category from the navigation; narrow it with the first
	// value of the first facet, a plain link with its count beside it.
	b.follow("opening the category", `header nav a[href="/`+category+`"]`, is("/"+category), `ul.facet a`)
	all := b.text(`p.total`)
	facet := b.attr(`ul.facet a`, "href")
	promised := b.text(`ul.facet li .count`)
	b.follow("applying a facet", `ul.facet a`, is(facet), `ul.facet a[aria-current="true"]`)
	total := b.text(`p.total`)
	if !strings.HasPrefix(total, promised+" product") {
		t.Fatalf("facet %s promised %s products; the page says %q (before: %q)", facet, promised, total, all)
	}

	// Open the products of the narrowed list until one has variants.
	cards := b.count(`ul.grid li.card`)
	var title string
	for i := 1; i <= cards && title == ""; i++ {
		card := `ul.grid li.card:nth-child(` + strconv.Itoa(i) + `) a`
		href := b.attr(card, "href")
		b.follow("opening a product", card+` .title`, is(href), `form.add button`)
		if b.count(`.variants .option a`) > 0 {
			title = b.text(`article.product h1`)
			break
		}
		b.do("going back to the list", chromedp.NavigateBack())
		b.waitAt("going back to the list", is(facet), `ul.grid li.card`)
	}
	if title == "" {
		t.Fatalf("none of the %d products of %s has variants", cards, facet)
	}
	product := b.location()

	// Pick another variant, one in stock: a link to the product with that
	// variant (the seeded shop has sold-out variants, whose page shows a
	// disabled button).
	before := b.text(`.variant-label`)
	var chosen, target string
	for _, href := range b.hrefs(`.variants .option a:not(.selected)`) {
		b.follow("picking a variant", `.variants .option a[href="`+href+`"]`, is(href), `form.add button`)
		if b.count(`form.add button[disabled]`) == 0 {
			target = href
			break
		}
		if !strings.Contains(b.text(`p.stock`), "Sold out") {
			t.Fatalf("%s: the button is disabled but the stock line says %q", href, b.text(`p.stock`))
		}
		b.do("going back to the product", chromedp.NavigateBack())
		b.waitAt("going back to the product", is(product), `form.add button`)
	}
	if target == "" {
		t.Fatalf("every other variant of %s is sold out", product)
	}
	chosen = b.text(`.variant-label`)
	u, _ := url.Parse(target)
	if chosen == before || b.attr(`form.add input[name=variant_id]`, "value") != u.Query().Get("variant") {
		t.Fatalf("picking %s: variant %q (was %q), form adds %s", target, chosen, before, b.attr(`form.add input[name=variant_id]`, "value"))
	}
	if stock := b.text(`p.stock`); stock != "In stock" && !strings.HasPrefix(stock, "Only ") {
		t.Fatalf("%s: the stock line says %q", target, stock)
	}
	price := b.text(`article.product .price`)

	// Add it to the cart with the form: the cart shows the line.
	b.follow("adding to the cart", `form.add button`, is("/cart"), `table.cart tbody tr`)
	line := b.text(`table.cart tbody`)
	if !strings.Contains(line, title) || !strings.Contains(line, chosen) || !strings.Contains(line, price) {
		t.Fatalf("the cart %q lacks %q, %q at %s", line, title, chosen, price)
	}
	if b.count(`table.cart tbody tr`) != 1 || !strings.Contains(b.text(`table.cart tfoot`), price) {
		t.Fatalf("cart: %d lines, total %q, want one line of %s", b.count(`table.cart tbody tr`), b.text(`table.cart tfoot`), price)
	}

	b.screenshot("cart.png")
	t.Logf("browser: registered, logged out and in, opened %s, applied %s, opened %s, picked %q, added it: the cart holds %q at %s",
		category, facet, product, chosen, title, price)

	// Check out: address and shipping, the review with its totals, then
	// the order, paid, on its confirmation page and in "My orders".
	b.follow("going to the checkout", `p.to-checkout a`, is("/checkout"), `form.checkout-form`)
	if got := b.value(`input[name=email]`); got != email {
		t.Fatalf("the checkout's e-mail is %q, want the account's %q", got, email)
	}
	b.do("filling in the address",
		chromedp.SendKeys(chromedp.CSS(`input[name=name]`), "Ada Lovelace"),
		chromedp.SendKeys(chromedp.CSS(`input[name=line1]`), "Hauptstraße 1"),
		chromedp.SendKeys(chromedp.CSS(`input[name=postal_code]`), "10115"),
		chromedp.SendKeys(chromedp.CSS(`input[name=city]`), "Berlin"),
		chromedp.SetValue(chromedp.CSS(`select[name=country]`), "DE"))
	b.follow("reviewing the order", `form.checkout-form button`, is("/checkout/review"), `form.place button`)
	review := b.text(`table.review`)
	grand := b.text(`table.review td.grand-total`)
	if !strings.Contains(review, title) || !strings.Contains(review, price) || !strings.Contains(b.text(`section.ship-to`), "Berlin") {
		t.Fatalf("the review %q lacks %q at %s, or the address", review, title, price)
	}
	b.follow("placing the order", `form.place button`, func(p string) bool { return strings.HasPrefix(p, "/orders/") }, `strong.order-id`)
	confirmation := b.location()
	id := b.text(`strong.order-id`)
	for deadline := time.Now().Add(time.Minute); b.text(`strong.status`) == "pending" && time.Now().Before(deadline); {
		time.Sleep(time.Second)
		b.do("reloading the order", chromedp.Reload())
		b.waitAt("reloading the order", is(confirmation), `strong.status`)
	}
	if h1, status := b.text(`h1`), b.text(`strong.status`); h1 != "Thank you for your order" || status != "paid" {
		t.Fatalf("order %s: %q, status %q (%s)", id, h1, status, b.text(`main`))
	}
	if got := b.text(`table.order-lines td.grand-total`); got != grand || !strings.Contains(b.text(`table.order-lines`), title) {
		t.Fatalf("order %s totals %q, the review said %q", id, got, grand)
	}
	b.screenshot("order.png")
	b.follow("opening my orders", `header a.my-orders`, is("/orders"), `table.orders`)
	if b.count(`a.order-link[href="/orders/`+id+`"]`) != 1 {
		t.Fatalf("my orders does not list %s: %q", id, b.text(`table.orders`))
	}
	t.Logf("browser: checked out: order %s, paid, %s", id, grand)
}

// hrefs returns the href of every element matching sel now.
func (b *tab) hrefs(sel string) []string {
	b.t.Helper()
	nodes, err := chromedp.Run(b.ctx, chromedp.Nodes(chromedp.CSSAll(sel), chromedp.AtLeast(0)))
	if err != nil {
		b.t.Fatalf("browser: nodes %s: %v", sel, err)
	}
	var out []string
	for _, n := range nodes {
		out = append(out, n.AttributeValue("href"))
	}
	return out
}

// value returns the value of the form field sel.
func (b *tab) value(sel string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("browser: value of %s: %v (at %s)", sel, err, b.location())
	}
	return v
}

// screenshot keeps a screenshot of the whole page in artifactDir.
func (b *tab) screenshot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	file := filepath.Join(artifactDir(b.t), name)
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("browser: screenshot %s (%d bytes)", file, len(png))
}

// same returns a test of a location: the path and query of target
// (queries compared decoded).
func same(target string) func(string) bool {
	want, err := url.Parse(target)
	return func(loc string) bool {
		got, err2 := url.Parse(loc)
		return err == nil && err2 == nil && got.Path == want.Path && got.Query().Encode() == want.Query().Encode()
	}
}
