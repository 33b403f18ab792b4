package filter

import (
	"context"

	"github.com/shopbus/shopbus/transport"
)

// ServiceName is the filter service's name on the bus: its request queue
// and its event subscriber name.
const ServiceName = "filter"

// Method names on the bus.
const (
	MethodQuery   = "filter.query"
	MethodRebuild = "filter.rebuild"
)

// Client is the filter service over the bus.
type Client struct {
	bus transport.Bus
}

var _ Service = (*Client)(nil)

// NewClient returns a client calling the filter service on bus.
func NewClient(bus transport.Bus) *Client { return &Client{bus: bus} }

// Query implements Service.
func (c *Client) Query(ctx context.Context, q Query) (Result, error) {
	return transport.Invoke[Result](ctx, c.bus, MethodQuery, q)
}

// Rebuild implements Service. The session token travels in ctx (see
// shop.WithToken).
func (c *Client) Rebuild(ctx context.Context, r RebuildRequest) (RebuildResult, error) {
	return transport.Invoke[RebuildResult](ctx, c.bus, MethodRebuild, r)
}

// Bind serves svc's methods on bus under ServiceName.
func Bind(bus transport.Bus, svc Service, opts ...transport.ConsumerOption) (transport.Subscription, error) {
	mux := transport.NewMux()
	transport.Handle(mux, MethodQuery, svc.Query)
	transport.Handle(mux, MethodRebuild, svc.Rebuild)
	return bus.Serve(ServiceName, mux, opts...)
}
