package storefront_test

import (
	"context"
	"html"
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

// failMethod is a bus whose calls of one method fail as unavailable.
type failMethod struct {
	transport.Bus
	method string
}

func (b failMethod) Call(ctx context.Context, method string, body []byte) ([]byte, error) {
	if method == b.method {
		return nil, transport.Errorf(transport.CodeUnavailable, "%s is away", method)
	}
	return b.Bus.Call(ctx, method, body)
}

// TestAdminProductHistory: a product's console page shows its audit log,
// newest first, naming the admin and the fields of each change; when the
// product service cannot give it, the page says so instead of showing an
// empty log.
func TestAdminProductHistory(t *testing.T) {
	f := newShop(t, storefront.Options{})
	admin := adminBrowser(t, f)
	running := f.cats["running"]
	code, loc, body := admin.submit("/admin/products/new", "/admin/products", nil, productFields("Green Runner", "49.90", running.ID, "red", "draft"))
	if code != 303 {
		t.Fatalf("create: %d %q\n%s", code, loc, body)
	}
	edit := strings.TrimSuffix(loc, "?done=created")
	if code, _, body := admin.submit(edit, edit, nil, productFields("Green Runner", "39.90", running.ID, "red", "draft")); code != 303 {
		t.Fatalf("update: %d\n%s", code, body)
	}
	if code, _, body := admin.submit(edit, edit+"/publish", nil, nil); code != 303 {
		t.Fatalf("publish: %d\n%s", code, body)
	}
	_, page := admin.page(edit)
	wantHistory(t, page,
		historyRow{adminEmail, product.MethodPublish, "published_at, status"},
		historyRow{adminEmail, product.MethodUpdate, "price"},
		historyRow{adminEmail, product.MethodCreate, "attributes, category_ids, description, price, sku, slug, status, title"},
	)

	// The same log over the bus, as any client reads it.
	id := strings.TrimPrefix(edit, "/admin/products/")
	ctx := shop.WithToken(context.Background(), admin.cookie(storefront.SessionCookie).Value)
	h, err := product.NewClient(f.bus).History(ctx, shop.HistoryRequest{ID: id})
	if err != nil || len(h.Changes) != 3 {
		t.Fatalf("History over the bus: %+v, %v", h, err)
	}

	// The product service cannot give the log: the page still works and says so.
	_, srv, _ := f.newFront(t, storefront.Options{}, func(b transport.Bus) transport.Bus { return failMethod{b, product.MethodHistory} })
	other := newBrowser(t, srv.URL)
	other.json("POST", "/api/login", map[string]string{"email": adminEmail, "password": adminPassword}, 200, nil)
	code, page = other.page(edit)
	if code != 200 || !strings.Contains(page, "The history cannot be shown right now") || !strings.Contains(page, `name="price" value="39.90"`) {
		t.Fatalf("page without history: %d\n%s", code, page)
	}
	if rows, _ := historyRows(page); len(rows) != 0 {
		t.Fatalf("rows shown without an answer: %v", rows)
	}
}
