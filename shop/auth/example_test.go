package auth_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/shoptest"
)

// Example registers an account through the client, logs it in, and finds
// out who calls with the session token, as every service does with
// shop.Caller. The shop runs on shoptest, as it would in a test of a
// program that embeds the auth service.
func Example() {
	t, done := shoptest.ExampleTB() // in a test: the test's *testing.T
	defer done()
	s := shoptest.Start(t, shoptest.Options{Services: []string{auth.ServiceName}})

	ctx := context.Background()
	users := auth.NewClient(s.Bus)
	if _, err := users.Register(ctx, auth.RegisterRequest{Email: "ada@example.com", Password: "correct horse"}); err != nil {
		t.Fatal(err)
	}
	session, err := users.Login(ctx, auth.LoginRequest{Email: "ada@example.com", Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	// Calls made with this context carry the token.
	asAda := shop.WithToken(ctx, session.Token)
	p, err := shop.Caller(asAda, users)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(p.Email, p.Roles)

	_, err = users.Login(ctx, auth.LoginRequest{Email: "ada@example.com", Password: "wrong"})
	fmt.Println(errors.Is(err, shop.ErrUnauthenticated))
	// Output:
	// ada@example.com [customer]
	// true
}
