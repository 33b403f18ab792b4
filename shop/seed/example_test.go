package seed_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/shop/seed"
	"github.com/shopbus/shopbus/transport/inproc"
)

// Example runs the seeder in-process next to the shop's services (not
// started here: auth, category, attribute, option, product, article and
// seo must serve on the bus), logging in as the admin the auth service
// ensures, and prints what it did.
func Example() {
	ctx := context.Background()
	client, err := mongo.Connect(options.Client().ApplyURI("mongodb://localhost:27017"))
	if err != nil {
		log.Fatal(err)
	}
	bus := inproc.New(inproc.Options{})
	defer bus.Close()

	srv, err := seed.New(client.Database("shop_seeder"), seed.Options{
		Bus:        bus,
		AdminEmail: "admin@shop.example", AdminPassword: "admin-password",
		Progress: func(p seed.Progress) {
			if p.Done == p.Total {
				fmt.Printf("%s: %d created, %d existing\n", p.Kind, p.Created, p.Existing)
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := seed.Bind(bus, srv); err != nil { // admins may call seeder.run too
		log.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	rep, err := srv.Seed(ctx, seed.RunRequest{Seed: 42, Products: 500})
	if err != nil {
		log.Fatal(err)
	}
	for _, kind := range seed.Kinds {
		c := rep.Counts[kind]
		fmt.Println(kind, c.Created, c.Existing)
	}
}

// ExampleNewDataset shows what a seed creates, without any service.
func ExampleNewDataset() {
	ds, err := seed.NewDataset(42, 1000)
	if err != nil {
		log.Fatal(err)
	}
	p := ds.Product(0)
	fmt.Println(len(ds.Categories) > 0, ds.Articles, p.Request.Price.Currency, p.Request.Status)
	// Output: true 53 EUR published
}
