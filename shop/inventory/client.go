package inventory

import (
	"context"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/transport"
)

// Client is the inventory service over the bus. The caller's token
// travels in ctx (shop.WithToken).
type Client struct {
	bus transport.Bus
}

var (
	_ Service = (*Client)(nil)
	_ Service = (*Server)(nil)
)

// NewClient returns a Client calling the inventory service on bus.
func NewClient(bus transport.Bus) *Client { return &Client{bus: bus} }

// SetStock calls inventory.set_stock.
func (c *Client) SetStock(ctx context.Context, r SetStockRequest) (Stock, error) {
	return transport.Invoke[Stock](ctx, c.bus, MethodSetStock, r)
}

// SetStockMany calls inventory.set_stock_many.
func (c *Client) SetStockMany(ctx context.Context, r SetStockManyRequest) ([]StockResult, error) {
	return transport.Invoke[[]StockResult](ctx, c.bus, MethodSetStockMany, r)
}

// Adjust calls inventory.adjust.
func (c *Client) Adjust(ctx context.Context, r AdjustRequest) (Stock, error) {
	return transport.Invoke[Stock](ctx, c.bus, MethodAdjust, r)
}

// Get calls inventory.get.
func (c *Client) Get(ctx context.Context, r GetRequest) (Stock, error) {
	return transport.Invoke[Stock](ctx, c.bus, MethodGet, r)
}

// GetMany calls inventory.get_many.
func (c *Client) GetMany(ctx context.Context, r GetManyRequest) ([]Stock, error) {
	return transport.Invoke[[]Stock](ctx, c.bus, MethodGetMany, r)
}

// Reserve calls inventory.reserve.
func (c *Client) Reserve(ctx context.Context, r ReserveRequest) (Reservation, error) {
	return transport.Invoke[Reservation](ctx, c.bus, MethodReserve, r)
}

// Commit calls inventory.commit.
func (c *Client) Commit(ctx context.Context, r OrderRequest) (Reservation, error) {
	return transport.Invoke[Reservation](ctx, c.bus, MethodCommit, r)
}

// Release calls inventory.release.
func (c *Client) Release(ctx context.Context, r OrderRequest) (Reservation, error) {
	return transport.Invoke[Reservation](ctx, c.bus, MethodRelease, r)
}

// GetReservation calls inventory.get_reservation.
func (c *Client) GetReservation(ctx context.Context, r OrderRequest) (Reservation, error) {
	return transport.Invoke[Reservation](ctx, c.bus, MethodGetReservation, r)
}

// History calls inventory.history.
func (c *Client) History(ctx context.Context, r shop.HistoryRequest) (shop.History, error) {
	return transport.Invoke[shop.History](ctx, c.bus, MethodHistory, r)
}

// Handler returns a transport.Mux serving svc's methods, for hosts that
// add middleware before serving it themselves.
func Handler(svc Service) *transport.Mux {
	m := shop.NewMux(ServiceName)
	transport.Handle(m, MethodSetStock, svc.SetStock)
	transport.Handle(m, MethodSetStockMany, svc.SetStockMany)
	transport.Handle(m, MethodAdjust, svc.Adjust)
	transport.Handle(m, MethodGet, svc.Get)
	transport.Handle(m, MethodGetMany, svc.GetMany)
	transport.Handle(m, MethodReserve, svc.Reserve)
	transport.Handle(m, MethodCommit, svc.Commit)
	transport.Handle(m, MethodRelease, svc.Release)
	transport.Handle(m, MethodGetReservation, svc.GetReservation)
	transport.Handle(m, MethodHistory, svc.History)
	return m
}

// Bind serves svc on bus under the service name "inventory".
func Bind(bus transport.Bus, svc Service, opts ...transport.ConsumerOption) (transport.Subscription, error) {
	return bus.Serve(ServiceName, Handler(svc), opts...)
}
