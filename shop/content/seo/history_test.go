package seo_test

import (
	"context"
	"slices"
	"testing"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/shoptest"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/content/seo"
	"github.com/shopbus/shopbus/transport"
)

// change is an expected entry of a history: its action and fields.
type change struct {
	action string
	fields []string
}

// wantChanges fails t unless h lists want, newest first, each made by the
// test's admin.
func wantChanges(t *testing.T, h shop.History, want ...change) {
	t.Helper()
	if len(h.Changes) != len(want) {
		t.Fatalf("history of %s %s has %d changes %+v, want %d", h.Kind, h.ID, len(h.Changes), h.Changes, len(want))
	}
	for i, c := range h.Changes {
		if c.Action != want[i].action || !slices.Equal(c.Fields, want[i].fields) ||
			c.Email != shoptest.AdminEmail || c.UserID == "" || c.Time.IsZero() {
			t.Errorf("change %d = %+v, want %s of %v by %s", i, c, want[i].action, want[i].fields, shoptest.AdminEmail)
		}
	}
}

func mustHistory(t *testing.T, f *fixture, r shop.HistoryRequest) shop.History {
	t.Helper()
	h, err := f.client.History(f.Admin, r)
	if err != nil {
		t.Fatalf("history of %+v: %v", r, err)
	}
	return h
}

// TestHistory checks the audit logs of overrides and of redirects: each
// admin write names its admin, its action and the fields it changed,
// newest first; a write that changes nothing and the defaults events
// bring add nothing; a deleted page's or redirect's log stays, and goes
// on when it is written again; only admins may read them.
func TestHistory(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus, seo.Options{})
		c := f.client

		// A product's overrides.
		f.productEvent(t, product("p1", "lamp", "Lamp", "A lamp.", 1), "")
		eventually(t, "defaults", f.getMeta(f.anon, seo.KindProduct, "p1"), func(m seo.Metadata) bool { return m.Title == "Lamp" })
		put := seo.PutRequest{Kind: seo.KindProduct, EntityID: "p1", Title: "The Best Lamp", Robots: "noindex"}
		for _, r := range []seo.PutRequest{put, put} { // the second changes nothing
			if _, err := c.Put(f.Admin, r); err != nil {
				t.Fatal(err)
			}
		}
		put.Description, put.OpenGraph.Title = "Bright.", "Lamp!"
		if _, err := c.Put(f.Admin, put); err != nil {
			t.Fatal(err)
		}
		// New defaults are not overrides.
		f.productEvent(t, product("p1", "lamp-2", "Lamp 2", "A brighter lamp.", 2), "lamp")
		eventually(t, "v2 defaults", f.getMeta(f.Admin, seo.KindProduct, "p1"), func(m seo.Metadata) bool { return m.Path == "/products/lamp-2" })
		if _, err := c.Delete(f.Admin, seo.DeleteRequest{Kind: seo.KindProduct, EntityID: "p1"}); err != nil {
			t.Fatal(err)
		}
		for _, kind := range []string{"", seo.HistoryOverride} {
			h := mustHistory(t, f, shop.HistoryRequest{ID: "product:p1", Kind: kind})
			if h.ID != "product:p1" || h.Kind != seo.HistoryOverride || h.Deleted {
				t.Fatalf("history = %+v", h)
			}
			wantChanges(t, h,
				change{seo.MethodDelete, []string{"description", "og_title", "robots", "title"}},
				change{seo.MethodPut, []string{"description", "og_title"}},
				change{seo.MethodPut, []string{"robots", "title"}},
			)
		}

		// A content page: moved, deleted, written again.
		if _, err := c.Put(f.Admin, seo.PutRequest{Kind: seo.KindPage, EntityID: "about", Path: "/about", Title: "About"}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Put(f.Admin, seo.PutRequest{Kind: seo.KindPage, EntityID: "about", Path: "/about-us", Title: "About"}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Delete(f.Admin, seo.DeleteRequest{Kind: seo.KindPage, EntityID: "about"}); err != nil {
			t.Fatal(err)
		}
		h := mustHistory(t, f, shop.HistoryRequest{ID: "page:about"})
		if !h.Deleted {
			t.Fatalf("deleted page's history = %+v", h)
		}
		pageLog := []change{
			{seo.MethodDelete, nil},
			{seo.MethodPut, []string{"path"}},
			{seo.MethodPut, []string{"path", "title"}},
		}
		wantChanges(t, h, pageLog...)
		if _, err := c.Put(f.Admin, seo.PutRequest{Kind: seo.KindPage, EntityID: "about", Path: "/about-us", Title: "About us"}); err != nil {
			t.Fatal(err)
		}
		h = mustHistory(t, f, shop.HistoryRequest{ID: "page:about"})
		if h.Deleted {
			t.Fatalf("page written again still deleted: %+v", h)
		}
		wantChanges(t, h, append([]change{{seo.MethodPut, []string{"path", "title"}}}, pageLog...)...)

		// A redirect: changed, deleted, written again.
		for _, r := range []seo.PutRedirectRequest{
			{From: "/old-shop/item/12", To: "/lamp"},
			{From: "/old-shop/item/12/", To: "/lamp"}, // the same: nothing
			{From: "/old-shop/item/12", To: "/lamps", Status: seo.StatusFound},
		} {
			if _, err := c.PutRedirect(f.Admin, r); err != nil {
				t.Fatal(err)
			}
		}
		h = mustHistory(t, f, shop.HistoryRequest{ID: "/old-shop/item/12/", Kind: seo.HistoryRedirect})
		if h.ID != "/old-shop/item/12" || h.Kind != seo.HistoryRedirect || h.Deleted {
			t.Fatalf("redirect history = %+v", h)
		}
		redirectLog := []change{
			{seo.MethodPutRedirect, []string{"status", "to"}},
			{seo.MethodPutRedirect, []string{"status", "to"}},
		}
		wantChanges(t, h, redirectLog...)
		if _, err := c.DeleteRedirect(f.Admin, seo.DeleteRedirectRequest{From: "/old-shop/item/12"}); err != nil {
			t.Fatal(err)
		}
		redirectLog = append([]change{{seo.MethodDeleteRedirect, nil}}, redirectLog...)
		h = mustHistory(t, f, shop.HistoryRequest{ID: "/old-shop/item/12", Kind: seo.HistoryRedirect})
		if !h.Deleted {
			t.Fatalf("deleted redirect's history = %+v", h)
		}
		wantChanges(t, h, redirectLog...)
		if _, err := c.PutRedirect(f.Admin, seo.PutRedirectRequest{From: "/old-shop/item/12", To: "/lamp"}); err != nil {
			t.Fatal(err)
		}
		h = mustHistory(t, f, shop.HistoryRequest{ID: "/old-shop/item/12", Kind: seo.HistoryRedirect})
		if h.Deleted {
			t.Fatalf("redirect written again still deleted: %+v", h)
		}
		wantChanges(t, h, append([]change{{seo.MethodPutRedirect, []string{"status", "to"}}}, redirectLog...)...)

		// Who may ask, and what.
		for _, tc := range []struct {
			ctx  context.Context
			r    shop.HistoryRequest
			code transport.Code
		}{
			{f.anon, shop.HistoryRequest{ID: "product:p1"}, transport.CodeUnauthenticated},
			{f.Customer, shop.HistoryRequest{ID: "product:p1"}, transport.CodeForbidden},
			{f.Customer, shop.HistoryRequest{ID: "/old-shop/item/12", Kind: seo.HistoryRedirect}, transport.CodeForbidden},
			{f.Admin, shop.HistoryRequest{ID: "p1"}, transport.CodeInvalid},
			{f.Admin, shop.HistoryRequest{ID: "shoe:p1"}, transport.CodeInvalid},
			{f.Admin, shop.HistoryRequest{ID: "product:../x"}, transport.CodeInvalid},
			{f.Admin, shop.HistoryRequest{ID: "old-shop", Kind: seo.HistoryRedirect}, transport.CodeInvalid},
			{f.Admin, shop.HistoryRequest{ID: "product:p1", Kind: "product"}, transport.CodeInvalid},
			{f.Admin, shop.HistoryRequest{ID: "page:nowhere"}, transport.CodeNotFound},
			{f.Admin, shop.HistoryRequest{ID: "/nowhere", Kind: seo.HistoryRedirect}, transport.CodeNotFound},
		} {
			_, err := c.History(tc.ctx, tc.r)
			wantCode(t, err, tc.code)
		}
	})
}
