package category_test

import (
	"context"
	"fmt"
	"log"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/transport/inproc"
)

// Example serves the category service on a bus and builds a small tree
// through its client. It needs a MongoDB server and an admin session token.
func Example() {
	ctx := context.Background()
	client, err := mongo.Connect(options.Client().ApplyURI("mongodb://localhost:27017"))
	if err != nil {
		log.Fatal(err)
	}
	bus := inproc.New(inproc.Options{})
	defer bus.Close()

	srv, err := category.New(client.Database("shop_category"), category.Options{
		Auth:   auth.NewClient(bus), // writes need an admin
		Events: bus,                 // category.category.* events
	})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := category.Bind(bus, srv); err != nil {
		log.Fatal(err)
	}
	if _, err := category.Subscribe(bus, srv); err != nil { // product counts
		log.Fatal(err)
	}
	if _, err := srv.PublishPending(ctx); err != nil { // left over from a crash
		log.Fatal(err)
	}

	cats := category.NewClient(bus)
	admin := shop.WithToken(ctx, "an admin's session token")
	men, err := cats.Create(admin, category.CreateRequest{Name: "Men"})
	if err != nil {
		log.Fatal(err)
	}
	shoes, err := cats.Create(admin, category.CreateRequest{Name: "Men's Shoes", ParentID: men.ID})
	if err != nil {
		log.Fatal(err)
	}
	crumbs, err := cats.Ancestors(ctx, category.AncestorsRequest{ID: shoes.ID})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(shoes.Slug, len(crumbs)) // mens-shoes 1
}
