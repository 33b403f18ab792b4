package order_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/inventory"
	"github.com/shopbus/shopbus/shop/order"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/inproc"
)

// BenchmarkCheckout measures one checkout of a one-line cart (order.place
// over the in-process bus: the saga with the fake provider, every write on
// the embedded store) one at a time, and, in the same run, the bus calls
// a checkout makes measured alone, one at a time: auth.authenticate,
// cart.get, product.get, inventory.reserve and inventory.commit, taking
// turns with the checkouts. It
// reports the p50 of a checkout, the sum of the calls' p50s, and their
// ratio: what the saga's own bookkeeping (the order document written
// once per step, the request memory) adds to the calls it coordinates.
func BenchmarkCheckout(b *testing.B) {
	bus := inproc.New(inproc.Options{Logger: quiet()})
	b.Cleanup(func() { bus.Close() })
	e := start(b, bus, order.Options{})
	mug := e.product(b, "Mug", 1250, inventory.MaxUnits)
	customer := e.auth.Customer
	token := shop.TokenFrom(customer)
	p50 := func(d []time.Duration) time.Duration {
		slices.Sort(d)
		return d[len(d)/2]
	}
	timed := func(d *[]time.Duration, f func() error) {
		start := time.Now()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		*d = append(*d, time.Since(start))
	}
	var checkout, authn, carts, products, reserve, commit []time.Duration
	n := max(b.N, 5)
	b.ResetTimer()
	// The checkout and its calls alone take turns, so that both see the
	// same load on a shared machine.
	for i := range n {
		b.StopTimer()
		e.add(b, customer, mug, 1)
		b.StartTimer()
		timed(&checkout, func() error {
			o, err := e.orders.Place(transport.WithRequestID(customer, transport.NewRequestID()), request())
			if err == nil && o.Status != order.StatusPaid {
				err = fmt.Errorf("order %s is %s: %s", o.ID, o.Status, o.Reason)
			}
			return err
		})
		b.StopTimer()
		id := fmt.Sprint("bench-", i)
		ctx := context.Background()
		timed(&authn, func() error { _, err := e.auth.Client.Authenticate(ctx, token); return err })
		timed(&carts, func() error { _, err := e.carts.Get(customer, cart.CartRequest{}); return err })
		timed(&products, func() error { _, err := e.products.Get(ctx, product.GetRequest{ID: mug.ID}); return err })
		timed(&reserve, func() error {
			_, err := e.inv.Reserve(customer, inventory.ReserveRequest{OrderID: id, Lines: []inventory.Line{{SKU: mug.SKU, Quantity: 1}}})
			return err
		})
		timed(&commit, func() error { _, err := e.inv.Commit(customer, inventory.OrderRequest{OrderID: id}); return err })
		b.StartTimer()
	}
	b.StopTimer()
	sum := p50(authn) + p50(carts) + p50(products) + p50(reserve) + p50(commit)
	b.ReportMetric(float64(p50(checkout).Microseconds()), "checkout-p50-µs")
	b.ReportMetric(float64(sum.Microseconds()), "calls-p50-sum-µs")
	b.ReportMetric(float64(p50(checkout))/float64(sum), "checkout/calls")
	b.ReportMetric(float64(p50(reserve).Microseconds()), "reserve-p50-µs")
}
