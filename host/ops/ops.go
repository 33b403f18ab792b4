// Package ops is the operations API a host.Node serves for each service
// it runs, on that service's own request queue: the service's status on
// the node that answers (its replica), and the dead-letter queues of its
// event subscribers, to inspect, replay and discard what they parked.
// Every method is for admins only (the caller's session token must carry
// the admin role, shop.RequireAdmin).
//
//	<service>.operations            Report: states, per-method statistics, outbox backlog, dead-letter counts
//	<service>.dead_letters          DeadLettersRequest -> DeadLetters: the oldest parked events of one subscriber
//	<service>.replay_dead_letters   IDsRequest -> Count: puts those events back into that subscriber's queue
//	<service>.discard_dead_letters  IDsRequest -> Count: removes them
//
// The methods are served by whichever replica of the service takes the
// request: with several replicas, Report.Node says which one answered,
// and the per-replica figures stay on each node's /stats and /metrics.
// The dead-letter queues are shared by the replicas (but for per-replica
// subscribers, such as the filter's "filter-<replica>", whose queue only
// that replica's methods reach). The work is done by the process that owns
// the subscriber, with its own broker account: a caller (the storefront's
// console) needs no right on the service's queues.
package ops

import (
	"context"
	"time"

	"github.com/shopbus/shopbus/transport"
)

// Method names, after "<service>.".
const (
	NameOperations  = "operations"
	NameDeadLetters = "dead_letters"
	NameReplay      = "replay_dead_letters"
	NameDiscard     = "discard_dead_letters"
)

// Names lists the method names the API adds to a service.
var Names = []string{NameOperations, NameDeadLetters, NameReplay, NameDiscard}

// Limits.
const (
	// MaxDeadLetters is the most parked events one DeadLetters call
	// returns, and what Report counts up to (Subscriber.More says there
	// are more).
	MaxDeadLetters = 100
	// MaxBody is how many bytes of a parked event's body DeadLetters
	// returns (DeadLetter.Truncated says it was cut).
	MaxBody = 4096
	// MaxIDs is the most ids one replay or discard accepts.
	MaxIDs = MaxDeadLetters
)

// Method returns the full method name of name for service, e.g.
// "filter.dead_letters".
func Method(service, name string) string { return service + "." + name }

// Report is a service's status on the node that answered.
type Report struct {
	// Service is the service asked.
	Service string `json:"service"`
	// Node names the node (replica) that answered: its replica name, or
	// its host name.
	Node string `json:"node"`
	// Time is when the report was made.
	Time time.Time `json:"time"`
	// Services is the state of every service that node runs, by name.
	Services []ServiceState `json:"services"`
	// Methods holds the node's statistics of the service's methods,
	// sorted by method.
	Methods []MethodStats `json:"methods"`
	// Backlog is the service's outbox backlog: events stored with its
	// changes that the broker has not confirmed yet. Nil for a service
	// without an outbox, and when BacklogError says why it is unknown.
	Backlog *Backlog `json:"backlog,omitempty"`
	// BacklogError says why the backlog could not be read (its store did
	// not answer): unknown, not empty.
	BacklogError string `json:"backlog_error,omitempty"`
	// Subscribers are the service's event subscribers on that node, with
	// their dead-letter counts, sorted by name.
	Subscribers []Subscriber `json:"subscribers"`
}

// ServiceState is one service's state on a node (host.ServiceStatus).
type ServiceState struct {
	Name   string    `json:"name"`
	State  string    `json:"state"`
	Error  string    `json:"error,omitempty"`
	Starts int       `json:"starts"`
	Since  time.Time `json:"since"`
}

// MethodStats are one method's request statistics on a node, since it
// started.
type MethodStats struct {
	Method   string `json:"method"`
	Requests uint64 `json:"requests"`
	// Errors counts failures of the service itself (internal,
	// unavailable, deadline exceeded), not refused requests.
	Errors    uint64 `json:"errors"`
	LastError string `json:"last_error,omitempty"`
	// P50 and P99 are latency estimates, in seconds: the upper bound of
	// the histogram bucket of that rank (transport.EndpointStats.Quantile).
	P50 float64 `json:"p50_seconds"`
	P99 float64 `json:"p99_seconds"`
	// Average is the mean processing time, in seconds.
	Average float64 `json:"average_seconds"`
}

// Backlog is an outbox backlog (shop.EventBacklog).
type Backlog struct {
	Pending int `json:"pending"`
	// Oldest is when the oldest waiting event happened; zero when none waits.
	Oldest time.Time `json:"oldest,omitzero"`
}

// Subscriber is one event subscriber of a service and its dead-letter queue.
type Subscriber struct {
	Name string `json:"name"`
	// DeadLetters counts the parked events, up to MaxDeadLetters.
	DeadLetters int `json:"dead_letters"`
	// More is true when more than DeadLetters events are parked.
	More bool `json:"more,omitempty"`
	// Error says why the count is missing (the broker did not answer).
	Error string `json:"error,omitempty"`
}

// DeadLettersRequest asks for the oldest events parked by one subscriber.
type DeadLettersRequest struct {
	// Subscriber is one of Report.Subscribers.
	Subscriber string `json:"subscriber"`
	// Max is how many to return, 1 to MaxDeadLetters; 0 means MaxDeadLetters.
	Max int `json:"max,omitempty"`
}

// DeadLetters are parked events, oldest first.
type DeadLetters struct {
	Subscriber string       `json:"subscriber"`
	Events     []DeadLetter `json:"events"`
	// More is true when more events are parked than returned.
	More bool `json:"more,omitempty"`
}

// DeadLetter is one parked event.
type DeadLetter struct {
	ID   string    `json:"id"`
	Key  string    `json:"key"`
	Time time.Time `json:"time"`
	// Attempts counts the deliveries that failed.
	Attempts int `json:"attempts"`
	// Reason says why it was parked, when the bus knows
	// (transport.HeaderDeadReason).
	Reason string `json:"reason,omitempty"`
	// ParkedAt is when it was parked, when the bus knows.
	ParkedAt time.Time `json:"parked_at,omitzero"`
	// Body is the JSON body, cut to MaxBody bytes.
	Body string `json:"body"`
	// Truncated is true when Body was cut.
	Truncated bool `json:"truncated,omitempty"`
}

// IDsRequest names parked events of one subscriber.
type IDsRequest struct {
	Subscriber string `json:"subscriber"`
	// IDs are event ids, 1 to MaxIDs of them.
	IDs []string `json:"ids"`
}

// Count is how many events a replay or discard handled; ids that were not
// parked are not counted.
type Count struct {
	Count int `json:"count"`
}

// Server is the operations API of one service on one node.
type Server interface {
	Operations(ctx context.Context) (Report, error)
	DeadLetters(ctx context.Context, r DeadLettersRequest) (DeadLetters, error)
	ReplayDeadLetters(ctx context.Context, r IDsRequest) (Count, error)
	DiscardDeadLetters(ctx context.Context, r IDsRequest) (Count, error)
}

// Handler returns a transport.Mux serving srv's methods for service.
func Handler(service string, srv Server) *transport.Mux {
	m := transport.NewMux()
	transport.Handle(m, Method(service, NameOperations), func(ctx context.Context, _ struct{}) (Report, error) {
		return srv.Operations(ctx)
	})
	transport.Handle(m, Method(service, NameDeadLetters), srv.DeadLetters)
	transport.Handle(m, Method(service, NameReplay), srv.ReplayDeadLetters)
	transport.Handle(m, Method(service, NameDiscard), srv.DiscardDeadLetters)
	return m
}

// Client calls the operations API of any service over a bus.
type Client struct {
	bus transport.Bus
}

// NewClient returns a Client calling over bus.
func NewClient(bus transport.Bus) *Client { return &Client{bus: bus} }

// Operations returns the report of the replica of service that answers.
func (c *Client) Operations(ctx context.Context, service string) (Report, error) {
	return transport.Invoke[Report](ctx, c.bus, Method(service, NameOperations), struct{}{})
}

// DeadLetters returns the oldest events parked by one of service's subscribers.
func (c *Client) DeadLetters(ctx context.Context, service string, r DeadLettersRequest) (DeadLetters, error) {
	return transport.Invoke[DeadLetters](ctx, c.bus, Method(service, NameDeadLetters), r)
}

// ReplayDeadLetters puts the named parked events back into the subscriber's queue.
func (c *Client) ReplayDeadLetters(ctx context.Context, service string, r IDsRequest) (Count, error) {
	return transport.Invoke[Count](ctx, c.bus, Method(service, NameReplay), r)
}

// DiscardDeadLetters removes the named parked events.
func (c *Client) DiscardDeadLetters(ctx context.Context, service string, r IDsRequest) (Count, error) {
	return transport.Invoke[Count](ctx, c.bus, Method(service, NameDiscard), r)
}
