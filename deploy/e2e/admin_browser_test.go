package e2e

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/testcontainers/testcontainers-go"
)

// The admin account topology's stack creates (SHOP_ADMIN_EMAIL and
// SHOP_ADMIN_PASSWORD in topology).
const (
	e2eAdminEmail    = "admin@e2e.test"
	e2eAdminPassword = "e2e-admin-password"
)

// TestAdminJourney brings the standard topology up and drives the admin
// console in a real browser (adminJourney): a product made from nothing
// but the console's forms appears in the shop with its picture, variants
// and prices.
func TestAdminJourney(t *testing.T) {
	testcontainers.SkipIfProviderIsNotHealthy(t)
	buildImages(t)
	_, base := topology(t)
	t.Logf("storefront at %s", base)
	adminJourney(t, base, e2eAdminEmail, e2eAdminPassword)
}

// newTab starts a headless Chromium on the storefront at base, as browse
// does; the browser goes at the end of the test.
func newTab(t *testing.T, base string) *tab {
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed (scripts/test.sh installs it): ", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900),
		// Fail lookups of other hosts at once (see browse).
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	browser, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	if err := chromedp.Do(browser, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(browser, 5*time.Minute)
	t.Cleanup(cancelTimeout)
	return &tab{t: t, ctx: ctx, base: base}
}

// samplePNG writes a small PNG (a two-colour picture) to a temporary file
// and returns its path.
func samplePNG(t *testing.T) string {
	img := image.NewRGBA(image.Rect(0, 0, 120, 90))
	for y := range 90 {
		for x := range 120 {
			c := color.RGBA{R: 30, G: 90, B: 160, A: 255}
			if (x/15+y/15)%2 == 0 {
				c = color.RGBA{R: 240, G: 200, B: 60, A: 255}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "hat.png")
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// adminJourney drives the admin console in a real, headless Chromium,
// with the pages' own links and forms: log in as the admin, create a
// category and two option groups with their values, create a product in
// that category, choose both groups on its variants page (four variants),
// give one variant a price of its own and units on hand, upload a
// picture, publish; then,
// logged out, as a shopper: the product's page shows its title, price,
// picture (served under /media/) and variant links, and the variant with
// its own price costs that and can be bought; the category lists the
// product.
func adminJourney(t *testing.T, base, email, password string) {
	b := newTab(t, base)
	is := same
	under := func(prefix string) func(string) bool {
		return func(p string) bool { return strings.HasPrefix(p, prefix) }
	}
	const (
		title    = "Console Hat"
		price    = "24.90"
		ownPrice = "29.90"
	)

	// The console sends a guest to log in, and back.
	b.do("opening the console", chromedp.Navigate(base+"/admin"))
	b.waitAt("opening the console", under("/login"), `form.account-form`)
	b.do("filling in the login form",
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), email),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password))
	b.follow("logging in", `form.account-form button`, is("/admin"), `ul.admin-sections`)
	if h1 := b.text(`h1`); h1 != "Dashboard" {
		t.Fatalf("the console after logging in shows %q", h1)
	}

	// A category.
	b.follow("opening the new category form", `ul.admin-sections a[href="/admin/categories/new"]`, is("/admin/categories/new"), `form.category-form`)
	b.do("filling in the category", chromedp.SetValue(chromedp.CSS(`form.category-form input[name=name]`), "Console Hats"),
		chromedp.SetValue(chromedp.CSS(`form.category-form textarea[name=description]`), "Made in the admin console."))
	b.follow("creating the category", `form.category-form button`, func(p string) bool {
		return strings.HasPrefix(p, "/admin/categories/") && strings.Contains(p, "done=category_created")
	}, `p.category-meta`)
	categoryID := strings.TrimPrefix(strings.SplitN(b.location(), "?", 2)[0], "/admin/categories/")
	categorySlug := b.text(`p.category-meta code`)

	// Two option groups with their values.
	for _, g := range []struct{ code, name, values string }{
		{"e2e_size", "Hat size", "s Small\nl Large"},
		{"e2e_colour", "Hat colour", "grey Grey\nnavy Navy"},
	} {
		b.do("opening the option groups", chromedp.Navigate(base+"/admin/options"))
		b.waitAt("opening the option groups", is("/admin/options"), `a[href="/admin/options/new"]`)
		b.follow("opening the new option group form", `a[href="/admin/options/new"]`, is("/admin/options/new"), `form.option-form`)
		b.do("filling in option group "+g.code,
			chromedp.SetValue(chromedp.CSS(`form.option-form input[name=code]`), g.code),
			chromedp.SetValue(chromedp.CSS(`form.option-form input[name=name]`), g.name),
			chromedp.SetValue(chromedp.CSS(`form.option-form textarea[name=values]`), g.values))
		b.follow("creating option group "+g.code, `form.option-form button`, is("/admin/options/"+g.code+"?done=option_created"), `table.option-values`)
		if n := b.count(`tr.option-value`); n != 2 {
			t.Fatalf("option group %s has %d values, want 2", g.code, n)
		}
	}

	// The product, in the category.
	b.do("opening the products", chromedp.Navigate(base+"/admin"))
	b.waitAt("opening the dashboard", is("/admin"), `ul.admin-sections`)
	b.follow("opening the new product form", `ul.admin-sections a[href="/admin/products/new"]`, is("/admin/products/new"), `form.product-form`)
	b.do("filling in the product",
		chromedp.SetValue(chromedp.CSS(`form.product-form input[name=title]`), title),
		chromedp.SetValue(chromedp.CSS(`form.product-form textarea[name=description]`), "A hat made in the console."),
		chromedp.SetValue(chromedp.CSS(`form.product-form input[name=price]`), price),
		chromedp.Click(chromedp.CSS(`form.product-form input[name=category_ids][value="`+categoryID+`"]`)))
	b.follow("creating the product", `form.product-form button`, func(p string) bool {
		return strings.HasPrefix(p, "/admin/products/") && strings.HasSuffix(p, "?done=created")
	}, `p.variants-link a`)
	productPath := strings.SplitN(b.location(), "?", 2)[0]
	slug := strings.TrimPrefix(b.text(`p.product-meta code`), "/")

	// Its variants: both groups, size first; then one variant's own price.
	variants := productPath + "/variants"
	b.follow("opening the variants", `p.variants-link a`, is(variants), `form.variants-form`)
	b.do("choosing the option groups",
		chromedp.Click(chromedp.CSS(`fieldset[data-group=e2e_size] input[name=group]`)),
		chromedp.SetValue(chromedp.CSS(`input[name="position.e2e_size"]`), "1"),
		chromedp.Click(chromedp.CSS(`fieldset[data-group=e2e_colour] input[name=group]`)),
		chromedp.SetValue(chromedp.CSS(`input[name="position.e2e_colour"]`), "2"))
	b.follow("generating the variants", `form.variants-form button`, is(variants+"?done=saved"), `tr.variant-row`)
	if n := b.count(`tr.variant-row`); n != 4 {
		t.Fatalf("%d variants, want 4: %s", n, b.text(`main`))
	}
	navy := `tr.variant-row[data-sku$="-L-NAVY"]`
	if label := b.text(navy + ` .variant-label`); label != "Hat size: Large, Hat colour: Navy" {
		t.Fatalf("the large navy variant is labelled %q", label)
	}
	// Open the page afresh (without ?done=saved), so that the redirect
	// after saving the prices is a change of location to wait for: the
	// old page must not be read as the new one.
	b.do("opening the variants again", chromedp.Navigate(b.base+variants))
	b.waitAt("opening the variants again", is(variants), `tr.variant-row`)
	b.do("typing a variant's price", chromedp.SetValue(chromedp.CSS(navy+` input[type=text]`), ownPrice))
	b.follow("saving the prices", `form.variant-prices-form button`, is(variants+"?done=saved"), `tr.variant-row`)
	if now := b.text(navy + ` .price-now`); !strings.Contains(now, ownPrice) || !strings.Contains(now, "own price") {
		t.Fatalf("the large navy variant costs %q, want its own %s", now, ownPrice)
	}
	b.screenshot("admin-variants.png")

	// A picture, uploaded with the product page's form; then publish.
	b.follow("going back to the product", `.admin-actions a[href="`+productPath+`"]`, is(productPath), `form.product-form`)
	b.do("choosing a picture", chromedp.SetUploadFiles(chromedp.CSS(`form.upload-form input[type=file]`), []string{samplePNG(t)}))
	b.follow("uploading the picture", `form.upload-form button`, is(productPath+"?done=image_added"), `.admin-image img`)
	if n := b.count(`.admin-image`); n != 1 {
		t.Fatalf("the product has %d images after the upload: %s", n, b.text(`main`))
	}
	// Units of the large navy variant, with the product page's stock form.
	navyStock := `form.stock-form:has(input[name=sku][value$="-L-NAVY"])`
	b.do("typing the large navy variant's stock", chromedp.SetValue(chromedp.CSS(navyStock+` input[name=on_hand]`), "5"))
	b.follow("setting the stock", navyStock+` button`, is(productPath+"?done=stock"), `tr.stock-row`)
	b.follow("publishing", `.admin-actions form[action$="/publish"] button`, is(productPath+"?done=published"), `a.view`)
	b.screenshot("admin-product.png")
	// Its History: the publish on top, by this admin; the create at the
	// bottom; the variants, prices and picture in between.
	if got := b.text(`section.history tr.change td.action`); got != "product.publish" {
		t.Fatalf("the newest change in the product's History is %q, want product.publish: %s", got, b.text(`section.history`))
	}
	if who := b.text(`section.history tr.change td.who`); who != email {
		t.Fatalf("the History names %q, want %s", who, email)
	}
	if n := b.count(`section.history tr.change`); n < 5 {
		t.Fatalf("the History lists %d changes, want at least 5 (create, variants, prices, picture, publish): %s", n, b.text(`section.history`))
	}
	if last := b.text(`section.history tr.change:last-child td.action`); last != "product.create" {
		t.Fatalf("the oldest change in the History is %q, want product.create", last)
	}
	t.Logf("browser: admin created category %s, option groups e2e_size and e2e_colour, product %s (/%s) with 4 variants, one at %s, a picture; published",
		categorySlug, productPath, slug, ownPrice)

	// As a shopper (logged out): the product's page.
	b.follow("logging out", `form.logout button`, is("/"), `header a[href^="/login"]`)
	b.do("opening the product", chromedp.Navigate(base+"/"+slug))
	b.waitAt("opening the product", is("/"+slug), `article.product h1`)
	if h1 := b.text(`article.product h1`); h1 != title {
		t.Fatalf("the shop's product page shows %q, want %q", h1, title)
	}
	if got := b.text(`article.product .price`); !strings.Contains(got, price) {
		t.Fatalf("the shop's product page shows the price %q, want %s", got, price)
	}
	if n := b.count(`.variants .option a`); n != 4 {
		t.Fatalf("the shop's product page has %d variant links, want 4 (2 sizes, 2 colours)", n)
	}
	src := b.attr(`article.product img.hero`, "src")
	if !strings.HasPrefix(src, "/media/") {
		t.Fatalf("the product's picture is %q, want a /media/ path", src)
	}
	resp, err := http.Get(base + src)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "image/") {
		t.Fatalf("GET %s: %d %s", src, resp.StatusCode, ct)
	}
	// Large, then navy: the variant with its own price.
	for _, group := range []string{"e2e_size", "e2e_colour"} {
		href := b.attr(`.variants .option[data-group=`+group+`] a:not(.selected)`, "href")
		b.follow("picking another "+group, `.variants .option[data-group=`+group+`] a[href="`+href+`"]`, is(href), `article.product .price`)
	}
	if label := b.text(`.variant-label`); !strings.Contains(label, "Large") || !strings.Contains(label, "Navy") {
		t.Fatalf("picked %q, want the large navy variant", label)
	}
	if got := b.text(`article.product .price`); !strings.Contains(got, ownPrice) {
		t.Fatalf("the large navy variant costs %q in the shop, want %s", got, ownPrice)
	}
	if stock := b.text(`p.stock`); !strings.HasPrefix(stock, "Only 5 left") && stock != "In stock" || b.count(`form.add button[disabled]`) != 0 {
		t.Fatalf("the large navy variant, 5 units on hand, shows %q", stock)
	}
	b.screenshot("shop-admin-product.png")

	// The category lists it (once the filter has the event).
	deadline := time.Now().Add(time.Minute)
	for {
		b.do("opening the category", chromedp.Navigate(base+categorySlug))
		b.waitAt("opening the category", is(categorySlug), `main`)
		if b.count(`ul.grid li.card`) > 0 && strings.Contains(b.text(`ul.grid`), title) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the category %s does not list %q: %s", categorySlug, title, b.text(`main`))
		}
		time.Sleep(time.Second)
	}
	t.Logf("browser: the shop shows %s at %s with its picture %s, 4 variant links, large navy at %s; listed in %s",
		title, price, src, ownPrice, categorySlug)
}
