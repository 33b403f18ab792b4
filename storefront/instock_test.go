package storefront_test

import (
	"strings"
	"testing"

	"github.com/shopbus/shopbus/storefront"
)

// TestInStockListing narrows a listing to what can be bought now: the
// fixture's Blue Boot has no stock, Trail Runner one size of two.
func TestInStockListing(t *testing.T) {
	f := newShop(t, storefront.Options{})
	b := f.browser(t)
	waitFor(t, "the filter to learn the stock", func() bool {
		_, html := b.page("/shoes?in_stock=1")
		return !strings.Contains(html, "Blue Boot")
	})
	_, html := b.page("/shoes?in_stock=1")
	for _, title := range []string{"Red Runner", "Blue Runner", "Trail Runner"} {
		if !strings.Contains(html, title) {
			t.Errorf("in-stock listing lacks %s", title)
		}
	}
	if !strings.Contains(html, `name="in_stock" value="1" checked`) || !strings.Contains(html, "3 products") {
		t.Errorf("in-stock listing: box or total wrong\n%s", html)
	}
	// Facet links keep the restriction.
	if !strings.Contains(html, "in_stock=1") || strings.Contains(html, `href="/shoes?f=color%3Ablue"`) {
		t.Errorf("facet links drop in_stock\n%s", html)
	}
	// Without it, everything; the box is offered, unchecked.
	_, html = b.page("/shoes")
	if !strings.Contains(html, "Blue Boot") || !strings.Contains(html, `name="in_stock" value="1">`) {
		t.Errorf("full listing\n%s", html)
	}
	if code, _ := b.page("/shoes?in_stock=maybe"); code != 400 {
		t.Errorf("in_stock=maybe: %d, want 400", code)
	}
}
