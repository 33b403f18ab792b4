// Command shopcart is a program of your own that embeds one shopbus
// service, the cart, with a rule of its own: no line may hold more than
// MaxPerLine of a product. Its test (main_test.go) shows how such a
// program is tested with the shopbus test kit, package shop/shoptest: the
// real services it depends on run inside go test, next to its own cart.
//
// It is a module of its own, as your program would be: go.mod requires
// github.com/shopbus/shopbus (replaced by this checkout). Run its tests
// with
//
//	cd examples/testing && go test ./...
//
// and the program itself, next to a shop on RabbitMQ that runs every
// service but the cart, with
//
//	SHOP_AMQP_URL=amqp://guest:guest@localhost:5672/ SHOP_MONGO_URI=mongodb://localhost:27017 go run .
package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/host"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/transport/rabbit"
)

// MaxPerLine is the most of one product a cart line may hold in this shop.
const MaxPerLine = 5

// CartService is the cart as this program hosts it: shopbus's cart
// service behind the MaxPerLine rule, on the bus and database the host
// gives it. It replaces the built-in "cart" wherever it is hosted.
func CartService() host.Service {
	return host.Service{Name: cart.ServiceName, Start: func(_ context.Context, env host.Env) (*host.Started, error) {
		srv, err := cart.New(env.DB, cart.Options{
			Auth:     auth.NewClient(env.Bus),
			Products: product.NewClient(env.Bus),
			Logger:   env.Logger,
		})
		if err != nil {
			return nil, err
		}
		var a host.Attach
		a.Add(cart.Bind(env.Bus, limited{srv}, env.Consumer...))
		a.Add(cart.Subscribe(env.Bus, srv, env.Consumer...))
		a.Add(cart.SubscribeOrders(env.Bus, srv, env.Consumer...))
		return a.Started(srv.Run)
	}}
}

// limited is a cart.Service whose lines hold at most MaxPerLine.
type limited struct{ cart.Service }

// AddItem refuses to add more than MaxPerLine of a product to a line.
func (l limited) AddItem(ctx context.Context, r cart.AddItemRequest) (cart.Cart, error) {
	if r.Quantity > MaxPerLine {
		return cart.Cart{}, shop.Invalid("too many", "quantity", fmt.Sprintf("at most %d per line in this shop", MaxPerLine))
	}
	c, err := l.Service.Get(ctx, cart.CartRequest{CartID: r.CartID})
	if err == nil {
		for _, line := range c.Lines {
			if line.ProductID == r.ProductID && line.VariantID == r.VariantID && line.Quantity+r.Quantity > MaxPerLine {
				return cart.Cart{}, shop.Invalid("too many", "quantity", fmt.Sprintf("at most %d per line in this shop", MaxPerLine))
			}
		}
	}
	return l.Service.AddItem(ctx, r)
}

// UpdateItem refuses to set a line above MaxPerLine.
func (l limited) UpdateItem(ctx context.Context, r cart.UpdateItemRequest) (cart.Cart, error) {
	if r.Quantity > MaxPerLine {
		return cart.Cart{}, shop.Invalid("too many", "quantity", fmt.Sprintf("at most %d per line in this shop", MaxPerLine))
	}
	return l.Service.UpdateItem(ctx, r)
}

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log); err != nil {
		log.Error("shopcart failed", "err", err)
		os.Exit(1)
	}
}

// run hosts CartService on the store and broker the environment names
// until ctx ends.
func run(ctx context.Context, log *slog.Logger) error {
	client, err := mongo.Connect(options.Client().ApplyURI(cmp.Or(os.Getenv("SHOP_MONGO_URI"), "mongodb://localhost:27017")))
	if err != nil {
		return err
	}
	defer client.Disconnect(context.Background())
	bus, err := rabbit.Dial(ctx, rabbit.Options{URL: cmp.Or(os.Getenv("SHOP_AMQP_URL"), "amqp://guest:guest@localhost:5672/"), Name: "shopcart", Logger: log})
	if err != nil {
		return err
	}
	defer bus.Close()
	node := &host.Node{Bus: bus, Mongo: client, Services: []host.Service{CartService()}, Logger: log}
	return node.Run(ctx)
}
