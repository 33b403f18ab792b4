package auth_test

import (
	"context"
	"fmt"
	"log"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/transport/inproc"
)

// Example serves the auth service on a bus and uses it through the client:
// register, log in, and call another service with the session token.
func Example() {
	ctx := context.Background()
	client, err := mongo.Connect(options.Client().ApplyURI("mongodb://localhost:27017"))
	if err != nil {
		log.Fatal(err)
	}
	bus := inproc.New(inproc.Options{})
	defer bus.Close()

	// An admin account to ensure, and the default bcrypt cost and limits.
	opts := auth.Options{AdminEmail: "admin@example.com", AdminPassword: "change-this-secret"}
	srv, err := auth.New(client.Database("shop_auth"), opts)
	if err != nil {
		log.Fatal(err)
	}
	go srv.Run(ctx) // removes expired sessions now and then
	if _, err := auth.Bind(bus, srv); err != nil {
		log.Fatal(err)
	}

	users := auth.NewClient(bus)
	if _, err := users.Register(ctx, auth.RegisterRequest{Email: "ada@example.com", Password: "correct horse"}); err != nil {
		log.Fatal(err)
	}
	session, err := users.Login(ctx, auth.LoginRequest{Email: "ada@example.com", Password: "correct horse"})
	if err != nil {
		log.Fatal(err)
	}
	// Calls made with this context carry the token; a service finds out who
	// is calling with shop.Caller(ctx, users).
	asAda := shop.WithToken(ctx, session.Token)
	p, err := shop.Caller(asAda, users)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Email, p.Roles)
}
