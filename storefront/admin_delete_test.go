package storefront_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/storefront"
	"github.com/shopbus/shopbus/transport"
)

// TestAdminDeleteShape: every resource's delete answers a malformed id in
// its path as not found (404), on the confirmation and on the delete
// itself, and a delete the service cannot do shows why, changing nothing:
// the product's own page for a product.
func TestAdminDeleteShape(t *testing.T) {
	f := newShop(t, storefront.Options{})
	admin := adminBrowser(t, f)
	for _, path := range []string{
		"/admin/products/not~an~id/delete",
		"/admin/categories/not~an~id/delete",
		"/admin/articles/not~an~id/delete",
		"/admin/attributes/NOT~A~CODE/delete",
		"/admin/attribute-groups/NOT~A~CODE/delete",
		"/admin/options/NOT~A~CODE/delete",
		"/admin/seo/product/not~an~id/delete",
		"/admin/seo/redirects/delete?from=" + url.QueryEscape("no path"),
	} {
		if code, page := admin.page(path); code != 404 {
			t.Errorf("GET %s: %d, want 404\n%.300s", path, code, page)
		}
		if code, _, page := admin.post(path, admin.withToken(url.Values{})); code != 404 {
			t.Errorf("POST %s: %d, want 404\n%.300s", path, code, page)
		}
	}

	// The product service refuses the delete: its page says why, the product stays.
	p := f.products["blue-runner"]
	_, srv, _ := f.newFront(t, storefront.Options{}, func(b transport.Bus) transport.Bus {
		return failMethod{Bus: b, method: product.MethodDelete, code: transport.CodeConflict}
	})
	other := newBrowser(t, srv.URL)
	other.json("POST", "/api/login", map[string]string{"email": adminEmail, "password": adminPassword}, 200, nil)
	path := "/admin/products/" + p.ID
	code, _, page := other.submit(path+"/delete", path+"/delete", nil, nil)
	if code != 409 || !strings.Contains(page, "refused by the test") || !strings.Contains(page, `form action="`+path+`" method="post" class="admin-form product-form"`) {
		t.Fatalf("a failed delete: %d\n%s", code, page)
	}
	if got := getProduct(t, f, p.ID); got.ID != p.ID {
		t.Fatalf("the product went: %+v", got)
	}
}
