package cart_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/inproc"
)

// BenchmarkAddItemRequestID measures what remembering the request id costs
// a cart write: AddItem on the service itself (embedded store), each
// iteration once without a request id and once with a fresh one, on the
// same cart. It reports both p50s and their ratio (target ≤ 1.15).
func BenchmarkAddItemRequestID(b *testing.B) {
	bus := inproc.New(inproc.Options{})
	b.Cleanup(func() { bus.Close() })
	e := start(b, bus, cart.Options{})
	p := e.product(b, "Cup", 300)
	ctx, _ := e.auth.NewCustomer(b, "bench@shop.test", "")
	add := func(ctx context.Context) time.Duration {
		start := time.Now()
		if _, err := e.srv.AddItem(ctx, cart.AddItemRequest{ProductID: p.ID, Quantity: 1}); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	for range 20 { // warm up, and fill the cart's memory of requests
		add(transport.WithRequestID(ctx, transport.NewRequestID()))
	}
	var plain, withID []time.Duration
	b.ResetTimer()
	for range b.N {
		plain = append(plain, add(ctx))
		withID = append(withID, add(transport.WithRequestID(ctx, transport.NewRequestID())))
	}
	b.StopTimer()
	p0, p1 := p50(plain), p50(withID)
	b.ReportMetric(float64(p0.Microseconds()), "plain-p50-µs")
	b.ReportMetric(float64(p1.Microseconds()), "request-id-p50-µs")
	b.ReportMetric(float64(p1)/float64(p0), "ratio")
}

func p50(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkRepriceCarts measures how fast one product event updates the
// carts holding the product (HandleProductChanged, in pages), in carts per
// second, against two baselines on the same carts in the same run: a bare
// UpdateOne by _id per cart, one at a time (what the store does at the
// least), and the compare-and-set write per cart, one at a time, that the
// handler did before it worked in pages (without the scan that found the
// carts). Each iteration writes every cart three times.
func BenchmarkRepriceCarts(b *testing.B) {
	const n = 1000
	e := start(b, inproc.New(inproc.Options{}), cart.Options{})
	mug := e.product(b, "Mug", 1250)
	ids := cart.SeedGuestCarts(b, e.srv, "bench", n, mug, nil)
	ctx := context.Background()
	var paged, bare, oneByOne time.Duration
	version := int64(0)
	b.ResetTimer()
	for i := range b.N {
		version++
		start := time.Now()
		if err := e.srv.HandleEvent(ctx, priceEvent(mug, version, 1300+int64(i))); err != nil {
			b.Fatal(err)
		}
		paged += time.Since(start)

		start = time.Now()
		for k, id := range ids {
			if _, err := cart.Carts(e.srv).UpdateOne(ctx, bson.D{{Key: "_id", Value: id}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "bench", Value: i*n + k}}}}); err != nil {
				b.Fatal(err)
			}
		}
		bare += time.Since(start)

		version++
		s := mug.Snapshot()
		s.Version += version
		s.Price.Amount = 1700 + int64(i)
		start = time.Now()
		if err := cart.UpdateOneByOne(ctx, e.srv, shop.ProductChanged{Product: s}, ids); err != nil {
			b.Fatal(err)
		}
		oneByOne += time.Since(start)
	}
	b.StopTimer()
	rate := func(d time.Duration) float64 { return float64(n*b.N) / d.Seconds() }
	b.ReportMetric(rate(paged), "paged-carts/s")
	b.ReportMetric(rate(bare), "bare-id-updates/s")
	b.ReportMetric(rate(oneByOne), "one-by-one-carts/s")
	b.ReportMetric(rate(paged)/rate(bare), "paged/bare")
	b.ReportMetric(rate(paged)/rate(oneByOne), "paged/one-by-one")
}
