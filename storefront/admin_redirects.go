package storefront

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/content/seo"
)

// The console's redirects: the seo service's redirects of an admin's own
// (an address of a previous shop, a campaign path) sent to a path of the
// shop or to another site, permanently (301) or temporarily (302).
//
//	GET  /admin/seo/redirects          the list, by address: ?prefix= (addresses starting so), ?cursor= (the next page); the form to add one
//	POST /admin/seo/redirects          adds a redirect (from, to, status), or replaces the one from that address
//	GET  /admin/seo/redirects/delete   ?from= asks to confirm; POST deletes it
//	GET  /admin/seo/redirects/history  ?from= the list from that address, with the History of its redirect (also once deleted)
//
// The seo service checks the addresses (see package seo: the storefront's
// own addresses cannot be redirected, a redirect to a redirect is stored
// where the chain ends, a loop is refused); the console shows its
// refusals next to the fields. A redirect never hides a page that exists
// at its address: it takes effect once the page is gone. The shop
// follows an external target only when it is an http(s) URL (see
// redirectOf); as only admins write redirects, that is no open redirect.
// A one-segment address that is not in slug form ("/Summer-Sale") is
// sent to its slug form ("/summer-sale") before any redirect is looked
// up, so add the slug form.

func init() {
	adminPages = append(adminPages, "admin_redirects")
	adminNotices["redirect_saved"] = "The redirect was saved."
	adminNotices["redirect_deleted"] = "The redirect was deleted."
}

// adminRedirectRoutes adds the redirect pages to m.
func (s *Storefront) adminRedirectRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /admin/seo/redirects", s.adminRedirects)
	m.HandleFunc("POST /admin/seo/redirects", s.adminPutRedirect)
	s.handleDeletion(m, "/admin/seo/redirects/delete", s.redirectDeletion())
	m.HandleFunc("GET /admin/seo/redirects/history", s.adminRedirectHistory)
}

// redirectForm is the form to add a redirect, as filled in.
type redirectForm struct {
	From, To, Status string
}

// adminRedirectsView is a page of the redirect list with the form.
type adminRedirectsView struct {
	Prefix      string
	Redirects   []seo.Redirect
	First, Next string
	Form        redirectForm
	Errors      map[string]string
	// HistoryOf is the address whose redirect's History is shown ("" for
	// none); History is that redirect's audit log.
	HistoryOf string
	History   historyView
}

// redirectField is the form field a seo service field error names.
func redirectField(field string) string {
	switch field {
	case "from", "to", "status":
		return field
	}
	return ""
}

// showRedirects renders a page of the list (the prefix and cursor of r's
// query) with the form.
func (s *Storefront) showRedirects(w http.ResponseWriter, r *http.Request, ctx context.Context, status int, flash string, form redirectForm, errs map[string]string) {
	s.showRedirectList(w, r, ctx, status, flash, form, errs, "", nil)
}

// showRedirectList is showRedirects with, when historyOf is not "", the
// History of the redirect from that address (history, asked for already).
// An address the seo service knows no redirect from, now or before, is a
// page not found.
func (s *Storefront) showRedirectList(w http.ResponseWriter, r *http.Request, ctx context.Context, status int, flash string, form redirectForm, errs map[string]string,
	historyOf string, history *future[shop.History]) {
	q := r.URL.Query()
	prefix, cursor := strings.TrimSpace(q.Get("prefix")), q.Get("cursor")
	if prefix != "" && !strings.HasPrefix(prefix, "/") {
		prefix = "/" + prefix // "old-shop" searches /old-shop…
	}
	page, err := s.seo.ListRedirects(ctx, seo.ListRedirectsRequest{Prefix: prefix, Cursor: cursor, Limit: AdminPageSize})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := adminRedirectsView{Prefix: prefix, Redirects: page.Redirects, Form: form, Errors: errs, HistoryOf: historyOf}
	title := "Redirects"
	if historyOf != "" {
		if _, err := history.wait(); errors.Is(err, shop.ErrNotFound) || errors.Is(err, shop.ErrInvalid) {
			s.fail(w, r, shop.NotFound("redirect"))
			return
		}
		v.History = s.historyView(ctx, seo.ServiceName, history)
		title = "History of the redirect from " + historyOf
	}
	if cursor != "" {
		v.First = adminLink("/admin/seo/redirects", "prefix", prefix)
	}
	if page.NextCursor != "" {
		v.Next = adminLink("/admin/seo/redirects", "prefix", prefix, "cursor", page.NextCursor)
	}
	if v.Form.Status == "" {
		v.Form.Status = strconv.Itoa(seo.StatusMovedPermanently)
	}
	s.adminRender(w, r, status, "admin_redirects", "seo", title, flash, v)
}

// adminRedirectHistory serves GET /admin/seo/redirects/history: ?from=
// names the address; the list shows the redirects from it (and under
// it), and the History section its redirect's audit log, a deleted
// redirect's too.
func (s *Storefront) adminRedirectHistory(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	from := strings.TrimSpace(r.URL.Query().Get("from"))
	if !strings.HasPrefix(from, "/") {
		s.fail(w, r, shop.NotFound("redirect"))
		return
	}
	history := historyOf(ctx, func(ctx context.Context) (shop.History, error) {
		return s.seo.History(ctx, shop.HistoryRequest{ID: from, Kind: seo.HistoryRedirect})
	})
	// The list is the list from that address.
	q := r.URL.Query()
	q.Set("prefix", from)
	q.Del("cursor")
	r.URL.RawQuery = q.Encode()
	s.showRedirectList(w, r, ctx, http.StatusOK, "", redirectForm{}, nil, from, history)
}

// adminRedirects serves GET /admin/seo/redirects.
func (s *Storefront) adminRedirects(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	s.showRedirects(w, r, ctx, http.StatusOK, "", redirectForm{}, nil)
}

// fromAddress is the path of what an admin typed as the address to
// redirect: a whole URL of an old shop ("https://old.example/item/12")
// gives its path (and its query, which the seo service refuses with a
// clear message).
func fromAddress(from string) string {
	if u, err := url.Parse(from); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		p := u.EscapedPath()
		if p == "" {
			p = "/"
		}
		if u.RawQuery != "" {
			p += "?" + u.RawQuery
		}
		return p
	}
	return from
}

// adminPutRedirect serves POST /admin/seo/redirects.
func (s *Storefront) adminPutRedirect(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	form := redirectForm{From: strings.TrimSpace(r.PostFormValue("from")), To: strings.TrimSpace(r.PostFormValue("to")),
		Status: r.PostFormValue("status")}
	req := seo.PutRedirectRequest{From: fromAddress(form.From), To: form.To}
	var err error
	if form.Status != "" {
		if req.Status, err = strconv.Atoi(form.Status); err != nil {
			err = shop.Invalid("invalid redirect", "status", "must be 301 (permanent) or 302 (temporary)")
		}
	}
	var saved seo.Redirect
	if err == nil {
		saved, err = s.seo.PutRedirect(ctx, req)
	}
	if err != nil {
		s.adminFail(w, r, err, func(status int, _ string) {
			errs, flash := formErrors(r, err, redirectField)
			if errs == nil && StatusOf(err) == http.StatusConflict {
				errs, flash = map[string]string{"to": message(r, err)}, "Please check the fields marked below."
			}
			s.showRedirects(w, r, ctx, status, flash, form, errs)
		})
		return
	}
	adminDone(w, r, adminLink("/admin/seo/redirects", "prefix", saved.From), "redirect_saved")
}

// showRedirectDelete renders the confirmation before the redirect from
// the ?from= address is deleted.
func (s *Storefront) showRedirectDelete(w http.ResponseWriter, r *http.Request, ctx context.Context, status int, flash string) {
	from := r.URL.Query().Get("from")
	page, err := s.seo.ListRedirects(ctx, seo.ListRedirectsRequest{Prefix: from, Limit: 1})
	if err == nil && (len(page.Redirects) == 0 || page.Redirects[0].From != from) {
		err = shop.NotFound("redirect")
	}
	if StatusOf(err) == http.StatusBadRequest {
		err = shop.NotFound("redirect")
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rd := page.Redirects[0]
	v := adminConfirmView{What: "redirect from", Name: rd.From, Action: adminLink("/admin/seo/redirects/delete", "from", rd.From),
		Back: adminLink("/admin/seo/redirects", "prefix", rd.From),
		Note: "It sends visitors to " + rd.To + " (" + strconv.Itoa(rd.Status) + "). Afterwards the address answers “not found”, unless a page lives there."}
	s.adminRender(w, r, status, "admin_seo_delete", "seo", "Delete the redirect from "+rd.From, flash, v)
}

// redirectDeletion deletes the redirect from the ?from= address
// (/admin/seo/redirects/delete).
func (s *Storefront) redirectDeletion() deletion {
	return deletion{show: s.showRedirectDelete, what: "redirect",
		donePath: "/admin/seo/redirects", doneKey: "redirect_deleted",
		del: func(ctx context.Context, r *http.Request) error {
			_, err := s.seo.DeleteRedirect(ctx, seo.DeleteRedirectRequest{From: r.URL.Query().Get("from")})
			return err
		}}
}
