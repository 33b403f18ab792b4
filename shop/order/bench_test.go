package order_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/inventory"
	"github.com/shopbus/shopbus/shop/order"
	"github.com/shopbus/shopbus/transport"
)

// BenchmarkCheckout measures one checkout of a one-line cart (order.place:
// the saga with the fake provider, every write on the embedded store) one
// at a time, on each bus, and, in the same run, the bus calls a checkout
// makes measured alone, one at a time: auth.authenticate, cart.get,
// product.get, inventory.reserve and inventory.commit, taking turns with
// the checkouts. It reports the p50 of a checkout, the sum of the calls'
// p50s, and their ratio: what the saga's own bookkeeping (the order
// document written once per step, the request memory) adds to the calls
// it coordinates.
func BenchmarkCheckout(b *testing.B) {
	for _, kind := range bustest.Kinds {
		b.Run(kind, func(b *testing.B) { benchmarkCheckout(b, bustest.New(b, kind)) })
	}
}

func benchmarkCheckout(b *testing.B, bus transport.Bus) {
	e := start(b, bus, order.Options{})
	mug := e.product(b, "Mug", 1250, inventory.MaxUnits)
	customer := e.auth.Customer
	token := shop.TokenFrom(customer)
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
		timed(&checkout, func() error { return e.checkout(customer) })
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

// BenchmarkCheckoutBuyers measures checkouts per second on each bus with
// 16 buyers at once, each with a cart of its own and a SKU of its own,
// against one buyer alone in the same run: each round, one buyer checks
// out Rounds times, then 16 buyers do so together. It reports both rates
// and their ratio (how much of the machine 16 buyers put to use).
func BenchmarkCheckoutBuyers(b *testing.B) {
	for _, kind := range bustest.Kinds {
		b.Run(kind, func(b *testing.B) { benchmarkCheckoutBuyers(b, bustest.New(b, kind)) })
	}
}

func benchmarkCheckoutBuyers(b *testing.B, bus transport.Bus) {
	const buyers, perBuyer = 16, 4
	e := start(b, bus, order.Options{})
	type buyer struct {
		ctx  context.Context
		item product.Product
	}
	all := make([]buyer, buyers)
	for i := range all {
		ctx, _ := e.auth.NewCustomer(b, fmt.Sprintf("buyer%d@shop.test", i), "buyer-password")
		all[i] = buyer{ctx, e.product(b, fmt.Sprint("Mug ", i), 1250, inventory.MaxUnits)}
	}
	// run has each of the given buyers check out perBuyer times, at once,
	// and returns the time it took.
	run := func(bs []buyer) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, len(bs))
		for _, by := range bs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range perBuyer {
					if _, err := e.carts.AddItem(by.ctx, cart.AddItemRequest{ProductID: by.item.ID, Quantity: 1}); err != nil {
						errs <- err
						return
					}
					if err := e.checkout(by.ctx); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	var alone, together time.Duration
	n := max(b.N, 1)
	b.ResetTimer()
	for range n {
		alone += run(all[:1])
		together += run(all)
	}
	b.StopTimer()
	aloneRate := float64(n*perBuyer) / alone.Seconds()
	togetherRate := float64(n*perBuyer*buyers) / together.Seconds()
	b.ReportMetric(aloneRate, "checkouts/s-1-buyer")
	b.ReportMetric(togetherRate, "checkouts/s-16-buyers")
	b.ReportMetric(togetherRate/aloneRate, "16/1")
}

// checkout places the order of ctx's cart under a fresh key and checks
// that it is paid.
func (e *env) checkout(ctx context.Context) error {
	o, err := e.orders.Place(transport.WithRequestID(ctx, transport.NewRequestID()), request())
	if err == nil && o.Status != order.StatusPaid {
		err = fmt.Errorf("order %s is %s: %s", o.ID, o.Status, o.Reason)
	}
	return err
}

func p50(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}
