package storefront

import (
	"context"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/content/article"
)

// The console's articles: the list by status, the article form (create,
// edit, a preview of the body rendered as the blog renders it, publish
// now or at a time), delete after a confirmation. See admin.go.

// Publication choices of the article form (its "publish" field).
const (
	publishDraft = "draft" // a draft: not on the blog
	publishNow   = "now"   // published now (or since its date)
	publishAt    = "at"    // published from publish_at on (scheduled while that is ahead)
)

// adminTimeLayout is the datetime-local format of publish_at, in UTC.
const adminTimeLayout = "2006-01-02T15:04"

// articleStatuses are the statuses the article list filters by: the
// service's "published" lists the articles the blog shows (not the
// scheduled ones).
var articleStatuses = []string{article.StatusDraft, article.StatusPublished}

// ---- the list ----

// adminArticleRow is an article in the list.
type adminArticleRow struct {
	article.Article
	Scheduled bool // published, with a publication time still ahead
}

// adminArticlesView is a page of the article list.
type adminArticlesView struct {
	Status      string
	Statuses    []statusLink
	Articles    []adminArticleRow
	First, Next string
}

// adminArticles serves GET /admin/articles.
func (s *Storefront) adminArticles(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	status, cursor := q.Get("status"), q.Get("cursor")
	if status != "" && !slices.Contains(articleStatuses, status) {
		s.fail(w, r, shop.Invalid("invalid query", "status", "must be one of "+strings.Join(articleStatuses, ", ")))
		return
	}
	want := status
	if want == "" {
		want = "any"
	}
	res, err := s.article.List(ctx, article.ListRequest{Status: want, Limit: AdminPageSize, Cursor: cursor})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.opts.Now()
	v := adminArticlesView{Status: status}
	for _, a := range res.Articles {
		v.Articles = append(v.Articles, adminArticleRow{Article: a, Scheduled: scheduled(a, now)})
	}
	link := func(status, cursor string) string {
		return adminLink("/admin/articles", "status", status, "cursor", cursor)
	}
	v.Statuses = append(v.Statuses, statusLink{Label: "all", Link: link("", ""), Selected: status == ""})
	for _, st := range articleStatuses {
		v.Statuses = append(v.Statuses, statusLink{Label: st, Link: link(st, ""), Selected: st == status})
	}
	if res.NextCursor != "" {
		v.Next = link(status, res.NextCursor)
	}
	if cursor != "" {
		v.First = link(status, "")
	}
	s.adminRender(w, r, http.StatusOK, "admin_articles", "articles", "Articles", "", v)
}

// scheduled reports whether a is published with a publication time after
// now.
func scheduled(a article.Article, now time.Time) bool {
	return a.Status == article.StatusPublished && a.PublishedAt.After(now)
}

// ---- the form ----

// articleForm is the article form as filled in.
type articleForm struct {
	Title, Slug, Body, Excerpt, Author, CoverImage string
	Tags                                           string // comma-separated
	Publish                                        string // publishDraft, publishNow or publishAt
	PublishAt                                      string // adminTimeLayout, UTC
	Version                                        int64  // of the article the form was filled with
}

// articleFormOf is the form filled in with a.
func articleFormOf(a article.Article, now time.Time) articleForm {
	f := articleForm{Title: a.Title, Slug: a.Slug, Body: a.Body, Excerpt: a.Excerpt, Author: a.Author, CoverImage: a.CoverImage,
		Tags: strings.Join(a.Tags, ", "), Publish: publishDraft, Version: a.Version}
	if !a.PublishedAt.IsZero() {
		f.PublishAt = a.PublishedAt.UTC().Format(adminTimeLayout)
	}
	switch {
	case scheduled(a, now):
		f.Publish = publishAt
	case a.Status == article.StatusPublished:
		f.Publish = publishNow
	}
	return f
}

// readArticleForm reads the posted article form.
func readArticleForm(r *http.Request) articleForm {
	f := func(name string) string { return strings.TrimSpace(r.PostFormValue(name)) }
	version, _ := formInt(r, "version", 0)
	return articleForm{Title: f("title"), Slug: f("slug"), Body: strings.ReplaceAll(r.PostFormValue("body"), "\r\n", "\n"),
		Excerpt: strings.TrimSpace(strings.ReplaceAll(r.PostFormValue("excerpt"), "\r\n", "\n")), Author: f("author"),
		CoverImage: f("cover_image"), Tags: f("tags"), Publish: f("publish"), PublishAt: f("publish_at"), Version: int64(version)}
}

// tags are the form's tags: the comma-separated words, trimmed.
func (f articleForm) tags() []string {
	out := []string{}
	for t := range strings.SplitSeq(f.Tags, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// check reads the publication choice: the status and, for publishAt, the
// time; errs names what is wrong.
func (f articleForm) check() (status string, at time.Time, errs map[string]string) {
	errs = map[string]string{}
	switch f.Publish {
	case publishDraft:
		status = article.StatusDraft
	case publishNow:
		status = article.StatusPublished
	case publishAt:
		status = article.StatusPublished
		t, err := time.ParseInLocation(adminTimeLayout, f.PublishAt, time.UTC)
		switch {
		case f.PublishAt == "":
			errs["publish_at"] = "is required to publish at a time"
		case err != nil:
			errs["publish_at"] = "must be a date and time such as 2030-01-31T09:00"
		default:
			at = t
		}
	default:
		errs["publish"] = "must be draft, now or at a time"
	}
	return status, at, errs
}

// update returns the request that makes a what the form says (status and
// at from check), changing only what differs, and whether anything does.
// Publishing now keeps the date an article was first published, but for
// a scheduled one, which is published from now on.
func (f articleForm) update(a article.Article, status string, at, now time.Time) (article.UpdateRequest, bool) {
	req := article.UpdateRequest{ID: a.ID, Version: f.Version}
	changed := false
	set := func(dst **string, val, old string) {
		if val != old {
			*dst, changed = &val, true
		}
	}
	set(&req.Title, f.Title, a.Title)
	set(&req.Body, f.Body, a.Body)
	set(&req.Excerpt, f.Excerpt, a.Excerpt)
	set(&req.Author, f.Author, a.Author)
	set(&req.CoverImage, f.CoverImage, a.CoverImage)
	set(&req.Status, status, a.Status)
	if f.Slug != "" {
		set(&req.Slug, f.Slug, a.Slug)
	}
	if tags := f.tags(); !slices.Equal(tags, a.Tags) {
		req.Tags, changed = &tags, true
	}
	switch {
	case f.Publish == publishAt && !at.Equal(a.PublishedAt):
		req.PublishedAt, changed = &at, true
	case f.Publish == publishNow && a.PublishedAt.After(now):
		req.PublishedAt, changed = &now, true
	}
	return req, changed
}

// articleFormField is the form field an article service field error
// names ("" for none of the form's).
func articleFormField(field string) string {
	switch {
	case field == "published_at":
		return "publish_at"
	case field == "status":
		return "publish"
	case field == "tags" || strings.HasPrefix(field, "tags["):
		return "tags"
	case slices.Contains([]string{"title", "slug", "body", "excerpt", "author", "cover_image"}, field):
		return field
	}
	return ""
}

// adminArticleView is the article form, and for an article that exists
// its actions; Preview is the body rendered as the blog shows it.
type adminArticleView struct {
	New       bool
	Action    string
	Article   article.Article
	Scheduled bool
	PublicURL string // the blog's page of a visible article
	Form      articleForm
	Errors    map[string]string
	Preview   template.HTML
	Previewed bool // Preview is of the posted form, not saved
	// History is the article's audit log (not on the new form).
	History historyView
}

// articlePage is what showArticle renders.
type articlePage struct {
	status    int
	flash     string
	isNew     bool
	a         article.Article // as stored; zero for a new one
	form      articleForm
	errs      map[string]string
	previewed bool
}

// showArticle renders the article form page; an existing article's page
// shows its history too.
func (s *Storefront) showArticle(w http.ResponseWriter, r *http.Request, ctx context.Context, pg articlePage) {
	var history *future[shop.History]
	if !pg.isNew {
		history = historyOf(ctx, func(ctx context.Context) (shop.History, error) {
			return s.article.History(ctx, shop.HistoryRequest{ID: pg.a.ID})
		})
	}
	now := s.opts.Now()
	v := adminArticleView{New: pg.isNew, Action: "/admin/articles", Article: pg.a, Form: pg.form, Errors: pg.errs,
		Preview: article.RenderHTML(pg.form.Body), Previewed: pg.previewed}
	title := "New article"
	if !pg.isNew {
		v.Action += "/" + url.PathEscape(pg.a.ID)
		v.Scheduled = scheduled(pg.a, now)
		if pg.a.Status == article.StatusPublished && !v.Scheduled {
			v.PublicURL = "/" + pg.a.Slug
		}
		title = pg.a.Title
		v.History = s.historyView(ctx, article.ServiceName, history)
	}
	s.adminRender(w, r, pg.status, "admin_article", "articles", title, pg.flash, v)
}

// getArticle returns the article of the path; a malformed id is an
// article not found.
func (s *Storefront) getArticle(ctx context.Context, r *http.Request) (article.Article, error) {
	a, err := s.article.Get(ctx, article.GetRequest{ID: r.PathValue("id")})
	if StatusOf(err) == http.StatusBadRequest {
		err = shop.NotFound("article")
	}
	return a, err
}

// adminNewArticle serves GET /admin/articles/new.
func (s *Storefront) adminNewArticle(w http.ResponseWriter, r *http.Request) {
	if ctx, ok := s.admin(w, r); ok {
		s.showArticle(w, r, ctx, articlePage{status: http.StatusOK, isNew: true, form: articleForm{Publish: publishDraft}})
	}
}

// adminEditArticle serves GET /admin/articles/{id}.
func (s *Storefront) adminEditArticle(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	a, err := s.getArticle(ctx, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.showArticle(w, r, ctx, articlePage{status: http.StatusOK, a: a, form: articleFormOf(a, s.opts.Now())})
}

// adminCreateArticle serves POST /admin/articles: with preview=1 it shows
// the form again with the body rendered, saving nothing.
func (s *Storefront) adminCreateArticle(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	form := readArticleForm(r)
	again := func(status int, errs map[string]string, flash string) {
		s.showArticle(w, r, ctx, articlePage{status: status, flash: flash, isNew: true, form: form, errs: errs})
	}
	if r.PostFormValue("preview") == "1" {
		s.showArticle(w, r, ctx, articlePage{status: http.StatusOK, isNew: true, form: form, previewed: true})
		return
	}
	status, at, errs := form.check()
	if len(errs) > 0 {
		again(http.StatusBadRequest, errs, "Please check the fields marked below.")
		return
	}
	a, err := s.article.Create(ctx, article.CreateRequest{Title: form.Title, Slug: form.Slug, Body: form.Body, Excerpt: form.Excerpt,
		Author: form.Author, Tags: form.tags(), CoverImage: form.CoverImage, Status: status, PublishedAt: at})
	if err != nil {
		s.adminFail(w, r, err, func(status int, _ string) {
			errs, flash := formErrors(r, err, articleFormField)
			again(status, errs, flash)
		})
		return
	}
	adminDone(w, r, "/admin/articles/"+url.PathEscape(a.ID), "article_created")
}

// adminUpdateArticle serves POST /admin/articles/{id}: with preview=1 it
// shows the form again with the body rendered, saving nothing. An article
// changed since the form was filled is not overwritten.
func (s *Storefront) adminUpdateArticle(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	a, err := s.getArticle(ctx, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	form := readArticleForm(r)
	again := func(status int, errs map[string]string, flash string) {
		s.showArticle(w, r, ctx, articlePage{status: status, flash: flash, a: a, form: form, errs: errs})
	}
	if r.PostFormValue("preview") == "1" {
		s.showArticle(w, r, ctx, articlePage{status: http.StatusOK, a: a, form: form, previewed: true})
		return
	}
	status, at, errs := form.check()
	if len(errs) > 0 {
		again(http.StatusBadRequest, errs, "Please check the fields marked below.")
		return
	}
	if req, changed := form.update(a, status, at, s.opts.Now().UTC().Truncate(time.Second)); changed {
		if _, err := s.article.Update(ctx, req); err != nil {
			s.adminFail(w, r, err, func(status int, _ string) {
				errs, flash := formErrors(r, err, articleFormField)
				again(status, errs, flash)
			})
			return
		}
	}
	adminDone(w, r, "/admin/articles/"+url.PathEscape(a.ID), "saved")
}

// ---- delete ----

// showArticleDelete renders the delete confirmation of the article of
// the path, with flash above it.
func (s *Storefront) showArticleDelete(w http.ResponseWriter, r *http.Request, ctx context.Context, status int, flash string) {
	a, err := s.getArticle(ctx, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.adminRender(w, r, status, "admin_article_delete", "articles", "Delete "+a.Title, flash, a)
}

// articleDeletion deletes the article of the path
// (/admin/articles/{id}/delete).
func (s *Storefront) articleDeletion() deletion {
	return deletion{show: s.showArticleDelete, what: "article", idField: "id",
		donePath: "/admin/articles", doneKey: "article_deleted",
		del: func(ctx context.Context, r *http.Request) error {
			_, err := s.article.Delete(ctx, article.DeleteRequest{ID: r.PathValue("id")})
			return err
		}}
}
