package storefront

import (
	"context"
	"html/template"
	"net/http"
	"net/url"

	"github.com/shopbus/shopbus/shop/content/article"
	"github.com/shopbus/shopbus/shop/content/seo"
)

type articleView struct {
	Article article.Article
	Body    template.HTML
}

// articlePage renders an article found by the slug route.
func (s *Storefront) articlePage(w http.ResponseWriter, r *http.Request, a article.Article, seoF *future[seo.Resolution], seoPath string) {
	m := s.pageMeta(r.Context(), seoF, seoPath, "/"+a.Slug, meta{Title: a.Title, Description: a.Excerpt})
	s.render(w, r, http.StatusOK, "article", m, "", articleView{Article: a, Body: article.RenderHTML(a.Body)})
}

type blogView struct {
	Tag      string
	Articles []article.Article
	Next     string
}

// blogPage lists articles: it needs the article service.
func (s *Storefront) blogPage(w http.ResponseWriter, r *http.Request) {
	s.navigation(r)
	ctx := r.Context()
	seoF := s.resolveAsync(ctx, "/blog")
	tag, cursor := r.URL.Query().Get("tag"), r.URL.Query().Get("cursor")
	actx, cancel := context.WithTimeout(publicContext(ctx), s.opts.ArticleTimeout)
	defer cancel()
	res, err := s.article.List(actx, article.ListRequest{Tag: tag, Cursor: cursor})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := blogView{Tag: tag, Articles: res.Articles}
	if res.NextCursor != "" {
		q := url.Values{"cursor": {res.NextCursor}}
		if tag != "" {
			q.Set("tag", tag)
		}
		v.Next = "/blog?" + q.Encode()
	}
	title := "Blog"
	if tag != "" {
		title = "Blog: " + tag
	}
	m := s.pageMeta(ctx, seoF, "/blog", "/blog", meta{Title: title})
	if tag != "" || cursor != "" {
		m.Title, m.Robots = title, "noindex, follow"
	}
	s.render(w, r, http.StatusOK, "blog", m, "", v)
}
