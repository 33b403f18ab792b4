package storefront_test

import (
	"context"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/option"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/storefront"
)

// variantPriceFields maps the SKUs of a variants page's price table to
// the names of their price fields.
func variantPriceFields(t *testing.T, page string) map[string]string {
	t.Helper()
	re := regexp.MustCompile(`(?s)<tr class="variant-row" data-sku="([^"]+)">.*?<input type="text" name="(price\.\d+)"`)
	out := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(page, -1) {
		out[m[1]] = m[2]
	}
	return out
}

// TestAdminVariants, on both buses: the admin chooses two option groups
// on a product's variants page (in SKU order by position, one value of
// one group left out, a base SKU), and the product service has the
// variants the page then shows, labelled with the groups' names and the
// values' labels; a per-variant price is saved (once, when the form is
// posted twice) and read back; an invalid price is shown next to its
// field and changes nothing, as do prices typed for variants that have
// changed since; an unknown group and too many variants are the option
// service's field errors, not a 500; regenerating keeps a surviving
// variant's own price; a customer gets 403 and a form without the CSRF
// token is refused; "Remove all variants" needs its confirmation.
func TestAdminVariants(t *testing.T) {
	eachShop(t, storefront.Options{}, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		_, err := option.NewClient(f.bus).CreateGroup(f.admin, option.CreateGroupRequest{Code: "colour", Name: "Colour",
			Values: []option.Value{{Code: "red", Label: "Red"}, {Code: "blue", Label: "Blue"}, {Code: "green", Label: "Green"}}})
		if err != nil {
			t.Fatal(err)
		}
		p, err := product.NewClient(f.bus).Create(f.admin, product.CreateRequest{Title: "Variant Tee", SKU: "TEE-1", Price: eur(2000)})
		if err != nil {
			t.Fatal(err)
		}
		path := "/admin/products/" + p.ID + "/variants"
		admin := adminBrowser(t, f)

		// The product page links to the variants page, which offers
		// every option group with its values, all ticked.
		if _, html := admin.page("/admin/products/" + p.ID); !strings.Contains(html, `href="`+path+`"`) {
			t.Errorf("the product page has no link to its variants page")
		}
		code, html := admin.page(path)
		if code != 200 {
			t.Fatalf("GET %s: %d\n%s", path, code, html)
		}
		for _, want := range []string{`data-group="size"`, `data-group="colour"`, `name="value.colour" value="green" checked`,
			`name="sku" value="TEE-1"`, "This product has no variants."} {
			if !strings.Contains(html, want) {
				t.Errorf("variants page without %q", want)
			}
		}

		// Customers and forms without the token change nothing.
		groupsForm := url.Values{"group": {"colour", "size"}, "position.colour": {"2"}, "position.size": {"1"},
			"value.size": {"s", "m"}, "value.colour": {"red", "blue"}, "sku": {"TEE-2"}}
		cust := customer(t, f, "vera@front.test")
		if code, html := cust.page(path); code != 403 || !strings.Contains(html, "for its staff only") {
			t.Errorf("customer GET %s: %d", path, code)
		}
		for _, action := range []string{path, path + "/prices", path + "/clear"} {
			form := cloneForm(groupsForm)
			form.Set("confirm", "1")
			if code, _, _ := cust.post(action, cust.withToken(form)); code != 403 {
				t.Errorf("customer POST %s: %d", action, code)
			}
			if code, _, body := admin.post(action, form); code != 403 || !strings.Contains(body, "form has expired") {
				t.Errorf("admin POST %s without the token: %d", action, code)
			}
		}
		if got := getProduct(t, f, p.ID); got.Version != p.Version || len(got.Variants) != 0 {
			t.Fatalf("refused posts changed the product: %+v", got)
		}

		// An unknown group: the service's refusal next to the group.
		bad := cloneForm(groupsForm)
		bad["group"] = append(bad["group"], "sleeve")
		bad.Set("position.sleeve", "3")
		bad.Set("value.sleeve", "short")
		code, _, html = admin.submit(path, path, nil, bad)
		if code != 400 || !strings.Contains(html, `data-field="group.sleeve"`) || !strings.Contains(html, "unknown option group") {
			t.Errorf("unknown group: %d\n%s", code, html)
		}
		// Too many variants: the option service's limit, above the groups.
		big := url.Values{"sku": {"TEE-1"}}
		for _, g := range []string{"big_a", "big_b", "big_c"} {
			var vals []option.Value
			for i := range 11 {
				vals = append(vals, option.Value{Code: "v" + strconv.Itoa(i), Label: "V" + strconv.Itoa(i)})
				big.Add("value."+g, "v"+strconv.Itoa(i))
			}
			if _, err := option.NewClient(f.bus).CreateGroup(f.admin, option.CreateGroupRequest{Code: g, Name: g, Values: vals}); err != nil {
				t.Fatal(err)
			}
			big.Add("group", g)
		}
		code, _, html = admin.submit(path, path, nil, big)
		if code != 400 || !regexp.MustCompile(`data-field="groups">[^<]*more than \d+ variants`).MatchString(html) {
			t.Errorf("too many variants: %d\n%s", code, html)
		}
		// A chosen group without a value, and no group at all: the page's
		// own checks.
		noValue := cloneForm(groupsForm)
		delete(noValue, "value.colour")
		if code, _, html := admin.submit(path, path, nil, noValue); code != 400 || !strings.Contains(html, `data-field="values.colour"`) {
			t.Errorf("a group without values: %d", code)
		}
		if code, _, html := admin.submit(path, path, nil, url.Values{"sku": {"TEE-1"}}); code != 400 || !strings.Contains(html, `data-field="groups"`) {
			t.Errorf("no group: %d", code)
		}
		if got := getProduct(t, f, p.ID); got.Version != p.Version {
			t.Fatalf("refused forms changed the product: %+v", got)
		}

		// Two groups, size first by position, colour without green.
		code, loc, _ := admin.submit(path, path, nil, groupsForm)
		if code != 303 || loc != path+"?done=saved" {
			t.Fatalf("save the groups: %d %q", code, loc)
		}
		got := getProduct(t, f, p.ID)
		if !slices.Equal(got.OptionGroups, []string{"size", "colour"}) || got.SKU != "TEE-2" ||
			!maps.EqualFunc(got.OptionValues, map[string][]string{"colour": {"red", "blue"}}, slices.Equal[[]string]) {
			t.Fatalf("the product after saving the groups: groups %v values %v sku %s", got.OptionGroups, got.OptionValues, got.SKU)
		}
		var skus []string
		for _, v := range got.Variants {
			skus = append(skus, v.SKU)
			if v.OwnPrice || v.Price != eur(2000) {
				t.Errorf("variant %s: %+v", v.SKU, v)
			}
		}
		if want := []string{"TEE-2-S-RED", "TEE-2-S-BLUE", "TEE-2-M-RED", "TEE-2-M-BLUE"}; !slices.Equal(skus, want) {
			t.Fatalf("variants %v, want %v", skus, want)
		}
		code, html = admin.page(loc)
		if code != 200 || !strings.Contains(html, "Your changes were saved.") {
			t.Fatalf("after saving: %d", code)
		}
		for _, want := range []string{"Size: Medium, Colour: Blue", `name="value.colour" value="green">`, `name="value.colour" value="red" checked`,
			`name="position.colour" value="2"`} {
			if !strings.Contains(html, want) {
				t.Errorf("variants page after saving without %q", want)
			}
		}
		fields := variantPriceFields(t, html)
		if len(fields) != 4 {
			t.Fatalf("price fields %v", fields)
		}

		// An invalid price: shown next to its field; nothing changed.
		code, _, html = admin.submit(path, path+"/prices", nil, url.Values{fields["TEE-2-M-BLUE"]: {"25.5"}, fields["TEE-2-S-RED"]: {"-3"}})
		if code != 400 || !strings.Contains(html, `data-field="`+fields["TEE-2-S-RED"]+`"`) || !strings.Contains(html, "must not be negative") ||
			!strings.Contains(html, `value="25.5"`) {
			t.Errorf("invalid price: %d\n%s", code, html)
		}
		if again := getProduct(t, f, p.ID); again.Version != got.Version {
			t.Fatalf("an invalid price changed the product: %+v", again)
		}

		// One variant's own price; the same form posted twice (a double
		// submit: the same idempotency key) saves it once.
		_, html = admin.page(path)
		priceForm := forms(html, path+"/prices")[0]
		priceForm.Set(fields["TEE-2-M-BLUE"], "25.5")
		for range 2 {
			if code, loc, _ = admin.post(path+"/prices", priceForm); code != 303 || loc != path+"?done=saved" {
				t.Fatalf("save a price: %d %q", code, loc)
			}
		}
		got = getProduct(t, f, p.ID)
		if got.Version != p.Version+2 {
			t.Errorf("after saving the groups and a price twice: version %d, want %d", got.Version, p.Version+2)
		}
		for _, v := range got.Variants {
			own := v.SKU == "TEE-2-M-BLUE"
			if want := map[bool]shop.Money{true: eur(2550), false: eur(2000)}[own]; v.OwnPrice != own || v.Price != want {
				t.Errorf("variant %s after the price: %+v", v.SKU, v)
			}
		}
		if _, html := admin.page(path); !strings.Contains(html, `value="25.50"`) || !strings.Contains(html, "(own price)") {
			t.Errorf("the page does not show the own price")
		}
		// Prices typed for variants that changed since are not applied.
		stale := url.Values{fields["TEE-2-S-RED"]: {"1"}, "variants": {"stale"}}
		if code, _, _ := admin.submit(path, path+"/prices", nil, stale); code != 409 {
			t.Errorf("prices for stale variants: %d", code)
		}
		if again := getProduct(t, f, p.ID); again.Version != got.Version {
			t.Fatalf("stale prices changed the product")
		}

		// Regenerating keeps the own price of a variant that survives: all
		// colours now, green included.
		all := cloneForm(groupsForm)
		all["value.colour"] = []string{"red", "blue", "green"}
		if code, _, _ := admin.submit(path, path, nil, all); code != 303 {
			t.Fatalf("all colours: %d", code)
		}
		got = getProduct(t, f, p.ID)
		if len(got.Variants) != 6 || len(got.OptionValues) != 0 {
			t.Fatalf("all colours: %d variants, values %v", len(got.Variants), got.OptionValues)
		}
		for _, v := range got.Variants {
			if v.OwnPrice != (v.SKU == "TEE-2-M-BLUE") {
				t.Errorf("variant %s after regenerating: %+v", v.SKU, v)
			}
		}

		// Removing every variant needs the confirmation.
		if code, _, html := admin.submit(path, path+"/clear", nil, nil); code != 400 || !strings.Contains(html, `data-field="confirm"`) {
			t.Errorf("clear without confirming: %d", code)
		}
		if code, _, _ := admin.submit(path, path+"/clear", nil, url.Values{"confirm": {"1"}}); code != 303 {
			t.Errorf("clear: %d", code)
		}
		got, err = product.NewClient(f.bus).Get(ctx, product.GetRequest{ID: p.ID})
		if err != nil || len(got.Variants) != 0 || len(got.OptionGroups) != 0 {
			t.Fatalf("after clearing: %+v %v", got, err)
		}
		if code, _ := admin.page("/admin/products/nope/variants"); code != 404 {
			t.Errorf("variants of an unknown product: %d", code)
		}
	})
}
