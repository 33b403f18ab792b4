package seo

import (
	"context"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/transport"
)

// Client is the SEO service over the bus. It implements Service; the
// caller's session token travels in the context (shop.WithToken). The
// storefront gives its calls a short deadline and ignores failures (see
// the package documentation).
type Client struct {
	bus transport.Bus
}

var _ Service = (*Client)(nil)

// NewClient returns a client calling the SEO service on bus.
func NewClient(bus transport.Bus) *Client { return &Client{bus: bus} }

// Get implements Service.
func (c *Client) Get(ctx context.Context, r GetRequest) (Metadata, error) {
	return transport.Invoke[Metadata](ctx, c.bus, MethodGet, r)
}

// Resolve implements Service.
func (c *Client) Resolve(ctx context.Context, r ResolveRequest) (Resolution, error) {
	return transport.Invoke[Resolution](ctx, c.bus, MethodResolve, r)
}

// Put implements Service.
func (c *Client) Put(ctx context.Context, r PutRequest) (Metadata, error) {
	return transport.Invoke[Metadata](ctx, c.bus, MethodPut, r)
}

// Delete implements Service.
func (c *Client) Delete(ctx context.Context, r DeleteRequest) (Deleted, error) {
	return transport.Invoke[Deleted](ctx, c.bus, MethodDelete, r)
}

// Sitemap implements Service.
func (c *Client) Sitemap(ctx context.Context, r SitemapRequest) (SitemapFile, error) {
	return transport.Invoke[SitemapFile](ctx, c.bus, MethodSitemap, r)
}

// ListRedirects implements Service.
func (c *Client) ListRedirects(ctx context.Context, r ListRedirectsRequest) (RedirectPage, error) {
	return transport.Invoke[RedirectPage](ctx, c.bus, MethodListRedirects, r)
}

// PutRedirect implements Service.
func (c *Client) PutRedirect(ctx context.Context, r PutRedirectRequest) (Redirect, error) {
	return transport.Invoke[Redirect](ctx, c.bus, MethodPutRedirect, r)
}

// DeleteRedirect implements Service.
func (c *Client) DeleteRedirect(ctx context.Context, r DeleteRedirectRequest) (RedirectDeleted, error) {
	return transport.Invoke[RedirectDeleted](ctx, c.bus, MethodDeleteRedirect, r)
}

// History implements Service.
func (c *Client) History(ctx context.Context, r shop.HistoryRequest) (shop.History, error) {
	return transport.Invoke[shop.History](ctx, c.bus, MethodHistory, r)
}

// Handler returns a transport.Mux serving svc's methods, for hosts that add
// middleware before serving it themselves.
func Handler(svc Service) *transport.Mux {
	m := shop.NewMux(ServiceName)
	transport.Handle(m, MethodGet, svc.Get)
	transport.Handle(m, MethodResolve, svc.Resolve)
	transport.Handle(m, MethodPut, svc.Put)
	transport.Handle(m, MethodDelete, svc.Delete)
	transport.Handle(m, MethodSitemap, svc.Sitemap)
	transport.Handle(m, MethodListRedirects, svc.ListRedirects)
	transport.Handle(m, MethodPutRedirect, svc.PutRedirect)
	transport.Handle(m, MethodDeleteRedirect, svc.DeleteRedirect)
	transport.Handle(m, MethodHistory, svc.History)
	return m
}

// Bind serves svc's methods on bus under the service name "seo".
func Bind(bus transport.Bus, svc Service, opts ...transport.ConsumerOption) (transport.Subscription, error) {
	return bus.Serve(ServiceName, Handler(svc), opts...)
}
