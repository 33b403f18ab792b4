// Command seed fills a running shop with consistent sample data through
// the services' public APIs over RabbitMQ (see seed.Main for the flags):
//
//	SHOP_AMQP_URL=amqp://guest:guest@localhost:5672/ SHOP_ADMIN_EMAIL=... SHOP_ADMIN_PASSWORD=... \
//	    go run ./deploy/seed -products 1000
//
// The same seed always gives the same shop, and a second run changes nothing.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/shopbus/shopbus/shop/seed"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := seed.Main(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}
