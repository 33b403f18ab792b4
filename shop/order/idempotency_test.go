package order_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/idem/idemtest"
	"github.com/shopbus/shopbus/shop/order"
	"github.com/shopbus/shopbus/transport"
)

// TestRequestsApplyOnce sends every state-changing method twice with one
// request id: the repeat answers the same and changes nothing (one
// order, one authorisation).
func TestRequestsApplyOnce(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		e := start(t, bus, order.Options{})
		mug := e.product(t, "Mug", 1250, 100)
		customer := e.auth.Customer
		paid := func() order.Order {
			e.add(t, customer, mug, 1)
			return e.place(t, customer, request())
		}
		toCancel, toShip := paid(), paid()
		body := func(v any) string {
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
		var placed []string
		cases := []idemtest.Case{
			{Method: order.MethodPlace, Body: body(request()), Ctx: func(t *testing.T) context.Context {
				buyer, _ := e.auth.NewCustomer(t, "", "")
				e.add(t, buyer, mug, 2)
				return buyer
			}},
			{Method: order.MethodCancel, Body: body(order.CancelRequest{ID: toCancel.ID}), Ctx: func(*testing.T) context.Context { return customer }},
			{Method: order.MethodSetStatus, Body: body(order.SetStatusRequest{ID: toShip.ID, Status: order.StatusShipped}), Ctx: func(*testing.T) context.Context { return e.auth.Admin }},
		}
		for _, c := range cases {
			t.Run(c.Method, func(t *testing.T) {
				idemtest.Twice(t, bus, e.db, c, idemtest.Options{Ignore: []string{"outbox", "outbox_pending"}})
			})
		}
		page := must(e.orders.List(e.auth.Admin, order.ListRequest{Status: order.StatusPaid}))(t)
		for _, o := range page.Orders {
			if o.ID != toCancel.ID && o.ID != toShip.ID {
				placed = append(placed, o.ID)
			}
		}
		if len(placed) != 1 {
			t.Fatalf("the place case made %d orders, want 1", len(placed))
		}
		if n := e.pay.Authorizations(placed[0]); n != 1 {
			t.Fatalf("%d authorisations, want 1", n)
		}
		e.wantStock(t, mug.SKU, 100-1-2, 0) // shipped 1, placed 2, the cancelled 1 restocked
		idemtest.Covered(t, order.Handler(e.srv).Methods(), []string{order.MethodQuote, order.MethodGet, order.MethodList, order.MethodShippingMethods, order.MethodHistory}, cases)
	})
}
