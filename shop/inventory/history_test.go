package inventory_test

import (
	"context"
	"slices"
	"testing"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/shoptest"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/inventory"
	"github.com/shopbus/shopbus/transport"
)

// TestHistory checks a SKU's audit log: each admin write (set_stock,
// set_stock_many, adjust) names its admin, its action and on_hand, newest
// first; a write that changes nothing, and checkout's reservations,
// commits and releases, add nothing; only admins may read it.
func TestHistory(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		e := start(t, bus, inventory.Options{})
		inv := e.inv
		must := func(what string, err error) {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		}
		_, err := inv.SetStock(e.admin, inventory.SetStockRequest{SKU: "MUG-1", OnHand: 10})
		must("set", err)
		_, err = inv.SetStock(e.admin, inventory.SetStockRequest{SKU: "MUG-1", OnHand: 10}) // no change
		must("set again", err)
		_, err = inv.Adjust(e.admin, inventory.AdjustRequest{SKU: "MUG-1", Delta: 5})
		must("adjust", err)
		res, err := inv.SetStockMany(e.admin, inventory.SetStockManyRequest{Items: []inventory.SetStockRequest{
			{SKU: "MUG-1", OnHand: 20}, {SKU: "TEA-1", OnHand: 3},
		}})
		must("set many", err)
		if len(res) != 2 || res[0].Error != nil || res[1].Error != nil {
			t.Fatalf("set many: %+v", res)
		}
		// Checkout's changes are not recorded.
		for _, order := range []string{"o1", "o2"} {
			_, err = inv.Reserve(e.customer, inventory.ReserveRequest{OrderID: order, Lines: []inventory.Line{{SKU: "MUG-1", Quantity: 2}, {SKU: "TEA-1", Quantity: 1}}})
			must("reserve "+order, err)
		}
		_, err = inv.Commit(e.customer, inventory.OrderRequest{OrderID: "o1"})
		must("commit", err)
		_, err = inv.Release(e.customer, inventory.OrderRequest{OrderID: "o2"})
		must("release", err)
		if st, err := inv.Get(e.admin, inventory.GetRequest{SKU: "MUG-1"}); err != nil || st.OnHand != 18 || st.Reserved != 0 {
			t.Fatalf("stock after checkout: %+v, %v", st, err)
		}

		for sku, want := range map[string][]string{
			"MUG-1": {inventory.MethodSetStockMany, inventory.MethodAdjust, inventory.MethodSetStock},
			"TEA-1": {inventory.MethodSetStockMany},
		} {
			for _, kind := range []string{"", inventory.HistoryKind} {
				h, err := inv.History(e.admin, shop.HistoryRequest{ID: sku, Kind: kind})
				must("history of "+sku, err)
				if h.ID != sku || h.Kind != inventory.HistoryKind || h.Deleted || len(h.Changes) != len(want) {
					t.Fatalf("history of %s = %+v, want %v", sku, h, want)
				}
				for i, c := range h.Changes {
					if c.Action != want[i] || !slices.Equal(c.Fields, []string{"on_hand"}) ||
						c.Email != shoptest.AdminEmail || c.UserID == "" || !c.Time.Equal(e.clock.Now()) {
						t.Errorf("%s change %d = %+v, want %s of on_hand by %s", sku, i, c, want[i], shoptest.AdminEmail)
					}
				}
			}
		}

		for _, tc := range []struct {
			ctx  context.Context
			r    shop.HistoryRequest
			code transport.Code
		}{
			{context.Background(), shop.HistoryRequest{ID: "MUG-1"}, transport.CodeUnauthenticated},
			{e.customer, shop.HistoryRequest{ID: "MUG-1"}, transport.CodeForbidden},
			{e.admin, shop.HistoryRequest{ID: "../etc"}, transport.CodeInvalid},
			{e.admin, shop.HistoryRequest{ID: ""}, transport.CodeInvalid},
			{e.admin, shop.HistoryRequest{ID: "MUG-1", Kind: "order"}, transport.CodeInvalid},
			{e.admin, shop.HistoryRequest{ID: "NOPE-1"}, transport.CodeNotFound},
		} {
			_, err := inv.History(tc.ctx, tc.r)
			if !shop.IsCode(err, tc.code) {
				t.Errorf("history %+v: %v, want %s", tc.r, err, tc.code)
			}
		}
	})
}
