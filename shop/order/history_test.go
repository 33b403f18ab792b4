package order_test

import (
	"context"
	"slices"
	"testing"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/shoptest"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/order"
	"github.com/shopbus/shopbus/transport"
)

// entry is an expected change of an order's history: its action, who
// asked ("" for the saga) and the fields it changed.
type entry struct {
	action, who string
	fields      []string
}

func wantHistory(t *testing.T, e *env, id string, want ...entry) {
	t.Helper()
	h, err := e.orders.History(e.auth.Admin, shop.HistoryRequest{ID: id})
	if err != nil {
		t.Fatalf("history of %s: %v", id, err)
	}
	if h.ID != id || h.Kind != order.ServiceName || h.Deleted || len(h.Changes) != len(want) {
		t.Fatalf("history of %s = %+v, want %d changes", id, h, len(want))
	}
	for i, c := range h.Changes {
		w := want[i]
		if c.Action != w.action || c.Email != w.who || (c.UserID == "") != (w.who == "") || !slices.Equal(c.Fields, w.fields) || c.Time.IsZero() {
			t.Errorf("change %d = %+v, want %s of %v by %q", i, c, w.action, w.fields, w.who)
		}
	}
}

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

		checkout := []entry{
			{order.SagaAction + "capture", "", []string{"payment", "step"}},
			{order.SagaAction + "commit", "", []string{"committed", "status", "step"}},
			{order.SagaAction + "authorize", "", []string{"auth_id", "payment", "step"}},
			{order.SagaAction + "reserve", "", []string{"payment_tried", "step"}},
			{order.SagaAction + "place", "", []string{"address", "email", "lines", "shipping", "status", "step", "totals", "user_id"}},
		}
		e.add(t, customer, mug, 1)
		shipped := e.place(t, customer, request())
		if shipped.Status != order.StatusPaid {
			t.Fatalf("order %+v", shipped)
		}
		wantHistory(t, e, shipped.ID, checkout...)
		for range 2 { // the repeat changes nothing
			must(e.orders.SetStatus(admin, order.SetStatusRequest{ID: shipped.ID, Status: order.StatusShipped}))(t)
		}
		wantHistory(t, e, shipped.ID, append([]entry{{order.MethodSetStatus, shoptest.AdminEmail, []string{"status"}}}, checkout...)...)

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
			wantHistory(t, e, o.ID, append([]entry{
				{order.SagaAction + "cancel", "", []string{"payment", "restocked", "status", "step"}},
				{order.MethodCancel, by.who, []string{"reason", "step"}},
			}, checkout...)...)
		}

		for _, tc := range []struct {
			ctx  context.Context
			r    shop.HistoryRequest
			code transport.Code
		}{
			{context.Background(), shop.HistoryRequest{ID: shipped.ID}, transport.CodeUnauthenticated},
			{customer, shop.HistoryRequest{ID: shipped.ID}, transport.CodeForbidden}, // even their own
			{admin, shop.HistoryRequest{ID: "../etc"}, transport.CodeInvalid},
			{admin, shop.HistoryRequest{ID: shipped.ID, Kind: "stock"}, transport.CodeInvalid},
			{admin, shop.HistoryRequest{ID: "no-such-order"}, transport.CodeNotFound},
		} {
			_, err := e.orders.History(tc.ctx, tc.r)
			wantCode(t, err, tc.code)
		}
	})
}
