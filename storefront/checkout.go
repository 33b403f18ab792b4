package storefront

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/shop/order"
	"github.com/shopbus/shopbus/transport"
)

// Checkout and "My orders".
//
// The checkout is three HTML steps that work without JavaScript, each a
// form with the CSRF token, for a logged-in shopper only (a guest is sent
// to /login?next=/checkout):
//
//	GET  /checkout            contact e-mail (the account's by default),
//	                          shipping address, country (those the
//	                          shipping methods ship to), shipping method
//	POST /checkout/details    the same form filled in again ("Change" on the review)
//	POST /checkout/review     the lines, the items total, shipping, the total
//	                          and the tax it includes; the "Place order" form
//	POST /checkout/place      places the order (order.place), then 303 to /orders/{id}
//
// The "Place order" form carries the idempotency key generated when the
// review page was rendered (the hidden IdempotencyField every form has), so
// that a double submit, or a retry after a timeout, places one order: the
// request id of order.place is made from the key exactly as for the JSON
// API's Idempotency-Key, and the order service names the order after it.
// A price that changed since the shopper saw it (a conflict naming
// lines[i].unit_price) shows the review again with the changed lines and a
// form that confirms the new prices (accept_prices). An order that fails
// (payment declined, out of stock) is shown at /orders/{id} with its
// reason; nothing is charged and no stock held.
//
//	GET  /orders              the shopper's orders, newest first (?offset= pages)
//	GET  /orders/{id}         an order: "Thank you", its number, lines, totals, status;
//	                          another shopper's order is a 404
//	POST /orders/{id}/cancel  cancels a paid order not yet shipped
const (
	// OrdersPerPage is how many orders GET /orders shows at once.
	OrdersPerPage = 20
	// CheckoutPath is where the checkout starts.
	CheckoutPath = "/checkout"
)

// countryNames are the English names of the countries order.DefaultTaxRates
// ships to; another country is shown by its code.
var countryNames = map[string]string{
	"AT": "Austria", "BE": "Belgium", "DE": "Germany", "DK": "Denmark", "ES": "Spain", "FI": "Finland", "FR": "France",
	"IE": "Ireland", "IT": "Italy", "LU": "Luxembourg", "NL": "Netherlands", "PL": "Poland", "PT": "Portugal", "SE": "Sweden",
}

// countryName returns a country's name, or its code.
func countryName(code string) string {
	if n, ok := countryNames[code]; ok {
		return n
	}
	return code
}

// checkoutForm is what the shopper entered.
type checkoutForm struct {
	Email   string
	Address order.Address
	Method  string
}

// readCheckoutForm reads the checkout fields of a posted form.
func readCheckoutForm(r *http.Request) checkoutForm {
	f := func(name string) string { return strings.TrimSpace(r.PostFormValue(name)) }
	return checkoutForm{
		Email: f("email"),
		Address: order.Address{Name: f("name"), Line1: f("line1"), Line2: f("line2"), PostalCode: f("postal_code"),
			City: f("city"), Country: strings.ToUpper(f("country"))},
		Method: f("shipping_method"),
	}
}

// request is the order.place request of the form.
func (f checkoutForm) request(accept bool) order.PlaceRequest {
	return order.PlaceRequest{Email: f.Email, Address: f.Address, ShippingMethod: f.Method, AcceptPrices: accept}
}

// formFields maps the order service's field names to the form's.
var formFields = map[string]string{
	"email": "email", "address.name": "name", "address.line1": "line1", "address.line2": "line2",
	"address.postal_code": "postal_code", "address.city": "city", "address.country": "country",
	"shipping_method": "shipping_method",
}

type countryOption struct {
	Code, Name string
	Selected   bool
}

type methodOption struct {
	order.ShippingMethod
	Selected bool
}

// checkoutView is the details step.
type checkoutView struct {
	Form      checkoutForm
	Errors    map[string]string // form field → what is wrong
	Countries []countryOption
	Methods   []methodOption
}

// reviewLine is a cart line on the review page.
type reviewLine struct {
	lineView
	// Changed says how its price changed since the shopper saw it (the
	// order service's conflict), "" when it did not.
	Changed string
}

// reviewView is the review step.
type reviewView struct {
	Form    checkoutForm
	Country string // the country's name
	Method  order.ShippingMethod
	Lines   []reviewLine
	Total   order.Total
	// Changed lists the price changes the order service reported; Accept
	// makes the place form confirm the new prices.
	Changed []string
	Accept  bool
}

// shopper returns the context of a logged-in visitor's calls. A guest is
// sent to log in and come back to back (303), a visitor whose session
// could not be checked gets the 503 page; ok is false then.
func (s *Storefront) shopper(w http.ResponseWriter, r *http.Request, back string) (context.Context, *visitor, bool) {
	ctx, v := s.userContext(w, r)
	if v.unsure {
		s.fail(w, r, errSessionUnknown)
		return nil, nil, false
	}
	if v.token == "" {
		http.Redirect(w, r, "/login?next="+strings.ReplaceAll(url.QueryEscape(back), "%2F", "/"), http.StatusSeeOther)
		return nil, nil, false
	}
	return ctx, v, true
}

// apiShopper is shopper for the JSON API: 401 for a guest, 503 when the
// session could not be checked.
func (s *Storefront) apiShopper(w http.ResponseWriter, r *http.Request) (context.Context, bool) {
	ctx, v := s.userContext(w, r)
	switch {
	case v.unsure:
		s.apiFail(w, r, errSessionUnknown)
		return nil, false
	case v.token == "":
		writeAPIError(w, r, shop.Unauthenticated("not logged in"))
		return nil, false
	}
	return ctx, true
}

// countries lists the countries the shipping methods ship to, by name,
// with code selected.
func countries(methods []order.ShippingMethod, selected string) []countryOption {
	seen := map[string]bool{}
	var out []countryOption
	for _, m := range methods {
		for _, c := range m.Countries {
			if !seen[c] {
				seen[c] = true
				out = append(out, countryOption{Code: c, Name: countryName(c), Selected: c == selected})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// shippingMethods returns the order service's shipping methods.
func (s *Storefront) shippingMethods(ctx context.Context) ([]order.ShippingMethod, error) {
	ms, err := s.order.ShippingMethods(publicContext(ctx), order.ShippingMethodsRequest{})
	if err == nil && len(ms) == 0 {
		err = &transport.Error{Code: transport.CodeUnavailable, Message: "no shipping methods configured"}
	}
	return ms, err
}

// cartToOrder returns the shopper's cart. When it cannot be had, or has
// no line that can be ordered, it answers r (the error page, or 303 to the
// cart page) and reports false.
func (s *Storefront) cartToOrder(w http.ResponseWriter, r *http.Request) (cart.Cart, bool) {
	ctx, _ := s.userContext(w, r)
	c, err := s.cart.Get(ctx, cart.CartRequest{})
	if err != nil && !errors.Is(err, shop.ErrNotFound) {
		s.fail(w, r, err)
		return c, false
	}
	if err != nil || !slices.ContainsFunc(c.Lines, func(l cart.Line) bool { return !l.Unavailable }) {
		http.Redirect(w, r, "/cart", http.StatusSeeOther)
		return c, false
	}
	return c, true
}

// checkoutPage serves GET /checkout: the details form.
func (s *Storefront) checkoutPage(w http.ResponseWriter, r *http.Request) {
	s.navigation(r)
	_, v, ok := s.shopper(w, r, CheckoutPath)
	if !ok {
		return
	}
	form := checkoutForm{}
	if v.user != nil {
		form.Email = v.user.Email
	}
	s.details(w, r, http.StatusOK, form, nil, "")
}

// detailsForm serves POST /checkout/details: the details form filled in
// with what was posted.
func (s *Storefront) detailsForm(w http.ResponseWriter, r *http.Request) {
	s.navigation(r)
	if _, _, ok := s.shopper(w, r, CheckoutPath); !ok {
		return
	}
	s.details(w, r, http.StatusOK, readCheckoutForm(r), nil, "")
}

// details renders the details step; an empty cart sends the shopper to
// the cart page.
func (s *Storefront) details(w http.ResponseWriter, r *http.Request, status int, form checkoutForm, errs map[string]string, flash string) {
	ctx, _ := s.userContext(w, r)
	methods := async(ctx, s.opts.CallTimeout, s.shippingMethods)
	if _, ok := s.cartToOrder(w, r); !ok {
		return
	}
	ms, err := methods.wait()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if form.Method == "" {
		form.Method = ms[0].Code
	}
	v := checkoutView{Form: form, Errors: errs, Countries: countries(ms, form.Address.Country)}
	for _, m := range ms {
		v.Methods = append(v.Methods, methodOption{ShippingMethod: m, Selected: m.Code == form.Method})
	}
	s.render(w, r, status, "checkout", meta{Title: "Checkout", Robots: "noindex"}, flash, v)
}

// checkForm returns what is wrong with the form's fields (what the shopper
// can fix before the review; the order service checks them all again).
func (s *Storefront) checkForm(f checkoutForm, methods []order.ShippingMethod) map[string]string {
	errs := map[string]string{}
	if f.Email == "" {
		errs["email"] = "is required"
	} else if at := strings.LastIndexByte(f.Email, '@'); at < 1 || !strings.Contains(f.Email[at+1:], ".") {
		errs["email"] = "must be an email address like name@example.com"
	}
	for name, val := range map[string]string{"name": f.Address.Name, "line1": f.Address.Line1, "postal_code": f.Address.PostalCode, "city": f.Address.City} {
		if val == "" {
			errs[name] = "is required"
		}
	}
	if !slices.ContainsFunc(countries(methods, ""), func(c countryOption) bool { return c.Code == f.Address.Country }) {
		errs["country"] = "choose a country we ship to"
	}
	if !slices.ContainsFunc(methods, func(m order.ShippingMethod) bool { return m.Code == f.Method }) {
		errs["shipping_method"] = "choose a shipping method"
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// reviewForm serves POST /checkout/review.
func (s *Storefront) reviewForm(w http.ResponseWriter, r *http.Request) {
	s.navigation(r)
	if _, _, ok := s.shopper(w, r, CheckoutPath); !ok {
		return
	}
	s.review(w, r, http.StatusOK, readCheckoutForm(r), nil)
}

// review renders the review step of form with the order service's quote
// (order.quote: the lines at today's prices, shipping, the totals and the
// tax they include). changed is the order service's conflict about
// changed prices from placing the order (nil for none); a quote that
// finds prices changed shows them the same way.
func (s *Storefront) review(w http.ResponseWriter, r *http.Request, status int, form checkoutForm, changed *transport.Error) {
	ctx, _ := s.userContext(w, r)
	groups := s.optionLabels(ctx)
	ms, err := s.shippingMethods(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if errs := s.checkForm(form, ms); errs != nil {
		s.details(w, r, http.StatusBadRequest, form, errs, "Please check the fields marked below.")
		return
	}
	c, ok := s.cartToOrder(w, r)
	if !ok {
		return
	}
	q, err := s.order.Quote(ctx, form.request(changed != nil))
	if te := transport.AsError(err); changed == nil && priceConflict(te) {
		changed = te
		q, err = s.order.Quote(ctx, form.request(true))
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	i := slices.IndexFunc(ms, func(m order.ShippingMethod) bool { return m.Code == form.Method })
	d, _ := groups.wait()
	v := reviewView{Form: form, Country: countryName(form.Address.Country), Method: ms[i]}
	// The conflict names the cart's lines by index.
	moved := map[string]string{}
	if changed != nil {
		v.Accept = true
		for _, f := range changed.Fields {
			v.Changed = append(v.Changed, f.Message)
		}
		for i, l := range c.Lines {
			if msg := changed.Field("lines[" + strconv.Itoa(i) + "].unit_price"); msg != "" {
				moved[l.ProductID+"/"+l.VariantID] = msg
			}
		}
	}
	for _, l := range q.Lines {
		line := cart.Line{ProductID: l.ProductID, VariantID: l.VariantID, Title: l.Title, SKU: l.SKU, Options: l.Options,
			UnitPrice: l.UnitPrice, Quantity: int(l.Quantity), Subtotal: l.Subtotal}
		v.Lines = append(v.Lines, reviewLine{lineView: lineView{Line: line, Label: d.optionsLabel(l.Options)}, Changed: moved[l.ProductID+"/"+l.VariantID]})
	}
	if len(q.Totals) > 0 {
		v.Total = q.Totals[0]
	}
	s.render(w, r, status, "review", meta{Title: "Review your order", Robots: "noindex"}, "", v)
}

// placeForm serves POST /checkout/place.
func (s *Storefront) placeForm(w http.ResponseWriter, r *http.Request) {
	s.navigation(r)
	ctx, v, ok := s.shopper(w, r, CheckoutPath)
	if !ok {
		return
	}
	form := readCheckoutForm(r)
	if v.key == "" {
		s.fail(w, r, shop.Invalid("this form has no idempotency key", IdempotencyField, "reload the review page and place the order again"))
		return
	}
	o, err := s.order.Place(ctx, form.request(r.PostFormValue("accept_prices") == "1"))
	if err == nil {
		http.Redirect(w, r, "/orders/"+url.PathEscape(o.ID), http.StatusSeeOther)
		return
	}
	e := transport.AsError(err)
	switch {
	case StatusOf(err) >= 500 || StatusOf(err) == http.StatusUnprocessableEntity:
		s.fail(w, r, err)
	case e.Code == transport.CodeConflict && priceConflict(e):
		s.review(w, r, http.StatusConflict, form, e)
	case e.Code == transport.CodeInvalid:
		errs := map[string]string{}
		for _, f := range e.Fields {
			if name, ok := formFields[f.Field]; ok {
				errs[name] = f.Message
			}
		}
		s.details(w, r, http.StatusBadRequest, form, errs, message(r, err))
	default:
		s.fail(w, r, err)
	}
}

// priceConflict reports whether e is the order service's conflict about
// changed prices: its fields name lines[i].unit_price.
func priceConflict(e *transport.Error) bool {
	return e != nil && e.Code == transport.CodeConflict && len(e.Fields) > 0 && !slices.ContainsFunc(e.Fields, func(f transport.FieldError) bool {
		return !strings.HasPrefix(f.Field, "lines[") || !strings.HasSuffix(f.Field, "].unit_price")
	})
}

// ---- my orders ----

// ordersView is a page of the shopper's orders.
type ordersView struct {
	Orders     []order.Order
	Prev, Next string
}

// ordersPage serves GET /orders.
func (s *Storefront) ordersPage(w http.ResponseWriter, r *http.Request) {
	s.navigation(r)
	ctx, _, ok := s.shopper(w, r, "/orders")
	if !ok {
		return
	}
	offset, err := queryInt(r.URL.Query(), "offset")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page, err := s.order.List(ctx, order.ListRequest{Limit: OrdersPerPage, Offset: offset})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := ordersView{Orders: page.Orders}
	if page.Next > 0 {
		v.Next = "/orders?offset=" + strconv.Itoa(page.Next)
	}
	if offset > 0 {
		v.Prev = "/orders"
		if p := offset - OrdersPerPage; p > 0 {
			v.Prev += "?offset=" + strconv.Itoa(p)
		}
	}
	s.render(w, r, http.StatusOK, "orders", meta{Title: "My orders", Robots: "noindex"}, "", v)
}

// orderView is one order's page.
type orderView struct {
	Order   order.Order
	Lines   []orderLine
	Country string
	// Cancellable says the shopper may cancel it (paid, not shipped).
	Cancellable bool
}

type orderLine struct {
	order.Line
	Label string
}

// orderPage serves GET /orders/{id}.
func (s *Storefront) orderPage(w http.ResponseWriter, r *http.Request) {
	s.showOrder(w, r, http.StatusOK, "")
}

// showOrder renders the order of the path, with flash above it.
func (s *Storefront) showOrder(w http.ResponseWriter, r *http.Request, status int, flash string) {
	s.navigation(r)
	id := r.PathValue("id")
	ctx, _, ok := s.shopper(w, r, "/orders/"+url.PathEscape(id))
	if !ok {
		return
	}
	groups := s.optionLabels(ctx)
	o, err := s.order.Get(ctx, order.GetRequest{ID: id})
	if err != nil {
		if StatusOf(err) == http.StatusBadRequest {
			err = shop.NotFound("order") // not an order id: no such order
		}
		s.fail(w, r, err)
		return
	}
	d, _ := groups.wait()
	v := orderView{Order: o, Country: countryName(o.Address.Country), Cancellable: o.Status == order.StatusPaid}
	for _, l := range o.Lines {
		v.Lines = append(v.Lines, orderLine{Line: l, Label: d.optionsLabel(l.Options)})
	}
	s.render(w, r, status, "order", meta{Title: "Order " + o.ID, Robots: "noindex"}, flash, v)
}

// cancelForm serves POST /orders/{id}/cancel.
func (s *Storefront) cancelForm(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ctx, _, ok := s.shopper(w, r, "/orders/"+url.PathEscape(id))
	if !ok {
		return
	}
	_, err := s.order.Cancel(ctx, order.CancelRequest{ID: id})
	switch {
	case err == nil:
		http.Redirect(w, r, "/orders/"+url.PathEscape(id), http.StatusSeeOther)
	case StatusOf(err) == http.StatusConflict:
		s.showOrder(w, r, http.StatusConflict, message(r, err))
	default:
		s.fail(w, r, err)
	}
}

// queryInt reads a whole-number query parameter at least 0; 0 when absent.
func queryInt(q url.Values, name string) (int, error) {
	s := q.Get(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, shop.Invalid("invalid query", name, "must be a whole number, at least 0")
	}
	return n, nil
}

// percent formats basis points: 1900 is "19%", 2550 "25.5%".
func percent(bp int) string {
	s := strconv.Itoa(bp / 100)
	if f := bp % 100; f != 0 {
		s += strings.TrimRight(fmt.Sprintf(".%02d", f), "0")
	}
	return s + "%"
}

// amount is a money amount of minor units in currency.
func amount(a int64, currency string) shop.Money { return shop.Money{Amount: a, Currency: currency} }

// ---- the JSON API ----

// apiShippingMethods serves GET /api/shipping-methods.
func (s *Storefront) apiShippingMethods(w http.ResponseWriter, r *http.Request) {
	ms, err := s.order.ShippingMethods(publicContext(r.Context()), order.ShippingMethodsRequest{})
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	if ms == nil {
		ms = []order.ShippingMethod{}
	}
	writeJSON(w, http.StatusOK, ms)
}

// errNoKey answers a checkout without an idempotency key.
var errNoKey = shop.Invalid("an Idempotency-Key is required", IdempotencyHeader, "is required: a checkout must be safe to repeat")

// apiCheckout serves POST /api/checkout.
func (s *Storefront) apiCheckout(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.apiShopper(w, r)
	if !ok {
		return
	}
	var req order.PlaceRequest
	if err := decode(r, &req); err != nil {
		s.apiFail(w, r, err)
		return
	}
	if visitorOf(r).key == "" {
		s.apiFail(w, r, errNoKey)
		return
	}
	o, err := s.order.Place(ctx, req)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/orders/"+url.PathEscape(o.ID))
	writeJSON(w, http.StatusCreated, o)
}

// apiOrders serves GET /api/orders.
func (s *Storefront) apiOrders(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.apiShopper(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	req := order.ListRequest{Status: q.Get("status")}
	var err error
	if req.Offset, err = queryInt(q, "offset"); err == nil {
		req.Limit, err = queryInt(q, "limit")
	}
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	page, err := s.order.List(ctx, req)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	if page.Orders == nil {
		page.Orders = []order.Order{}
	}
	writeJSON(w, http.StatusOK, page)
}

// apiOrder serves GET /api/orders/{id}.
func (s *Storefront) apiOrder(w http.ResponseWriter, r *http.Request) {
	s.apiOrderCall(w, r, func(ctx context.Context, id string) (order.Order, error) {
		return s.order.Get(ctx, order.GetRequest{ID: id})
	})
}

// apiCancel serves POST /api/orders/{id}/cancel.
func (s *Storefront) apiCancel(w http.ResponseWriter, r *http.Request) {
	s.apiOrderCall(w, r, func(ctx context.Context, id string) (order.Order, error) {
		return s.order.Cancel(ctx, order.CancelRequest{ID: id})
	})
}

// apiOrderCall answers with what call returns for the order of the path,
// called on the logged-in shopper's behalf.
func (s *Storefront) apiOrderCall(w http.ResponseWriter, r *http.Request, call func(ctx context.Context, id string) (order.Order, error)) {
	ctx, ok := s.apiShopper(w, r)
	if !ok {
		return
	}
	o, err := call(ctx, r.PathValue("id"))
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}
