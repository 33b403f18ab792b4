package auth

import (
	"context"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/transport"
)

// Client is the auth service over the bus. It implements Service and
// shop.Authenticator, so other services can take it as their Auth option.
type Client struct {
	bus transport.Bus
}

var _ Service = (*Client)(nil)

// NewClient returns a client that calls the auth service on bus.
func NewClient(bus transport.Bus) *Client { return &Client{bus: bus} }

// Register calls auth.register.
func (c *Client) Register(ctx context.Context, r RegisterRequest) (User, error) {
	return transport.Invoke[User](ctx, c.bus, MethodRegister, r)
}

// Login calls auth.login.
func (c *Client) Login(ctx context.Context, r LoginRequest) (Session, error) {
	return transport.Invoke[Session](ctx, c.bus, MethodLogin, r)
}

// Authenticate calls auth.authenticate.
func (c *Client) Authenticate(ctx context.Context, token string) (shop.Principal, error) {
	return transport.Invoke[shop.Principal](ctx, c.bus, MethodAuthenticate, TokenRequest{Token: token})
}

// Logout calls auth.logout.
func (c *Client) Logout(ctx context.Context, token string) error {
	_, err := transport.Invoke[struct{}](ctx, c.bus, MethodLogout, TokenRequest{Token: token})
	return err
}

// ChangePassword calls auth.change_password; the caller's token travels
// in ctx (shop.WithToken).
func (c *Client) ChangePassword(ctx context.Context, r ChangePasswordRequest) error {
	_, err := transport.Invoke[struct{}](ctx, c.bus, MethodChangePassword, r)
	return err
}

// Handler returns a transport.Mux serving svc's methods, for hosts that add
// middleware before serving it themselves.
func Handler(svc Service) *transport.Mux {
	m := shop.NewMux(ServiceName)
	transport.Handle(m, MethodRegister, svc.Register)
	transport.Handle(m, MethodLogin, svc.Login)
	transport.Handle(m, MethodAuthenticate, func(ctx context.Context, r TokenRequest) (shop.Principal, error) {
		return svc.Authenticate(ctx, r.Token)
	})
	transport.Handle(m, MethodLogout, func(ctx context.Context, r TokenRequest) (struct{}, error) {
		return struct{}{}, svc.Logout(ctx, r.Token)
	})
	transport.Handle(m, MethodChangePassword, func(ctx context.Context, r ChangePasswordRequest) (struct{}, error) {
		return struct{}{}, svc.ChangePassword(ctx, r)
	})
	return m
}

// Bind serves svc's methods on bus under ServiceName.
func Bind(bus transport.Bus, svc Service, opts ...transport.ConsumerOption) (transport.Subscription, error) {
	return bus.Serve(ServiceName, Handler(svc), opts...)
}
