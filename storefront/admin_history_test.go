package storefront_test

import (
	"cmp"
	"context"
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/storefront"
	"github.com/shopbus/shopbus/transport"
)

// historyRow is one change as a console page's History section shows it.
type historyRow struct {
	who, action, fields string
}

var historyRowRE = regexp.MustCompile(`(?s)<tr class="change">.*?<td class="who">(.*?)</td><td class="action"><code>(.*?)</code></td><td class="fields">(.*?)</td>`)

// historyRows returns the History section's rows of page, newest first,
// and whether the page has the section at all.
func historyRows(page string) ([]historyRow, bool) {
	i := strings.Index(page, `<section class="history" id="history">`)
	if i < 0 {
		return nil, false
	}
	var rows []historyRow
	for _, m := range historyRowRE.FindAllStringSubmatch(page[i:], -1) {
		rows = append(rows, historyRow{html.UnescapeString(m[1]), html.UnescapeString(m[2]), html.UnescapeString(m[3])})
	}
	return rows, true
}

// wantHistory fails t unless page's History section lists want, newest
// first.
func wantHistory(t *testing.T, page string, want ...historyRow) {
	t.Helper()
	got, ok := historyRows(page)
	if !ok {
		t.Fatalf("page has no History section")
	}
	if len(got) != len(want) {
		t.Fatalf("History lists %d changes %v, want %v", len(got), got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("History row %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// failMethod is a bus whose calls of one method fail with code
// (unavailable when zero).
type failMethod struct {
	transport.Bus
	method string
	code   transport.Code
}

func (b failMethod) Call(ctx context.Context, method string, body []byte) ([]byte, error) {
	if method == b.method {
		return nil, transport.Errorf(cmp.Or(b.code, transport.CodeUnavailable), "%s: refused by the test's bus", method)
	}
	return b.Bus.Call(ctx, method, body)
}

// failingAdmin is an admin's browser on another storefront of f whose
// calls of method (a service's history method) fail (see failMethod).
func failingAdmin(t *testing.T, f *fixture, method string) *browser {
	t.Helper()
	_, srv, _ := f.newFront(t, storefront.Options{}, func(b transport.Bus) transport.Bus { return failMethod{Bus: b, method: method} })
	b := newBrowser(t, srv.URL)
	b.json("POST", "/api/login", map[string]string{"email": adminEmail, "password": adminPassword}, 200, nil)
	return b
}

// wantHistoryUnavailable fails t unless the page b gets at path is a 200
// that still shows want (the page's own content) and says that the
// history cannot be shown, without rows.
func wantHistoryUnavailable(t *testing.T, b *browser, path, want string) {
	t.Helper()
	code, page := b.page(path)
	if code != 200 || !strings.Contains(page, "The history cannot be shown right now") || !strings.Contains(page, want) {
		t.Fatalf("%s without history: %d\n%s", path, code, page)
	}
	if rows, _ := historyRows(page); len(rows) != 0 {
		t.Fatalf("%s shows rows without an answer: %v", path, rows)
	}
}

// wantNoHistorySection fails t if the page b gets at path (a "new" form:
// nothing to have a history yet) has a History section.
func wantNoHistorySection(t *testing.T, b *browser, path string) {
	t.Helper()
	if _, page := b.page(path); strings.Contains(page, `id="history"`) {
		t.Errorf("%s has a History section", path)
	}
}

// saved submits a console form (see browser.submit) that must redirect,
// as a save does, and returns where to.
func saved(t *testing.T, b *browser, what, page, action string, match, fields url.Values) string {
	t.Helper()
	code, loc, body := b.submit(page, action, match, fields)
	if code != 303 {
		t.Fatalf("%s: %d %q\n%s", what, code, loc, body)
	}
	return loc
}

// busContext is a context carrying b's session, to call services over the
// bus as b's user.
func busContext(b *browser) context.Context {
	return shop.WithToken(context.Background(), b.cookie(storefront.SessionCookie).Value)
}

// automatic is who a History row names for a change the shop made itself.
const automatic = "the shop (automatic)"

// TestAdminProductHistory: a product's console page shows its audit log,
// newest first, naming the admin and the fields of each change; when the
// product service cannot give it, the page says so instead of showing an
// empty log.
func TestAdminProductHistory(t *testing.T) {
	f := newShop(t, storefront.Options{})
	admin := adminBrowser(t, f)
	running := f.cats["running"]
	loc := saved(t, admin, "create", "/admin/products/new", "/admin/products", nil, productFields("Green Runner", "49.90", running.ID, "red", "draft"))
	edit := strings.TrimSuffix(loc, "?done=created")
	saved(t, admin, "update", edit, edit, nil, productFields("Green Runner", "39.90", running.ID, "red", "draft"))
	saved(t, admin, "publish", edit, edit+"/publish", nil, nil)
	_, page := admin.page(edit)
	wantHistory(t, page,
		historyRow{adminEmail, product.MethodPublish, "published_at, status"},
		historyRow{adminEmail, product.MethodUpdate, "price"},
		historyRow{adminEmail, product.MethodCreate, "attributes, category_ids, description, price, sku, slug, status, title"},
	)

	// The same log over the bus, as any client reads it.
	id := strings.TrimPrefix(edit, "/admin/products/")
	h, err := product.NewClient(f.bus).History(busContext(admin), shop.HistoryRequest{ID: id})
	if err != nil || len(h.Changes) != 3 {
		t.Fatalf("History over the bus: %+v, %v", h, err)
	}

	// The product service cannot give the log: the page still works and says so.
	wantHistoryUnavailable(t, failingAdmin(t, f, product.MethodHistory), edit, `name="price" value="39.90"`)
}
