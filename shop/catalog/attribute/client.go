package attribute

import (
	"context"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/transport"
)

// Client is the attribute service over the bus.
type Client struct {
	bus transport.Bus
}

var _ Service = (*Client)(nil)

// NewClient returns a Client calling the attribute service on bus.
func NewClient(bus transport.Bus) *Client { return &Client{bus: bus} }

// Create implements Service.
func (c *Client) Create(ctx context.Context, r CreateRequest) (Attribute, error) {
	return transport.Invoke[Attribute](ctx, c.bus, MethodCreate, r)
}

// Get implements Service.
func (c *Client) Get(ctx context.Context, r CodeRequest) (Attribute, error) {
	return transport.Invoke[Attribute](ctx, c.bus, MethodGet, r)
}

// List implements Service.
func (c *Client) List(ctx context.Context, r ListRequest) ([]Attribute, error) {
	return transport.Invoke[[]Attribute](ctx, c.bus, MethodList, r)
}

// Update implements Service.
func (c *Client) Update(ctx context.Context, r UpdateRequest) (Attribute, error) {
	return transport.Invoke[Attribute](ctx, c.bus, MethodUpdate, r)
}

// Delete implements Service.
func (c *Client) Delete(ctx context.Context, r CodeRequest) (Attribute, error) {
	return transport.Invoke[Attribute](ctx, c.bus, MethodDelete, r)
}

// CreateGroup implements Service.
func (c *Client) CreateGroup(ctx context.Context, r CreateGroupRequest) (Group, error) {
	return transport.Invoke[Group](ctx, c.bus, MethodCreateGroup, r)
}

// GetGroup implements Service.
func (c *Client) GetGroup(ctx context.Context, r CodeRequest) (Group, error) {
	return transport.Invoke[Group](ctx, c.bus, MethodGetGroup, r)
}

// ListGroups implements Service.
func (c *Client) ListGroups(ctx context.Context, r ListRequest) ([]Group, error) {
	return transport.Invoke[[]Group](ctx, c.bus, MethodListGroups, r)
}

// UpdateGroup implements Service.
func (c *Client) UpdateGroup(ctx context.Context, r UpdateGroupRequest) (Group, error) {
	return transport.Invoke[Group](ctx, c.bus, MethodUpdateGroup, r)
}

// DeleteGroup implements Service.
func (c *Client) DeleteGroup(ctx context.Context, r CodeRequest) (Group, error) {
	return transport.Invoke[Group](ctx, c.bus, MethodDeleteGroup, r)
}

// Validate implements Service.
func (c *Client) Validate(ctx context.Context, values map[string]any) error {
	_, err := transport.Invoke[ValidateResult](ctx, c.bus, MethodValidate, ValidateRequest{Values: values})
	return err
}

// ValidateMany implements Service.
func (c *Client) ValidateMany(ctx context.Context, r ValidateManyRequest) ([]Validation, error) {
	return transport.Invoke[[]Validation](ctx, c.bus, MethodValidateMany, r)
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
	transport.Handle(m, MethodGet, svc.Get)
	transport.Handle(m, MethodList, svc.List)
	transport.Handle(m, MethodUpdate, svc.Update)
	transport.Handle(m, MethodDelete, svc.Delete)
	transport.Handle(m, MethodCreateGroup, svc.CreateGroup)
	transport.Handle(m, MethodGetGroup, svc.GetGroup)
	transport.Handle(m, MethodListGroups, svc.ListGroups)
	transport.Handle(m, MethodUpdateGroup, svc.UpdateGroup)
	transport.Handle(m, MethodDeleteGroup, svc.DeleteGroup)
	transport.Handle(m, MethodHistory, svc.History)
	transport.Handle(m, MethodValidateMany, svc.ValidateMany)
	transport.Handle(m, MethodValidate, func(ctx context.Context, r ValidateRequest) (ValidateResult, error) {
		if err := svc.Validate(ctx, r.Values); err != nil {
			return ValidateResult{}, err
		}
		return ValidateResult{Valid: true}, nil
	})
	return m
}

// Bind serves svc on bus under the service name "attribute".
func Bind(bus transport.Bus, svc Service, opts ...transport.ConsumerOption) (transport.Subscription, error) {
	return bus.Serve(ServiceName, Handler(svc), opts...)
}
