package filter

import (
	"fmt"
	"testing"

	"github.com/shopbus/shopbus/shop"
)

// TestValuesCompacted checks that values no product holds any more are
// forgotten, and that counting stays right after the ids change.
func TestValuesCompacted(t *testing.T) {
	x := NewIndex()
	for i := range 20 {
		x.ApplyProduct(shop.ProductChanged{Product: shop.ProductSnapshot{ID: fmt.Sprint("p", i), Status: shop.StatusPublished,
			Attributes: map[string]any{"color": []string{"red", "blue"}[i%2], "stock": float64(i)}, Version: 1}})
	}
	// The stock of p0 changes 5,000 times.
	for v := range 5000 {
		x.ApplyProduct(shop.ProductChanged{Product: shop.ProductSnapshot{ID: "p0", Status: shop.StatusPublished,
			Attributes: map[string]any{"color": "green", "stock": float64(1000 + v)}, Version: int64(2 + v)}})
	}
	if n := len(x.vals); n > 2*1024+30 {
		t.Errorf("%d values held, %d dead", n, x.deadVals)
	}
	res, err := x.Query(Query{Attributes: []AttributeFilter{{Code: "color", Values: []string{"red", "green"}}}, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 10 {
		t.Errorf("total = %d, want 10", res.Total)
	}
	counts := map[string]int{}
	for _, f := range res.Facets {
		for _, v := range f.Values {
			counts[f.Code+"="+v.Value] = v.Count
		}
	}
	if counts["color=red"] != 9 || counts["color=blue"] != 10 || counts["color=green"] != 1 || counts["stock=5999"] != 1 || counts["stock=2"] != 1 || len(counts) != 13 {
		t.Errorf("counts = %v", counts)
	}
	res, _ = x.Query(Query{Attributes: []AttributeFilter{{Code: "stock", Min: new(5999.0)}}})
	if res.Total != 1 || res.Items[0].ID != "p0" {
		t.Errorf("stock >= 5999: %+v", res.Items)
	}
}
