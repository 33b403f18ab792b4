// Package shoptest holds fixtures for service tests: a real auth service
// on a test database, served on the test's bus, with an admin and a
// customer already logged in.
//
// A typical service test:
//
//	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
//		admin, customer := shoptest.AuthService(t, bus)
//		srv, _ := product.New(testenv.MongoDB(t, t.Name()), product.Options{Auth: auth.NewClient(bus), Events: bus})
//		...
//		_, err := client.Create(admin, req)    // allowed
//		_, err = client.Create(customer, req)  // forbidden
//	})
package shoptest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/transport"
)

// Credentials of the accounts the fixture creates.
const (
	AdminEmail       = "admin@shop.test"
	AdminPassword    = "admin-password"
	CustomerEmail    = "customer@shop.test"
	CustomerPassword = "customer-password"
)

// Auth is a running auth service for one test.
type Auth struct {
	// Server is the auth service, on a database of its own that is dropped
	// when the test ends.
	Server *auth.Server
	// Client calls it over the bus; pass it as other services' Auth option.
	Client *auth.Client
	// Admin and Customer are contexts carrying the session tokens of the
	// admin and of a customer (see shop.WithToken).
	Admin, Customer context.Context
	// AdminUser and CustomerUser are their principals.
	AdminUser, CustomerUser shop.Principal

	bus   transport.Bus
	users atomic.Int64
}

// StartAuth starts the auth service on a fresh test database (cheap bcrypt
// cost), serves it on bus until the test ends, and logs in an admin (made
// by the service's AdminEmail option) and a registered customer. Call it
// at most once per bus: a second auth service would share the queue.
func StartAuth(tb testing.TB, bus transport.Bus) *Auth {
	tb.Helper()
	srv, err := auth.New(testenv.MongoDB(tb, "auth_"+tb.Name()), auth.Options{
		BcryptCost:    bcrypt.MinCost,
		AdminEmail:    AdminEmail,
		AdminPassword: AdminPassword,
	})
	if err != nil {
		tb.Fatalf("shoptest: auth.New: %v", err)
	}
	sub, err := auth.Bind(bus, srv)
	if err != nil {
		tb.Fatalf("shoptest: auth.Bind: %v", err)
	}
	tb.Cleanup(func() { _ = sub.Close() })
	a := &Auth{Server: srv, Client: auth.NewClient(bus), bus: bus}
	a.Admin, a.AdminUser = a.login(tb, AdminEmail, AdminPassword)
	a.Customer, a.CustomerUser = a.NewCustomer(tb, CustomerEmail, CustomerPassword)
	if !a.AdminUser.Has(shop.RoleAdmin) {
		tb.Fatalf("shoptest: admin principal %+v lacks the admin role", a.AdminUser)
	}
	return a
}

// AuthService is StartAuth for tests that need only the two callers: it
// returns contexts carrying the admin's and a customer's session tokens.
func AuthService(tb testing.TB, bus transport.Bus) (admin, customer context.Context) {
	tb.Helper()
	a := StartAuth(tb, bus)
	return a.Admin, a.Customer
}

// NewCustomer registers a customer with email and password and logs it
// in. An empty email picks a fresh one, and an empty password a valid one.
// It returns a context carrying the session token, and the principal.
func (a *Auth) NewCustomer(tb testing.TB, email, password string) (context.Context, shop.Principal) {
	tb.Helper()
	if email == "" {
		email = fmt.Sprintf("customer%d@shop.test", a.users.Add(1))
	}
	if password == "" {
		password = CustomerPassword
	}
	if _, err := a.Client.Register(context.Background(), auth.RegisterRequest{Email: email, Password: password}); err != nil {
		tb.Fatalf("shoptest: register %s: %v", email, err)
	}
	return a.login(tb, email, password)
}

// Login logs an existing account in and returns a context carrying its
// session token, and its principal.
func (a *Auth) Login(tb testing.TB, email, password string) (context.Context, shop.Principal) {
	tb.Helper()
	return a.login(tb, email, password)
}

func (a *Auth) login(tb testing.TB, email, password string) (context.Context, shop.Principal) {
	tb.Helper()
	ctx := context.Background()
	s, err := a.Client.Login(ctx, auth.LoginRequest{Email: email, Password: password})
	if err != nil {
		tb.Fatalf("shoptest: login %s: %v", email, err)
	}
	ctx = shop.WithToken(ctx, s.Token)
	p, err := a.Client.Authenticate(ctx, s.Token)
	if err != nil {
		tb.Fatalf("shoptest: authenticate %s: %v", email, err)
	}
	return ctx, p
}
