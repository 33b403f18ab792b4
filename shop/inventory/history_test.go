package inventory_test

import (
	"testing"

	"github.com/shopbus/shopbus/internal/audit/audittest"
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

		admin := audittest.By(shoptest.AdminEmail)
		logs := audittest.Reader{History: inv.History, Admin: e.admin, Kind: inventory.HistoryKind}
		for sku, actions := range map[string][]string{
			"MUG-1": {inventory.MethodSetStockMany, inventory.MethodAdjust, inventory.MethodSetStock},
			"TEA-1": {inventory.MethodSetStockMany},
		} {
			var want []audittest.Change
			for _, action := range actions {
				c := admin(action, "on_hand")
				c.Time = e.clock.Now()
				want = append(want, c)
			}
			logs.Want(t, shop.HistoryRequest{ID: sku}, false, want...)
			logs.Want(t, shop.HistoryRequest{ID: sku, Kind: inventory.HistoryKind}, false, want...)
		}

		audittest.CheckRefusals(t, inv.History, audittest.Refusals{
			Admin: e.admin, Customer: e.customer,
			Readable: []shop.HistoryRequest{{ID: "MUG-1"}},
			Invalid:  []shop.HistoryRequest{{ID: "../etc"}, {ID: ""}, {ID: "MUG-1", Kind: "order"}},
			Unknown:  []shop.HistoryRequest{{ID: "NOPE-1"}},
		})
	})
}
