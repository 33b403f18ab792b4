package storefront

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/inventory"
)

// Stock display. A product page and GET /api/products/{slug} show how much
// of the product can be bought, from the inventory service (GetMany over
// the product's buyable SKUs: its variants' SKUs when it comes in
// variants, which are all a cart or an order takes, else its own SKU):
//
//	in_stock   more than LowStock units available   "In stock"
//	low        1 to LowStock units available        "Only N left"
//	sold_out   nothing available, or no stock record "Sold out"
//
// A product in variants is sold out when none of its variants has a unit
// available; its page shows the state of the chosen variant (the
// add-to-cart button is disabled when that one is sold out) and marks the
// other variants that are sold out. The stock is optional: when the
// inventory service does not answer within Options.StockTimeout the page
// is rendered without it (and with the button enabled: not knowing is not
// "sold out"), and the failure logged at WARN.
const (
	// LowStock is the most units available for which a page says "Only N left".
	LowStock = 5
	// StockInStock, StockLow and StockSoldOut are the states of StockLevel.
	StockInStock = "in_stock"
	StockLow     = "low"
	StockSoldOut = "sold_out"
	// DefaultStockTimeout is the default budget of a call to the inventory
	// service for a page's stock.
	DefaultStockTimeout = 500 * time.Millisecond
)

// StockLevel is how much of a product or variant can be bought.
type StockLevel struct {
	// Available is the units that can be bought (0 without a stock record).
	Available int64 `json:"available"`
	// State is StockInStock, StockLow or StockSoldOut.
	State string `json:"state"`
}

// stockLevel returns the level of available units.
func stockLevel(available int64) StockLevel {
	switch {
	case available <= 0:
		return StockLevel{Available: max(available, 0), State: StockSoldOut}
	case available <= LowStock:
		return StockLevel{Available: available, State: StockLow}
	}
	return StockLevel{Available: available, State: StockInStock}
}

// Label is how a page says the level: "In stock", "Only 3 left", "Sold out".
func (l StockLevel) Label() string {
	switch l.State {
	case StockSoldOut:
		return "Sold out"
	case StockLow:
		return "Only " + strconv.FormatInt(l.Available, 10) + " left"
	}
	return "In stock"
}

// SoldOut reports whether nothing can be bought.
func (l StockLevel) SoldOut() bool { return l.State == StockSoldOut }

// buyableSKUs returns the SKUs a cart can hold of p: its variants' when it
// has variants, else its own (none when it has no SKU).
func buyableSKUs(p product.Product) []string {
	var out []string
	if len(p.Variants) == 0 {
		if p.SKU != "" {
			out = append(out, p.SKU)
		}
		return out
	}
	for _, v := range p.Variants {
		if v.SKU != "" && !slices.Contains(out, v.SKU) {
			out = append(out, v.SKU)
		}
	}
	return out
}

// stockOf is the stock of some SKUs: available units by SKU, 0 for a SKU
// without a stock record.
type stockOf map[string]int64

// product returns the level of p as a whole: the sum over its buyable SKUs.
func (st stockOf) product(p product.Product) StockLevel {
	var n int64
	for _, sku := range buyableSKUs(p) {
		n += max(st[sku], 0)
	}
	return stockLevel(n)
}

// stock asks the inventory service for the available units of skus (in
// calls of at most inventory.MaxLines SKUs, at the same time); a SKU
// without a record has 0.
func (s *Storefront) stock(ctx context.Context, skus []string) (stockOf, error) {
	out := make(stockOf, len(skus))
	if len(skus) == 0 {
		return out, nil
	}
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		firstErr error
	)
	for chunk := range slices.Chunk(skus, inventory.MaxLines) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			list, err := s.stockSv.GetMany(ctx, inventory.GetManyRequest{SKUs: chunk})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			for _, st := range list {
				out[st.SKU] = st.Available
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	for _, sku := range skus {
		if _, ok := out[sku]; !ok {
			out[sku] = 0
		}
	}
	return out, nil
}

// stockCall is a stock lookup under way for some SKUs.
type stockCall struct {
	skus []string
	f    *future[stockOf]
}

// startStock starts asking for the stock of skus within the stock budget.
func (s *Storefront) startStock(ctx context.Context, skus []string) *stockCall {
	return &stockCall{skus: skus, f: async(ctx, s.opts.StockTimeout, func(ctx context.Context) (stockOf, error) {
		return s.stock(ctx, skus)
	})}
}

// productStock returns the stock of p's buyable SKUs, from call when it
// asks for all of them (started before p was known, from the SKUs the
// slug had the last time), else from a call made now; and remembers p's
// SKUs for its slug. A failure is logged and nil returned: the page goes
// without its stock.
func (s *Storefront) productStock(r *http.Request, p product.Product, call *stockCall) stockOf {
	skus := buyableSKUs(p)
	s.memo.setSKUs(p.Slug, skus)
	if len(skus) == 0 {
		return stockOf{}
	}
	if call == nil || slices.ContainsFunc(skus, func(sku string) bool { return !slices.Contains(call.skus, sku) }) {
		call = s.startStock(publicContext(r.Context()), skus)
	}
	st, err := call.f.wait()
	if err != nil {
		s.warn(r.Context(), "product: stock", inventory.ServiceName, err)
		return nil
	}
	return st
}
