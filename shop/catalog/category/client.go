package category

import (
	"context"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/transport"
)

// Client is the category service over the bus.
type Client struct {
	bus transport.Bus
}

var _ Service = (*Client)(nil)

// NewClient returns a Client calling the category service on bus.
func NewClient(bus transport.Bus) *Client { return &Client{bus: bus} }

// Create implements Service.
func (c *Client) Create(ctx context.Context, r CreateRequest) (Category, error) {
	return transport.Invoke[Category](ctx, c.bus, MethodCreate, r)
}

// CreateMany implements Service.
func (c *Client) CreateMany(ctx context.Context, r CreateManyRequest) ([]CreateResult, error) {
	return transport.Invoke[[]CreateResult](ctx, c.bus, MethodCreateMany, r)
}

// Get implements Service.
func (c *Client) Get(ctx context.Context, r GetRequest) (Category, error) {
	return transport.Invoke[Category](ctx, c.bus, MethodGet, r)
}

// GetBySlug implements Service.
func (c *Client) GetBySlug(ctx context.Context, r GetBySlugRequest) (Category, error) {
	return transport.Invoke[Category](ctx, c.bus, MethodGetBySlug, r)
}

// Update implements Service.
func (c *Client) Update(ctx context.Context, r UpdateRequest) (Category, error) {
	return transport.Invoke[Category](ctx, c.bus, MethodUpdate, r)
}

// Move implements Service.
func (c *Client) Move(ctx context.Context, r MoveRequest) (Category, error) {
	return transport.Invoke[Category](ctx, c.bus, MethodMove, r)
}

// Delete implements Service.
func (c *Client) Delete(ctx context.Context, r DeleteRequest) (Category, error) {
	return transport.Invoke[Category](ctx, c.bus, MethodDelete, r)
}

// ListChildren implements Service.
func (c *Client) ListChildren(ctx context.Context, r ListChildrenRequest) ([]Category, error) {
	return transport.Invoke[[]Category](ctx, c.bus, MethodListChildren, r)
}

// Tree implements Service.
func (c *Client) Tree(ctx context.Context, r TreeRequest) ([]Node, error) {
	return transport.Invoke[[]Node](ctx, c.bus, MethodTree, r)
}

// Ancestors implements Service.
func (c *Client) Ancestors(ctx context.Context, r AncestorsRequest) ([]Category, error) {
	return transport.Invoke[[]Category](ctx, c.bus, MethodAncestors, r)
}

// GetMany implements Service.
func (c *Client) GetMany(ctx context.Context, r GetManyRequest) ([]Category, error) {
	return transport.Invoke[[]Category](ctx, c.bus, MethodGetMany, r)
}

// HoldsSlug implements Service.
func (c *Client) HoldsSlug(ctx context.Context, r shop.SlugRequest) (shop.SlugHeld, error) {
	return transport.Invoke[shop.SlugHeld](ctx, c.bus, MethodHoldsSlug, r)
}

// HoldsSlugs implements Service.
func (c *Client) HoldsSlugs(ctx context.Context, r shop.SlugsRequest) (shop.SlugsHeld, error) {
	return transport.Invoke[shop.SlugsHeld](ctx, c.bus, MethodHoldsSlugs, r)
}

// History implements Service.
func (c *Client) History(ctx context.Context, r shop.HistoryRequest) (shop.History, error) {
	return transport.Invoke[shop.History](ctx, c.bus, MethodHistory, r)
}

// Handler returns a transport.Mux serving svc's methods, for hosts that
// add middleware before serving it themselves.
func Handler(svc Service) *transport.Mux {
	m := shop.NewMux(ServiceName)
	transport.Handle(m, MethodCreate, svc.Create)
	transport.Handle(m, MethodCreateMany, svc.CreateMany)
	transport.Handle(m, MethodGet, svc.Get)
	transport.Handle(m, MethodGetMany, svc.GetMany)
	transport.Handle(m, MethodGetBySlug, svc.GetBySlug)
	transport.Handle(m, MethodHoldsSlug, svc.HoldsSlug)
	transport.Handle(m, MethodHoldsSlugs, svc.HoldsSlugs)
	transport.Handle(m, MethodUpdate, svc.Update)
	transport.Handle(m, MethodMove, svc.Move)
	transport.Handle(m, MethodDelete, svc.Delete)
	transport.Handle(m, MethodListChildren, svc.ListChildren)
	transport.Handle(m, MethodTree, svc.Tree)
	transport.Handle(m, MethodAncestors, svc.Ancestors)
	transport.Handle(m, MethodHistory, svc.History)
	return m
}

// Bind serves svc on bus under the service name "category".
func Bind(bus transport.Bus, svc Service, opts ...transport.ConsumerOption) (transport.Subscription, error) {
	return bus.Serve(ServiceName, Handler(svc), opts...)
}
