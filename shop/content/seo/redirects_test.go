package seo_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/content/seo"
	"github.com/shopbus/shopbus/transport"
)

func froms(p seo.RedirectPage) []string {
	var out []string
	for _, r := range p.Redirects {
		out = append(out, r.From)
	}
	return out
}

// TestRedirectsPutListDelete, on both buses: the admin's redirects are
// written (normalised), listed sorted by path with a prefix and pages,
// and deleted; only admins may do any of it.
func TestRedirectsPutListDelete(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus, seo.Options{})
		for _, c := range []struct {
			ctx  context.Context
			code transport.Code
		}{{f.anon, transport.CodeUnauthenticated}, {f.Customer, transport.CodeForbidden}} {
			_, err := f.client.PutRedirect(c.ctx, seo.PutRedirectRequest{From: "/a", To: "/b"})
			wantCode(t, err, c.code)
			_, err = f.client.ListRedirects(c.ctx, seo.ListRedirectsRequest{})
			wantCode(t, err, c.code)
			_, err = f.client.DeleteRedirect(c.ctx, seo.DeleteRedirectRequest{From: "/a"})
			wantCode(t, err, c.code)
		}

		r, err := f.client.PutRedirect(f.Admin, seo.PutRedirectRequest{From: " /old-shop//item/./12/ ", To: "/products/mug"})
		if err != nil {
			t.Fatal(err)
		}
		if r.From != "/old-shop/item/12" || r.To != "/products/mug" || r.Status != seo.StatusMovedPermanently || r.UpdatedAt.IsZero() {
			t.Fatalf("put: %+v", r)
		}
		// Percent-escapes are decoded; UTF-8 paths are fine; a query in a
		// local target is kept, its non-ASCII bytes escaped.
		r, err = f.client.PutRedirect(f.Admin, seo.PutRedirectRequest{From: "/caf%C3%A9", To: "/search?q=café", Status: seo.StatusFound})
		if err != nil || r.From != "/café" || r.To != "/search?q=caf%C3%A9" || r.Status != seo.StatusFound {
			t.Fatalf("put UTF-8: %+v, %v", r, err)
		}
		for _, from := range []string{"/sale/shoes", "/sale/boots", "/sale", "/salt", "/z", "/été"} {
			if _, err := f.client.PutRedirect(f.Admin, seo.PutRedirectRequest{From: from, To: "https://campaign.example/x?utm=1"}); err != nil {
				t.Fatal(err)
			}
		}
		// Replacing one keeps one document.
		if _, err := f.client.PutRedirect(f.Admin, seo.PutRedirectRequest{From: "/z", To: "/zz", Status: 302}); err != nil {
			t.Fatal(err)
		}

		all, err := f.client.ListRedirects(f.Admin, seo.ListRedirectsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"/café", "/old-shop/item/12", "/sale", "/sale/boots", "/sale/shoes", "/salt", "/z", "/été"}
		if !slices.Equal(froms(all), want) || all.NextCursor != "" {
			t.Fatalf("list = %v (next %q), want %v", froms(all), all.NextCursor, want)
		}
		if z := all.Redirects[6]; z.To != "/zz" || z.Status != 302 {
			t.Fatalf("replaced redirect: %+v", z)
		}
		sale, err := f.client.ListRedirects(f.Admin, seo.ListRedirectsRequest{Prefix: "/sale"})
		if err != nil || !slices.Equal(froms(sale), []string{"/sale", "/sale/boots", "/sale/shoes"}) {
			t.Fatalf("prefix /sale: %v, %v", froms(sale), err)
		}
		if p, err := f.client.ListRedirects(f.Admin, seo.ListRedirectsRequest{Prefix: "/%C3%A9"}); err != nil || !slices.Equal(froms(p), []string{"/été"}) {
			t.Fatalf("prefix /é: %v, %v", froms(p), err)
		}
		// Pages of two, through the cursor.
		var paged []string
		req := seo.ListRedirectsRequest{Limit: 2}
		for range 10 {
			p, err := f.client.ListRedirects(f.Admin, req)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Redirects) > 2 {
				t.Fatalf("page of %d", len(p.Redirects))
			}
			paged = append(paged, froms(p)...)
			if p.NextCursor == "" {
				break
			}
			req.Cursor = p.NextCursor
		}
		if !slices.Equal(paged, want) {
			t.Fatalf("paged: %v", paged)
		}
		p, err := f.client.ListRedirects(f.Admin, seo.ListRedirectsRequest{Prefix: "/sale", Limit: 2})
		if err != nil || !slices.Equal(froms(p), []string{"/sale", "/sale/boots"}) || p.NextCursor != "/sale/boots" {
			t.Fatalf("first page of /sale: %v %q %v", froms(p), p.NextCursor, err)
		}
		p, err = f.client.ListRedirects(f.Admin, seo.ListRedirectsRequest{Prefix: "/sale", Limit: 2, Cursor: p.NextCursor})
		if err != nil || !slices.Equal(froms(p), []string{"/sale/shoes"}) || p.NextCursor != "" {
			t.Fatalf("second page of /sale: %v %q %v", froms(p), p.NextCursor, err)
		}
		for _, bad := range []seo.ListRedirectsRequest{{Limit: -1}, {Limit: seo.MaxRedirectPageSize + 1}, {Prefix: "sale"}, {Cursor: "x"}} {
			_, err := f.client.ListRedirects(f.Admin, bad)
			wantCode(t, err, transport.CodeInvalid)
		}

		if d, err := f.client.DeleteRedirect(f.Admin, seo.DeleteRedirectRequest{From: "/sale/"}); err != nil || d.From != "/sale" {
			t.Fatalf("delete: %+v, %v", d, err)
		}
		_, err = f.client.DeleteRedirect(f.Admin, seo.DeleteRedirectRequest{From: "/sale"})
		wantCode(t, err, transport.CodeNotFound)
		_, err = f.client.DeleteRedirect(f.Admin, seo.DeleteRedirectRequest{From: "sale"})
		wantCode(t, err, transport.CodeInvalid)
		_, err = f.client.Resolve(f.anon, seo.ResolveRequest{Path: "/sale"})
		wantCode(t, err, transport.CodeNotFound)
		if res, err := f.client.Resolve(f.anon, seo.ResolveRequest{Path: "/sale/boots?x=1"}); err != nil ||
			res.Redirect != "https://campaign.example/x?utm=1" || res.Status != 301 {
			t.Fatalf("resolve /sale/boots: %+v, %v", res, err)
		}
		if res, err := f.client.Resolve(f.anon, seo.ResolveRequest{Path: "/café"}); err != nil || res.Redirect != "/search?q=caf%C3%A9" || res.Status != 302 {
			t.Fatalf("resolve /café: %+v, %v", res, err)
		}
	})
}

// TestRedirectValidation: malformed redirects are refused with the field
// at fault, and nothing is stored.
func TestRedirectValidation(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus, seo.Options{})
		long := "/" + strings.Repeat("a", seo.MaxPathLen)
		for _, c := range []struct {
			req   seo.PutRedirectRequest
			field string
		}{
			{seo.PutRedirectRequest{From: "", To: "/x"}, "from"},
			{seo.PutRedirectRequest{From: "old", To: "/x"}, "from"},
			{seo.PutRedirectRequest{From: "//evil.example/x", To: "/x"}, "from"},
			{seo.PutRedirectRequest{From: "/old?x=1", To: "/x"}, "from"},
			{seo.PutRedirectRequest{From: "/old#top", To: "/x"}, "from"},
			{seo.PutRedirectRequest{From: "/old%3Fx", To: "/x"}, "from"},
			{seo.PutRedirectRequest{From: "/a b", To: "/x"}, "from"},
			{seo.PutRedirectRequest{From: "/a%zz", To: "/x"}, "from"},
			{seo.PutRedirectRequest{From: "/a\x00b", To: "/x"}, "from"},
			{seo.PutRedirectRequest{From: "/%FF", To: "/x"}, "from"},
			{seo.PutRedirectRequest{From: long, To: "/x"}, "from"},
			{seo.PutRedirectRequest{From: "/", To: "/x"}, "from"},
			{seo.PutRedirectRequest{From: "/admin", To: "/x"}, "from"},
			{seo.PutRedirectRequest{From: "/admin/products", To: "/x"}, "from"},
			{seo.PutRedirectRequest{From: "/api/me", To: "/x"}, "from"},
			{seo.PutRedirectRequest{From: "/static/style.css", To: "/x"}, "from"},
			{seo.PutRedirectRequest{From: "/media/a.jpg", To: "/x"}, "from"},
			{seo.PutRedirectRequest{From: "/cart", To: "/x"}, "from"},
			{seo.PutRedirectRequest{From: "/checkout", To: "/x"}, "from"},
			{seo.PutRedirectRequest{From: "/orders/o1", To: "/x"}, "from"},
			{seo.PutRedirectRequest{From: "/login", To: "/x"}, "from"},
			{seo.PutRedirectRequest{From: "/blog", To: "/x"}, "from"},
			{seo.PutRedirectRequest{From: "/sitemap.xml", To: "/x"}, "from"},
			{seo.PutRedirectRequest{From: "/sitemap-2.xml", To: "/x"}, "from"},
			{seo.PutRedirectRequest{From: "/robots.txt", To: "/x"}, "from"},
			{seo.PutRedirectRequest{From: "/old", To: ""}, "to"},
			{seo.PutRedirectRequest{From: "/old", To: "old"}, "to"},
			{seo.PutRedirectRequest{From: "/old", To: "/old"}, "to"},
			{seo.PutRedirectRequest{From: "/old", To: "/old/?x=1"}, "to"},
			{seo.PutRedirectRequest{From: "/old", To: "//evil.example/"}, "to"},
			{seo.PutRedirectRequest{From: "/old", To: "/\\evil.example"}, "to"},
			{seo.PutRedirectRequest{From: "/old", To: "javascript:alert(1)"}, "to"},
			{seo.PutRedirectRequest{From: "/old", To: "ftp://files.example/x"}, "to"},
			{seo.PutRedirectRequest{From: "/old", To: "https://user:pw@evil.example/"}, "to"},
			{seo.PutRedirectRequest{From: "/old", To: "https:///nohost"}, "to"},
			{seo.PutRedirectRequest{From: "/old", To: "https://exämple.com/"}, "to"},
			{seo.PutRedirectRequest{From: "/old", To: "/x y"}, "to"},
			{seo.PutRedirectRequest{From: "/old", To: "/x#frag"}, "to"},
			{seo.PutRedirectRequest{From: "/old", To: "https://e.example/" + strings.Repeat("a", seo.MaxURLLen)}, "to"},
			{seo.PutRedirectRequest{From: "/old", To: "/new", Status: 307}, "status"},
			{seo.PutRedirectRequest{From: "/old", To: "/new", Status: -1}, "status"},
		} {
			_, err := f.client.PutRedirect(f.Admin, c.req)
			if e := transport.AsError(err); e == nil || e.Code != transport.CodeInvalid || e.Field(c.field) == "" {
				t.Errorf("PutRedirect(%#v) = %v, want invalid %s", c.req, err, c.field)
			}
		}
		_, err := bus.Call(f.Admin, seo.MethodPutRedirect, []byte(`{"from": {"$ne": 1}, "to": "/x"}`))
		wantCode(t, err, transport.CodeInvalid)
		// Allowed: the old entity URLs, addresses that only start like a
		// reserved one, external http URLs with a fragment.
		for _, r := range []seo.PutRedirectRequest{
			{From: "/products/old-mug", To: "/products/mug"},
			{From: "/blog/old-post", To: "/blog/post"},
			{From: "/administration-guide", To: "http://docs.example/guide#start"},
			{From: "/cartoons", To: "/categories/kids"},
		} {
			if _, err := f.client.PutRedirect(f.Admin, r); err != nil {
				t.Errorf("PutRedirect(%+v): %v", r, err)
			}
		}
		p, err := f.client.ListRedirects(f.Admin, seo.ListRedirectsRequest{})
		if err != nil || len(p.Redirects) != 4 {
			t.Fatalf("stored: %+v, %v", p, err)
		}
	})
}

// TestRedirectChains: a redirect to a path that redirects is stored
// where the chain ends (a query and a temporary status carry over), a
// loop is refused, and a chain stops at a path an entity lives at.
func TestRedirectChains(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus, seo.Options{})
		put := func(from, to string, status int) (seo.Redirect, error) {
			return f.client.PutRedirect(f.Admin, seo.PutRedirectRequest{From: from, To: to, Status: status})
		}
		must := func(r seo.Redirect, err error) seo.Redirect {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		must(put("/c", "/d", 302))
		if r := must(put("/b", "/c", 0)); r.To != "/d" || r.Status != 302 {
			t.Fatalf("b → c → d stored as %+v", r)
		}
		if r := must(put("/a", "/b?utm=x", 301)); r.To != "/d?utm=x" || r.Status != 302 {
			t.Fatalf("a → b?utm=x stored as %+v", r)
		}
		must(put("/e", "https://elsewhere.example/landing", 301))
		if r := must(put("/f", "/e?src=f", 301)); r.To != "https://elsewhere.example/landing?src=f" || r.Status != 301 {
			t.Fatalf("f → e stored as %+v", r)
		}
		// Loops.
		for _, c := range [][2]string{{"/d", "/a"}, {"/d", "/b"}, {"/d", "/c?x=1"}} {
			_, err := put(c[0], c[1], 0)
			wantCode(t, err, transport.CodeConflict)
		}
		// A chain made by a later write answers with two hops, and a loop
		// through it is still refused.
		must(put("/g", "/h", 0))
		must(put("/h", "/i", 0))
		if res, err := f.client.Resolve(f.anon, seo.ResolveRequest{Path: "/g"}); err != nil || res.Redirect != "/h" {
			t.Fatalf("resolve /g: %+v, %v", res, err)
		}
		_, err := put("/i", "/g", 0)
		wantCode(t, err, transport.CodeConflict)
		// Too long a chain: MaxRedirectHops+1 redirects in a row, made
		// back to front so that none collapses.
		for i := seo.MaxRedirectHops + 1; i > 0; i-- {
			must(put(fmt.Sprintf("/long/%d", i), fmt.Sprintf("/long/%d", i+1), 0))
		}
		must(put("/long/1", "/long/2", 0)) // collapses to the end
		for i := seo.MaxRedirectHops + 2; i > 1; i-- {
			_, _ = f.client.DeleteRedirect(f.Admin, seo.DeleteRedirectRequest{From: fmt.Sprintf("/long/%d", i)})
		}
		// A chain stops where an entity lives: the page's own redirect is
		// shadowed, so /j keeps pointing at the page.
		if _, err := f.client.Put(f.Admin, seo.PutRequest{Kind: seo.KindPage, EntityID: "k", Path: "/k", Title: "K"}); err != nil {
			t.Fatal(err)
		}
		must(put("/k", "/elsewhere", 0))
		if r := must(put("/j", "/k", 0)); r.To != "/k" {
			t.Fatalf("j → k (a live page) stored as %+v", r)
		}
		// The same for a one-segment path naming a product's slug.
		f.productEvent(t, product("p1", "mug", "Mug", "", 1), "")
		eventually(t, "product", f.getMeta(f.anon, seo.KindProduct, "p1"), func(m seo.Metadata) bool { return m.Path == "/products/mug" })
		must(put("/mug", "/elsewhere", 0))
		if r := must(put("/cup", "/mug", 0)); r.To != "/mug" {
			t.Fatalf("cup → mug (a live product) stored as %+v", r)
		}
	})
}

// TestRedirectResolvePrecedence: an entity living at a path wins over the
// admin's redirect from it; the admin's redirect wins over an old path's
// automatic redirect and over not found; a draft's path redirects for the
// public, not for admins.
func TestRedirectResolvePrecedence(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus, seo.Options{})
		resolve := func(ctx context.Context, p string) (seo.Resolution, error) {
			return f.client.Resolve(ctx, seo.ResolveRequest{Path: p})
		}
		put := func(from, to string, status int) {
			t.Helper()
			if _, err := f.client.PutRedirect(f.Admin, seo.PutRedirectRequest{From: from, To: to, Status: status}); err != nil {
				t.Fatal(err)
			}
		}
		// Not found → the redirect.
		put("/spring", "/summer", seo.StatusFound)
		if res, err := resolve(f.anon, "/spring/?utm=x"); err != nil || res.Redirect != "/summer" || res.Status != 302 || res.Metadata != nil {
			t.Fatalf("/spring: %+v, %v", res, err)
		}
		// A live page wins; deleted, its redirect takes over.
		if _, err := f.client.Put(f.Admin, seo.PutRequest{Kind: seo.KindPage, EntityID: "about", Path: "/about", Title: "About"}); err != nil {
			t.Fatal(err)
		}
		put("/about", "/contact", 0)
		if res, err := resolve(f.anon, "/about"); err != nil || res.Metadata == nil || res.Metadata.EntityID != "about" || res.Redirect != "" {
			t.Fatalf("/about, a live page with a redirect: %+v, %v", res, err)
		}
		if _, err := f.client.Delete(f.Admin, seo.DeleteRequest{Kind: seo.KindPage, EntityID: "about"}); err != nil {
			t.Fatal(err)
		}
		if res, err := resolve(f.anon, "/about"); err != nil || res.Redirect != "/contact" || res.Status != 301 {
			t.Fatalf("/about, deleted: %+v, %v", res, err)
		}
		// The admin's redirect wins over an old path's automatic one; gone,
		// the automatic one is back.
		f.productEvent(t, product("p1", "old", "Shoe", "", 1), "")
		f.productEvent(t, product("p1", "new", "Shoe", "", 2), "old")
		eventually(t, "automatic redirect", func() (seo.Resolution, error) { return resolve(f.anon, "/products/old") },
			func(r seo.Resolution) bool { return r.Redirect == "/products/new" })
		put("/products/old", "/sale", seo.StatusFound)
		if res, err := resolve(f.anon, "/products/old"); err != nil || res.Redirect != "/sale" || res.Status != 302 {
			t.Fatalf("/products/old with the admin's redirect: %+v, %v", res, err)
		}
		put("/products/new", "/sale", 0) // the live product wins
		if res, err := resolve(f.anon, "/products/new"); err != nil || res.Metadata == nil || res.Metadata.EntityID != "p1" {
			t.Fatalf("/products/new, live: %+v, %v", res, err)
		}
		if _, err := f.client.DeleteRedirect(f.Admin, seo.DeleteRedirectRequest{From: "/products/old"}); err != nil {
			t.Fatal(err)
		}
		if res, err := resolve(f.anon, "/products/old"); err != nil || res.Redirect != "/products/new" || res.Status != 301 {
			t.Fatalf("/products/old without the admin's redirect: %+v, %v", res, err)
		}
		// A draft's path: the public follows the redirect, an admin sees
		// the draft.
		draft := product("p2", "secret", "Secret", "", 1)
		draft.Status = shop.StatusDraft
		f.productEvent(t, draft, "")
		eventually(t, "draft known", f.getMeta(f.Admin, seo.KindProduct, "p2"), func(seo.Metadata) bool { return true })
		put("/products/secret", "/coming-soon", seo.StatusFound)
		if res, err := resolve(f.anon, "/products/secret"); err != nil || res.Redirect != "/coming-soon" {
			t.Fatalf("a draft's path for the public: %+v, %v", res, err)
		}
		if res, err := resolve(f.Admin, "/products/secret"); err != nil || res.Metadata == nil || res.Metadata.EntityID != "p2" {
			t.Fatalf("a draft's path for an admin: %+v, %v", res, err)
		}
	})
}
