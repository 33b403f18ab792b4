package order

import (
	"context"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/transport"
)

// Client is the order service over the bus. The caller's token travels
// in ctx (shop.WithToken); the request id (transport.WithRequestID) makes
// a repeated Place return the same order.
type Client struct {
	bus transport.Bus
}

var (
	_ Service = (*Client)(nil)
	_ Service = (*Server)(nil)
)

// NewClient returns a Client calling the order service on bus.
func NewClient(bus transport.Bus) *Client { return &Client{bus: bus} }

// Place calls order.place.
func (c *Client) Place(ctx context.Context, r PlaceRequest) (Order, error) {
	return transport.Invoke[Order](ctx, c.bus, MethodPlace, r)
}

// Quote calls order.quote.
func (c *Client) Quote(ctx context.Context, r PlaceRequest) (Order, error) {
	return transport.Invoke[Order](ctx, c.bus, MethodQuote, r)
}

// Get calls order.get.
func (c *Client) Get(ctx context.Context, r GetRequest) (Order, error) {
	return transport.Invoke[Order](ctx, c.bus, MethodGet, r)
}

// List calls order.list.
func (c *Client) List(ctx context.Context, r ListRequest) (Page, error) {
	return transport.Invoke[Page](ctx, c.bus, MethodList, r)
}

// Cancel calls order.cancel.
func (c *Client) Cancel(ctx context.Context, r CancelRequest) (Order, error) {
	return transport.Invoke[Order](ctx, c.bus, MethodCancel, r)
}

// SetStatus calls order.set_status.
func (c *Client) SetStatus(ctx context.Context, r SetStatusRequest) (Order, error) {
	return transport.Invoke[Order](ctx, c.bus, MethodSetStatus, r)
}

// ShippingMethods calls order.shipping_methods.
func (c *Client) ShippingMethods(ctx context.Context, r ShippingMethodsRequest) ([]ShippingMethod, error) {
	return transport.Invoke[[]ShippingMethod](ctx, c.bus, MethodShippingMethods, r)
}

// History calls order.history.
func (c *Client) History(ctx context.Context, r shop.HistoryRequest) (shop.History, error) {
	return transport.Invoke[shop.History](ctx, c.bus, MethodHistory, r)
}

// Handler returns a transport.Mux serving svc's methods, for hosts that
// add middleware before serving it themselves.
func Handler(svc Service) *transport.Mux {
	m := shop.NewMux(ServiceName)
	transport.Handle(m, MethodPlace, svc.Place)
	transport.Handle(m, MethodQuote, svc.Quote)
	transport.Handle(m, MethodGet, svc.Get)
	transport.Handle(m, MethodList, svc.List)
	transport.Handle(m, MethodCancel, svc.Cancel)
	transport.Handle(m, MethodSetStatus, svc.SetStatus)
	transport.Handle(m, MethodShippingMethods, svc.ShippingMethods)
	transport.Handle(m, MethodHistory, svc.History)
	return m
}

// Bind serves svc on bus under the service name "order".
func Bind(bus transport.Bus, svc Service, opts ...transport.ConsumerOption) (transport.Subscription, error) {
	return bus.Serve(ServiceName, Handler(svc), opts...)
}
