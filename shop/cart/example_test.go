package cart_test

import (
	"context"
	"fmt"
	"log"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/transport/inproc"
)

// Example wires the cart service to the auth and product services on a bus
// (which must be served there too) and walks a guest through shopping,
// logging in and keeping the guest's cart.
func Example() {
	ctx := context.Background()
	client, err := mongo.Connect(options.Client().ApplyURI("mongodb://localhost:27017"))
	if err != nil {
		log.Fatal(err)
	}
	bus := inproc.New(inproc.Options{})
	defer bus.Close()

	srv, err := cart.New(client.Database("shop_cart"), cart.Options{
		Auth:     auth.NewClient(bus),
		Products: product.NewClient(bus),
	})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := cart.Bind(bus, srv); err != nil {
		log.Fatal(err)
	}
	if _, err := cart.Subscribe(bus, srv); err != nil { // price changes, deletions
		log.Fatal(err)
	}
	go srv.Run(ctx) // forgets expired guest carts

	carts := cart.NewClient(bus)
	// A guest adds a product: the service makes a cart and returns its id.
	guest, err := carts.AddItem(ctx, cart.AddItemRequest{ProductID: "some-product-id", Quantity: 2})
	if err != nil {
		log.Fatal(err)
	}
	// The guest logs in; the shop merges the guest cart into the user's.
	session, err := auth.NewClient(bus).Login(ctx, auth.LoginRequest{Email: "ada@example.com", Password: "correct horse"})
	if err != nil {
		log.Fatal(err)
	}
	asAda := shop.WithToken(ctx, session.Token)
	mine, err := carts.Merge(asAda, cart.MergeRequest{GuestCartID: guest.ID})
	if err != nil {
		log.Fatal(err)
	}
	for _, l := range mine.Lines {
		fmt.Println(l.Quantity, l.Title, l.Subtotal)
	}
	fmt.Println("total:", mine.Totals)
}
