package storefront_test

import (
	"testing"

	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/shop/content/article"
	"github.com/shopbus/shopbus/storefront"
)

// TestAdminCategoryHistory: a category's console page shows its audit
// log, newest first: the create, and a save that moves and renames it
// (a move, then an update); the new-category form has no History; when
// the category service cannot give the log, the page says so.
func TestAdminCategoryHistory(t *testing.T) {
	f := newShop(t, storefront.Options{})
	admin := adminBrowser(t, f)
	shoes, running := f.cats["shoes"], f.cats["running"]
	newForm := "/admin/categories/new?parent=" + running.ID
	wantNoHistorySection(t, admin, newForm)
	loc := saved(t, admin, "create", newForm, "/admin/categories", nil, categoryFields("Trail", running.ID))
	edit := "/admin/categories/" + createdID(t, loc, "/admin/categories/", "category_created")
	saved(t, admin, "move and rename", edit, edit, nil, categoryFields("Trail running", shoes.ID))
	_, page := admin.page(edit)
	wantHistory(t, page,
		historyRow{adminEmail, category.MethodUpdate, "name"},
		historyRow{adminEmail, category.MethodMove, "ancestors, parent_id"},
		historyRow{adminEmail, category.MethodCreate, "ancestors, description, name, parent_id, position, slug"},
	)
	// The parent's page shows its own log, untouched by its new child.
	_, page = admin.page("/admin/categories/" + shoes.ID)
	wantHistory(t, page, historyRow{adminEmail, category.MethodCreate, "description, name, position, slug"})

	wantHistoryUnavailable(t, failingAdmin(t, f, category.MethodHistory), edit, `name="name" value="Trail running"`)
}

// TestAdminArticleHistory: an article's console page shows its audit log,
// newest first: the create, an edit, publishing, scheduling and taking it
// back to a draft, each with the fields it changed; the new-article form
// has no History; when the article service cannot give the log, the page
// says so.
func TestAdminArticleHistory(t *testing.T) {
	f := newShop(t, storefront.Options{})
	admin := adminBrowser(t, f)
	wantNoHistorySection(t, admin, "/admin/articles/new")
	loc := saved(t, admin, "create", "/admin/articles/new", "/admin/articles", nil, articleFields("Spring news", "", "Hello.", "news", "draft", ""))
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
		saved(t, admin, step.what, edit, edit, nil, form)
	}
	_, page := admin.page(edit)
	wantHistory(t, page,
		historyRow{adminEmail, article.MethodUpdate, "status"},
		historyRow{adminEmail, article.MethodUpdate, "published_at"},
		historyRow{adminEmail, article.MethodUpdate, "published_at, status"},
		historyRow{adminEmail, article.MethodUpdate, "body"},
		historyRow{adminEmail, article.MethodCreate, "body, excerpt, slug, status, tags, title"},
	)

	wantHistoryUnavailable(t, failingAdmin(t, f, article.MethodHistory), edit, `name="title" value="Spring news"`)
}
