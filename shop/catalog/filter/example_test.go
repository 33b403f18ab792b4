package filter_test

import (
	"context"
	"fmt"
	"log"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/catalog/filter"
	"github.com/shopbus/shopbus/transport/inproc"
)

// Wiring the service: the MongoDB-backed server, served on the bus and fed
// by the product and category events; callers use the typed client.
func Example() {
	client, err := mongo.Connect(options.Client().ApplyURI("mongodb://localhost:27017"))
	if err != nil {
		log.Fatal(err)
	}
	bus := inproc.New(inproc.Options{})
	defer bus.Close()

	srv, err := filter.New(client.Database("shop_filter"), filter.Options{Auth: auth.NewClient(bus)})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := filter.Bind(bus, srv); err != nil {
		log.Fatal(err)
	}
	if _, err := filter.Subscribe(bus, srv); err != nil {
		log.Fatal(err)
	}

	res, err := filter.NewClient(bus).Query(context.Background(), filter.Query{
		CategorySlug: "shirts",
		Attributes:   []filter.AttributeFilter{{Code: "color", Values: []string{"red", "blue"}}},
		Sort:         filter.SortPriceAsc,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Total, "products")
}

// The query engine on its own: apply product events, then query with
// facets. The counts for color ignore the color filter itself.
func ExampleIndex() {
	x := filter.NewIndex()
	for i, color := range []string{"red", "red", "blue", "green"} {
		x.ApplyProduct(shop.ProductChanged{Product: shop.ProductSnapshot{
			ID:         fmt.Sprint("p", i),
			Title:      color + " shirt",
			Status:     shop.StatusPublished,
			Price:      shop.Money{Amount: int64(1000 + 100*i), Currency: "EUR"},
			Attributes: map[string]any{"color": color, "size": []any{"m", "l"}[i%2]},
			Version:    1,
		}})
	}
	res, _ := x.Query(filter.Query{
		Attributes: []filter.AttributeFilter{{Code: "color", Values: []string{"red"}}},
		Sort:       filter.SortPriceAsc,
	})
	for _, it := range res.Items {
		fmt.Println(it.Title, it.Price)
	}
	for _, f := range res.Facets {
		fmt.Print(f.Code, ":")
		for _, v := range f.Values {
			fmt.Printf(" %s=%d", v.Value, v.Count)
		}
		fmt.Println()
	}
	// Output:
	// red shirt 10.00 EUR
	// red shirt 11.00 EUR
	// color: blue=1 green=1 red=2
	// size: l=1 m=1
}
