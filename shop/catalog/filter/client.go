package filter

import (
	"context"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/transport"
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

// Handler returns a transport.Mux serving svc's methods, for hosts that
// add middleware before serving it themselves.
func Handler(svc Service) *transport.Mux {
	m := shop.NewMux(ServiceName)
	transport.Handle(m, MethodQuery, svc.Query)
	transport.Handle(m, MethodRebuild, svc.Rebuild)
	return m
}

// Bind serves svc's methods on bus under ServiceName.
func Bind(bus transport.Bus, svc Service, opts ...transport.ConsumerOption) (transport.Subscription, error) {
	return bus.Serve(ServiceName, Handler(svc), opts...)
}
