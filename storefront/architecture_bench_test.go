package storefront_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/wire"
	"github.com/shopbus/shopbus/storefront"
	"github.com/shopbus/shopbus/transport"
)

// BenchmarkArchitectureCost measures what the bus costs the storefront:
// the home, category and product pages per second (8 requests in flight,
// as a guest) of the test shop on the in-process bus, against the same
// pages of a second storefront whose calls reach the same services' handlers
// directly, in the caller's goroutine (directBus: no queue, no hand-off to
// a consumer goroutine, no copies of the bodies). Rounds of the two
// alternate, so that the machine's load hits both alike. It reports the
// pages per second of each and, as "bus/direct", the worst ratio of the
// three pages (the target is at least 0.8).
//
// The direct storefront still encodes requests and replies as JSON: the
// storefront reaches the services only through their bus clients
// (storefront.Options has a Bus, no Service values), so the cost of
// encoding is counted on both sides and this measures the bus alone.
//
//	go test ./storefront -run '^$' -bench ArchitectureCost -benchtime 20x
func BenchmarkArchitectureCost(b *testing.B) {
	f := newShopOn(b, bustest.New(b, "inproc"), storefront.Options{})
	waitFor(b, "seo metadata", func() bool {
		rec := serve(f.front, "/red-runner")
		return strings.Contains(rec.Body.String(), seoBaseURL+"/red-runner")
	})
	direct, _, _ := f.newFront(b, storefront.Options{}, func(bus transport.Bus) transport.Bus { return &directBus{switchBus: f.bus} })
	pages := []struct{ name, path, want string }{
		{"home", "/", `<section class="latest-articles">`},
		{"category", "/shoes", `<span class="price-range">`},
		{"product", "/red-runner", seoBaseURL + "/red-runner"},
	}
	const inFlight, perRound = 8, 64
	type side struct {
		pages   int
		elapsed time.Duration
	}
	stats := map[string]*[2]side{} // page -> [bus, direct]
	for _, p := range pages {
		stats[p.name] = &[2]side{}
		for i, h := range []handler{f.front, direct} {
			if rec := serve(h, p.path); rec.Code != 200 || !strings.Contains(rec.Body.String(), p.want) {
				b.Fatalf("%s (side %d): %d without %s", p.path, i, rec.Code, p.want)
			}
		}
	}
	round := func(h handler, path, want string) (time.Duration, error) {
		var (
			wg       sync.WaitGroup
			next     = make(chan struct{}, perRound)
			errOnce  sync.Once
			firstErr error
		)
		for range perRound {
			next <- struct{}{}
		}
		close(next)
		start := time.Now()
		for range inFlight {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range next {
					if rec := serve(h, path); rec.Code != 200 || !strings.Contains(rec.Body.String(), want) {
						errOnce.Do(func() { firstErr = fmt.Errorf("%s: %d without %s", path, rec.Code, want) })
						return
					}
				}
			}()
		}
		wg.Wait()
		return time.Since(start), firstErr
	}
	b.ResetTimer()
	for i := range b.N {
		for _, p := range pages {
			s := stats[p.name]
			order := []int{0, 1}
			if i%2 == 1 {
				order = []int{1, 0}
			}
			for _, k := range order {
				h := handler(f.front)
				if k == 1 {
					h = direct
				}
				d, err := round(h, p.path, p.want)
				if err != nil {
					b.Fatal(err)
				}
				s[k].pages += perRound
				s[k].elapsed += d
			}
		}
	}
	b.StopTimer()
	worst := 0.0
	for _, p := range pages {
		s := stats[p.name]
		bus := float64(s[0].pages) / s[0].elapsed.Seconds()
		dir := float64(s[1].pages) / s[1].elapsed.Seconds()
		b.ReportMetric(bus, p.name+"-bus-pages/s")
		b.ReportMetric(dir, p.name+"-direct-pages/s")
		if r := bus / dir; worst == 0 || r < worst {
			worst = r
		}
	}
	b.ReportMetric(worst, "bus/direct")
}

// handler is a storefront.
type handler = http.Handler

// directBus calls the handlers the services serve on the fixture's bus
// directly, in the caller's goroutine, with the context and headers the
// in-process bus would give them; everything else goes to the bus.
type directBus struct {
	*switchBus
}

func (d *directBus) Call(ctx context.Context, method string, body []byte) ([]byte, error) {
	service, err := transport.ServiceOf(method)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	list := d.served[service]
	d.mu.Unlock()
	if len(list) == 0 {
		return nil, transport.Errorf(transport.CodeUnavailable, "no handler for %s", service)
	}
	served := list[len(list)-1]
	headers := wire.OutgoingHeaders(ctx)
	id := transport.NewRequestID()
	if rid := transport.CallRequestID(ctx, method, body); rid != "" {
		if headers == nil {
			headers = map[string]string{}
		}
		headers[wire.HeaderRequestID] = rid
	}
	rid, bad := wire.RequestID(headers, id)
	if bad != nil {
		return nil, bad
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(transport.DefaultCallTimeout)
	}
	o := transport.ApplyConsumerOptions(served.opts)
	hctx, cancel := wire.HandlerContext(deadline, o.MaxDeadline, headers, rid)
	defer cancel()
	req := transport.Request{Method: method, ID: id, RequestID: rid, Body: body, Header: wire.AppHeaders(headers)}
	reply, terr := wire.Serve(hctx, served.h, &req, transport.DefaultMaxMessageSize, quiet)
	if terr != nil {
		return nil, terr
	}
	return reply, nil
}
