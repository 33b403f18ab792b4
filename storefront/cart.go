package storefront

import (
	"context"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/transport"
)

// getCart returns the visitor's cart: an empty one for a guest without a
// cart (or whose cart expired).
func (s *Storefront) getCart(w http.ResponseWriter, r *http.Request) (cart.Cart, error) {
	ctx, v := s.userContext(w, r)
	if v.unsure {
		return cart.Cart{}, errSessionUnknown
	}
	if v.token == "" && v.guestID == "" {
		return cart.Cart{Lines: []cart.Line{}, Totals: shop.Totals{}}, nil
	}
	c, err := s.cart.Get(ctx, cart.CartRequest{CartID: cartRequestID(v)})
	if v.token == "" && isNoCart(err) {
		s.forgetGuestCart(w, r, v)
		return cart.Cart{Lines: []cart.Line{}, Totals: shop.Totals{}}, nil
	}
	return c, err
}

// forgetGuestCart drops the guest cart's cookies (merged or gone).
func (s *Storefront) forgetGuestCart(w http.ResponseWriter, r *http.Request, v *visitor) {
	s.clearCookie(w, r, CartCookie)
	if v.cartOrigin != "" {
		s.clearCookie(w, r, CartOriginCookie)
	}
	v.guestID, v.cartOrigin = "", ""
}

// addToCart adds a line; a guest's first line creates the guest cart,
// whose id goes into a cookie, and the request id that created it (if
// any) into CartOriginCookie: a repeat of that request asks the same
// question again (no cart named), so the cart service answers it from its
// memory instead of adding again to the cart it started.
func (s *Storefront) addToCart(w http.ResponseWriter, r *http.Request, req cart.AddItemRequest) (cart.Cart, error) {
	ctx, v := s.userContext(w, r)
	if v.unsure {
		// Never into a guest cart because auth did not answer.
		return cart.Cart{}, errSessionUnknown
	}
	req.CartID = cartRequestID(v)
	if req.CartID != "" && v.cartOrigin != "" {
		for _, c := range []context.Context{ctx, anotherCall(ctx, newGuestCart)} {
			if id := transport.RequestID(c); id != "" && cartOrigin(id) == v.cartOrigin {
				ctx, req.CartID = c, "" // the request that started the cart, again
				break
			}
		}
	}
	c, err := s.cart.AddItem(ctx, req)
	if v.token == "" && req.CartID != "" && isNoCart(err) {
		// The guest cart expired: start a new one.
		req.CartID = ""
		ctx = anotherCall(ctx, newGuestCart)
		c, err = s.cart.AddItem(ctx, req)
	}
	if err != nil {
		return c, err
	}
	if v.token == "" && c.ID != v.guestID {
		v.guestID = c.ID
		exp := c.ExpiresAt
		if exp.IsZero() {
			exp = s.opts.Now().Add(30 * 24 * time.Hour)
		}
		s.setCookie(w, r, CartCookie, c.ID, exp)
		if id := transport.RequestID(ctx); id != "" {
			v.cartOrigin = cartOrigin(id)
			s.setCookie(w, r, CartOriginCookie, v.cartOrigin, exp)
		} else if v.cartOrigin != "" {
			v.cartOrigin = ""
			s.clearCookie(w, r, CartOriginCookie)
		}
	}
	return c, nil
}

// updateCart sets a line's quantity; 0 removes the line.
func (s *Storefront) updateCart(w http.ResponseWriter, r *http.Request, productID, variantID string, qty int) (cart.Cart, error) {
	ctx, v := s.userContext(w, r)
	if v.unsure {
		return cart.Cart{}, errSessionUnknown
	}
	if v.token == "" && v.guestID == "" {
		return cart.Cart{}, shop.NotFound("cart")
	}
	if qty == 0 {
		return s.cart.RemoveItem(ctx, cart.RemoveItemRequest{CartID: cartRequestID(v), ProductID: productID, VariantID: variantID})
	}
	return s.cart.UpdateItem(ctx, cart.UpdateItemRequest{CartID: cartRequestID(v), ProductID: productID, VariantID: variantID, Quantity: qty})
}

// removeFromCart removes a line.
func (s *Storefront) removeFromCart(w http.ResponseWriter, r *http.Request, productID, variantID string) (cart.Cart, error) {
	ctx, v := s.userContext(w, r)
	if v.unsure {
		return cart.Cart{}, errSessionUnknown
	}
	if v.token == "" && v.guestID == "" {
		return cart.Cart{}, shop.NotFound("cart")
	}
	return s.cart.RemoveItem(ctx, cart.RemoveItemRequest{CartID: cartRequestID(v), ProductID: productID, VariantID: variantID})
}

// isNoCart reports whether err says that the guest cart (not the product)
// does not exist, or that its id is not one the cart service would make
// (a cookie from elsewhere).
func isNoCart(err error) bool {
	e := transport.AsError(err)
	if e == nil {
		return false
	}
	return e.Code == transport.CodeNotFound && e.Message == shop.NotFound("cart").(*shop.Error).Message ||
		e.Code == transport.CodeInvalid && e.Field("cart_id") != ""
}

// cartRequestID is the CartID a visitor's cart calls carry.
func cartRequestID(v *visitor) string {
	if v.token != "" {
		return ""
	}
	return v.guestID
}

type cartView struct {
	Cart         cart.Cart
	Lines        []lineView
	Totals       []shop.Money
	PriceChanged bool // some line's price changed since it was added
	Unavailable  bool // some line can no longer be bought
}

type lineView struct {
	cart.Line
	Label string
}

func (s *Storefront) cartPage(w http.ResponseWriter, r *http.Request) {
	s.showCart(w, r, http.StatusOK, "")
}

// showCart renders the cart page: it needs the cart service.
func (s *Storefront) showCart(w http.ResponseWriter, r *http.Request, status int, flash string) {
	s.navigation(r)
	groups := s.optionLabels(r.Context())
	c, err := s.getCart(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d, _ := groups.wait()
	v := cartView{Cart: c, Totals: totalsList(c.Totals)}
	for _, l := range c.Lines {
		v.Lines = append(v.Lines, lineView{Line: l, Label: d.optionsLabel(l.Options)})
		v.PriceChanged = v.PriceChanged || l.PriceChanged && !l.Unavailable
		v.Unavailable = v.Unavailable || l.Unavailable
	}
	s.render(w, r, status, "cart", meta{Title: "Cart", Robots: "noindex"}, flash, v)
}

// optionLabels starts fetching the option groups' names and labels, for
// the option labels of lines (optional: on failure, the codes).
func (s *Storefront) optionLabels(ctx context.Context) *future[definitions] {
	return async(publicContext(ctx), NavTimeout, func(ctx context.Context) (definitions, error) {
		return definitions{groups: s.optionGroups(ctx)}, nil
	})
}

// formInt reads a whole-number form field; def when empty.
func formInt(r *http.Request, name string, def int) (int, error) {
	s := r.PostFormValue(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, shop.Invalid("invalid form", name, "must be a whole number")
	}
	return n, nil
}

func (s *Storefront) cartAddForm(w http.ResponseWriter, r *http.Request) {
	qty, err := formInt(r, "quantity", 1)
	if err == nil {
		_, err = s.addToCart(w, r, cart.AddItemRequest{
			ProductID: r.PostFormValue("product_id"), VariantID: r.PostFormValue("variant_id"), Quantity: qty,
		})
	}
	s.afterCartForm(w, r, err)
}

func (s *Storefront) cartUpdateForm(w http.ResponseWriter, r *http.Request) {
	qty, err := formInt(r, "quantity", 0)
	if err == nil {
		_, err = s.updateCart(w, r, r.PostFormValue("product_id"), r.PostFormValue("variant_id"), qty)
	}
	s.afterCartForm(w, r, err)
}

func (s *Storefront) cartRemoveForm(w http.ResponseWriter, r *http.Request) {
	_, err := s.removeFromCart(w, r, r.PostFormValue("product_id"), r.PostFormValue("variant_id"))
	s.afterCartForm(w, r, err)
}

// afterCartForm redirects to the cart after a change (post/redirect/get),
// or shows the cart with what went wrong.
func (s *Storefront) afterCartForm(w http.ResponseWriter, r *http.Request, err error) {
	if err == nil {
		http.Redirect(w, r, "/cart", http.StatusSeeOther)
		return
	}
	if StatusOf(err) >= 500 {
		s.fail(w, r, err)
		return
	}
	s.showCart(w, r, StatusOf(err), message(r, err))
}

// totalsList returns totals as amounts ordered by currency.
func totalsList(t shop.Totals) []shop.Money {
	out := make([]shop.Money, 0, len(t))
	for c, a := range t {
		out = append(out, shop.Money{Amount: a, Currency: c})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Currency < out[j].Currency })
	return out
}
