package order_test

import (
	"context"
	"testing"

	"github.com/shopbus/shopbus/internal/audit/audittest"
	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/shoptest"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/order"
	"github.com/shopbus/shopbus/transport"
)

// TestHistory checks an order's audit log: the checkout saga's steps
// name no one, an admin's ship and cancel name the admin, a customer's
// cancel the customer; leases and repeats add nothing; only admins may
// read it.
func TestHistory(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		e := start(t, bus, order.Options{})
		mug := e.product(t, "Mug", 1250, 5)
		customer := e.auth.Customer
		admin := e.auth.Admin
		logs := audittest.Reader{History: e.orders.History, Admin: admin, Kind: order.ServiceName}
		saga := func(step string, fields ...string) audittest.Change {
			return audittest.Auto(order.SagaAction+step, fields...)
		}

		checkout := []audittest.Change{
			saga("capture", "payment", "step"),
			saga("commit", "committed", "status", "step"),
			saga("authorize", "auth_id", "payment", "step"),
			saga("reserve", "payment_tried", "step"),
			saga("place", "address", "email", "lines", "shipping", "status", "step", "totals", "user_id"),
		}
		e.add(t, customer, mug, 1)
		shipped := e.place(t, customer, request())
		if shipped.Status != order.StatusPaid {
			t.Fatalf("order %+v", shipped)
		}
		logs.Want(t, shop.HistoryRequest{ID: shipped.ID}, false, checkout...)
		for range 2 { // the repeat changes nothing
			must(e.orders.SetStatus(admin, order.SetStatusRequest{ID: shipped.ID, Status: order.StatusShipped}))(t)
		}
		logs.Want(t, shop.HistoryRequest{ID: shipped.ID}, false, append([]audittest.Change{audittest.By(shoptest.AdminEmail)(order.MethodSetStatus, "status")}, checkout...)...)

		// Cancelled by the shop, and by the customer: the cancel names who
		// asked; refunding and restocking are the saga's.
		for _, by := range []struct {
			ctx context.Context
			who string
		}{{admin, shoptest.AdminEmail}, {customer, shoptest.CustomerEmail}} {
			e.add(t, customer, mug, 1)
			o := e.place(t, customer, request())
			c := must(e.orders.Cancel(by.ctx, order.CancelRequest{ID: o.ID}))(t)
			if c.Status != order.StatusCancelled || !c.Settled {
				t.Fatalf("cancelled: %+v", c)
			}
			logs.Want(t, shop.HistoryRequest{ID: o.ID}, false, append([]audittest.Change{
				saga("cancel", "payment", "restocked", "status", "step"),
				audittest.By(by.who)(order.MethodCancel, "reason", "step"),
			}, checkout...)...)
		}

		audittest.CheckRefusals(t, e.orders.History, audittest.Refusals{
			Admin: admin, Customer: customer, // a customer even for their own order
			Readable: []shop.HistoryRequest{{ID: shipped.ID}},
			Invalid:  []shop.HistoryRequest{{ID: "../etc"}, {ID: shipped.ID, Kind: "stock"}},
			Unknown:  []shop.HistoryRequest{{ID: "no-such-order"}},
		})
	})
}
