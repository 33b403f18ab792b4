package seo_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/idem/idemtest"
	"github.com/shopbus/shopbus/shop/content/seo"
	"github.com/shopbus/shopbus/transport"
)

// TestRequestsApplyOnce sends every state-changing method twice with one
// request id: the first call changes something, the repeat answers the
// same and changes nothing.
func TestRequestsApplyOnce(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus, seo.Options{})
		if _, err := f.client.Put(f.Admin, seo.PutRequest{Kind: seo.KindPage, EntityID: "gone", Path: "/gone", Title: "Gone soon"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.client.PutRedirect(f.Admin, seo.PutRedirectRequest{From: "/gone-soon", To: "/about"}); err != nil {
			t.Fatal(err)
		}
		admin := func(*testing.T) context.Context { return f.Admin }
		cases := []idemtest.Case{
			{Method: seo.MethodPut, Body: `{"kind":"page","entity_id":"about","path":"/about","title":"About us"}`, Ctx: admin},
			{Method: seo.MethodPut, Body: `{"kind":"product","entity_id":"p1","title":"Red shoe","robots":"noindex"}`, Ctx: admin},
			{Method: seo.MethodDelete, Body: `{"kind":"page","entity_id":"gone"}`, Ctx: admin},
			{Method: seo.MethodPutRedirect, Body: `{"from":"/old-shop/item/12","to":"/about","status":302}`, Ctx: admin},
			{Method: seo.MethodDeleteRedirect, Body: `{"from":"/gone-soon"}`, Ctx: admin},
		}
		for _, c := range cases {
			t.Run(c.Method, func(t *testing.T) {
				before := idemtest.Snapshot(t, f.db)
				idemtest.Twice(t, bus, f.db, c, idemtest.Options{})
				if reflect.DeepEqual(before, idemtest.Snapshot(t, f.db)) {
					t.Errorf("%s %s changed nothing: the case proves nothing", c.Method, c.Body)
				}
			})
		}
		idemtest.Covered(t, seo.Handler(f.srv).Methods(), []string{seo.MethodGet, seo.MethodResolve, seo.MethodSitemap, seo.MethodListRedirects, seo.MethodHistory}, cases)
	})
}
