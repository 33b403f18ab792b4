package product

import (
	"context"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/transport"
)

// Client is the product service over the bus.
type Client struct {
	bus transport.Bus
}

var _ Service = (*Client)(nil)

// NewClient returns a Client calling the product service on bus.
func NewClient(bus transport.Bus) *Client { return &Client{bus: bus} }

// Create implements Service.
func (c *Client) Create(ctx context.Context, r CreateRequest) (Product, error) {
	return transport.Invoke[Product](ctx, c.bus, MethodCreate, r)
}

// CreateMany implements Service.
func (c *Client) CreateMany(ctx context.Context, r CreateManyRequest) ([]CreateResult, error) {
	return transport.Invoke[[]CreateResult](ctx, c.bus, MethodCreateMany, r)
}

// Get implements Service.
func (c *Client) Get(ctx context.Context, r GetRequest) (Product, error) {
	return transport.Invoke[Product](ctx, c.bus, MethodGet, r)
}

// GetBySlug implements Service.
func (c *Client) GetBySlug(ctx context.Context, r GetBySlugRequest) (Product, error) {
	return transport.Invoke[Product](ctx, c.bus, MethodGetBySlug, r)
}

// Update implements Service.
func (c *Client) Update(ctx context.Context, r UpdateRequest) (Product, error) {
	return transport.Invoke[Product](ctx, c.bus, MethodUpdate, r)
}

// Delete implements Service.
func (c *Client) Delete(ctx context.Context, r GetRequest) (Product, error) {
	return transport.Invoke[Product](ctx, c.bus, MethodDelete, r)
}

// Publish implements Service.
func (c *Client) Publish(ctx context.Context, r GetRequest) (Product, error) {
	return transport.Invoke[Product](ctx, c.bus, MethodPublish, r)
}

// Unpublish implements Service.
func (c *Client) Unpublish(ctx context.Context, r GetRequest) (Product, error) {
	return transport.Invoke[Product](ctx, c.bus, MethodUnpublish, r)
}

// List implements Service.
func (c *Client) List(ctx context.Context, r ListRequest) (Page, error) {
	return transport.Invoke[Page](ctx, c.bus, MethodList, r)
}

// HoldsSlug implements Service.
func (c *Client) HoldsSlug(ctx context.Context, r shop.SlugRequest) (shop.SlugHeld, error) {
	return transport.Invoke[shop.SlugHeld](ctx, c.bus, MethodHoldsSlug, r)
}

// HoldsSlugs implements Service.
func (c *Client) HoldsSlugs(ctx context.Context, r shop.SlugsRequest) (shop.SlugsHeld, error) {
	return transport.Invoke[shop.SlugsHeld](ctx, c.bus, MethodHoldsSlugs, r)
}

// PutImage implements Service.
func (c *Client) PutImage(ctx context.Context, r PutImageRequest) (Image, error) {
	return transport.Invoke[Image](ctx, c.bus, MethodPutImage, r)
}

// Image implements Service.
func (c *Client) Image(ctx context.Context, r ImageRequest) (ImageData, error) {
	return transport.Invoke[ImageData](ctx, c.bus, MethodImage, r)
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
	transport.Handle(m, MethodGetBySlug, svc.GetBySlug)
	transport.Handle(m, MethodHoldsSlug, svc.HoldsSlug)
	transport.Handle(m, MethodHoldsSlugs, svc.HoldsSlugs)
	transport.Handle(m, MethodUpdate, svc.Update)
	transport.Handle(m, MethodDelete, svc.Delete)
	transport.Handle(m, MethodPublish, svc.Publish)
	transport.Handle(m, MethodUnpublish, svc.Unpublish)
	transport.Handle(m, MethodList, svc.List)
	transport.Handle(m, MethodPutImage, svc.PutImage)
	transport.Handle(m, MethodImage, svc.Image)
	transport.Handle(m, MethodHistory, svc.History)
	return m
}

// Bind serves svc on bus under the service name "product".
func Bind(bus transport.Bus, svc Service, opts ...transport.ConsumerOption) (transport.Subscription, error) {
	return bus.Serve(ServiceName, Handler(svc), opts...)
}
