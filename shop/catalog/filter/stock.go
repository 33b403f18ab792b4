package filter

import (
	"context"

	"github.com/shopbus/shopbus/shop"
)

// stockCollection holds one document per SKU: its newest stock as events
// told it.
const stockCollection = "stock"

// maxProductSKUs bounds the SKUs the service takes from one product event
// (the option service makes at most 1,000 variants by default).
const maxProductSKUs = 10_000

// stockRec is a SKU's stock as applied and as persisted.
type stockRec struct {
	SKU       string `bson:"_id"`
	Version   int64  `bson:"version"`
	Available int64  `bson:"available"`
}

// skuState is what the index holds of a SKU: its stock, once an event
// told it, and the visible products that sell it.
type skuState struct {
	version   int64
	available int64
	known     bool  // a stock event was applied
	slot      int32 // a visible product selling the SKU, -1 for none; others in Index.skuMore
}

// sellableSKUs returns the SKUs a product is sold under: its variants'
// when it has variants (the product's own SKU then cannot be ordered),
// else its own. Malformed and repeated SKUs are left out.
func sellableSKUs(s shop.ProductSnapshot) []string {
	var out []string
	seen := map[string]bool{}
	add := func(sku string) {
		if len(out) < maxProductSKUs && !seen[sku] && checkID("sku", sku) == nil {
			seen[sku] = true
			out = append(out, sku)
		}
	}
	if len(s.Variants) == 0 {
		add(s.SKU)
	}
	for _, v := range s.Variants {
		add(v.SKU)
	}
	return out
}

func stockFromEvent(ev shop.StockChanged) (stockRec, error) {
	if err := checkID("sku", ev.SKU); err != nil {
		return stockRec{}, err
	}
	if ev.Version < 0 {
		return stockRec{}, shop.Invalid("malformed event", "version", "must not be negative")
	}
	return stockRec{SKU: ev.SKU, Version: ev.Version, Available: max(ev.Available, 0)}, nil
}

// ApplyStock applies an inventory.stock.changed body and reports whether
// it changed the index: false when the index holds that SKU's stock at
// that version or a newer one. It returns an invalid error for a body
// without a SKU or with a negative version.
func (x *Index) ApplyStock(ev shop.StockChanged) (bool, error) {
	st, err := stockFromEvent(ev)
	if err != nil {
		return false, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.applyStock(st), nil
}

// InStock reports whether the visible product id is in stock: some SKU it
// is sold under has units available. It is false for a product that is
// not visible, and true for every visible one while the index knows the
// stock of no SKU at all (see Query.InStock).
func (x *Index) InStock(id string) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	r := x.recs[id]
	if r == nil || r.slot < 0 {
		return false
	}
	return x.stockKnown == 0 || x.inStock.has(uint32(r.slot))
}

// prepareStock reports whether st is newer than what the index holds.
func (x *Index) prepareStock(st stockRec) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	s, ok := x.skus[st.SKU]
	return !ok || !s.known || st.Version > s.version
}

// applyStock applies st if it is newer than what is held, and updates
// the in-stock set of the products selling the SKU.
func (x *Index) applyStock(st stockRec) bool {
	s, ok := x.skus[st.SKU]
	if !ok {
		s = skuState{slot: -1}
	}
	if s.known && st.Version <= s.version {
		return false
	}
	if !s.known {
		x.stockKnown++
	}
	was := s.known && s.available > 0
	s.version, s.available, s.known = st.Version, st.Available, true
	x.skus[st.SKU] = s
	if was != (st.Available > 0) {
		x.eachSlotOf(st.SKU, s, x.updateInStock)
	}
	return true
}

// eachSlotOf calls fn with every visible slot selling sku.
func (x *Index) eachSlotOf(sku string, s skuState, fn func(slot uint32)) {
	if s.slot >= 0 {
		fn(uint32(s.slot))
	}
	for _, slot := range x.skuMore[sku] {
		fn(slot)
	}
}

// updateInStock sets or clears slot in the in-stock set.
func (x *Index) updateInStock(slot uint32) {
	for _, sku := range x.items[slot].skus {
		if s := x.skus[sku]; s.known && s.available > 0 {
			x.inStock.set(slot)
			return
		}
	}
	x.inStock.clear(slot)
}

// addSKUs records that the visible product in slot sells its SKUs.
func (x *Index) addSKUs(slot uint32) {
	for _, sku := range x.items[slot].skus {
		s, ok := x.skus[sku]
		if !ok {
			s = skuState{slot: -1}
		}
		if s.slot < 0 {
			s.slot = int32(slot)
		} else {
			x.skuMore[sku] = append(x.skuMore[sku], slot)
		}
		x.skus[sku] = s
	}
	x.updateInStock(slot)
}

// removeSKUs forgets that the product in slot sells its SKUs; a SKU
// neither sold by a visible product nor of known stock is forgotten.
func (x *Index) removeSKUs(slot uint32) {
	x.inStock.clear(slot)
	for _, sku := range x.items[slot].skus {
		s, ok := x.skus[sku]
		if !ok {
			continue
		}
		more := x.skuMore[sku]
		if s.slot == int32(slot) {
			s.slot = -1
			if n := len(more); n > 0 {
				s.slot, more = int32(more[n-1]), more[:n-1]
			}
		} else {
			for i, m := range more {
				if m == slot {
					more = append(more[:i], more[i+1:]...)
					break
				}
			}
		}
		if len(more) == 0 {
			delete(x.skuMore, sku)
		} else {
			x.skuMore[sku] = more
		}
		if s.slot < 0 && !s.known {
			delete(x.skus, sku)
		} else {
			x.skus[sku] = s
		}
	}
}

// applyStockChange persists st and applies it to the index, if it is newer
// than what is held (as applyProduct does for products).
func (s *Server) applyStockChange(ctx context.Context, st stockRec) (bool, error) {
	if !s.idx.prepareStock(st) {
		return false, nil
	}
	st, err := storeVersioned(ctx, s.stock, st.SKU, st.Version, false, st)
	if err != nil {
		return false, err
	}
	s.idx.mu.Lock()
	defer s.idx.mu.Unlock()
	return s.idx.applyStock(st), nil
}
