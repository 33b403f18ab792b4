package product_test

import (
	"context"
	"fmt"
	"log"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/catalog/attribute"
	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/shop/catalog/option"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/transport/inproc"
)

// Example wires the product service to the other catalog services' bus
// clients, creates a product and pages through the catalogue. It needs a
// MongoDB server, the category, attribute and option services on the bus,
// and an admin session token.
func Example() {
	ctx := context.Background()
	client, err := mongo.Connect(options.Client().ApplyURI("mongodb://localhost:27017"))
	if err != nil {
		log.Fatal(err)
	}
	bus := inproc.New(inproc.Options{})
	defer bus.Close()
	srv, err := product.New(client.Database("shop_product"), product.Options{
		Auth:       auth.NewClient(bus),
		Events:     bus,
		Categories: category.NewClient(bus),
		Attributes: attribute.NewClient(bus),
		Variants:   option.NewClient(bus),
	})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := product.Bind(bus, srv); err != nil {
		log.Fatal(err)
	}
	if _, err := product.Subscribe(bus, srv); err != nil { // re-file products of deleted categories
		log.Fatal(err)
	}

	products := product.NewClient(bus)
	admin := shop.WithToken(ctx, "an admin's session token")
	p, err := products.Create(admin, product.CreateRequest{
		Title:        "Oxford Shirt",
		Price:        shop.Money{Amount: 4900, Currency: "EUR"},
		Attributes:   map[string]any{"material": "cotton"},
		OptionGroups: []string{"size"},
		Images:       []string{"https://cdn.example.com/oxford.jpg"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Slug, len(p.Variants))

	// Every product, newest first, one page at a time.
	req := product.ListRequest{Sort: product.SortCreated, Desc: true, Limit: 50}
	for {
		page, err := products.List(ctx, req)
		if err != nil {
			log.Fatal(err)
		}
		for _, p := range page.Items {
			fmt.Println(p.Title, p.Price)
		}
		if page.NextCursor == "" {
			break
		}
		req.Cursor = page.NextCursor
	}
}
