package storefront

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/content/seo"
)

// The console's SEO: what the seo service knows of a shop address (its
// metadata, or the redirect it answers with), the metadata written over
// the defaults of a product, category, article or content page (title,
// description, canonical URL, robots directives, Open Graph fields),
// content pages created, moved and deleted, and overrides dropped after
// a confirmation. The seo service keeps redirects itself: an entity's
// old paths (a changed slug, a moved page) answer with a 301 to its
// current one. It has no list of its metadata entries, so the console
// finds an entry by its address or by kind and id. Redirects of an
// admin's own are listed, added and removed under /admin/seo/redirects
// (admin_redirects.go). See admin.go.

// seoKinds are the kinds of entity, in the console's order.
var seoKinds = []seo.Kind{seo.KindProduct, seo.KindCategory, seo.KindArticle, seo.KindPage}

// adminSEOView is the SEO home: an address looked up.
type adminSEOView struct {
	Kinds []seo.Kind
	Path  string // the address looked up
	// Found is the entry at Path, Redirect where it redirects to (a shop
	// address or, for an admin's redirect, another site's URL) with
	// Status (301 or 302), Missing that the seo service knows neither.
	Found    *seo.Metadata
	Redirect string
	Status   int
	Missing  bool
}

// seoLookupPaths are the seo service's paths a shop address may be
// known under: itself, and for /{slug} the entity paths of the slug.
func (s *Storefront) seoLookupPaths(path string) []string {
	out := []string{path}
	if slug := strings.TrimPrefix(path, "/"); slug != "" && !strings.Contains(slug, "/") {
		for _, p := range s.opts.SEOPaths.Paths(slug) {
			out = append(out, p)
		}
	}
	return out
}

// adminSEO serves GET /admin/seo: ?path= looks a shop address up.
func (s *Storefront) adminSEO(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	v := adminSEOView{Kinds: seoKinds, Path: strings.TrimSpace(r.URL.Query().Get("path"))}
	if v.Path != "" {
		if !localPath(v.Path) {
			s.adminRender(w, r, http.StatusBadRequest, "admin_seo", "seo", "SEO", "An address is a path of the shop, starting with a single “/”.", v)
			return
		}
		paths := s.seoLookupPaths(v.Path)
		calls := make([]*future[seo.Resolution], len(paths))
		for i, p := range paths {
			calls[i] = async(ctx, NavTimeout, func(ctx context.Context) (seo.Resolution, error) {
				return s.seo.Resolve(ctx, seo.ResolveRequest{Path: p})
			})
		}
		for _, c := range calls {
			res, err := c.wait()
			if err != nil && !errors.Is(err, shop.ErrNotFound) {
				s.fail(w, r, err)
				return
			}
			switch {
			case err != nil:
			case res.Metadata != nil && v.Found == nil:
				v.Found = res.Metadata
			case res.Redirect != "" && v.Redirect == "":
				if to := s.redirectOf(&res, ""); to != nil {
					v.Redirect, v.Status = to.String(), res.Status
				}
			}
		}
		if v.Found != nil {
			v.Redirect = ""
		}
		v.Missing = v.Found == nil && v.Redirect == ""
	}
	s.adminRender(w, r, http.StatusOK, "admin_seo", "seo", "SEO", "", v)
}

// ---- an entity's metadata ----

// seoForm is the metadata form as filled in: the explicit fields.
type seoForm struct {
	Path, Title, Description, Canonical, Robots    string
	OGTitle, OGDescription, OGType, OGURL, OGImage string
}

// readSEOForm reads the posted metadata form.
func readSEOForm(r *http.Request) seoForm {
	f := func(name string) string { return strings.TrimSpace(r.PostFormValue(name)) }
	return seoForm{Path: f("path"), Title: f("title"), Description: f("description"), Canonical: f("canonical"),
		Robots: f("robots"), OGTitle: f("og_title"), OGDescription: f("og_description"), OGType: f("og_type"),
		OGURL: f("og_url"), OGImage: f("og_image")}
}

// seoFormOf is the form filled in with md's explicit fields (the others
// are left empty: they keep following the defaults).
func seoFormOf(md seo.Metadata) seoForm {
	x := func(field, v string) string {
		if slices.Contains(md.Explicit, field) {
			return v
		}
		return ""
	}
	f := seoForm{Title: x("title", md.Title), Description: x("description", md.Description), Canonical: x("canonical", md.Canonical),
		Robots: x("robots", md.Robots), OGTitle: x("og.title", md.OpenGraph.Title), OGDescription: x("og.description", md.OpenGraph.Description),
		OGType: x("og.type", md.OpenGraph.Type), OGURL: x("og.url", md.OpenGraph.URL), OGImage: x("og.image", md.OpenGraph.Image)}
	if md.Kind == seo.KindPage {
		f.Path = md.Path
	}
	return f
}

// seoFormField is the form field a seo service field error names.
func seoFormField(field string) string {
	if og, ok := strings.CutPrefix(field, "open_graph."); ok {
		field = "og_" + og
	}
	switch field {
	case "path", "title", "description", "canonical", "robots", "og_title", "og_description", "og_type", "og_url", "og_image":
		return field
	}
	return ""
}

// adminSEOEntryView is the metadata form of one entity.
type adminSEOEntryView struct {
	Kind     seo.Kind
	ID       string
	New      bool          // a content page not written yet
	Current  *seo.Metadata // what the shop shows now (nil for a new page)
	Action   string
	Form     seoForm
	Errors   map[string]string
	IsPage   bool
	ShopPath string // the entity's address in the shop, "" when unknown
	// History is the audit log of the entity's overrides (not for a new
	// page).
	History historyView
}

// seoKind reads the kind of the path; an unknown kind is a page not
// found.
func seoKind(r *http.Request) (seo.Kind, error) {
	k := seo.Kind(r.PathValue("kind"))
	if !slices.Contains(seoKinds, k) {
		return "", shop.NotFound("page")
	}
	return k, nil
}

// getSEO returns the metadata of the entity of the path. A content page
// the seo service does not know is new (ok, with a zero Metadata);
// another kind's entity it does not know is not found.
func (s *Storefront) getSEO(ctx context.Context, r *http.Request) (seo.Metadata, bool, error) {
	kind, err := seoKind(r)
	if err != nil {
		return seo.Metadata{}, false, err
	}
	id := r.PathValue("id")
	md, err := s.seo.Get(ctx, seo.GetRequest{Kind: kind, EntityID: id})
	switch {
	case err == nil:
		return md, false, nil
	case StatusOf(err) == http.StatusBadRequest:
		return seo.Metadata{}, false, shop.NotFound("page")
	case kind == seo.KindPage && errors.Is(err, shop.ErrNotFound):
		return seo.Metadata{Kind: kind, EntityID: id}, true, nil
	}
	return seo.Metadata{}, false, err
}

// seoHistoryOf starts asking for the audit log of the overrides of the
// entity kind/id (see historyOf).
func (s *Storefront) seoHistoryOf(ctx context.Context, kind seo.Kind, id string) *future[shop.History] {
	return historyOf(ctx, func(ctx context.Context) (shop.History, error) {
		return s.seo.History(ctx, shop.HistoryRequest{ID: string(kind) + ":" + id, Kind: seo.HistoryOverride})
	})
}

// showSEO renders the metadata form page; history is the entity's log as
// asked for already (nil: ask now), shown unless the page is new.
func (s *Storefront) showSEO(w http.ResponseWriter, r *http.Request, ctx context.Context, status int, flash string, md seo.Metadata, isNew bool, form seoForm, errs map[string]string, history *future[shop.History]) {
	v := adminSEOEntryView{Kind: md.Kind, ID: md.EntityID, New: isNew, Action: "/admin/seo/" + url.PathEscape(string(md.Kind)) + "/" + url.PathEscape(md.EntityID),
		Form: form, Errors: errs, IsPage: md.Kind == seo.KindPage}
	if !isNew {
		if history == nil {
			history = s.seoHistoryOf(ctx, md.Kind, md.EntityID)
		}
		v.Current = &md
		v.ShopPath = s.pagePath(md.Path)
		v.History = s.historyView(ctx, seo.ServiceName, history)
	}
	title := "SEO of " + string(md.Kind) + " " + md.EntityID
	if isNew {
		title = "New page"
	}
	s.adminRender(w, r, status, "admin_seo_entry", "seo", title, flash, v)
}

// adminSEOEntry serves GET /admin/seo/{kind}/{id}.
func (s *Storefront) adminSEOEntry(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	var history *future[shop.History] // asked for at once, with the metadata
	if kind, err := seoKind(r); err == nil {
		history = s.seoHistoryOf(ctx, kind, r.PathValue("id"))
	}
	md, isNew, err := s.getSEO(ctx, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.showSEO(w, r, ctx, http.StatusOK, "", md, isNew, seoFormOf(md), nil, history)
}

// adminSEOFind serves GET /admin/seo/find: ?kind= and ?id= open that
// entity's metadata.
func (s *Storefront) adminSEOFind(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.admin(w, r); !ok {
		return
	}
	q := r.URL.Query()
	http.Redirect(w, r, "/admin/seo/"+url.PathEscape(q.Get("kind"))+"/"+url.PathEscape(strings.TrimSpace(q.Get("id"))), http.StatusSeeOther)
}

// adminPutSEO serves POST /admin/seo/{kind}/{id}: writes the explicit
// metadata (empty fields follow the defaults); a page's new path leaves
// a permanent redirect from its old one.
func (s *Storefront) adminPutSEO(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	md, isNew, err := s.getSEO(ctx, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	form := readSEOForm(r)
	req := seo.PutRequest{Kind: md.Kind, EntityID: md.EntityID, Title: form.Title, Description: form.Description,
		Canonical: form.Canonical, Robots: form.Robots, OpenGraph: seo.OpenGraph{Title: form.OGTitle,
			Description: form.OGDescription, Type: form.OGType, URL: form.OGURL, Image: form.OGImage}}
	if md.Kind == seo.KindPage {
		req.Path = form.Path
	}
	_, err = s.seo.Put(ctx, req)
	s.memo.forget(md.Path) // a call that timed out may have been applied
	if err != nil {
		s.adminFail(w, r, err, func(status int, _ string) {
			errs, flash := formErrors(r, err, seoFormField)
			if errs == nil && StatusOf(err) == http.StatusConflict {
				errs, flash = map[string]string{"path": message(r, err)}, "Please check the fields marked below."
			}
			s.showSEO(w, r, ctx, status, flash, md, isNew, form, errs, nil)
		})
		return
	}
	done := "saved"
	if isNew {
		done = "page_created"
	}
	adminDone(w, r, "/admin/seo/"+url.PathEscape(string(md.Kind))+"/"+url.PathEscape(md.EntityID), done)
}

// showSEODelete renders the confirmation before an entity's overrides
// are dropped (a page's, before it is deleted).
func (s *Storefront) showSEODelete(w http.ResponseWriter, r *http.Request, ctx context.Context, status int, flash string) {
	md, isNew, err := s.getSEO(ctx, r)
	if err == nil && isNew {
		err = shop.NotFound("page")
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	path := "/admin/seo/" + url.PathEscape(string(md.Kind)) + "/" + url.PathEscape(md.EntityID)
	v := adminConfirmView{What: "SEO overrides of " + string(md.Kind), Name: md.EntityID, Action: path + "/delete", Back: path,
		Note: "Its title, description and the rest go back to the defaults taken from the " + string(md.Kind) + "."}
	if md.Kind == seo.KindPage {
		v.What, v.Name = "page", md.Path
		v.Note = "Its address and the addresses it had answer “not found” afterwards."
	}
	s.adminRender(w, r, status, "admin_seo_delete", "seo", "Delete "+v.Name, flash, v)
}

// seoDeletion drops the overrides of the entity of the path (deletes a
// page) (/admin/seo/{kind}/{id}/delete).
func (s *Storefront) seoDeletion() deletion {
	return deletion{show: s.showSEODelete, what: "page",
		donePath: "/admin/seo", doneKey: "seo_deleted",
		del: func(ctx context.Context, r *http.Request) error {
			md, _, err := s.getSEO(ctx, r)
			if err != nil {
				return err
			}
			_, err = s.seo.Delete(ctx, seo.DeleteRequest{Kind: md.Kind, EntityID: md.EntityID})
			s.memo.forget(md.Path)
			return err
		}}
}

// forget drops the memo's metadata of path, which the console changed:
// this storefront shows the change at once (others within SEOCacheTTL).
func (m *memo) forget(path string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.meta, path)
}
