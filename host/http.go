package host

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"
)

// ReadyTimeout bounds the database ping of a readiness check.
const ReadyTimeout = 2 * time.Second

// Status is a node's readiness report, as /readyz shows it.
type Status struct {
	// Ready is true when the bus is ready, the database answers and every
	// service is serving.
	Ready bool `json:"ready"`
	// Bus is "ok" or what is wrong with the bus (transport.Bus.Ready).
	Bus string `json:"bus"`
	// Database is "ok" or why the MongoDB ping failed.
	Database string `json:"database"`
	// Services holds the status of every hosted service, by name.
	Services map[string]ServiceStatus `json:"services"`
}

// Status checks the bus, pings the database (within ReadyTimeout) and
// reports every service's state.
func (n *Node) Status(ctx context.Context) Status {
	n.init()
	st := Status{Ready: true, Bus: "ok", Database: "ok", Services: n.serviceStatus()}
	if err := n.Bus.Ready(); err != nil {
		st.Ready, st.Bus = false, err.Error()
	}
	ctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	defer cancel()
	if err := n.Mongo.Ping(ctx, nil); err != nil {
		st.Ready, st.Database = false, err.Error()
	}
	for _, s := range st.Services {
		if s.State != StateServing {
			st.Ready = false
		}
	}
	return st
}

// Handler returns the node's HTTP endpoints:
//
//	GET /healthz  liveness: 200 while the node runs or has not started,
//	              503 once it has given up on a failing service
//	GET /readyz   readiness: 200 when Status is ready, 503 otherwise,
//	              with the Status as JSON either way
//	GET /stats    per-method request statistics and service states, JSON
//	GET /metrics  the same in the Prometheus text format
//
// Mount it next to a site with an http.ServeMux; it answers only these
// four paths.
func (n *Node) Handler() http.Handler {
	n.init()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", n.serveHealthz)
	mux.HandleFunc("GET /readyz", n.serveReadyz)
	mux.HandleFunc("GET /stats", n.serveStats)
	mux.HandleFunc("GET /metrics", n.serveMetrics)
	return mux
}

// HealthPaths are the paths Handler serves.
var HealthPaths = []string{"/healthz", "/readyz", "/stats", "/metrics"}

func (n *Node) serveHealthz(w http.ResponseWriter, r *http.Request) {
	n.mu.Lock()
	err := n.runErr
	n.mu.Unlock()
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "failed", "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (n *Node) serveReadyz(w http.ResponseWriter, r *http.Request) {
	st := n.Status(r.Context())
	code := http.StatusOK
	if !st.Ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, st)
}

// statsReply is the body of /stats.
type statsReply struct {
	Endpoints any                      `json:"endpoints"`
	Services  map[string]ServiceStatus `json:"services"`
	// Events holds, per service that stores its events with its changes,
	// the events waiting for the broker.
	Events map[string]eventBacklog `json:"events"`
}

// eventBacklog is a service's shop.EventBacklog as /stats shows it.
type eventBacklog struct {
	Pending int `json:"pending"`
	// OldestAgeSeconds is how long the oldest waiting event has waited.
	OldestAgeSeconds float64 `json:"oldest_age_seconds"`
}

func (n *Node) serveStats(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	events := map[string]eventBacklog{}
	for name, b := range n.EventBacklogs(r.Context()) {
		events[name] = eventBacklog{Pending: b.Pending, OldestAgeSeconds: b.Age(now).Seconds()}
	}
	writeJSON(w, http.StatusOK, statsReply{Endpoints: n.stats.Snapshot(), Services: n.serviceStatus(), Events: events})
}

func (n *Node) serveMetrics(w http.ResponseWriter, r *http.Request) {
	var b bytes.Buffer
	_ = n.stats.WritePrometheus(&b) // writes to a bytes.Buffer do not fail
	services := n.serviceStatus()
	names := make([]string, 0, len(services))
	for name := range services {
		names = append(names, name)
	}
	slices.Sort(names)
	b.WriteString("# HELP shopbus_service_up Whether the service is serving (1) or not (0).\n# TYPE shopbus_service_up gauge\n")
	for _, name := range names {
		up := 0
		if services[name].State == StateServing {
			up = 1
		}
		fmt.Fprintf(&b, "shopbus_service_up{service=%q} %d\n", name, up)
	}
	b.WriteString("# HELP shopbus_service_starts_total Times the service was started, restarts included.\n# TYPE shopbus_service_starts_total counter\n")
	for _, name := range names {
		fmt.Fprintf(&b, "shopbus_service_starts_total{service=%q} %d\n", name, services[name].Starts)
	}
	backlogs := n.EventBacklogs(r.Context())
	names = slices.Sorted(maps.Keys(backlogs))
	now := time.Now()
	b.WriteString("# HELP shopbus_outbox_pending_events Events stored with their changes, not yet confirmed by the broker.\n# TYPE shopbus_outbox_pending_events gauge\n")
	for _, name := range names {
		fmt.Fprintf(&b, "shopbus_outbox_pending_events{service=%q} %d\n", name, backlogs[name].Pending)
	}
	b.WriteString("# HELP shopbus_outbox_oldest_pending_seconds Age of the oldest event waiting for the broker (0: none).\n# TYPE shopbus_outbox_oldest_pending_seconds gauge\n")
	for _, name := range names {
		fmt.Fprintf(&b, "shopbus_outbox_oldest_pending_seconds{service=%q} %g\n", name, backlogs[name].Age(now).Seconds())
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b.Bytes())
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(body, '\n'))
}
