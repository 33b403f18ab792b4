package seo_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/content/seo"
	"github.com/shopbus/shopbus/transport/inproc"
)

// Example serves the SEO service, subscribes it to the catalog's and the
// article service's events, and uses it as the storefront does: with a
// short deadline, ignoring failures.
func Example() {
	client, err := mongo.Connect(options.Client().ApplyURI("mongodb://localhost:27017"))
	if err != nil {
		log.Fatal(err)
	}
	bus := inproc.New(inproc.Options{})
	defer bus.Close()

	srv, err := seo.New(client.Database("shop_seo"), seo.Options{
		Auth:        auth.NewClient(bus),
		BaseURL:     "https://shop.example",
		TitleSuffix: " | Example Shop",
	})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := seo.Bind(bus, srv); err != nil {
		log.Fatal(err)
	}
	if _, err := seo.Subscribe(bus, srv); err != nil {
		log.Fatal(err)
	}

	// In the storefront's page handler:
	meta := seo.NewClient(bus)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	res, err := meta.Resolve(ctx, seo.ResolveRequest{Path: "/products/red-shoe"})
	switch {
	case err != nil:
		// Decoration only: render the page with its own title.
	case res.Redirect != "":
		fmt.Println("redirect", res.Status, res.Redirect)
	default:
		fmt.Println("<title>" + res.Metadata.Title + "</title>")
	}
}
