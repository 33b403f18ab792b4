package seeder

import (
	"context"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/transport"
)

// Client is the seeder over the bus. A run can take long: give Run a
// context whose deadline fits the size asked for (the bus otherwise bounds
// the call by its default timeout, 30 s).
type Client struct {
	bus transport.Bus
}

var _ Service = (*Client)(nil)

// NewClient returns a Client calling the seeder on bus.
func NewClient(bus transport.Bus) *Client { return &Client{bus: bus} }

// Run implements Service.
func (c *Client) Run(ctx context.Context, r RunRequest) (Report, error) {
	return transport.Invoke[Report](ctx, c.bus, MethodRun, r)
}

// Runs implements Service.
func (c *Client) Runs(ctx context.Context, r RunsRequest) ([]RunRecord, error) {
	return transport.Invoke[[]RunRecord](ctx, c.bus, MethodRuns, r)
}

// Handler returns a transport.Mux serving svc's methods, for hosts that
// add middleware before serving it themselves.
func Handler(svc Service) *transport.Mux {
	m := shop.NewMux(ServiceName)
	transport.Handle(m, MethodRun, svc.Run)
	transport.Handle(m, MethodRuns, svc.Runs)
	return m
}

// Bind serves svc on bus under the service name "seeder".
func Bind(bus transport.Bus, svc Service, opts ...transport.ConsumerOption) (transport.Subscription, error) {
	return bus.Serve(ServiceName, Handler(svc), opts...)
}
