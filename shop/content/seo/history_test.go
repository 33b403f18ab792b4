package seo_test

import (
	"testing"

	"github.com/shopbus/shopbus/internal/audit/audittest"
	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/shoptest"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/content/seo"
	"github.com/shopbus/shopbus/transport"
)

// TestHistory checks the audit logs of overrides and of redirects: each
// admin write names its admin, its action and the fields it changed,
// newest first; a write that changes nothing and the defaults events
// bring add nothing; a deleted page's or redirect's log stays, and goes
// on when it is written again; only admins may read them.
func TestHistory(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus, seo.Options{})
		c := f.client
		admin := audittest.By(shoptest.AdminEmail)
		logs := audittest.Reader{History: c.History, Admin: f.Admin, Kind: seo.HistoryOverride}

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
			logs.Want(t, shop.HistoryRequest{ID: "product:p1", Kind: kind}, false,
				admin(seo.MethodDelete, "description", "og_title", "robots", "title"),
				admin(seo.MethodPut, "description", "og_title"),
				admin(seo.MethodPut, "robots", "title"),
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
		page := shop.HistoryRequest{ID: "page:about"}
		pageLog := []audittest.Change{
			admin(seo.MethodDelete),
			admin(seo.MethodPut, "path"),
			admin(seo.MethodPut, "path", "title"),
		}
		logs.Want(t, page, true, pageLog...)
		if _, err := c.Put(f.Admin, seo.PutRequest{Kind: seo.KindPage, EntityID: "about", Path: "/about-us", Title: "About us"}); err != nil {
			t.Fatal(err)
		}
		logs.Want(t, page, false, append([]audittest.Change{admin(seo.MethodPut, "path", "title")}, pageLog...)...)

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
		const from = "/old-shop/item/12"
		redirect := shop.HistoryRequest{ID: from, Kind: seo.HistoryRedirect}
		redirectLog := []audittest.Change{
			admin(seo.MethodPutRedirect, "status", "to"),
			admin(seo.MethodPutRedirect, "status", "to"),
		}
		// Asked for as written, answered as stored.
		h, err := c.History(f.Admin, shop.HistoryRequest{ID: from + "/", Kind: seo.HistoryRedirect})
		if err != nil {
			t.Fatal(err)
		}
		audittest.WantLog(t, h, seo.HistoryRedirect, from, false, redirectLog...)
		if _, err := c.DeleteRedirect(f.Admin, seo.DeleteRedirectRequest{From: from}); err != nil {
			t.Fatal(err)
		}
		redirectLog = append([]audittest.Change{admin(seo.MethodDeleteRedirect)}, redirectLog...)
		logs.Want(t, redirect, true, redirectLog...)
		if _, err := c.PutRedirect(f.Admin, seo.PutRedirectRequest{From: from, To: "/lamp"}); err != nil {
			t.Fatal(err)
		}
		logs.Want(t, redirect, false, append([]audittest.Change{admin(seo.MethodPutRedirect, "status", "to")}, redirectLog...)...)

		// Who may ask, and what.
		audittest.CheckRefusals(t, c.History, audittest.Refusals{
			Admin: f.Admin, Anonymous: f.anon, Customer: f.Customer,
			Readable: []shop.HistoryRequest{{ID: "product:p1"}, redirect},
			Invalid: []shop.HistoryRequest{
				{ID: "p1"}, {ID: "shoe:p1"}, {ID: "product:../x"},
				{ID: "old-shop", Kind: seo.HistoryRedirect},
				{ID: "product:p1", Kind: "product"},
			},
			Unknown: []shop.HistoryRequest{{ID: "page:nowhere"}, {ID: "/nowhere", Kind: seo.HistoryRedirect}},
		})
	})
}
