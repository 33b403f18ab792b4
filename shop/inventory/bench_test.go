package inventory_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/shopbus/shopbus/shop/inventory"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/inproc"
)

// BenchmarkReserveCommit measures checkouts' stock work: 16 concurrent
// buyers, each on a SKU of its own, each doing Reserve then Commit of one
// unit on the service itself (embedded store, a fresh request id per
// call, the caller authenticated by the auth service over the in-process
// bus). The baseline, in the same run, is the cheapest write there is:
// 16 goroutines doing a bare {_id} $inc on 16 documents. It reports both
// rates and how many bare updates one reserve+commit costs.
func BenchmarkReserveCommit(b *testing.B) {
	const buyers = 16
	bus := inproc.New(inproc.Options{Logger: quiet()})
	b.Cleanup(func() { bus.Close() })
	e := start(b, bus, inventory.Options{})
	for i := range buyers {
		e.set(b, fmt.Sprint("SKU-", i), inventory.MaxUnits)
	}
	bare := e.db.Collection("bare")
	for i := range buyers {
		if _, err := bare.InsertOne(context.Background(), bson.D{{Key: "_id", Value: fmt.Sprint("SKU-", i)}, {Key: "n", Value: 0}}); err != nil {
			b.Fatal(err)
		}
	}
	var orders atomic.Int64
	checkout := func(i int) {
		order := fmt.Sprint("order-", orders.Add(1))
		ctx := transport.WithRequestID(e.customer, transport.NewRequestID())
		if _, err := e.srv.Reserve(ctx, reserve(order, line(fmt.Sprint("SKU-", i), 1))); err != nil {
			b.Error(err)
			return
		}
		ctx = transport.WithRequestID(e.customer, transport.NewRequestID())
		if _, err := e.srv.Commit(ctx, inventory.OrderRequest{OrderID: order}); err != nil {
			b.Error(err)
		}
	}
	update := func(i int) {
		_, err := bare.UpdateOne(context.Background(), bson.D{{Key: "_id", Value: fmt.Sprint("SKU-", i)}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}})
		if err != nil {
			b.Error(err)
		}
	}
	// run does n operations spread over the buyers and returns their rate.
	run := func(n int, op func(i int)) float64 {
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for i := range buyers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(n) {
					op(i)
				}
			}()
		}
		wg.Wait()
		return float64(n) / time.Since(start).Seconds()
	}
	run(buyers*2, checkout) // warm up
	run(buyers*2, update)
	b.ResetTimer()
	checkouts := run(b.N, checkout)
	updates := run(b.N, update)
	b.StopTimer()
	b.ReportMetric(checkouts, "reserve+commit/s")
	b.ReportMetric(updates, "bare-updates/s")
	b.ReportMetric(updates/checkouts, "updates-per-checkout")
}

// BenchmarkSetStockMany measures what the seeder pays to give a new
// product's SKUs their stock (seven: the product's and six variants'),
// through the bus client on the in-process bus with the embedded store:
// one set_stock call per SKU, all seven at once (what the seeder did),
// against one set_stock_many call, alternating per product. Every SKU is
// new. It reports the p50 of both in ms per product and their ratio.
func BenchmarkSetStockMany(b *testing.B) {
	const skus = 7
	bus := inproc.New(inproc.Options{Logger: quiet()})
	b.Cleanup(func() { bus.Close() })
	e := start(b, bus, inventory.Options{})
	var one, many []time.Duration
	product := func(i int, batch bool) {
		items := make([]inventory.SetStockRequest, skus)
		for j := range items {
			items[j] = inventory.SetStockRequest{SKU: fmt.Sprintf("P%d-%t-%d", i, batch, j), OnHand: int64(10 + j)}
		}
		start := time.Now()
		if batch {
			res, err := e.inv.SetStockMany(e.admin, inventory.SetStockManyRequest{Items: items})
			if err != nil || len(res) != skus {
				b.Fatal(res, err)
			}
			many = append(many, time.Since(start))
			return
		}
		var wg sync.WaitGroup
		for _, it := range items {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := e.inv.SetStock(e.admin, it); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
		one = append(one, time.Since(start))
	}
	for i := range 4 { // warm up
		product(-1-i, i%2 == 0)
	}
	one, many = nil, nil
	b.ResetTimer()
	for i := range b.N {
		product(i, i%2 == 0)
		product(i, i%2 != 0)
	}
	b.StopTimer()
	slices.Sort(one)
	slices.Sort(many)
	p50one, p50many := one[len(one)/2], many[len(many)/2]
	b.ReportMetric(float64(p50one)/1e6, "set_stock-ms/product")
	b.ReportMetric(float64(p50many)/1e6, "set_stock_many-ms/product")
	b.ReportMetric(float64(p50many)/float64(p50one), "x-set_stock")
}
