package option_test

import (
	"context"
	"fmt"
	"log"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/catalog/option"
	"github.com/shopbus/shopbus/transport/inproc"
)

// Example defines a Size group and generates the variants of a product.
// It needs a MongoDB server and an admin session token.
func Example() {
	ctx := context.Background()
	client, err := mongo.Connect(options.Client().ApplyURI("mongodb://localhost:27017"))
	if err != nil {
		log.Fatal(err)
	}
	bus := inproc.New(inproc.Options{})
	defer bus.Close()
	srv, err := option.New(client.Database("shop_option"), option.Options{Auth: auth.NewClient(bus), MaxVariants: 500})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := option.Bind(bus, srv); err != nil {
		log.Fatal(err)
	}

	opts := option.NewClient(bus)
	admin := shop.WithToken(ctx, "an admin's session token")
	if _, err := opts.CreateGroup(admin, option.CreateGroupRequest{Code: "size", Name: "Size", Values: []option.Value{
		{Code: "s", Label: "Small"}, {Code: "m", Label: "Medium"},
	}}); err != nil {
		log.Fatal(err)
	}
	pv, err := opts.GenerateVariants(admin, option.GenerateRequest{ProductID: "p1", SKU: "TEE", Groups: []string{"size"}})
	if err != nil {
		log.Fatal(err)
	}
	for _, v := range pv.Variants {
		fmt.Println(v.SKU) // TEE-S, TEE-M
	}
}

func ExampleVariantSKU() {
	fmt.Println(option.VariantSKU("TEE", []string{"m", "red"}))
	// Output: TEE-M-RED
}
