package rabbit_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/rabbit"
)

// payload is a ~200-byte JSON request body.
var payload = []byte(`{"product_id":"3f2b8c1e-7d4a-4b9e-9c2f-1a2b3c4d5e6f","variant_id":"9a8b7c6d-5e4f-3a2b-1c0d-e9f8a7b6c5d4","quantity":2,"currency":"EUR","note":"benchmark payload of about two hundred bytes"}`)

// rawEcho is the baseline: an amqp091-go server and client with direct
// reply-to and nothing else, on one connection (as the issue defines the
// baseline) or, with twoConns, serving on a connection of its own as the
// Bus does.
type rawEcho struct {
	queue   string
	ch      *amqp.Channel
	mu      sync.Mutex
	waiting map[string]chan []byte
}

func newRawEcho(b *testing.B, url string, twoConns bool) *rawEcho {
	conn, err := amqp.Dial(url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	serving := conn
	if twoConns {
		if serving, err = amqp.Dial(url); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { serving.Close() })
	}
	srv, err := serving.Channel()
	if err != nil {
		b.Fatal(err)
	}
	q, err := srv.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		b.Fatal(err)
	}
	srv.Qos(64, 0, false)
	reqs, err := srv.Consume(q.Name, "", false, false, false, false, nil)
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		for d := range reqs {
			srv.PublishWithContext(context.Background(), "", d.ReplyTo, false, false, amqp.Publishing{ContentType: "application/json", CorrelationId: d.CorrelationId, Body: d.Body})
			d.Ack(false)
		}
	}()
	cli, err := conn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	replies, err := cli.Consume("amq.rabbitmq.reply-to", "", true, false, false, false, nil)
	if err != nil {
		b.Fatal(err)
	}
	r := &rawEcho{queue: q.Name, ch: cli, waiting: map[string]chan []byte{}}
	go func() {
		for d := range replies {
			r.mu.Lock()
			ch := r.waiting[d.CorrelationId]
			delete(r.waiting, d.CorrelationId)
			r.mu.Unlock()
			if ch != nil {
				ch <- d.Body
			}
		}
	}()
	return r
}

func (r *rawEcho) call(body []byte) []byte {
	id := uuid.NewString()
	ch := make(chan []byte, 1)
	r.mu.Lock()
	r.waiting[id] = ch
	r.mu.Unlock()
	r.ch.PublishWithContext(context.Background(), "", r.queue, false, false, amqp.Publishing{ContentType: "application/json", CorrelationId: id, ReplyTo: "amq.rabbitmq.reply-to", Body: body})
	return <-ch
}

func benchBus(b *testing.B, url string) *rabbit.Bus {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bus, err := rabbit.Dial(ctx, rabbit.Options{URL: url, Namespace: bustest.Namespace(), ExpireUnused: 10 * time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bus.Close() })
	if _, err := bus.Serve("bench", transport.HandlerFunc(func(ctx context.Context, req *transport.Request) ([]byte, error) {
		return req.Body, nil
	}), transport.WithConcurrency(64)); err != nil {
		b.Fatal(err)
	}
	return bus
}

func p50(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}

// BenchmarkAMQPRequestVsRaw: sequential round trips, shopbus and raw
// amqp091-go interleaved in the same run; ratio = shopbus p50 / raw p50.
func BenchmarkAMQPRequestVsRaw(b *testing.B) {
	url := testenv.AMQPURL(b)
	raw, bus := newRawEcho(b, url, false), benchBus(b, url)
	ctx := context.Background()
	for range 200 { // warm up both paths
		raw.call(payload)
		bus.Call(ctx, "bench.echo", payload)
	}
	rawTimes, busTimes := make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		raw.call(payload)
		rawTimes = append(rawTimes, time.Since(start))
		start = time.Now()
		if _, err := bus.Call(ctx, "bench.echo", payload); err != nil {
			b.Fatal(err)
		}
		busTimes = append(busTimes, time.Since(start))
	}
	b.StopTimer()
	rp, bp := p50(rawTimes), p50(busTimes)
	b.ReportMetric(float64(rp.Microseconds()), "raw-p50-µs")
	b.ReportMetric(float64(bp.Microseconds()), "shopbus-p50-µs")
	b.ReportMetric(float64(bp)/float64(rp), "ratio")
}

// BenchmarkAMQPPipelinedVsRaw: 64 calls in flight over one connection;
// ratio = shopbus requests/s ÷ raw requests/s, the raw echo serving on the
// callers' connection. The Bus serves on a second connection (see
// session), so ratio-2conn compares it with a raw echo laid out the same
// way too.
func BenchmarkAMQPPipelinedVsRaw(b *testing.B) {
	url := testenv.AMQPURL(b)
	raw, raw2, bus := newRawEcho(b, url, false), newRawEcho(b, url, true), benchBus(b, url)
	ctx := context.Background()
	const inFlight = 64
	run := func(n int, call func()) time.Duration {
		var wg sync.WaitGroup
		work := make(chan struct{}, n)
		for range n {
			work <- struct{}{}
		}
		close(work)
		start := time.Now()
		for range inFlight {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range work {
					call()
				}
			}()
		}
		wg.Wait()
		return time.Since(start)
	}
	rawCall := func() { raw.call(payload) }
	raw2Call := func() { raw2.call(payload) }
	busCall := func() {
		if _, err := bus.Call(ctx, "bench.echo", payload); err != nil {
			b.Error(err)
		}
	}
	run(2000, rawCall)
	run(2000, raw2Call)
	run(2000, busCall)
	// Alternate short rounds so that drift in the machine's load (the
	// broker shares the two cores with this process) hits both alike.
	const rounds = 10
	per := max(b.N, 4000) / rounds
	n := per * rounds
	var rawTime, raw2Time, busTime time.Duration
	b.ResetTimer()
	for range rounds {
		rawTime += run(per, rawCall)
		raw2Time += run(per, raw2Call)
		busTime += run(per, busCall)
	}
	b.StopTimer()
	rawRate := float64(n) / rawTime.Seconds()
	raw2Rate := float64(n) / raw2Time.Seconds()
	busRate := float64(n) / busTime.Seconds()
	b.ReportMetric(rawRate, "raw-req/s")
	b.ReportMetric(raw2Rate, "raw-2conn-req/s")
	b.ReportMetric(busRate, "shopbus-req/s")
	b.ReportMetric(busRate/rawRate, "ratio")
	b.ReportMetric(busRate/raw2Rate, "ratio-2conn")
}
