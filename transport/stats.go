package transport

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"time"
)

// latencyBuckets are the upper bounds, in seconds, of the latency histogram.
var latencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// EndpointStats is what Stats knows about one method, in the spirit of
// nats.go micro's endpoint stats.
type EndpointStats struct {
	Method         string        `json:"method"`
	Requests       uint64        `json:"requests"`
	Errors         uint64        `json:"errors"`
	ProcessingTime time.Duration `json:"processing_time"`
	AverageTime    time.Duration `json:"average_processing_time"`
	LastError      string        `json:"last_error,omitempty"`
	// Buckets counts requests per latency bucket (cumulative upper bounds in
	// LatencyBuckets); the last entry counts every request (+Inf).
	Buckets []uint64 `json:"-"`
}

// Stats counts requests, errors and processing time per method. The zero
// value is ready to use and safe for concurrent use.
type Stats struct {
	mu        sync.Mutex
	endpoints map[string]*EndpointStats
}

// Record adds one request to the method's statistics. Client errors
// (invalid, not_found, conflict, unauthenticated, forbidden) count as
// requests, not errors: only failures of the service itself are errors.
func (s *Stats) Record(method string, elapsed time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.endpoints == nil {
		s.endpoints = map[string]*EndpointStats{}
	}
	e := s.endpoints[method]
	if e == nil {
		e = &EndpointStats{Method: method, Buckets: make([]uint64, len(latencyBuckets)+1)}
		s.endpoints[method] = e
	}
	e.Requests++
	e.ProcessingTime += elapsed
	e.AverageTime = e.ProcessingTime / time.Duration(e.Requests)
	switch CodeOf(err) {
	case CodeInternal, CodeUnavailable, CodeDeadlineExceeded:
		e.Errors++
		e.LastError = err.Error()
	}
	seconds := elapsed.Seconds()
	for i, bound := range latencyBuckets {
		if seconds <= bound {
			e.Buckets[i]++
		}
	}
	e.Buckets[len(latencyBuckets)]++
}

// Snapshot returns a copy of every method's statistics, sorted by method.
func (s *Stats) Snapshot() []EndpointStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]EndpointStats, 0, len(s.endpoints))
	for _, e := range s.endpoints {
		c := *e
		c.Buckets = append([]uint64(nil), e.Buckets...)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Method < out[j].Method })
	return out
}

// WritePrometheus writes the statistics in the Prometheus text exposition
// format: shopbus_requests_total, shopbus_errors_total and the
// shopbus_request_duration_seconds histogram, labelled by method.
func (s *Stats) WritePrometheus(w io.Writer) error {
	snap := s.Snapshot()
	var err error
	printf := func(format string, args ...any) {
		if err == nil {
			_, err = fmt.Fprintf(w, format, args...)
		}
	}
	printf("# HELP shopbus_requests_total Requests handled, by method.\n# TYPE shopbus_requests_total counter\n")
	for _, e := range snap {
		printf("shopbus_requests_total{method=%q} %d\n", e.Method, e.Requests)
	}
	printf("# HELP shopbus_errors_total Requests that failed inside the service, by method.\n# TYPE shopbus_errors_total counter\n")
	for _, e := range snap {
		printf("shopbus_errors_total{method=%q} %d\n", e.Method, e.Errors)
	}
	printf("# HELP shopbus_request_duration_seconds Handler processing time, by method.\n# TYPE shopbus_request_duration_seconds histogram\n")
	for _, e := range snap {
		for i, bound := range latencyBuckets {
			printf("shopbus_request_duration_seconds_bucket{method=%q,le=\"%g\"} %d\n", e.Method, bound, e.Buckets[i])
		}
		printf("shopbus_request_duration_seconds_bucket{method=%q,le=\"+Inf\"} %d\n", e.Method, e.Buckets[len(latencyBuckets)])
		printf("shopbus_request_duration_seconds_sum{method=%q} %g\n", e.Method, e.ProcessingTime.Seconds())
		printf("shopbus_request_duration_seconds_count{method=%q} %d\n", e.Method, e.Requests)
	}
	return err
}

// Quantile estimates the latency below which the fraction q (0 to 1) of
// the method's requests finished: the upper bound of the histogram bucket
// that holds that rank (the largest bound, 10 s, for slower requests).
// It is 0 when no request was recorded.
func (e EndpointStats) Quantile(q float64) time.Duration {
	total := uint64(0)
	if n := len(e.Buckets); n > 0 {
		total = e.Buckets[n-1]
	}
	if total == 0 {
		return 0
	}
	rank := uint64(q*float64(total) + 0.5)
	rank = max(rank, 1)
	for i, bound := range latencyBuckets {
		if i < len(e.Buckets) && e.Buckets[i] >= rank {
			return time.Duration(bound * float64(time.Second))
		}
	}
	return time.Duration(latencyBuckets[len(latencyBuckets)-1] * float64(time.Second))
}
