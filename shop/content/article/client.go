package article

import (
	"context"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/transport"
)

// Client is the article service over the bus. It implements Service; the
// caller's session token travels in the context (shop.WithToken).
type Client struct {
	bus transport.Bus
}

var _ Service = (*Client)(nil)

// NewClient returns a client calling the article service on bus.
func NewClient(bus transport.Bus) *Client { return &Client{bus: bus} }

// Create implements Service.
func (c *Client) Create(ctx context.Context, r CreateRequest) (Article, error) {
	return transport.Invoke[Article](ctx, c.bus, MethodCreate, r)
}

// Update implements Service.
func (c *Client) Update(ctx context.Context, r UpdateRequest) (Article, error) {
	return transport.Invoke[Article](ctx, c.bus, MethodUpdate, r)
}

// Delete implements Service.
func (c *Client) Delete(ctx context.Context, r DeleteRequest) (Article, error) {
	return transport.Invoke[Article](ctx, c.bus, MethodDelete, r)
}

// Get implements Service.
func (c *Client) Get(ctx context.Context, r GetRequest) (Article, error) {
	return transport.Invoke[Article](ctx, c.bus, MethodGet, r)
}

// GetBySlug implements Service.
func (c *Client) GetBySlug(ctx context.Context, r GetBySlugRequest) (Article, error) {
	return transport.Invoke[Article](ctx, c.bus, MethodGetBySlug, r)
}

// HoldsSlug implements Service.
func (c *Client) HoldsSlug(ctx context.Context, r shop.SlugRequest) (shop.SlugHeld, error) {
	return transport.Invoke[shop.SlugHeld](ctx, c.bus, MethodHoldsSlug, r)
}

// HoldsSlugs implements Service.
func (c *Client) HoldsSlugs(ctx context.Context, r shop.SlugsRequest) (shop.SlugsHeld, error) {
	return transport.Invoke[shop.SlugsHeld](ctx, c.bus, MethodHoldsSlugs, r)
}

// List implements Service.
func (c *Client) List(ctx context.Context, r ListRequest) (ListResult, error) {
	return transport.Invoke[ListResult](ctx, c.bus, MethodList, r)
}

// History implements Service.
func (c *Client) History(ctx context.Context, r shop.HistoryRequest) (shop.History, error) {
	return transport.Invoke[shop.History](ctx, c.bus, MethodHistory, r)
}

// Handler returns a transport.Mux serving svc's methods, for hosts that add
// middleware before serving it themselves.
func Handler(svc Service) *transport.Mux {
	m := shop.NewMux(ServiceName)
	transport.Handle(m, MethodCreate, svc.Create)
	transport.Handle(m, MethodUpdate, svc.Update)
	transport.Handle(m, MethodDelete, svc.Delete)
	transport.Handle(m, MethodGet, svc.Get)
	transport.Handle(m, MethodGetBySlug, svc.GetBySlug)
	transport.Handle(m, MethodHoldsSlug, svc.HoldsSlug)
	transport.Handle(m, MethodHoldsSlugs, svc.HoldsSlugs)
	transport.Handle(m, MethodList, svc.List)
	transport.Handle(m, MethodHistory, svc.History)
	return m
}

// Bind serves svc's methods on bus under the service name "article".
func Bind(bus transport.Bus, svc Service, opts ...transport.ConsumerOption) (transport.Subscription, error) {
	return bus.Serve(ServiceName, Handler(svc), opts...)
}
