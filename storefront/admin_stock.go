package storefront

import (
	"context"
	"errors"
	"net/http"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/inventory"
)

// The console's stock page of one SKU:
//
//	GET /admin/stock/{sku}   the SKU's stock and its History (who set or adjusted the units on hand); ?product= links back to that product
//
// The product page's stock rows link here. A SKU without a stock record
// is a page not found. The History lists the admins' writes only: the
// inventory service does not record checkout's reservations (see
// inventory.Service.History).

func init() {
	adminPages = append(adminPages, "admin_stock")
}

// adminStockView is the stock page of one SKU.
type adminStockView struct {
	Stock inventory.Stock
	// Product is the id of the product the page was opened from, for a
	// link back ("" for none).
	Product string
	// History is the SKU's audit log.
	History historyView
}

// adminStock serves GET /admin/stock/{sku}.
func (s *Storefront) adminStock(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	sku := r.PathValue("sku")
	history := historyOf(ctx, func(ctx context.Context) (shop.History, error) {
		return s.stockSv.History(ctx, shop.HistoryRequest{ID: sku})
	})
	st, err := s.stockSv.Get(ctx, inventory.GetRequest{SKU: sku})
	if errors.Is(err, shop.ErrInvalid) {
		err = shop.NotFound("stock of " + sku)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := adminStockView{Stock: st}
	if id := r.URL.Query().Get("product"); plainID(id) {
		v.Product = id
	}
	v.History = s.historyView(ctx, inventory.ServiceName, history)
	s.adminRender(w, r, http.StatusOK, "admin_stock", "products", "Stock of "+st.SKU, "", v)
}

// plainID reports whether id is 1-64 letters, digits, '-' and '_' (a
// product id is): the only ids put into a link.
func plainID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
