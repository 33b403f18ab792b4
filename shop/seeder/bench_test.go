package seeder_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/shoptest"
	"github.com/shopbus/shopbus/internal/testenv"
	invsvc "github.com/shopbus/shopbus/shop/inventory"
	"github.com/shopbus/shopbus/shop/seeder"
)

// BenchmarkRun seeds 100 new products per iteration (a fresh seed each
// time, so everything is created) into one shop on the in-process bus and
// the test MongoDB server, and reports products created per second and
// the database commands the shop's services sent per product (counted by
// a command monitor; the test shop has no filter or cart service). On
// the embedded FerretDB the rate falls as the shop grows: its writes slow
// down with collection size.
func BenchmarkRun(b *testing.B) {
	const n = 100
	for _, kind := range bustest.Kinds {
		b.Run(kind, func(b *testing.B) {
			bus := bustest.New(b, kind)
			var commands atomic.Int64
			client, err := mongo.Connect(options.Client().ApplyURI(testenv.MongoURI(b)).SetMonitor(&event.CommandMonitor{
				Started: func(context.Context, *event.CommandStartedEvent) { commands.Add(1) },
			}))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = client.Disconnect(context.Background()) })
			s := startShopOn(b, bus, func(tb testing.TB, name string) *mongo.Database {
				return client.Database(testenv.MongoDB(tb, name).Name()) // dropped by testenv
			})
			srv := startSeeder(b, s, nil)
			ctx, cancel := context.WithTimeout(s.admin, time.Hour)
			defer cancel()
			b.ResetTimer()
			start, before := time.Now(), commands.Load()
			for i := range b.N {
				if _, err := srv.Seed(ctx, seeder.RunRequest{Seed: int64(i), Products: n}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*n)/time.Since(start).Seconds(), "products/s")
			b.ReportMetric(float64(commands.Load()-before)/float64(b.N*n), "commands/product")
		})
	}
}

// noStock is an inventory service that does nothing, instantly: a run
// with it costs what a run cost before the seeder set stock.
type noStock struct{ invsvc.Service }

func (noStock) GetMany(context.Context, invsvc.GetManyRequest) ([]invsvc.Stock, error) {
	return nil, nil
}

func (noStock) SetStock(_ context.Context, r invsvc.SetStockRequest) (invsvc.Stock, error) {
	return invsvc.Stock{SKU: r.SKU, OnHand: r.OnHand, Available: r.OnHand}, nil
}

func (n noStock) SetStockMany(ctx context.Context, r invsvc.SetStockManyRequest) ([]invsvc.StockResult, error) {
	out := make([]invsvc.StockResult, len(r.Items))
	for i, it := range r.Items {
		st, _ := n.SetStock(ctx, it)
		out[i] = invsvc.StockResult{SKU: it.SKU, Stock: &st}
	}
	return out, nil
}

// BenchmarkRunStockCost measures what setting stock costs a run, in one
// shop and one run of the benchmark (the machine's load changes too much
// between runs): each iteration seeds 50 new products with the inventory
// service and 50 with an inventory that does nothing, alternating which
// goes first. It reports products/s of both and their ratio
// (x-without-stock, below 1 when stock slows the run down).
func BenchmarkRunStockCost(b *testing.B) {
	const n = 50
	for _, kind := range bustest.Kinds {
		b.Run(kind, func(b *testing.B) {
			bus := bustest.New(b, kind)
			s := startShop(b, bus)
			with := startSeeder(b, s, nil)
			without, err := seeder.New(nil, seeder.Options{
				Bus: bus, Inventory: noStock{}, Concurrency: 4, Logger: quiet,
				AdminEmail: shoptest.AdminEmail, AdminPassword: shoptest.AdminPassword,
			})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(s.admin, time.Hour)
			defer cancel()
			var withTime, withoutTime time.Duration
			seedWith := func(srv *seeder.Server, seedValue int64, total *time.Duration) {
				start := time.Now()
				if _, err := srv.Seed(ctx, seeder.RunRequest{Seed: seedValue, Products: n}); err != nil {
					b.Fatal(err)
				}
				*total += time.Since(start)
			}
			b.ResetTimer()
			for i := range b.N {
				if i%2 == 0 {
					seedWith(with, int64(2*i), &withTime)
					seedWith(without, int64(2*i+1), &withoutTime)
				} else {
					seedWith(without, int64(2*i+1), &withoutTime)
					seedWith(with, int64(2*i), &withTime)
				}
			}
			b.ReportMetric(float64(b.N*n)/withTime.Seconds(), "products/s")
			b.ReportMetric(float64(b.N*n)/withoutTime.Seconds(), "products/s-without-stock")
			b.ReportMetric(withoutTime.Seconds()/withTime.Seconds(), "x-without-stock")
		})
	}
}
