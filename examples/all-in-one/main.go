// Command all-in-one hosts shopbus services in one process with
// host.Node, the library way to run several (or all ten) of them: it reads
// the configuration from the environment (host.ConfigFromEnv), picks the
// services SHOP_SERVICES names (host.Lookup; all of them by default),
// connects to MongoDB and to the bus, runs the services supervised, each
// on its own database, and serves the node's health endpoints (/healthz,
// /readyz, /stats, /metrics) on SHOP_HTTP_ADDR until SIGINT or SIGTERM.
//
//	go run ./deploy/ferretdb -addr 127.0.0.1:27017 -dir /tmp/shopdb   # or any MongoDB
//	go run ./examples/all-in-one                                        # all ten services
//	SHOP_SERVICES=auth,category,product go run ./examples/all-in-one    # some of them
//	curl http://127.0.0.1:8080/readyz
//
// SHOP_MONGO_URI defaults to mongodb://localhost:27017. Without
// SHOP_AMQP_URL the services talk over an in-process bus, which only this
// process reaches; with it, other programs call them over RabbitMQ (see
// examples/rabbit-client). The other
// variables are those of host.ConfigFromEnv (SHOP_DB_PREFIX,
// SHOP_ADMIN_EMAIL and SHOP_ADMIN_PASSWORD, SHOP_WORKERS_<SERVICE>, ...).
// go run ./deploy/shop does the same with host.Program, plus an embedded
// database, the storefront and sample data.
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/host"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/inproc"
	"github.com/shopbus/shopbus/transport/rabbit"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := start(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "all-in-one:", err)
		os.Exit(1)
	}
}

// start reads the configuration, connects to MongoDB and the bus, listens
// on the HTTP address and runs the node until ctx ends.
func start(ctx context.Context) error {
	cfg, err := host.ConfigFromEnv() // validated: an error names the variable at fault
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))

	client, err := mongo.Connect(options.Client().ApplyURI(cmp.Or(cfg.MongoURI, "mongodb://localhost:27017")))
	if err != nil {
		return err
	}
	defer client.Disconnect(context.Background())

	bus, err := dial(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer bus.Close()

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return err
	}
	return run(ctx, cfg, bus, client, ln, log)
}

// dial connects to RabbitMQ when cfg names a broker, or returns an
// in-process bus.
func dial(ctx context.Context, cfg host.Config, log *slog.Logger) (transport.Bus, error) {
	if cfg.AMQPURL == "" {
		return inproc.New(inproc.Options{Logger: log}), nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	bus, err := rabbit.Dial(ctx, rabbit.Options{URL: cfg.AMQPURL, Namespace: cfg.AMQPNamespace, Name: "all-in-one", Logger: log})
	if err != nil {
		return nil, err
	}
	return bus, nil
}

// run hosts the services cfg names on bus, their databases on client
// ("<prefix>_<service>"), and serves the node's health endpoints on ln
// until ctx ends. It returns nil after a graceful stop, or the error of a
// service that kept failing.
func run(ctx context.Context, cfg host.Config, bus transport.Bus, client *mongo.Client, ln net.Listener, log *slog.Logger) error {
	services, err := host.Lookup(cfg.Services...) // none named: all of them
	if err != nil {
		return err
	}
	node := &host.Node{
		Bus:         bus,
		Mongo:       client,
		DBPrefix:    cfg.DBPrefix,
		Services:    services,
		Concurrency: cfg.Concurrency,
		Settings:    cfg.Settings, // admin account, bcrypt cost, ...
		Logger:      log,
	}

	web := &http.Server{Handler: node.Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- web.Serve(ln) }()
	log.Info("health endpoints", "readyz", "http://"+ln.Addr().String()+"/readyz", "services", len(services))

	err = node.Run(ctx) // until ctx ends, or a service fails for good

	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if serr := web.Shutdown(sctx); serr != nil {
		log.Warn("HTTP shutdown", "err", serr)
	}
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
