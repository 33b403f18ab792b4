package storefront_test

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/shop/content/article"
	"github.com/shopbus/shopbus/storefront"
)

// getCategory returns a category as the category service has it (err
// when it has none).
func getCategory(f *fixture, id string) (category.Category, error) {
	return category.NewClient(f.bus).Get(context.Background(), category.GetRequest{ID: id})
}

// adminArticle returns an article as an admin sees it (err when it is
// gone).
func adminArticle(f *fixture, id string) (article.Article, error) {
	return article.NewClient(f.bus).Get(f.admin, article.GetRequest{ID: id})
}

// categoryFields is a whole category form.
func categoryFields(name, parentID string) url.Values {
	return url.Values{"name": {name}, "description": {"Made in the console."}, "parent_id": {parentID}, "position": {"0"}}
}

// articleFields is a whole article form.
func articleFields(title, slug, body, tags, publish, at string) url.Values {
	return url.Values{"title": {title}, "slug": {slug}, "body": {body}, "excerpt": {"In short."}, "tags": {tags},
		"publish": {publish}, "publish_at": {at}}
}

// createdID is the id in the Location of a created entity's page.
func createdID(t *testing.T, loc, prefix, done string) string {
	t.Helper()
	id, ok := strings.CutPrefix(loc, prefix)
	if id, ok2 := strings.CutSuffix(id, "?done="+done); ok && ok2 && id != "" {
		return id
	}
	t.Fatalf("Location %q is not %s…?done=%s", loc, prefix, done)
	return ""
}

// TestAdminContentAccess: the category and article pages are for admins
// only (a guest is sent to log in, a customer gets 403 pages and cannot
// act), and a form without the admin's CSRF token changes nothing.
func TestAdminContentAccess(t *testing.T) {
	f := newShop(t, storefront.Options{})
	shoes, running, a := f.cats["shoes"], f.cats["running"], f.article
	pages := []string{"/admin/categories", "/admin/categories/new", "/admin/categories/" + shoes.ID, "/admin/categories/" + shoes.ID + "/delete",
		"/admin/articles", "/admin/articles/new", "/admin/articles/" + a.ID, "/admin/articles/" + a.ID + "/delete"}
	actions := map[string]url.Values{
		"/admin/categories":                           categoryFields("Forged", shoes.ID),
		"/admin/categories/" + running.ID:             categoryFields("Forged", ""),
		"/admin/categories/" + running.ID + "/delete": {"reparent": {"1"}},
		"/admin/articles":                             articleFields("Forged", "", "x", "", "now", ""),
		"/admin/articles/" + a.ID:                     articleFields("Forged", "", "x", "", "draft", ""),
		"/admin/articles/" + a.ID + "/delete":         {},
	}
	unchanged := func(who string) {
		t.Helper()
		tree, err := category.NewClient(f.bus).Tree(context.Background(), category.TreeRequest{})
		if err != nil || len(tree) != 1 || tree[0].Name != "Shoes" || len(tree[0].Children) != 1 || tree[0].Children[0].Name != "Running" ||
			len(tree[0].Children[0].Children) != 0 {
			t.Fatalf("after %s's posts the categories changed: %+v %v", who, tree, err)
		}
		list, err := article.NewClient(f.bus).List(f.admin, article.ListRequest{Status: "any"})
		if err != nil || len(list.Articles) != 1 || list.Articles[0].Version != a.Version {
			t.Fatalf("after %s's posts the articles changed: %+v %v", who, list, err)
		}
	}

	guest := f.browser(t)
	for _, p := range pages {
		if code, loc := guest.redirect(p); code != 303 || loc != "/login?next="+strings.ReplaceAll(url.QueryEscape(p), "%2F", "/") {
			t.Errorf("guest GET %s: %d %q", p, code, loc)
		}
	}
	for path, form := range actions {
		if code, loc, _ := guest.post(path, guest.withToken(form)); code != 303 || loc != "/login?next=/admin" {
			t.Errorf("guest POST %s: %d %q", path, code, loc)
		}
	}
	unchanged("a guest")

	cust := customer(t, f, "cleo@front.test")
	for _, p := range pages {
		if code, html := cust.page(p); code != 403 || !strings.Contains(html, "for its staff only") {
			t.Errorf("customer GET %s: %d", p, code)
		}
	}
	for path, form := range actions {
		if code, _, _ := cust.post(path, cust.withToken(form)); code != 403 {
			t.Errorf("customer POST %s: %d", path, code)
		}
	}
	unchanged("a customer")

	admin := adminBrowser(t, f)
	code, html := admin.page("/admin")
	for _, want := range []string{`href="/admin/categories"`, `href="/admin/articles"`, `href="/admin/articles/new"`} {
		if code != 200 || !strings.Contains(html, want) {
			t.Errorf("dashboard without %q: %d", want, code)
		}
	}
	for _, p := range pages {
		if code, _ := admin.page(p); code != 200 {
			t.Errorf("admin GET %s: %d", p, code)
		}
	}
	for _, p := range []string{"/admin/categories/no-such-id", "/admin/articles/no-such-id", "/admin/articles/no-such-id/delete"} {
		if code, _ := admin.page(p); code != 404 {
			t.Errorf("admin GET %s: %d, want 404", p, code)
		}
	}
	other := f.browser(t)
	other.page("/")
	for _, token := range []string{"", "wrong", other.cookie(storefront.CSRFCookie).Value} {
		for path, form := range actions {
			v := cloneForm(form)
			if token != "" {
				v.Set(storefront.CSRFField, token)
			}
			if code, _, body := admin.post(path, v); code != 403 || !strings.Contains(body, "form has expired") {
				t.Errorf("admin POST %s with token %q: %d", path, token, code)
			}
		}
	}
	unchanged("the admin's forged")
}

var categoryLinkRE = regexp.MustCompile(`<a class="category-link" href="/admin/categories/([^"]+)">([^<]+)</a>`)

// TestAdminCategories, on both buses: the tree with product counts; a
// category created under another, shown by the shop's category page; a
// move that would make a cycle refused with the service's message next
// to the parent, a move that is allowed; a taken slug; a delete refused
// while the category has subcategories, one after a confirmation, and
// one that moves the contents up.
func TestAdminCategories(t *testing.T) {
	eachShop(t, storefront.Options{}, func(t *testing.T, f *fixture) {
		admin := adminBrowser(t, f)
		shoes, running := f.cats["shoes"], f.cats["running"]

		code, html := admin.page("/admin/categories")
		links := categoryLinkRE.FindAllStringSubmatch(html, -1)
		if code != 200 || len(links) != 2 || links[0][2] != "Shoes" || links[1][2] != "Running" {
			t.Fatalf("the tree: %d %v\n%s", code, links, html)
		}
		// Running is nested in Shoes' list; the counts are the published
		// products of each subtree.
		if !regexp.MustCompile(`(?s)>Shoes</a>.*?<span class="count" title="published products">4</span>.*?<ul class="category-tree">.*?>Running</a>.*?>3</span>`).MatchString(html) {
			t.Errorf("the tree without nesting or counts:\n%s", html)
		}

		// Create Trail under Running: the form offers Running as chosen.
		newForm := "/admin/categories/new?parent=" + running.ID
		if _, html := admin.page(newForm); !strings.Contains(html, `<option value="`+running.ID+`" selected>— Running</option>`) {
			t.Errorf("the new form without the parent chosen:\n%s", html)
		}
		code, loc, body := admin.submit(newForm, "/admin/categories", nil, categoryFields("Trail", running.ID))
		if code != 303 {
			t.Fatalf("create: %d %q\n%s", code, loc, body)
		}
		trailID := createdID(t, loc, "/admin/categories/", "category_created")
		trail, err := getCategory(f, trailID)
		if err != nil || trail.Name != "Trail" || trail.Slug != "trail" || trail.ParentID != running.ID || trail.Description != "Made in the console." {
			t.Fatalf("created: %+v %v", trail, err)
		}
		if _, html := admin.page(loc); !strings.Contains(html, "The category was created.") || !strings.Contains(html, `name="name" value="Trail"`) {
			t.Errorf("the created category's page:\n%s", html)
		}
		shopper := f.browser(t)
		waitFor(t, "the shop to show Trail under Running", func() bool {
			code, html := shopper.page("/running")
			return code == 200 && strings.Contains(html, `<a href="/trail">Trail</a>`)
		})
		if code, html := shopper.page("/trail"); code != 200 || !strings.Contains(html, "Trail") {
			t.Errorf("the new category's page: %d", code)
		}
		if _, html := admin.page("/admin/categories"); len(categoryLinkRE.FindAllStringSubmatch(html, -1)) != 3 {
			t.Errorf("the tree without Trail:\n%s", html)
		}

		// Shoes under Trail would be a cycle: refused, next to the parent.
		edit := "/admin/categories/" + shoes.ID
		code, _, html = admin.submit(edit, edit, nil, categoryFields("Shoes", trailID))
		if code != 400 || !strings.Contains(html, `data-field="parent">the new parent is a descendant of the category: the move would create a cycle</small>`) {
			t.Errorf("a cycle: %d\n%s", code, html)
		}
		if c, _ := getCategory(f, shoes.ID); c.ParentID != "" || c.Version != shoes.Version {
			t.Errorf("the refused move changed Shoes: %+v", c)
		}
		// Trail moves under Shoes, and is renamed in the same save.
		tedit := "/admin/categories/" + trailID
		code, loc, body = admin.submit(tedit, tedit, nil, categoryFields("Trail shoes", shoes.ID))
		if code != 303 || loc != tedit+"?done=saved" {
			t.Fatalf("move and rename: %d %q\n%s", code, loc, body)
		}
		if c, _ := getCategory(f, trailID); c.ParentID != shoes.ID || c.Name != "Trail shoes" || c.Slug != "trail" {
			t.Errorf("moved: %+v", c)
		}
		// A taken slug: the service's conflict next to the slug.
		taken := categoryFields("Trail shoes", shoes.ID)
		taken.Set("slug", "running")
		if code, _, html := admin.submit(tedit, tedit, nil, taken); code != 409 || !strings.Contains(html, `data-field="slug">`) {
			t.Errorf("taken slug: %d\n%s", code, html)
		}
		// A position that is not a number.
		bad := categoryFields("Trail shoes", shoes.ID)
		bad.Set("position", "first")
		if code, _, html := admin.submit(tedit, tedit, nil, bad); code != 400 || !strings.Contains(html, `data-field="position">must be a whole number`) {
			t.Errorf("bad position: %d\n%s", code, html)
		}

		// Shoes has subcategories: the delete is refused with the service's
		// message, on the confirmation page.
		code, html = admin.page(edit + "/delete")
		if code != 200 || len(forms(html, edit+"/delete")) != 1 || !strings.Contains(html, "It has 2 subcategories") {
			t.Fatalf("delete confirmation: %d\n%s", code, html)
		}
		code, _, html = admin.submit(edit+"/delete", edit+"/delete", nil, nil)
		if code != 409 || !strings.Contains(html, `class="flash"`) || !strings.Contains(html, "category has subcategories") {
			t.Errorf("deleting a category with subcategories: %d\n%s", code, html)
		}
		if _, err := getCategory(f, shoes.ID); err != nil {
			t.Fatalf("the refused delete deleted: %v", err)
		}
		// Trail shoes is empty: deleted after the confirmation.
		code, loc, _ = admin.submit(tedit+"/delete", tedit+"/delete", nil, nil)
		if code != 303 || loc != "/admin/categories?done=category_deleted" {
			t.Fatalf("delete: %d %q", code, loc)
		}
		if _, err := getCategory(f, trailID); storefront.StatusOf(err) != 404 {
			t.Errorf("deleted category: %v", err)
		}
		if _, html := admin.page(loc); !strings.Contains(html, "The category was deleted.") || strings.Contains(html, "Trail shoes") {
			t.Errorf("the tree after deleting:\n%s", html)
		}
		// Running holds products: with reparent they move up to Shoes.
		redit := "/admin/categories/" + running.ID
		if code, _, html := admin.submit(redit+"/delete", redit+"/delete", nil, nil); code != 409 || !strings.Contains(html, "category has products") {
			t.Errorf("deleting a category with products: %d\n%s", code, html)
		}
		if code, loc, _ := admin.submit(redit+"/delete", redit+"/delete", nil, url.Values{"reparent": {"1"}}); code != 303 || loc != "/admin/categories?done=category_deleted" {
			t.Fatalf("delete with reparent: %d %q", code, loc)
		}
		waitFor(t, "Red Runner re-filed under Shoes", func() bool {
			p := getProduct(t, f, f.products["red-runner"].ID)
			return len(p.CategoryIDs) == 1 && p.CategoryIDs[0] == shoes.ID
		})
	})
}

var articleLinkRE = regexp.MustCompile(`<a class="article-link" href="/admin/articles/([^"]+)">([^<]+)</a>`)

// TestAdminArticles, on both buses: the list by status; a bad slug shown
// next to its field; a preview that saves nothing; an article created as
// a draft (not on the blog), then published (on the blog); one scheduled
// for later (not yet on the blog); a concurrent edit not overwritten; a
// delete after a confirmation.
func TestAdminArticles(t *testing.T) {
	eachShop(t, storefront.Options{}, func(t *testing.T, f *fixture) {
		admin := adminBrowser(t, f)
		shopper := f.browser(t)
		titles := func(path string) []string {
			t.Helper()
			code, html := admin.page(path)
			if code != 200 {
				t.Fatalf("GET %s: %d\n%s", path, code, html)
			}
			var out []string
			for _, m := range articleLinkRE.FindAllStringSubmatch(html, -1) {
				out = append(out, m[2])
			}
			return out
		}
		if got := titles("/admin/articles"); len(got) != 1 || got[0] != "Choosing running shoes" {
			t.Errorf("the list: %v", got)
		}
		if code, _ := admin.page("/admin/articles?status=gone"); code != 400 {
			t.Errorf("unknown status: %d", code)
		}

		// A bad slug: next to the field, nothing created.
		code, _, html := admin.submit("/admin/articles/new", "/admin/articles", nil, articleFields("Spring news", "Spring News!", "Hello **world**", "", "draft", ""))
		if code != 400 || !strings.Contains(html, `data-field="slug">must be 1-`) || !strings.Contains(html, `name="slug" value="Spring News!"`) {
			t.Errorf("bad slug: %d\n%s", code, html)
		}
		// A preview: the body rendered as the blog renders it, nothing saved.
		preview := articleFields("Spring news", "", "Hello **world**\n\n<script>x()</script>", "", "draft", "")
		preview.Set("preview", "1")
		code, _, html = admin.submit("/admin/articles/new", "/admin/articles", nil, preview)
		if code != 200 || !strings.Contains(html, "Preview (not saved)") || !strings.Contains(html, "<strong>world</strong>") || strings.Contains(html, "<script>x()") {
			t.Errorf("preview: %d\n%s", code, html)
		}
		if got := titles("/admin/articles?status=draft"); len(got) != 0 {
			t.Errorf("drafts after a refusal and a preview: %v", got)
		}

		// A draft: listed, not on the blog.
		code, loc, body := admin.submit("/admin/articles/new", "/admin/articles", nil, articleFields("Spring news", "", "Hello **world**", "News, Spring", "draft", ""))
		if code != 303 {
			t.Fatalf("create: %d %q\n%s", code, loc, body)
		}
		id := createdID(t, loc, "/admin/articles/", "article_created")
		a, err := adminArticle(f, id)
		if err != nil || a.Status != article.StatusDraft || a.Slug != "spring-news" || strings.Join(a.Tags, ",") != "news,spring" || a.Excerpt != "In short." {
			t.Fatalf("created: %+v %v", a, err)
		}
		_, html = admin.page(loc)
		for _, want := range []string{"The article was created.", "<strong>world</strong>", `value="draft" checked`, `name="tags" value="news, spring"`} {
			if !strings.Contains(html, want) {
				t.Errorf("the draft's page without %q", want)
			}
		}
		if got := titles("/admin/articles?status=draft"); len(got) != 1 || got[0] != "Spring news" {
			t.Errorf("drafts: %v", got)
		}
		if code, _ := shopper.page("/spring-news"); code != 404 {
			t.Errorf("a draft on the blog: %d", code)
		}
		if _, html := shopper.page("/blog"); strings.Contains(html, "Spring news") {
			t.Errorf("the blog shows a draft:\n%s", html)
		}

		// Publish now: on the blog.
		edit := "/admin/articles/" + id
		code, loc, _ = admin.submit(edit, edit, nil, articleFields("Spring news", "spring-news", "Hello **world**", "news, spring", "now", ""))
		if code != 303 || loc != edit+"?done=saved" {
			t.Fatalf("publish: %d %q", code, loc)
		}
		if a, _ := adminArticle(f, id); a.Status != article.StatusPublished || a.PublishedAt.IsZero() || a.PublishedAt.After(time.Now()) {
			t.Errorf("published: %+v", a)
		}
		if code, html := shopper.page("/blog"); code != 200 || !strings.Contains(html, "Spring news") {
			t.Errorf("the blog without the published article: %d\n%s", code, html)
		}
		if code, html := shopper.page("/spring-news"); code != 200 || !strings.Contains(html, "<strong>world</strong>") {
			t.Errorf("the published article: %d\n%s", code, html)
		}
		if _, html := admin.page(edit); !strings.Contains(html, `href="/spring-news">View on the blog</a>`) || !strings.Contains(html, `value="now" checked`) {
			t.Errorf("the published article's page:\n%s", html)
		}

		// Scheduled for later: published, not yet on the blog.
		at := time.Now().UTC().Add(48 * time.Hour).Truncate(time.Minute)
		code, _, body = admin.submit("/admin/articles/new", "/admin/articles", nil, articleFields("Summer news", "", "Soon.", "", "at", "not a time"))
		if code != 400 || !strings.Contains(body, `data-field="publish_at">must be a date and time`) {
			t.Errorf("bad time: %d\n%s", code, body)
		}
		code, loc, _ = admin.submit("/admin/articles/new", "/admin/articles", nil, articleFields("Summer news", "", "Soon.", "", "at", at.Format("2006-01-02T15:04")))
		if code != 303 {
			t.Fatalf("schedule: %d", code)
		}
		sid := createdID(t, loc, "/admin/articles/", "article_created")
		if a, _ := adminArticle(f, sid); a.Status != article.StatusPublished || !a.PublishedAt.Equal(at) {
			t.Errorf("scheduled: %+v, want published at %v", a, at)
		}
		if code, _ := shopper.page("/summer-news"); code != 404 {
			t.Errorf("a scheduled article on the blog: %d", code)
		}
		if _, html := admin.page("/admin/articles"); !strings.Contains(html, `class="status status-scheduled">scheduled</td>`) {
			t.Errorf("the list without the scheduled article:\n%s", html)
		}
		if got := titles("/admin/articles?status=published"); strings.Join(got, ", ") != "Spring news, Choosing running shoes" {
			t.Errorf("published: %v", got)
		}
		// Publish the scheduled one now: on the blog from now on.
		sedit := "/admin/articles/" + sid
		if _, html := admin.page(sedit); !strings.Contains(html, `value="at" checked`) || !strings.Contains(html, `name="publish_at" value="`+at.Format("2006-01-02T15:04")+`"`) {
			t.Errorf("the scheduled article's page:\n%s", html)
		}
		if code, loc, _ := admin.submit(sedit, sedit, nil, articleFields("Summer news", "summer-news", "Soon.", "", "now", "")); code != 303 || loc != sedit+"?done=saved" {
			t.Fatalf("publish the scheduled article now: %d %q", code, loc)
		}
		if a, _ := adminArticle(f, sid); a.Status != article.StatusPublished || a.PublishedAt.After(time.Now()) {
			t.Errorf("published now: %+v", a)
		}
		if code, _ := shopper.page("/summer-news"); code != 200 {
			t.Errorf("the article published now: %d", code)
		}

		// An edit of a stale form: refused, the newer version kept.
		code, stale := admin.page(edit)
		if code != 200 {
			t.Fatal(code)
		}
		if _, err := article.NewClient(f.bus).Update(f.admin, article.UpdateRequest{ID: id, Title: new("Spring news!")}); err != nil {
			t.Fatal(err)
		}
		v := forms(stale, edit)[0]
		for k, vs := range articleFields("Overwritten", "spring-news", "x", "", "now", "") {
			v[k] = vs
		}
		if code, _, html := admin.post(edit, v); code != 409 || !strings.Contains(html, "changed concurrently") {
			t.Errorf("stale edit: %d\n%s", code, html)
		}
		if a, _ := adminArticle(f, id); a.Title != "Spring news!" {
			t.Errorf("the stale edit overwrote: %+v", a)
		}

		// Delete: a confirmation first, then gone from the blog.
		code, html = admin.page(edit + "/delete")
		if code != 200 || len(forms(html, edit+"/delete")) != 1 || !strings.Contains(html, "cannot be undone") {
			t.Fatalf("delete confirmation: %d\n%s", code, html)
		}
		if _, err := adminArticle(f, id); err != nil {
			t.Fatal("asking to delete deleted the article")
		}
		code, loc, _ = admin.submit(edit+"/delete", edit+"/delete", nil, nil)
		if code != 303 || loc != "/admin/articles?done=article_deleted" {
			t.Fatalf("delete: %d %q", code, loc)
		}
		if _, html := admin.page(loc); !strings.Contains(html, "The article was deleted.") || strings.Contains(html, "Spring news") {
			t.Errorf("the list after deleting:\n%s", html)
		}
		if code, _ := shopper.page("/spring-news"); code != 404 {
			t.Errorf("a deleted article: %d", code)
		}
	})
}
