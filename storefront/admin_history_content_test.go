package storefront_test

import (
	"strings"
	"testing"

	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/shop/content/article"
	"github.com/shopbus/shopbus/storefront"
	"github.com/shopbus/shopbus/transport"
)

// adminWithout is an admin's browser on another storefront of f whose
// calls of method fail (see failMethod).
func adminWithout(t *testing.T, f *fixture, method string) *browser {
	t.Helper()
	_, srv, _ := f.newFront(t, storefront.Options{}, func(b transport.Bus) transport.Bus { return failMethod{b, method} })
	b := newBrowser(t, srv.URL)
	b.json("POST", "/api/login", map[string]string{"email": adminEmail, "password": adminPassword}, 200, nil)
	return b
}

// wantNoHistory fails t unless page is a 200 that still shows the form
// (want) and says the history cannot be shown, with no rows.
func wantNoHistory(t *testing.T, code int, page, want string) {
	t.Helper()
	if code != 200 || !strings.Contains(page, "The history cannot be shown right now") || !strings.Contains(page, want) {
		t.Fatalf("page without history: %d\n%s", code, page)
	}
	if rows, _ := historyRows(page); len(rows) != 0 {
		t.Fatalf("rows shown without an answer: %v", rows)
	}
}

// TestAdminCategoryHistory: a category's console page shows its audit
// log, newest first: the create, and a save that moves and renames it
// (a move, then an update); the new-category form has no History; when
// the category service cannot give the log, the page says so.
func TestAdminCategoryHistory(t *testing.T) {
	f := newShop(t, storefront.Options{})
	admin := adminBrowser(t, f)
	shoes, running := f.cats["shoes"], f.cats["running"]
	newForm := "/admin/categories/new?parent=" + running.ID
	if _, page := admin.page(newForm); strings.Contains(page, `id="history"`) {
		t.Errorf("the new-category form has a History section")
	}
	code, loc, body := admin.submit(newForm, "/admin/categories", nil, categoryFields("Trail", running.ID))
	if code != 303 {
		t.Fatalf("create: %d %q\n%s", code, loc, body)
	}
	edit := "/admin/categories/" + createdID(t, loc, "/admin/categories/", "category_created")
	if code, _, body := admin.submit(edit, edit, nil, categoryFields("Trail running", shoes.ID)); code != 303 {
		t.Fatalf("move and rename: %d\n%s", code, body)
	}
	_, page := admin.page(edit)
	wantHistory(t, page,
		historyRow{adminEmail, category.MethodUpdate, "name"},
		historyRow{adminEmail, category.MethodMove, "ancestors, parent_id"},
		historyRow{adminEmail, category.MethodCreate, "ancestors, description, name, parent_id, position, slug"},
	)
	// The parent's page shows its own log, untouched by its new child.
	_, page = admin.page("/admin/categories/" + shoes.ID)
	wantHistory(t, page, historyRow{adminEmail, category.MethodCreate, "description, name, position, slug"})

	other := adminWithout(t, f, category.MethodHistory)
	code, page = other.page(edit)
	wantNoHistory(t, code, page, `name="name" value="Trail running"`)
}

// TestAdminArticleHistory: an article's console page shows its audit log,
// newest first: the create, an edit, publishing, scheduling and taking it
// back to a draft, each with the fields it changed; the new-article form
// has no History; when the article service cannot give the log, the page
// says so.
func TestAdminArticleHistory(t *testing.T) {
	f := newShop(t, storefront.Options{})
	admin := adminBrowser(t, f)
	if _, page := admin.page("/admin/articles/new"); strings.Contains(page, `id="history"`) {
		t.Errorf("the new-article form has a History section")
	}
	code, loc, body := admin.submit("/admin/articles/new", "/admin/articles", nil, articleFields("Spring news", "", "Hello.", "news", "draft", ""))
	if code != 303 {
		t.Fatalf("create: %d %q\n%s", code, loc, body)
	}
	edit := "/admin/articles/" + createdID(t, loc, "/admin/articles/", "article_created")
	for _, step := range []struct {
		what   string
		fields map[string]string
	}{
		{"edit", map[string]string{"body": "Hello again."}},
		{"publish", map[string]string{"body": "Hello again.", "publish": "now"}},
		{"schedule", map[string]string{"body": "Hello again.", "publish": "at", "publish_at": "2099-01-31T09:00"}},
		{"unpublish", map[string]string{"body": "Hello again.", "publish": "draft"}},
	} {
		form := articleFields("Spring news", "", "Hello.", "news", "draft", "")
		for k, v := range step.fields {
			form.Set(k, v)
		}
		if code, _, body := admin.submit(edit, edit, nil, form); code != 303 {
			t.Fatalf("%s: %d\n%s", step.what, code, body)
		}
	}
	_, page := admin.page(edit)
	wantHistory(t, page,
		historyRow{adminEmail, article.MethodUpdate, "status"},
		historyRow{adminEmail, article.MethodUpdate, "published_at"},
		historyRow{adminEmail, article.MethodUpdate, "published_at, status"},
		historyRow{adminEmail, article.MethodUpdate, "body"},
		historyRow{adminEmail, article.MethodCreate, "body, excerpt, slug, status, tags, title"},
	)

	other := adminWithout(t, f, article.MethodHistory)
	code, page = other.page(edit)
	wantNoHistory(t, code, page, `name="title" value="Spring news"`)
}
