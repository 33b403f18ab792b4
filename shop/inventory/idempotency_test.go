package inventory_test

import (
	"context"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/idem"
	"github.com/shopbus/shopbus/internal/idem/idemtest"
	"github.com/shopbus/shopbus/shop/inventory"
	"github.com/shopbus/shopbus/transport"
)

// TestRequestsApplyOnce sends every state-changing method twice with one
// request id: the repeat answers the same and changes nothing.
func TestRequestsApplyOnce(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		e := start(t, bus, inventory.Options{})
		e.set(t, "A", 10)
		must(e.inv.Reserve(e.customer, reserve("to-commit", line("A", 1))))(t)
		must(e.inv.Reserve(e.customer, reserve("to-release", line("A", 2))))(t)
		admin := func(*testing.T) context.Context { return e.admin }
		customer := func(*testing.T) context.Context { return e.customer }
		cases := []idemtest.Case{
			{Method: inventory.MethodSetStock, Body: `{"sku":"B","on_hand":4}`, Ctx: admin},
			{Method: inventory.MethodSetStockMany, Body: `{"items":[{"sku":"C","on_hand":4},{"sku":"D","on_hand":0},{"sku":"A","on_hand":1}]}`, Ctx: admin},
			{Method: inventory.MethodAdjust, Body: `{"sku":"A","delta":5}`, Ctx: admin},
			{Method: inventory.MethodReserve, Body: `{"order_id":"new","lines":[{"sku":"A","quantity":3}]}`, Ctx: customer},
			{Method: inventory.MethodReserve, Body: `{"order_id":"short","lines":[{"sku":"A","quantity":99}]}`, Ctx: customer},
			{Method: inventory.MethodCommit, Body: `{"order_id":"to-commit"}`, Ctx: customer},
			{Method: inventory.MethodRelease, Body: `{"order_id":"to-release"}`, Ctx: customer},
			{Method: inventory.MethodRelease, Body: `{"order_id":"unknown"}`, Ctx: customer},
		}
		for _, c := range cases {
			t.Run(c.Method, func(t *testing.T) {
				idemtest.Twice(t, bus, e.db, c, idemtest.Options{Ignore: []string{"outbox", "outbox_pending"}})
			})
		}
		idemtest.Covered(t, inventory.Handler(e.srv).Methods(), []string{
			inventory.MethodGet, inventory.MethodGetMany, inventory.MethodGetReservation, inventory.MethodHistory,
		}, cases)
	})
}

// TestAdjustAfterCrash: an adjustment that was applied but whose outcome
// was not remembered (the process died in between) runs again with the
// same request id and is not applied twice; a reserve, commit or release
// run again finds its order's state and changes nothing either.
func TestAdjustAfterCrash(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		e := start(t, bus, inventory.Options{})
		e.set(t, "A", 10)
		forget := func() {
			t.Helper()
			if _, err := e.db.Collection(idem.Collection).DeleteMany(context.Background(), bson.D{}); err != nil {
				t.Fatal(err)
			}
		}
		ctx := transport.WithRequestID(e.admin, transport.NewRequestID())
		must(e.srv.Adjust(ctx, inventory.AdjustRequest{SKU: "A", Delta: 5}))(t)
		forget()
		must(e.srv.Adjust(ctx, inventory.AdjustRequest{SKU: "A", Delta: 5}))(t)
		e.wantStock(t, "A", 15, 0)
		// Another request adjusts again.
		must(e.srv.Adjust(transport.WithRequestID(e.admin, transport.NewRequestID()), inventory.AdjustRequest{SKU: "A", Delta: 5}))(t)
		e.wantStock(t, "A", 20, 0)

		ctx = transport.WithRequestID(e.customer, transport.NewRequestID())
		first := must(e.srv.Reserve(ctx, reserve("o1", line("A", 4))))(t)
		forget()
		again := must(e.srv.Reserve(ctx, reserve("o1", line("A", 4))))(t)
		if again.Version != first.Version {
			t.Fatalf("re-run reserve: %+v, first %+v", again, first)
		}
		e.wantStock(t, "A", 20, 4)
		must(e.srv.Commit(ctx, inventory.OrderRequest{OrderID: "o1"}))(t)
		forget()
		must(e.srv.Commit(ctx, inventory.OrderRequest{OrderID: "o1"}))(t)
		e.wantStock(t, "A", 16, 0)
	})
}
