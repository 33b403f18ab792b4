package host_test

import (
	"context"
	"log"
	"net/http"
	"os"
	"os/signal"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/host"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/inproc"
)

// A node hosting the catalogue services on the in-process bus, with its
// health endpoints on :9090.
func ExampleNode() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	client, err := mongo.Connect(options.Client().ApplyURI("mongodb://127.0.0.1:27017/"))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Disconnect(context.Background())
	bus := inproc.New(inproc.Options{})
	defer bus.Close()

	services, err := host.Lookup("auth", "category", "attribute", "option", "product", "filter")
	if err != nil {
		log.Fatal(err)
	}
	node := &host.Node{
		Bus:         bus,
		Mongo:       client,
		DBPrefix:    "demo", // databases demo_auth, demo_category, ...
		Services:    services,
		Concurrency: map[string]int{"filter": 32},
		Settings:    host.Settings{AdminEmail: "admin@example.com", AdminPassword: "change-me-please"},
	}
	go http.ListenAndServe("127.0.0.1:9090", node.Handler()) // /healthz /readyz /stats /metrics
	if err := node.Run(ctx); err != nil {
		log.Fatal(err)
	}
}

// A service of one's own is one Service value: it gets its database and
// the bus, and reaches other services through their clients.
func ExampleService() {
	greeter := host.Service{
		Name: "greeter",
		Start: func(ctx context.Context, env host.Env) (*host.Started, error) {
			mux := transport.NewMux()
			transport.Handle(mux, "greeter.hello", func(ctx context.Context, name string) (string, error) {
				return "hello, " + name, nil
			})
			var a host.Attach
			a.Add(env.Bus.Serve("greeter", mux, env.Consumer...))
			return a.Started(nil)
		},
	}
	auth, _ := host.Builtin("auth")
	_ = &host.Node{Services: []host.Service{auth, greeter}}
}

// A deployable binary: configuration from the environment, graceful
// shutdown on SIGINT.
func ExampleProgram() {
	cfg, err := host.ConfigFromEnv()
	if err != nil {
		log.Fatal(err) // names the variable at fault
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	p := &host.Program{Config: cfg} // prints "shopbus serving on http://..."
	if err := p.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
