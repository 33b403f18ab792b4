package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/order"
	"github.com/shopbus/shopbus/transport"
)

// Service describes one service a Node can host. Adding a service to the
// shop is one Service value: a name and a Start function.
type Service struct {
	// Name is the service's name on the bus ("auth", "product", ...). It
	// also names its database ("<prefix>_<name>") and its worker variable
	// (SHOP_WORKERS_<NAME>).
	Name string
	// Start builds the service on env.DB, attaches its consumers to
	// env.Bus and returns them. It reaches other services only through
	// their bus clients on env.Bus. If it fails it must close whatever it
	// had attached already (Attach helps). It is called again, after a
	// backoff, when the service fails and is restarted.
	Start func(ctx context.Context, env Env) (*Started, error)
}

// Env is everything a Service's Start is given.
type Env struct {
	// Name is the service's name.
	Name string
	// Bus is the bus to serve on and to reach other services through.
	// Requests served on it are counted in the node's statistics; the
	// handler served on the service's own queue also gets the node's
	// operations methods (package host/ops), and the subscribers made on
	// it are the service's in the operations report.
	Bus transport.Bus
	// DB is the service's own database, "<prefix>_<name>".
	DB *mongo.Database
	// Consumer tunes the service's consumers; pass it to Bind and
	// Subscribe. It sets the concurrency (SHOP_WORKERS_<NAME>).
	Consumer []transport.ConsumerOption
	// Settings are the node-wide settings: admin account, public URL...
	Settings Settings
	// Logger is the node's logger, with a "service" attribute.
	Logger *slog.Logger
}

// Settings are the node-wide settings services may need. The zero value
// means every service's defaults.
type Settings struct {
	// AdminEmail and AdminPassword, when both set, make the auth service
	// ensure an admin account with these credentials exists: an account
	// of that address without the admin role (registered first by
	// someone else) is given the configured password and the role, and
	// its sessions are ended; an existing admin keeps its password. The
	// seeder logs in with them.
	AdminEmail, AdminPassword string
	// BcryptCost is the auth service's bcrypt work factor; 0 means its
	// default. Tests use bcrypt.MinCost.
	BcryptCost int
	// SessionTTL is how long an auth session lasts; 0 means the default.
	SessionTTL time.Duration
	// AuthHashes is how many bcrypt runs the auth service does at once
	// (auth.Options.MaxConcurrentHashes); 0 means its default.
	AuthHashes int
	// BaseURL is the storefront's public absolute URL, e.g.
	// "https://shop.example"; the seo service builds canonical URLs and
	// the sitemap from it.
	BaseURL string
	// Seed makes the seeder (when hosted) fill the shop with sample data
	// on first start, as the admin above: seed DefaultSeed with
	// SeedProducts products (0 means seed.DefaultProducts). A later start
	// finds the run recorded and does nothing.
	Seed         bool
	SeedProducts int
	// SeedDemo makes that seeding register the demo customer
	// (seed.DefaultDemoEmail, whose password is public): deploy/shop on its
	// embedded database (a developer's shop) sets it, the standard
	// topology never does.
	SeedDemo bool
	// Replica names this node among several that host the same services
	// (worker processes, machines). Services that keep a read model in
	// memory (filter) then subscribe to events under a name of their own,
	// "<service>-<replica>", so that every replica gets every event. Empty
	// means a single replica.
	Replica string
	// Payment is the order service's payment provider. Nil means the
	// built-in fake provider (order.FakePayment), which approves every
	// payment and charges nothing: a demo, never a shop.
	Payment order.Payment
}

// Started is a service once Start has succeeded.
type Started struct {
	// Subscriptions are the consumers the service attached. The node
	// closes them when it stops the service.
	Subscriptions []transport.Subscription
	// Run, if set, does the service's background work (periodic clean-up,
	// seeding...) until ctx ends. An error while ctx is live is a failure:
	// the service's consumers are closed and it is restarted. Returning
	// nil early just ends the background work.
	Run func(ctx context.Context) error
	// Backlog, if set, reports the events the service has stored with its
	// changes but the broker has not confirmed yet; the node shows it in
	// /stats and /metrics.
	Backlog func(ctx context.Context) (shop.EventBacklog, error)
	// Authenticator, if set, checks the admin role of the callers of the
	// service's operations methods (package host/ops). Nil means the auth
	// service's bus client; the auth service gives itself, so that its
	// operations never wait for a call to its own queue.
	Authenticator shop.Authenticator
}

// Attach collects the consumers a Start function attaches, so that a
// failure halfway closes those already attached:
//
//	var a host.Attach
//	a.Add(foo.Bind(env.Bus, srv, env.Consumer...))
//	a.Add(foo.Subscribe(env.Bus, srv, env.Consumer...))
//	return a.Started(nil)
//
// The zero value is ready to use.
type Attach struct {
	subs []transport.Subscription
	err  error
}

// Add records sub, or the first error.
func (a *Attach) Add(sub transport.Subscription, err error) {
	if a.err != nil {
		if sub != nil {
			_ = sub.Close()
		}
		return
	}
	if err != nil {
		a.err = err
		return
	}
	a.subs = append(a.subs, sub)
}

// Started returns the attached consumers with run as the background work,
// or, after a failure, closes them and returns the first error.
func (a *Attach) Started(run func(ctx context.Context) error) (*Started, error) {
	if a.err != nil {
		closeAll(a.subs)
		return nil, a.err
	}
	return &Started{Subscriptions: a.subs, Run: run}, nil
}

// closeAll closes every subscription and joins their errors.
func closeAll(subs []transport.Subscription) error {
	var errs []error
	for i := len(subs) - 1; i >= 0; i-- {
		if err := subs[i].Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Names lists the services of the shop, in the order a Node starts them.
// Not all of them may be available in this build: see Catalogue.
var Names = []string{"auth", "category", "attribute", "option", "product", "filter", "cart", "inventory", "order", "article", "seo", "seeder"}

// Catalogue returns the built-in services available in this build, in the
// order of Names. Each is wired to its own database and to the other
// services only through their bus clients.
func Catalogue() []Service {
	out := make([]Service, 0, len(Names))
	for _, name := range Names {
		if svc, ok := builtin[name]; ok {
			out = append(out, svc)
		}
	}
	return out
}

// Builtin returns the built-in service called name, and false if there is
// none in this build.
func Builtin(name string) (Service, bool) {
	svc, ok := builtin[name]
	return svc, ok
}

// Lookup returns the built-in services named, in the order of Names, with
// duplicates removed; "all" (or no name at all) selects the Catalogue. An
// unknown name is an error.
func Lookup(names ...string) ([]Service, error) {
	if len(names) == 0 || slices.Contains(names, "all") {
		return Catalogue(), nil
	}
	var unknown []string
	for _, n := range names {
		if _, ok := builtin[n]; !ok {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("host: unknown service %s (available: %s)", strings.Join(unknown, ", "), strings.Join(available(), ", "))
	}
	var out []Service
	for _, n := range Names {
		if slices.Contains(names, n) {
			out = append(out, builtin[n])
		}
	}
	return out, nil
}

// available lists the names of the Catalogue.
func available() []string {
	var out []string
	for _, svc := range Catalogue() {
		out = append(out, svc.Name)
	}
	return out
}
