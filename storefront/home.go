package storefront

import (
	"context"
	"net/http"
	"sort"

	"github.com/shopbus/shopbus/shop/catalog/filter"
	"github.com/shopbus/shopbus/shop/content/article"
)

type homeView struct {
	Featured   []filter.Summary
	Categories []topCategory
	Articles   []article.Article
}

type topCategory struct {
	Slug, Name string
	Count      int
	Counted    bool // Count is known
}

func (s *Storefront) homePage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pub := publicContext(ctx)
	nav := s.navigation(r)
	seoF := s.resolveAsync(ctx, "/")
	featured := async(pub, s.opts.FilterTimeout, func(ctx context.Context) (filter.Result, error) {
		return s.filter.Query(ctx, s.opts.Featured)
	})
	articles := async(pub, s.opts.ArticleTimeout, func(ctx context.Context) (article.ListResult, error) {
		return s.article.List(ctx, article.ListRequest{Limit: MaxLatestArticles})
	})

	// Each section is optional: a service that does not answer leaves it out.
	var v homeView
	res, ferr := featured.wait()
	if ferr == nil {
		v.Featured = res.Items
	} else {
		s.warn(ctx, "home: featured products", filter.ServiceName, ferr)
	}
	counts := map[string]filter.CategoryCount{}
	if ferr == nil && s.opts.Featured.CategoryID == "" && s.opts.Featured.CategorySlug == "" {
		for _, c := range res.Categories {
			counts[c.ID] = c
		}
	}
	if roots, err := nav.wait(); err == nil {
		for _, c := range roots {
			cc, ok := counts[c.ID]
			v.Categories = append(v.Categories, topCategory{Slug: c.Slug, Name: c.Name, Count: cc.Count, Counted: ok})
		}
	} else {
		for _, c := range res.Categories { // what the filter service knows of them
			v.Categories = append(v.Categories, topCategory{Slug: c.Slug, Name: c.Name, Count: c.Count, Counted: true})
		}
	}
	// Top categories: those holding the most products first.
	sort.SliceStable(v.Categories, func(i, j int) bool { return v.Categories[i].Count > v.Categories[j].Count })
	if len(v.Categories) > MaxTopCategories {
		v.Categories = v.Categories[:MaxTopCategories]
	}
	if list, err := articles.wait(); err == nil {
		v.Articles = list.Articles
	} else {
		s.warn(ctx, "home: latest articles", article.ServiceName, err)
	}
	m := s.pageMeta(ctx, seoF, "/", "/", meta{Title: s.opts.ShopName})
	s.render(w, r, http.StatusOK, "home", m, "", v)
}
