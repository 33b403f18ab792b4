package inventory_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/shop/inventory"
	"github.com/shopbus/shopbus/transport"
)

// TestSetStockMany sets several SKUs in one call: each as set_stock would
// (new, unchanged, raised), each with its event; a SKU that cannot be set
// (more reserved than asked) is a conflict in its result while the others
// are set; a request with a bad item writes nothing.
func TestSetStockMany(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		e := start(t, bus, inventory.Options{})
		ev := record(t, bus)
		e.set(t, "SAME", 3)
		e.set(t, "HELD", 5)
		must(e.inv.Reserve(e.customer, reserve("o1", line("HELD", 4))))(t)

		res := must(e.inv.SetStockMany(e.admin, inventory.SetStockManyRequest{Items: []inventory.SetStockRequest{
			{SKU: "NEW", OnHand: 7}, {SKU: "SAME", OnHand: 3}, {SKU: "HELD", OnHand: 2}, {SKU: "ZERO", OnHand: 0},
		}}))(t)
		if len(res) != 4 {
			t.Fatalf("%d results: %+v", len(res), res)
		}
		for i, want := range []struct {
			sku             string
			onHand, version int64
		}{{"NEW", 7, 1}, {"SAME", 3, 1}, {"HELD", 0, 0}, {"ZERO", 0, 1}} {
			r := res[i]
			if r.SKU != want.sku {
				t.Fatalf("result %d is %s, want %s", i, r.SKU, want.sku)
			}
			if want.version == 0 {
				if r.Stock != nil || r.Error == nil || r.Error.Code != transport.CodeConflict {
					t.Fatalf("%s: %+v, want a conflict", r.SKU, r)
				}
				continue
			}
			if r.Error != nil || r.Stock == nil || r.Stock.OnHand != want.onHand || r.Stock.Version != want.version {
				t.Fatalf("%s: %+v (%+v), want %d on hand at version %d", r.SKU, r, r.Stock, want.onHand, want.version)
			}
		}
		e.wantStock(t, "NEW", 7, 0)
		e.wantStock(t, "SAME", 3, 0)
		e.wantStock(t, "HELD", 5, 4)
		e.wantStock(t, "ZERO", 0, 0)
		ev.waitFor(t, "NEW", 1, 7)
		ev.waitFor(t, "ZERO", 1, 0)

		// Bad input: nothing is written.
		items := func(list ...inventory.SetStockRequest) inventory.SetStockManyRequest {
			return inventory.SetStockManyRequest{Items: list}
		}
		for _, c := range []struct {
			req   inventory.SetStockManyRequest
			field string
		}{
			{items(), "items"},
			{items(make([]inventory.SetStockRequest, inventory.MaxLines+1)...), "items"},
			{items(inventory.SetStockRequest{SKU: "NEW2", OnHand: 1}, inventory.SetStockRequest{SKU: "NEW2", OnHand: 2}), "items[1].sku"},
			{items(inventory.SetStockRequest{SKU: "NEW2", OnHand: 1}, inventory.SetStockRequest{SKU: "$where", OnHand: 2}), "items[1].sku"},
			{items(inventory.SetStockRequest{SKU: "NEW2", OnHand: 1}, inventory.SetStockRequest{SKU: "NEW3", OnHand: -1}), "items[1].on_hand"},
			{items(inventory.SetStockRequest{SKU: "NEW2", OnHand: inventory.MaxUnits + 1}), "items[0].on_hand"},
		} {
			_, err := e.inv.SetStockMany(e.admin, c.req)
			wantField(t, err, transport.CodeInvalid, c.field, "")
		}
		_, err := e.inv.Get(context.Background(), inventory.GetRequest{SKU: "NEW2"})
		wantCode(t, err, transport.CodeNotFound)

		// Who may write.
		one := items(inventory.SetStockRequest{SKU: "NEW", OnHand: 1})
		_, err = e.inv.SetStockMany(context.Background(), one)
		wantCode(t, err, transport.CodeUnauthenticated)
		_, err = e.inv.SetStockMany(e.customer, one)
		wantCode(t, err, transport.CodeForbidden)
		e.wantStock(t, "NEW", 7, 0)

		// The most SKUs at once.
		var full []inventory.SetStockRequest
		for i := range inventory.MaxLines {
			full = append(full, inventory.SetStockRequest{SKU: fmt.Sprintf("BULK-%03d", i), OnHand: int64(i)})
		}
		res = must(e.inv.SetStockMany(e.admin, items(full...)))(t)
		for i, r := range res {
			if r.SKU != full[i].SKU || r.Stock == nil || r.Stock.OnHand != int64(i) {
				t.Fatalf("result %d: %+v", i, r)
			}
		}
		many := must(e.inv.GetMany(context.Background(), inventory.GetManyRequest{SKUs: []string{"BULK-000", "BULK-099"}}))(t)
		if len(many) != 2 || many[1].OnHand != 99 {
			t.Fatalf("get many after set many: %+v", many)
		}
	})
}

// TestSetStockManyIfAbsent stocks only the SKUs without a stock record:
// the others are kept as they are (reported with their stock and Kept),
// with no event; the new ones get their event, and a repeat of the call
// keeps them all. The new records carry no waiting events (their events
// waited in a batch record, gone once they were out).
func TestSetStockManyIfAbsent(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		e := start(t, bus, inventory.Options{})
		ev := record(t, bus)
		e.set(t, "OLD", 3)
		ev.waitFor(t, "OLD", 1, 3)
		req := inventory.SetStockManyRequest{IfAbsent: true, Items: []inventory.SetStockRequest{
			{SKU: "NEW-A", OnHand: 7}, {SKU: "OLD", OnHand: 9}, {SKU: "NEW-B", OnHand: 0},
		}}
		res := must(e.inv.SetStockMany(e.admin, req))(t)
		for i, want := range []struct {
			sku    string
			onHand int64
			kept   bool
		}{{"NEW-A", 7, false}, {"OLD", 3, true}, {"NEW-B", 0, false}} {
			r := res[i]
			if r.SKU != want.sku || r.Error != nil || r.Stock == nil || r.Stock.OnHand != want.onHand || r.Stock.Version != 1 || r.Kept != want.kept {
				t.Fatalf("result %d: %+v (%+v), want %s with %d on hand at version 1, kept %v", i, r, r.Stock, want.sku, want.onHand, want.kept)
			}
		}
		e.wantStock(t, "OLD", 3, 0)
		e.wantStock(t, "NEW-A", 7, 0)
		ev.waitFor(t, "NEW-A", 1, 7)
		ev.waitFor(t, "NEW-B", 1, 0)

		// Again, as a new request: everything is kept.
		res = must(e.inv.SetStockMany(e.admin, req))(t)
		for _, r := range res {
			if !r.Kept || r.Stock == nil || r.Stock.Version != 1 {
				t.Fatalf("repeat: %+v, want kept at version 1", r)
			}
		}
		time.Sleep(100 * time.Millisecond)
		ev.mu.Lock()
		n := len(ev.list)
		ev.mu.Unlock()
		if n != 3 {
			t.Fatalf("%d events, want 3 (OLD's first setting, NEW-A, NEW-B)", n)
		}
		b := must(e.srv.EventBacklog(context.Background()))(t)
		if b.Pending != 0 {
			t.Fatalf("backlog %d after the events went out, want 0", b.Pending)
		}
	})
}
