// Command seed fills a running shop with consistent sample data through
// the services' public APIs over RabbitMQ:
//
//	SHOP_AMQP_URL=amqp://guest:guest@localhost:5672/ SHOP_ADMIN_EMAIL=... SHOP_ADMIN_PASSWORD=... \
//	    go run ./deploy/seed -products 1000
//
// The same seed always gives the same shop, and a second run changes nothing.
// It connects to the RabbitMQ broker the shop's services listen on, seeds
// the shop through them (package shop/seeder), prints progress and a report
// to stdout, and exits when done (or on SIGINT or SIGTERM). Flags:
//
//	-amqp URL            RabbitMQ URL (default $SHOP_AMQP_URL; required)
//	-namespace NAME      RabbitMQ namespace (default $SHOP_AMQP_NAMESPACE, else "shop")
//	-seed N              the seed (default seeder.DefaultSeed, as hosts seed)
//	-products N          products, 1 to 100000 (default 48)
//	-concurrency N       products and articles created at once (default 8)
//	-admin-email E       the admin the auth service ensures (default $SHOP_ADMIN_EMAIL)
//	-admin-password P    its password (default $SHOP_ADMIN_PASSWORD; prefer the variable)
//	-demo                register a demo customer with a public password (a developer's own shop only)
//	-demo-email E, -demo-password P   the demo customer to register
//	-mongo URI           record the run in the seeder's database "<prefix>_seeder"
//	                     (default $SHOP_MONGO_URI; empty: no record)
//	-db-prefix P         database name prefix (default $SHOP_DB_PREFIX, else "shop")
//	-once                do nothing if this seed is recorded as done (needs -mongo)
//	-timeout D           give up after D (default: no limit)
//	-progress-every N    a progress line every N entities (default: about 50 lines for the products)
//	-json                print the report as JSON
//	-quiet               no progress lines
//
// "-h" prints the flags. Bad flags exit with status 1.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/seeder"
	"github.com/shopbus/shopbus/transport/rabbit"
)

// Environment variables run reads for its flags' defaults (the same as
// the host's, see host.ConfigFromEnv).
const (
	EnvAMQPURL       = "SHOP_AMQP_URL"
	EnvAMQPNamespace = "SHOP_AMQP_NAMESPACE"
	EnvMongoURI      = "SHOP_MONGO_URI"
	EnvDBPrefix      = "SHOP_DB_PREFIX"
	EnvAdminEmail    = "SHOP_ADMIN_EMAIL"
	EnvAdminPassword = "SHOP_ADMIN_PASSWORD"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}

// run is the command line: args are the arguments without the program
// name (see the package doc). "-h" prints the flags and returns nil. Bad
// flags return a shop.Invalid error naming the flag.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(stdout)
	env := func(name, def string) string {
		if v := os.Getenv(name); v != "" {
			return v
		}
		return def
	}
	var (
		amqpURL       = fs.String("amqp", env(EnvAMQPURL, ""), "RabbitMQ URL (required; default $"+EnvAMQPURL+")")
		namespace     = fs.String("namespace", env(EnvAMQPNamespace, ""), "RabbitMQ namespace (default $"+EnvAMQPNamespace+", else shop)")
		seedValue     = fs.Int64("seed", seeder.DefaultSeed, "the seed: the same seed gives the same shop")
		products      = fs.Int("products", seeder.DefaultProducts, fmt.Sprintf("number of products, 1 to %d", seeder.MaxProducts))
		concurrency   = fs.Int("concurrency", seeder.DefaultConcurrency, "products and articles created at once")
		adminEmail    = fs.String("admin-email", env(EnvAdminEmail, ""), "admin account the auth service ensures (default $"+EnvAdminEmail+")")
		adminPassword = fs.String("admin-password", env(EnvAdminPassword, ""), "its password (default $"+EnvAdminPassword+"; prefer the variable)")
		demo          = fs.Bool("demo", false, "register a demo customer with a public password (a developer's own shop only)")
		demoEmail     = fs.String("demo-email", seeder.DefaultDemoEmail, "demo customer to register")
		demoPassword  = fs.String("demo-password", seeder.DefaultDemoPassword, "demo customer's password")
		mongoURI      = fs.String("mongo", env(EnvMongoURI, ""), "MongoDB URI to record the run in <prefix>_seeder (default $"+EnvMongoURI+"; empty: no record)")
		dbPrefix      = fs.String("db-prefix", env(EnvDBPrefix, "shop"), "database name prefix (default $"+EnvDBPrefix+", else shop)")
		once          = fs.Bool("once", false, "do nothing if this seed is recorded as done (needs -mongo)")
		timeout       = fs.Duration("timeout", 0, "give up after this long (0: no limit)")
		every         = fs.Int("progress-every", 0, "a progress line every N entities (0: about 50 lines for the products)")
		jsonOut       = fs.Bool("json", false, "print the report as JSON")
		quiet         = fs.Bool("quiet", false, "no progress lines")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return shop.Invalid("bad arguments: "+err.Error(), "args", err.Error())
	}
	if fs.NArg() > 0 {
		return shop.Invalid("unexpected arguments", "args", strings.Join(fs.Args(), " "))
	}
	req := seeder.RunRequest{Seed: *seedValue, Products: *products}
	if *products == 0 {
		return shop.Invalid("invalid seed run", "products", fmt.Sprintf("must be from 1 to %d", seeder.MaxProducts))
	}
	ds, err := seeder.NewDataset(req.Seed, req.Products) // checks the number of products
	if err != nil {
		return err
	}
	n := ds.Products
	switch {
	case *amqpURL == "":
		return shop.Invalid("no broker", "amqp", "set -amqp or $"+EnvAMQPURL+": the seeder reaches the services over RabbitMQ")
	case *adminEmail == "" || *adminPassword == "":
		return shop.Invalid("no admin", "admin-email", "set -admin-email and -admin-password (or $"+EnvAdminEmail+" and $"+EnvAdminPassword+")")
	case *once && *mongoURI == "":
		return shop.Invalid("nowhere to look", "once", "needs -mongo (or $"+EnvMongoURI+") to know which seeds are done")
	case *concurrency < 1:
		return shop.Invalid("invalid concurrency", "concurrency", "must be at least 1")
	case *every < 0:
		return shop.Invalid("invalid progress interval", "progress-every", "must not be negative")
	}
	if *every == 0 {
		*every = max(seeder.DefaultProgressEvery, n/50)
	}
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}

	// Warnings and errors go to stdout with the progress lines.
	logger := slog.New(slog.NewTextHandler(stdout, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	bus, err := rabbit.Dial(dctx, rabbit.Options{URL: *amqpURL, Namespace: *namespace, Name: "seed", Logger: logger})
	cancel()
	if err != nil {
		return fmt.Errorf("seed: connect to RabbitMQ: %w", err)
	}
	defer bus.Close()

	var db *mongo.Database
	if *mongoURI != "" {
		client, err := mongo.Connect(options.Client().ApplyURI(*mongoURI).SetAppName("seed"))
		if err != nil {
			return fmt.Errorf("seed: MongoDB: %w", err)
		}
		defer func() {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			_ = client.Disconnect(dctx)
		}()
		db = client.Database(*dbPrefix + "_" + seeder.ServiceName)
	}

	var outMu sync.Mutex
	progress := func(p seeder.Progress) {
		if *quiet || p.Done == 0 && p.Total > 0 {
			return
		}
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(stdout, "%-16s %7d/%-7d created %-7d existing %-7d %s\n",
			p.Kind, p.Done, p.Total, p.Created, p.Existing, p.Elapsed.Round(100*time.Millisecond))
	}
	srv, err := seeder.New(db, seeder.Options{
		Bus:        bus,
		AdminEmail: *adminEmail, AdminPassword: *adminPassword,
		Demo: *demo, DemoEmail: *demoEmail, DemoPassword: *demoPassword,
		Concurrency:   *concurrency,
		Progress:      progress,
		ProgressEvery: *every,
		Logger:        logger,
	})
	if err != nil {
		return err
	}
	var rep seeder.Report
	ran := true
	if *once {
		rep, ran, err = srv.Ensure(ctx, req)
	} else {
		rep, err = srv.Seed(ctx, req)
	}
	if !ran && err == nil {
		fmt.Fprintf(stdout, "seed %d with %d products is done already (run %s, %s); nothing to do\n",
			rep.Seed, rep.Products, rep.RunID, rep.FinishedAt.Format(time.RFC3339))
		return nil
	}
	if rep.RunID != "" {
		outMu.Lock()
		perr := printReport(stdout, rep, *jsonOut)
		outMu.Unlock()
		if err == nil {
			err = perr
		}
	}
	return err
}

// printReport writes rep as a table, or as JSON.
func printReport(w io.Writer, rep seeder.Report, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	elapsed := rep.FinishedAt.Sub(rep.StartedAt).Round(time.Millisecond)
	fmt.Fprintf(w, "seed %d, %d products, run %s, %s\n", rep.Seed, rep.Products, rep.RunID, elapsed)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "kind\tcreated\texisting\tdifferent\t")
	for _, k := range kinds(rep.Counts) {
		c := rep.Counts[k]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t\n", k, c.Created, c.Existing, c.Different)
	}
	return tw.Flush()
}

// kinds returns the kinds of counts in seeder.Kinds order, then any others.
func kinds(counts map[seeder.Kind]seeder.Count) []seeder.Kind {
	out := slices.Clone(seeder.Kinds)
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}
