package storefront

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/order"
	"github.com/shopbus/shopbus/transport"
)

// The console's orders: every order by status, one order with its
// actions (ship, deliver, cancel) and its History (who cancelled or moved
// it on, and the checkout's own steps). See admin.go.

// orderStatuses are the statuses the order list filters by, in the
// order of an order's life.
var orderStatuses = []string{order.StatusPending, order.StatusPaid, order.StatusShipped, order.StatusDelivered,
	order.StatusFailed, order.StatusCancelled}

// statusLink is one status filter of the order list.
type statusLink struct {
	Label, Link string
	Selected    bool
}

// adminOrdersView is a page of the order list.
type adminOrdersView struct {
	Status     string
	Statuses   []statusLink
	Orders     []order.Order
	Prev, Next string
}

// adminOrders serves GET /admin/orders.
func (s *Storefront) adminOrders(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	status := q.Get("status")
	offset, err := queryInt(q, "offset")
	if err == nil && status != "" && !slices.Contains(orderStatuses, status) {
		err = shop.Invalid("invalid query", "status", "must be one of "+strings.Join(orderStatuses, ", "))
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page, err := s.order.List(ctx, order.ListRequest{Status: status, Limit: AdminPageSize, Offset: offset})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	link := func(status string, offset int) string {
		o := ""
		if offset > 0 {
			o = strconv.Itoa(offset)
		}
		return adminLink("/admin/orders", "status", status, "offset", o)
	}
	v := adminOrdersView{Status: status, Orders: page.Orders}
	v.Statuses = append(v.Statuses, statusLink{Label: "all", Link: link("", 0), Selected: status == ""})
	for _, st := range orderStatuses {
		v.Statuses = append(v.Statuses, statusLink{Label: st, Link: link(st, 0), Selected: st == status})
	}
	if page.Next > 0 {
		v.Next = link(status, page.Next)
	}
	if offset > 0 {
		v.Prev = link(status, max(offset-AdminPageSize, 0))
	}
	title := "Orders"
	if status != "" {
		title += ": " + status
	}
	s.adminRender(w, r, http.StatusOK, "admin_orders", "orders", title, "", v)
}

// adminOrderView is one order with the actions its status allows.
type adminOrderView struct {
	Order   order.Order
	Lines   []orderLine
	Country string
	// CanShip and CanCancel: the order is paid; CanDeliver: it is shipped.
	CanShip, CanDeliver, CanCancel bool
	// History is the order's audit log.
	History historyView
}

// adminOrder serves GET /admin/orders/{id}.
func (s *Storefront) adminOrder(w http.ResponseWriter, r *http.Request) {
	s.showAdminOrder(w, r, http.StatusOK, "")
}

// showAdminOrder renders the order of the path, with flash above it.
func (s *Storefront) showAdminOrder(w http.ResponseWriter, r *http.Request, status int, flash string) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	groups := s.optionLabels(ctx)
	id := r.PathValue("id")
	history := historyOf(ctx, func(ctx context.Context) (shop.History, error) {
		return s.order.History(ctx, shop.HistoryRequest{ID: id})
	})
	o, err := s.order.Get(ctx, order.GetRequest{ID: id})
	if err != nil {
		if StatusOf(err) == http.StatusBadRequest {
			err = shop.NotFound("order")
		}
		s.fail(w, r, err)
		return
	}
	d, _ := groups.wait()
	v := adminOrderView{Order: o, Country: countryName(o.Address.Country),
		CanShip: o.Status == order.StatusPaid, CanCancel: o.Status == order.StatusPaid, CanDeliver: o.Status == order.StatusShipped}
	for _, l := range o.Lines {
		v.Lines = append(v.Lines, orderLine{Line: l, Label: d.optionsLabel(l.Options)})
	}
	v.History = s.historyView(ctx, order.ServiceName, history)
	s.adminRender(w, r, status, "admin_order", "orders", "Order "+o.ID, flash, v)
}

// adminOrderStatus serves POST /admin/orders/{id}/status: status=shipped
// or delivered.
func (s *Storefront) adminOrderStatus(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	id, status := r.PathValue("id"), r.PostFormValue("status")
	var err error
	if status != order.StatusShipped && status != order.StatusDelivered {
		err = shop.Invalid("invalid status", "status", "must be shipped or delivered")
	} else {
		_, err = s.order.SetStatus(ctx, order.SetStatusRequest{ID: id, Status: status})
	}
	s.afterOrderAction(w, r, err, status)
}

// adminCancelOrder serves POST /admin/orders/{id}/cancel, with an
// optional reason the customer sees.
func (s *Storefront) adminCancelOrder(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	_, err := s.order.Cancel(ctx, order.CancelRequest{ID: r.PathValue("id"), Reason: strings.TrimSpace(r.PostFormValue("reason"))})
	s.afterOrderAction(w, r, err, "cancelled")
}

// afterOrderAction redirects to the order after an action that did what
// (post/redirect/get), or shows the order with what went wrong.
func (s *Storefront) afterOrderAction(w http.ResponseWriter, r *http.Request, err error, what string) {
	if err == nil {
		adminDone(w, r, "/admin/orders/"+url.PathEscape(r.PathValue("id")), what)
		return
	}
	if StatusOf(err) == http.StatusBadRequest && transport.AsError(err).Field("id") != "" {
		err = shop.NotFound("order")
	}
	s.adminFail(w, r, err, func(status int, flash string) { s.showAdminOrder(w, r, status, flash) })
}
