package cart_test

import (
	"context"
	"slices"
	"testing"
	"time"

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
