package cart

import (
	"context"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/transport"
)

// Client is the cart service over the bus. It implements Service; the
// caller's token travels in ctx (shop.WithToken).
type Client struct {
	bus transport.Bus
}

var _ Service = (*Client)(nil)

// NewClient returns a client that calls the cart service on bus.
func NewClient(bus transport.Bus) *Client { return &Client{bus: bus} }

// Get calls cart.get.
func (c *Client) Get(ctx context.Context, r CartRequest) (Cart, error) {
	return transport.Invoke[Cart](ctx, c.bus, MethodGet, r)
}

// AddItem calls cart.add_item.
func (c *Client) AddItem(ctx context.Context, r AddItemRequest) (Cart, error) {
	return transport.Invoke[Cart](ctx, c.bus, MethodAddItem, r)
}

// UpdateItem calls cart.update_item.
func (c *Client) UpdateItem(ctx context.Context, r UpdateItemRequest) (Cart, error) {
	return transport.Invoke[Cart](ctx, c.bus, MethodUpdateItem, r)
}

// RemoveItem calls cart.remove_item.
func (c *Client) RemoveItem(ctx context.Context, r RemoveItemRequest) (Cart, error) {
	return transport.Invoke[Cart](ctx, c.bus, MethodRemoveItem, r)
}

// Clear calls cart.clear.
func (c *Client) Clear(ctx context.Context, r CartRequest) (Cart, error) {
	return transport.Invoke[Cart](ctx, c.bus, MethodClear, r)
}

// Merge calls cart.merge.
func (c *Client) Merge(ctx context.Context, r MergeRequest) (Cart, error) {
	return transport.Invoke[Cart](ctx, c.bus, MethodMerge, r)
}

// Handler returns a transport.Mux serving svc's methods, for hosts that
// add middleware before serving it themselves.
func Handler(svc Service) *transport.Mux {
	m := shop.NewMux(ServiceName)
	transport.Handle(m, MethodGet, svc.Get)
	transport.Handle(m, MethodAddItem, svc.AddItem)
	transport.Handle(m, MethodUpdateItem, svc.UpdateItem)
	transport.Handle(m, MethodRemoveItem, svc.RemoveItem)
	transport.Handle(m, MethodClear, svc.Clear)
	transport.Handle(m, MethodMerge, svc.Merge)
	return m
}

// Bind serves svc's methods on bus under the service name "cart".
func Bind(bus transport.Bus, svc Service, opts ...transport.ConsumerOption) (transport.Subscription, error) {
	return bus.Serve(ServiceName, Handler(svc), opts...)
}
