package option

import (
	"context"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/transport"
)

// Client is the option service over the bus.
type Client struct {
	bus transport.Bus
}

var _ Service = (*Client)(nil)

// NewClient returns a Client calling the option service on bus.
func NewClient(bus transport.Bus) *Client { return &Client{bus: bus} }

// CreateGroup implements Service.
func (c *Client) CreateGroup(ctx context.Context, r CreateGroupRequest) (Group, error) {
	return transport.Invoke[Group](ctx, c.bus, MethodCreateGroup, r)
}

// GetGroup implements Service.
func (c *Client) GetGroup(ctx context.Context, r GroupRequest) (Group, error) {
	return transport.Invoke[Group](ctx, c.bus, MethodGetGroup, r)
}

// ListGroups implements Service.
func (c *Client) ListGroups(ctx context.Context, r ListGroupsRequest) ([]Group, error) {
	return transport.Invoke[[]Group](ctx, c.bus, MethodListGroups, r)
}

// UpdateGroup implements Service.
func (c *Client) UpdateGroup(ctx context.Context, r UpdateGroupRequest) (Group, error) {
	return transport.Invoke[Group](ctx, c.bus, MethodUpdateGroup, r)
}

// DeleteGroup implements Service.
func (c *Client) DeleteGroup(ctx context.Context, r GroupRequest) (Group, error) {
	return transport.Invoke[Group](ctx, c.bus, MethodDeleteGroup, r)
}

// AddValue implements Service.
func (c *Client) AddValue(ctx context.Context, r ValueRequest) (Group, error) {
	return transport.Invoke[Group](ctx, c.bus, MethodAddValue, r)
}

// UpdateValue implements Service.
func (c *Client) UpdateValue(ctx context.Context, r ValueRequest) (Group, error) {
	return transport.Invoke[Group](ctx, c.bus, MethodUpdateValue, r)
}

// RemoveValue implements Service.
func (c *Client) RemoveValue(ctx context.Context, r ValueRequest) (Group, error) {
	return transport.Invoke[Group](ctx, c.bus, MethodRemoveValue, r)
}

// GenerateVariants implements Service.
func (c *Client) GenerateVariants(ctx context.Context, r GenerateRequest) (ProductVariants, error) {
	return transport.Invoke[ProductVariants](ctx, c.bus, MethodGenerateVariants, r)
}

// GenerateVariantsMany implements Service.
func (c *Client) GenerateVariantsMany(ctx context.Context, r GenerateManyRequest) ([]GenerateResult, error) {
	return transport.Invoke[[]GenerateResult](ctx, c.bus, MethodGenerateVariantsMany, r)
}

// AddVariant implements Service.
func (c *Client) AddVariant(ctx context.Context, r AddVariantRequest) (ProductVariants, error) {
	return transport.Invoke[ProductVariants](ctx, c.bus, MethodAddVariant, r)
}

// RemoveVariant implements Service.
func (c *Client) RemoveVariant(ctx context.Context, r RemoveVariantRequest) (ProductVariants, error) {
	return transport.Invoke[ProductVariants](ctx, c.bus, MethodRemoveVariant, r)
}

// GetVariants implements Service.
func (c *Client) GetVariants(ctx context.Context, r ProductRequest) (ProductVariants, error) {
	return transport.Invoke[ProductVariants](ctx, c.bus, MethodGetVariants, r)
}

// DeleteVariants implements Service.
func (c *Client) DeleteVariants(ctx context.Context, r ProductRequest) (ProductVariants, error) {
	return transport.Invoke[ProductVariants](ctx, c.bus, MethodDeleteVariants, r)
}

// History implements Service.
func (c *Client) History(ctx context.Context, r shop.HistoryRequest) (shop.History, error) {
	return transport.Invoke[shop.History](ctx, c.bus, MethodHistory, r)
}

// Handler returns a transport.Mux serving svc's methods, for hosts that
// add middleware before serving it themselves.
func Handler(svc Service) *transport.Mux {
	m := shop.NewMux(ServiceName)
	transport.Handle(m, MethodCreateGroup, svc.CreateGroup)
	transport.Handle(m, MethodGetGroup, svc.GetGroup)
	transport.Handle(m, MethodListGroups, svc.ListGroups)
	transport.Handle(m, MethodUpdateGroup, svc.UpdateGroup)
	transport.Handle(m, MethodDeleteGroup, svc.DeleteGroup)
	transport.Handle(m, MethodAddValue, svc.AddValue)
	transport.Handle(m, MethodUpdateValue, svc.UpdateValue)
	transport.Handle(m, MethodRemoveValue, svc.RemoveValue)
	transport.Handle(m, MethodGenerateVariants, svc.GenerateVariants)
	transport.Handle(m, MethodGenerateVariantsMany, svc.GenerateVariantsMany)
	transport.Handle(m, MethodAddVariant, svc.AddVariant)
	transport.Handle(m, MethodRemoveVariant, svc.RemoveVariant)
	transport.Handle(m, MethodGetVariants, svc.GetVariants)
	transport.Handle(m, MethodDeleteVariants, svc.DeleteVariants)
	transport.Handle(m, MethodHistory, svc.History)
	return m
}

// Bind serves svc on bus under the service name "option".
func Bind(bus transport.Bus, svc Service, opts ...transport.ConsumerOption) (transport.Subscription, error) {
	return bus.Serve(ServiceName, Handler(svc), opts...)
}
