package option_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/shop"
	ct "github.com/shopbus/shopbus/shop/catalog/internal/catalogtest"
	"github.com/shopbus/shopbus/shop/catalog/option"
	"github.com/shopbus/shopbus/transport"
)

// TestConcurrentVariantWrites: variant writes of different products run
// at once, one product's are serialised, and option group changes wait
// for none of them half done. Afterwards every set holds exactly the SKUs
// it lists, a SKU two batches wanted went to one product only, and no
// set uses a value its group no longer has.
func TestConcurrentVariantWrites(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		opts := c.Options
		groups(t, c)
		call := func() context.Context { return transport.WithRequestID(c.Admin, transport.NewRequestID()) }

		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			failed []string
		)
		fail := func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			failed = append(failed, fmt.Sprintf(format, args...))
		}
		var products []string
		for w := range 6 {
			items := []option.GenerateRequest{{ProductID: fmt.Sprint("shared-", w%2), SKU: "SHARED", Groups: []string{"size"}}}
			for k := range 4 {
				items = append(items, option.GenerateRequest{ProductID: fmt.Sprintf("p%d-%d", w, k), SKU: fmt.Sprintf("B%dK%d", w, k), Groups: []string{"colour", "size"}})
				products = append(products, fmt.Sprintf("p%d-%d", w, k))
			}
			wg.Go(func() {
				res, err := opts.GenerateVariantsMany(call(), option.GenerateManyRequest{Items: items})
				if err != nil {
					fail("worker %d: %v", w, err)
					return
				}
				for i, r := range res[1:] {
					if r.Error != nil {
						fail("worker %d item %d: %v", w, i+1, r.Error)
					}
				}
			})
		}
		for w := range 4 {
			wg.Go(func() {
				g := []string{"size", "colour"}[w%2]
				_, err := opts.GenerateVariants(call(), option.GenerateRequest{ProductID: "same", SKU: "SAME", Groups: []string{g}})
				if err != nil && !errors.Is(err, shop.ErrConflict) {
					fail("same, %s: %v", g, err)
				}
			})
		}
		wg.Go(func() {
			_, err := opts.RemoveValue(call(), option.ValueRequest{Group: "size", Code: "l"})
			if err != nil && !errors.Is(err, shop.ErrConflict) {
				fail("remove size l: %v", err)
			}
		})
		wg.Wait()
		for _, f := range failed {
			t.Error(f)
		}

		ctx := context.Background()
		size := ct.Must(opts.GetGroup(ctx, option.GroupRequest{Code: "size"}))(t)
		hasL := slices.ContainsFunc(size.Values, func(v option.Value) bool { return v.Code == "l" })
		sharedOwners := 0
		for _, p := range append(products, "shared-0", "shared-1", "same") {
			pv, err := opts.GetVariants(ctx, option.ProductRequest{ProductID: p})
			if errors.Is(err, shop.ErrNotFound) {
				if n := skuCount(t, c, p); n != 0 {
					t.Errorf("%s has no variants but holds %d SKUs", p, n)
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if p == "shared-0" || p == "shared-1" {
				sharedOwners++
			}
			for _, v := range pv.Variants {
				var held struct {
					ProductID string `bson:"product_id"`
				}
				if err := c.OptionDB.Collection("variant_skus").FindOne(ctx, bson.D{{Key: "_id", Value: v.SKU}}).Decode(&held); err != nil || held.ProductID != p {
					t.Errorf("%s lists %s, held by %q (%v)", p, v.SKU, held.ProductID, err)
				}
				if v.Options["size"] == "l" && !hasL {
					t.Errorf("%s uses size l, which its group no longer has", p)
				}
			}
			if n := skuCount(t, c, p); n != int64(len(pv.Variants)) {
				t.Errorf("%s lists %d variants but holds %d SKUs", p, len(pv.Variants), n)
			}
		}
		if sharedOwners != 1 {
			t.Errorf("%d products got the SKUs two batches wanted, want 1", sharedOwners)
		}
	})
}
