package attribute_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/catalog/attribute"
	"github.com/shopbus/shopbus/transport/inproc"
)

// Example defines an attribute and validates product values against it.
// It needs a MongoDB server and an admin session token.
func Example() {
	ctx := context.Background()
	client, err := mongo.Connect(options.Client().ApplyURI("mongodb://localhost:27017"))
	if err != nil {
		log.Fatal(err)
	}
	bus := inproc.New(inproc.Options{})
	defer bus.Close()
	srv, err := attribute.New(client.Database("shop_attribute"), attribute.Options{Auth: auth.NewClient(bus)})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := attribute.Bind(bus, srv); err != nil {
		log.Fatal(err)
	}

	attrs := attribute.NewClient(bus)
	admin := shop.WithToken(ctx, "an admin's session token")
	if _, err := attrs.Create(admin, attribute.CreateRequest{Code: "width", Name: "Width", Type: attribute.TypeNumber, Unit: "cm"}); err != nil {
		log.Fatal(err)
	}
	err = attrs.Validate(ctx, map[string]any{"width": "wide"})
	var e *shop.Error
	if errors.As(err, &e) {
		fmt.Println(e.Code, e.Field("attributes.width")) // invalid must be a number
	}
}
