// Command embed-cart embeds one shopbus service, the cart, in a program of
// your own: it connects to MongoDB and to the bus, builds the cart on its
// own database, wires it to the auth and product services through their
// bus clients, subscribes it to the product events that keep cart lines
// current, serves it on the bus, and runs until SIGINT or SIGTERM.
//
// The cart calls the auth and product services, so they must serve on the
// same bus: with RabbitMQ, in other processes, e.g. the whole shop but the
// cart (which this program then serves, to the storefront too):
//
//	go run ./deploy/ferretdb -addr 127.0.0.1:27017 -dir /tmp/cartdb   # or any MongoDB
//	SHOP_AMQP_URL=amqp://guest:guest@localhost:5672/ \
//	  SHOP_SERVICES=auth,category,attribute,option,product,filter,article,seo,seeder go run ./deploy/shop
//	SHOP_AMQP_URL=amqp://guest:guest@localhost:5672/ go run ./examples/embed-cart
//
// Environment: SHOP_MONGO_URI (default mongodb://localhost:27017), SHOP_DB_PREFIX
// (default "shop": the database is shop_cart), SHOP_AMQP_URL (unset: an
// in-process bus, useful only with the other services in this process too,
// as the test does) and SHOP_AMQP_NAMESPACE (default "shop").
package main

import (
	"cmp"
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/inproc"
	"github.com/shopbus/shopbus/transport/rabbit"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := start(ctx, log)
	stop()
	if err != nil {
		log.Error("embed-cart failed", "err", err)
		os.Exit(1)
	}
}

// start connects to MongoDB and the bus that the environment names and
// runs the cart service on them until ctx ends.
func start(ctx context.Context, log *slog.Logger) error {
	uri := cmp.Or(os.Getenv("SHOP_MONGO_URI"), "mongodb://localhost:27017")
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return err
	}
	defer client.Disconnect(context.Background())
	db := client.Database(cmp.Or(os.Getenv("SHOP_DB_PREFIX"), "shop") + "_cart")

	bus, err := dial(ctx, log)
	if err != nil {
		return err
	}
	defer bus.Close()
	return run(ctx, bus, db, log)
}

// dial connects to the RabbitMQ broker of $SHOP_AMQP_URL, or returns an
// in-process bus when it is unset.
func dial(ctx context.Context, log *slog.Logger) (transport.Bus, error) {
	url := os.Getenv("SHOP_AMQP_URL")
	if url == "" {
		log.Warn("SHOP_AMQP_URL is unset: serving on an in-process bus, where no auth or product service runs")
		return inproc.New(inproc.Options{Logger: log}), nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	bus, err := rabbit.Dial(ctx, rabbit.Options{
		URL:       url,
		Namespace: os.Getenv("SHOP_AMQP_NAMESPACE"), // empty: "shop"
		Name:      "embed-cart",
		Logger:    log,
	})
	if err != nil {
		return nil, err
	}
	return bus, nil
}

// run builds the cart service on db, serves it on bus and does its
// background work until ctx ends; then it stops serving and returns nil.
func run(ctx context.Context, bus transport.Bus, db *mongo.Database, log *slog.Logger) error {
	srv, err := cart.New(db, cart.Options{
		Auth:     auth.NewClient(bus),    // checks the session tokens of callers
		Products: product.NewClient(bus), // looks up what is added to a cart
		Logger:   log,
	})
	if err != nil {
		return err
	}
	// Subscribe before serving, so that no price change is missed for a
	// line added through this instance.
	events, err := cart.Subscribe(bus, srv)
	if err != nil {
		return err
	}
	defer events.Close()
	requests, err := cart.Bind(bus, srv)
	if err != nil {
		return err
	}
	defer requests.Close()

	log.Info("cart service serving", "database", db.Name())
	err = srv.Run(ctx) // forgets expired guest carts, until ctx ends
	log.Info("cart service stopping")
	return err
}
