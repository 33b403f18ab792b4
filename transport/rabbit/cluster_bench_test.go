package rabbit_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/rabbit"
)

// echoOn returns a caller bus on callerURL and serves an echo service, on
// a bus of its own connected to serverURL, with request queues of type qt.
func echoOn(b *testing.B, callerURL, serverURL, qt string) (caller *rabbit.Bus, method string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns := bustest.Namespace()
	dial := func(url string) *rabbit.Bus {
		bus, err := rabbit.Dial(ctx, rabbit.Options{URL: url, Namespace: ns, QueueType: qt, ExpireUnused: 10 * time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { bus.Close() })
		return bus
	}
	server := dial(serverURL)
	if _, err := server.Serve("bench", transport.HandlerFunc(func(ctx context.Context, req *transport.Request) ([]byte, error) {
		return req.Body, nil
	}), transport.WithConcurrency(64)); err != nil {
		b.Fatal(err)
	}
	return dial(callerURL), "bench.echo"
}

// sequential times n calls one after another and returns their p50.
func sequential(b *testing.B, bus *rabbit.Bus, method string, n int) time.Duration {
	ctx := context.Background()
	times := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if _, err := bus.Call(ctx, method, payload); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(start))
	}
	return p50(times)
}

// inFlight makes n calls, 64 at a time, and returns the calls per second.
func inFlight(b *testing.B, bus *rabbit.Bus, method string, n int) float64 {
	ctx := context.Background()
	work := make(chan struct{}, n)
	for range n {
		work <- struct{}{}
	}
	close(work)
	var wg sync.WaitGroup
	start := time.Now()
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				if _, err := bus.Call(ctx, method, payload); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkQuorumVsClassic: the same echo service behind a quorum and a
// classic request queue on one node, alternating rounds in one run:
// sequential p50s and 64-in-flight rates, and their ratios (quorum ÷
// classic).
func BenchmarkQuorumVsClassic(b *testing.B) {
	url := testenv.AMQPURL(b)
	classic, cm := echoOn(b, url, url, rabbit.QueueClassic)
	quorum, qm := echoOn(b, url, url, rabbit.QueueQuorum)
	sequential(b, classic, cm, 200)
	sequential(b, quorum, qm, 200)
	const rounds = 5
	per := max(b.N/rounds, 200)
	var cSeq, qSeq time.Duration
	var cRate, qRate float64
	b.ResetTimer()
	for range rounds {
		cSeq += sequential(b, classic, cm, per)
		qSeq += sequential(b, quorum, qm, per)
		cRate += inFlight(b, classic, cm, per*4)
		qRate += inFlight(b, quorum, qm, per*4)
	}
	b.StopTimer()
	b.ReportMetric(float64(cSeq.Microseconds())/rounds, "classic-p50-µs")
	b.ReportMetric(float64(qSeq.Microseconds())/rounds, "quorum-p50-µs")
	b.ReportMetric(float64(qSeq)/float64(cSeq), "seq-ratio")
	b.ReportMetric(cRate/rounds, "classic-req/s")
	b.ReportMetric(qRate/rounds, "quorum-req/s")
	b.ReportMetric(qRate/cRate, "inflight-ratio")
}

// BenchmarkCrossNode: on a cluster (SHOP_AMQP_CLUSTER_URLS, two or more
// comma-separated node URLs), a call whose caller and service are
// connected to different nodes against one where both use the same node,
// with quorum queues; ratio = different ÷ same (sequential p50s). Skipped
// without a cluster.
func BenchmarkCrossNode(b *testing.B) {
	urls := strings.Split(os.Getenv("SHOP_AMQP_CLUSTER_URLS"), ",")
	if len(urls) < 2 || urls[1] == "" {
		b.Skip("SHOP_AMQP_CLUSTER_URLS names no cluster")
	}
	same, sm := echoOn(b, urls[0], urls[0], rabbit.QueueQuorum)
	cross, xm := echoOn(b, urls[1], urls[0], rabbit.QueueQuorum)
	sequential(b, same, sm, 200)
	sequential(b, cross, xm, 200)
	const rounds = 5
	per := max(b.N/rounds, 200)
	var sSeq, xSeq time.Duration
	b.ResetTimer()
	for range rounds {
		sSeq += sequential(b, same, sm, per)
		xSeq += sequential(b, cross, xm, per)
	}
	b.StopTimer()
	b.ReportMetric(float64(sSeq.Microseconds())/rounds, "same-node-p50-µs")
	b.ReportMetric(float64(xSeq.Microseconds())/rounds, "cross-node-p50-µs")
	b.ReportMetric(float64(xSeq)/float64(sSeq), "ratio")
}
