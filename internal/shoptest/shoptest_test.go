package shoptest_test

import (
	"testing"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/shoptest"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/transport"
)

func TestStartAuth(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		a := shoptest.StartAuth(t, bus)
		if _, err := shop.RequireAdmin(a.Admin, a.Client); err != nil {
			t.Fatalf("admin context: %v", err)
		}
		if _, err := shop.RequireAdmin(a.Customer, a.Client); !shop.IsCode(err, transport.CodeForbidden) {
			t.Fatalf("customer context: RequireAdmin = %v, want forbidden", err)
		}
		p, err := shop.Caller(a.Customer, a.Client)
		if err != nil || p.Email != shoptest.CustomerEmail || p.UserID != a.CustomerUser.UserID {
			t.Fatalf("customer principal %+v, %v", p, err)
		}
		ctx, other := a.NewCustomer(t, "", "")
		if other.UserID == "" || other.UserID == a.CustomerUser.UserID {
			t.Fatalf("NewCustomer principal %+v", other)
		}
		if p, err := shop.Caller(ctx, a.Client); err != nil || p.UserID != other.UserID {
			t.Fatalf("NewCustomer context: %+v, %v", p, err)
		}
		if _, p2 := a.NewCustomer(t, "", ""); p2.UserID == other.UserID || p2.Email == other.Email {
			t.Fatalf("two NewCustomer calls gave %+v and %+v", other, p2)
		}
	})
}

func TestAuthService(t *testing.T) {
	bus := bustest.New(t, "inproc")
	admin, customer := shoptest.AuthService(t, bus)
	if shop.TokenFrom(admin) == "" || shop.TokenFrom(customer) == "" || shop.TokenFrom(admin) == shop.TokenFrom(customer) {
		t.Fatal("contexts do not carry two distinct tokens")
	}
}
