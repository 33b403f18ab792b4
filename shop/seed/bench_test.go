package seed_test

import (
	"context"
	"testing"
	"time"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/shop/seed"
)

// BenchmarkRun seeds 100 new products per iteration (a fresh seed each
// time, so everything is created) into one shop on the in-process bus and
// the test MongoDB server, and reports products created per second. On
// the embedded FerretDB the rate falls as the shop grows: its writes slow
// down with collection size.
func BenchmarkRun(b *testing.B) {
	const n = 100
	for _, kind := range bustest.Kinds {
		b.Run(kind, func(b *testing.B) {
			bus := bustest.New(b, kind)
			s := startShop(b, bus)
			srv := startSeeder(b, s, nil)
			ctx, cancel := context.WithTimeout(s.admin, time.Hour)
			defer cancel()
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				if _, err := srv.Seed(ctx, seed.RunRequest{Seed: int64(i), Products: n}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*n)/time.Since(start).Seconds(), "products/s")
		})
	}
}
