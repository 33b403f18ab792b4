package storefront_test

import (
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/storefront"
)

// BenchmarkPageDuringLoginFlood measures a product page's p99 while 32
// clients keep sending wrong passwords (each a cost-12 bcrypt check, the
// addresses never repeated, so that no lockout spares a hash; the
// per-client rate limits off so that only the auth service's hashing limit
// stands between the flood and the pages), against the same page's p99
// with no flood, in the same run: "flood/quiet" is their ratio.
//
//	go test ./storefront -run '^$' -bench LoginFlood -benchtime 200x
func BenchmarkPageDuringLoginFlood(b *testing.B) {
	defer func(cost int) { fixtureBcryptCost = cost }(fixtureBcryptCost)
	fixtureBcryptCost = auth.DefaultBcryptCost
	off := storefront.Rate{Off: true}
	f := newShop(b, storefront.Options{RateLimits: storefront.RateLimits{Login: off, LoginAccount: off, Register: off}})
	const path, want = "/red-runner", "Red Runner"
	pageP99 := func(n int) time.Duration {
		took := make([]time.Duration, 0, n)
		for range n {
			start := time.Now()
			if rec := serve(f.front, path); rec.Code != 200 || !strings.Contains(rec.Body.String(), want) {
				b.Fatalf("%s: %d", path, rec.Code)
			}
			took = append(took, time.Since(start))
		}
		slices.Sort(took)
		return took[len(took)*99/100]
	}
	pageP99(20) // warm the caches

	b.ResetTimer()
	quiet := pageP99(b.N)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var logins atomic.Int64
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				req := httptest.NewRequest("POST", "/api/login", strings.NewReader(fmt.Sprintf(`{"email":"flood-%d-%d@front.test","password":"wrong-password"}`, i, n)))
				req.Header.Set("Content-Type", "application/json")
				f.front.ServeHTTP(httptest.NewRecorder(), req)
				logins.Add(1)
			}
		}()
	}
	time.Sleep(500 * time.Millisecond) // the flood under way
	started, before := time.Now(), logins.Load()
	flood := pageP99(b.N)
	rate := float64(logins.Load()-before) / time.Since(started).Seconds()
	close(stop)
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(quiet.Microseconds())/1000, "quiet-p99-ms")
	b.ReportMetric(float64(flood.Microseconds())/1000, "flood-p99-ms")
	b.ReportMetric(float64(flood)/float64(quiet), "flood/quiet")
	b.ReportMetric(rate, "logins/s")
}
