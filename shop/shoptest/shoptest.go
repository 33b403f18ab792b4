// Package shoptest runs shopbus services inside a Go test, in the spirit of
// net/http/httptest: a program that embeds shopbus tests its own code
// against the real services, each test with a shop of its own.
//
//	func TestCheckout(t *testing.T) {
//		s := shoptest.Start(t, shoptest.Options{Services: []string{"cart"}})
//		admin := s.Admin(t)     // a context carrying an admin's session token
//		ada := s.NewCustomer(t) // a context carrying a new customer's token
//		products := product.NewClient(s.Bus)
//		carts := cart.NewClient(s.Bus)
//		p, err := products.Create(admin, product.CreateRequest{...})
//		...
//		c, err := carts.AddItem(ada, cart.AddItemRequest{ProductID: p.ID, Quantity: 1})
//	}
//
// Start runs the named built-in services (host.Names) and the services
// they call, on a host.Node as a deployed shop does, with an admin account
// (AdminEmail, AdminPassword) and the cheapest bcrypt cost. Everything it
// makes is undone by tb.Cleanup: the node stops, the shop's databases are
// dropped, its MongoDB client disconnects and its bus closes.
//
// # The store
//
// The services store their data in an embedded FerretDB (a MongoDB-wire
// server on SQLite files in a temporary directory), started once per test
// binary and shared by every test in it; each Shop gets databases of its
// own ("<prefix>_<service>", Shop.DBPrefix unique per Shop). FerretDB is
// not MongoDB: it serves the subset the services use, but only lookups by
// _id use an index (any other query scans its collection), and
// transactions, TTL indexes, $lookup and $facet are missing (see the
// project's ARCHITECTURE.md). Set SHOP_MONGO_URI to run the same tests
// against a real MongoDB server instead. MongoURI and Database give a
// test the store without any service.
//
// # The bus
//
// By default the services talk over the in-process bus. With
// SHOP_AMQP_URL set (e.g. amqp://guest:guest@127.0.0.1:5672/), or
// Options.AMQPURL, they use that RabbitMQ broker instead, each Shop in a namespace of its own so
// that tests and test processes sharing a broker never meet; the broker
// deletes a Shop's queues ten minutes after their last use (its three
// exchanges, empty, stay). Options.Bus
// chooses explicitly; NewBus and DialBus give a bus without any service.
// AMQPURL gives a test a broker of its own, in a RabbitMQ container
// started with testcontainers-go, where SHOP_AMQP_URL names none:
//
//	s := shoptest.Start(t, shoptest.Options{Services: []string{"cart"}, AMQPURL: shoptest.AMQPURL(t)})
//
// # What it costs
//
// Measured with BenchmarkStart on a 2-core machine busy with other test
// runs: a Shop of the cart and the services it calls (seven services), or
// of all twelve, is ready in 0.15 to 0.3 s on either bus, and its cleanup
// (stopping the node, dropping its databases) takes about 0.1 s. The
// first Start in a test binary also starts FerretDB (milliseconds).
// Options.SeedProducts adds about a second for a few products. Tests
// that each Start a Shop may run in parallel (t.Parallel).
//
// # Dependencies
//
// The embedded FerretDB is pure Go but brings about 60 modules and 25 MB
// into a binary that links it, and AMQPURL brings testcontainers-go with
// the Docker client (about 36 modules). Import shoptest only from _test.go
// files: then it is linked into those test binaries only, never into your
// program. (Your go.sum lists those modules either way, for as long as the
// shopbus module requires them.)
package shoptest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/crypto/bcrypt"

	"github.com/shopbus/shopbus/host"
	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/seeder"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/rabbit"
)

// Credentials of the admin account every Shop has, and the password of
// the customers NewCustomer registers.
const (
	AdminEmail       = "admin@shoptest.invalid"
	AdminPassword    = "admin-password"
	CustomerPassword = "customer-password"
)

// Kinds of bus, for Options.Bus and NewBus.
const (
	// InProcess is the in-process bus (transport/inproc).
	InProcess = "inproc"
	// RabbitMQ is a RabbitMQ bus (transport/rabbit) in a fresh namespace.
	RabbitMQ = "rabbit"
)

// Timeouts of the kit.
const (
	// StartTimeout bounds how long Start waits for the services to serve.
	StartTimeout = 60 * time.Second
	// SeedTimeout bounds the seeding run of Options.SeedProducts.
	SeedTimeout = 2 * time.Minute
)

// Options configure Start. The zero value runs every built-in service on
// the bus the environment chooses.
type Options struct {
	// Services names the built-in services to run (see host.Names), or
	// "all". The services they call are started too: "cart" also runs
	// auth and the catalogue services that product calls. Nil runs every
	// service; an empty, non-nil slice runs none but those of Extra.
	Services []string
	// Extra are services of your own (see host.Service), hosted on the
	// same node after the built-in ones. One named like a built-in service
	// replaces it, also where another service depends on it.
	Extra []host.Service
	// Bus is InProcess, RabbitMQ, or empty for RabbitMQ when AMQPURL
	// or SHOP_AMQP_URL is set and InProcess otherwise (see NewBus).
	Bus string
	// AMQPURL, when set, is the broker of the RabbitMQ bus, e.g. what
	// the function AMQPURL returns (a broker in a container of the
	// test's own); the shop gets a namespace of its own on it. Unset,
	// a RabbitMQ bus uses SHOP_AMQP_URL or the local broker (NewBus).
	AMQPURL string
	// Settings are passed to every service. AdminEmail, AdminPassword
	// and BcryptCost, when zero, default to AdminEmail, AdminPassword and
	// bcrypt.MinCost; changing the admin's credentials breaks Admin.
	Settings host.Settings
	// SeedProducts, when positive, fills the shop with the seeder's
	// sample data (seeder.DefaultSeed) with that many products before Start
	// returns: categories, attributes, options, published products with
	// variants and stock, articles. It adds the seeder and the services
	// it writes through.
	SeedProducts int
	// Logger receives the services' logs. Nil discards them.
	Logger *slog.Logger
	// Middleware wraps the handler of every service the shop serves, the
	// first listed outermost (transport.Chain): to record, delay or fail
	// requests where they reach the services, those one service makes of
	// another included. Shop.Bus itself is not wrapped.
	Middleware []transport.Middleware
}

// Shop is a running shop for one test.
type Shop struct {
	// Bus is the bus the services serve on: call them with their clients,
	// e.g. product.NewClient(shop.Bus).
	Bus transport.Bus
	// Mongo is the shop's client of the store.
	Mongo *mongo.Client
	// DBPrefix prefixes the names of the shop's databases.
	DBPrefix string
	// Node hosts the services: its Status, Stats and Handler work as in
	// a deployed shop.
	Node *host.Node
	// Services names the services running, in the order they started.
	Services []string
	// Seeded is the report of the seeding run (Options.SeedProducts).
	Seeded seeder.Report

	settings  host.Settings
	customers atomic.Int64
}

// Start runs a shop for tb (see Options) and returns once every service
// serves, after seeding if asked to. It fails tb if a name is unknown or
// a service does not start; tb.Cleanup stops everything.
func Start(tb testing.TB, opts Options) *Shop {
	tb.Helper()
	services, err := selectServices(opts)
	if err != nil {
		tb.Fatalf("shoptest: %v", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	settings := opts.Settings
	if settings.AdminEmail == "" && settings.AdminPassword == "" {
		settings.AdminEmail, settings.AdminPassword = AdminEmail, AdminPassword
	}
	if settings.BcryptCost == 0 {
		settings.BcryptCost = bcrypt.MinCost
	}

	// Cleanups run last first: stop the node, drop its databases,
	// disconnect, close the bus.
	s := &Shop{DBPrefix: testenv.UniqueName("shoptest"), settings: settings}
	if opts.AMQPURL != "" {
		if opts.Bus != "" && opts.Bus != RabbitMQ {
			tb.Fatalf("shoptest: Options.AMQPURL is set but Options.Bus is %q", opts.Bus)
		}
		s.Bus = DialBus(tb, opts.AMQPURL)
	} else {
		s.Bus = NewBus(tb, opts.Bus)
	}
	s.Mongo = newClient(tb)
	nodeBus := s.Bus
	if len(opts.Middleware) > 0 {
		nodeBus = &wrappedBus{Bus: s.Bus, mw: opts.Middleware}
	}
	s.Node = &host.Node{
		Bus:      nodeBus,
		Mongo:    s.Mongo,
		DBPrefix: s.DBPrefix,
		Services: services,
		Settings: settings,
		Logger:   logger,
	}
	for _, svc := range services {
		s.Services = append(s.Services, svc.Name)
	}
	tb.Cleanup(func() { s.dropDatabases(tb) })
	s.run(tb)

	if opts.SeedProducts > 0 {
		ctx, cancel := context.WithTimeout(s.Admin(tb), SeedTimeout)
		defer cancel()
		rep, err := seeder.NewClient(s.Bus).Run(ctx, seeder.RunRequest{Seed: seeder.DefaultSeed, Products: opts.SeedProducts})
		if err != nil {
			tb.Fatalf("shoptest: seeding %d products: %v", opts.SeedProducts, err)
		}
		s.Seeded = rep
	}
	return s
}

// wrappedBus serves every handler wrapped in mw (Options.Middleware).
type wrappedBus struct {
	transport.Bus
	mw []transport.Middleware
}

func (b *wrappedBus) Serve(service string, h transport.Handler, opts ...transport.ConsumerOption) (transport.Subscription, error) {
	return b.Bus.Serve(service, transport.Chain(h, b.mw...), opts...)
}

// selectServices returns the services opts asks for, with those they
// depend on, in the order of host.Names, then the Extra ones.
func selectServices(opts Options) ([]host.Service, error) {
	own := map[string]bool{}
	for _, svc := range opts.Extra {
		if own[svc.Name] {
			return nil, fmt.Errorf("Options.Extra lists %s twice", svc.Name)
		}
		own[svc.Name] = true
	}
	names := opts.Services
	if opts.SeedProducts > 0 && names != nil && !slices.Contains(names, "all") {
		names = append(slices.Clip(names), seeder.ServiceName)
	}
	var builtin []host.Service
	if names == nil || slices.Contains(names, "all") {
		builtin = host.Catalogue()
	} else if len(names) > 0 {
		if _, err := host.Lookup(names...); err != nil { // names an unknown service
			return nil, err
		}
		var err error
		if builtin, err = host.Lookup(withDependencies(names, own)...); err != nil {
			return nil, err
		}
	}
	var out []host.Service
	for _, svc := range builtin {
		if !own[svc.Name] {
			out = append(out, svc)
		}
	}
	return append(out, opts.Extra...), nil
}

// run runs the node until tb ends and waits until every service serves.
func (s *Shop) run(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var runErr error // set before done closes
	var reported bool
	go func() {
		defer close(done)
		runErr = s.Node.Run(ctx)
	}()
	tb.Cleanup(func() {
		cancel()
		select {
		case <-done:
			if runErr != nil && !reported {
				tb.Errorf("shoptest: node: %v", runErr)
			}
		case <-time.After(StartTimeout):
			tb.Errorf("shoptest: the node did not stop within %v", StartTimeout)
		}
	})

	deadline := time.Now().Add(StartTimeout)
	for {
		select {
		case <-done:
			reported = true
			tb.Fatalf("shoptest: the node stopped while starting: %v", runErr)
		default:
		}
		st := s.Node.Status(context.Background())
		if st.Ready {
			return
		}
		for name, svc := range st.Services {
			if svc.State == host.StateFailed {
				tb.Fatalf("shoptest: service %s failed to start: %s", name, svc.Error)
			}
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(st, "", "  ")
			tb.Fatalf("shoptest: the shop is not ready after %v:\n%s", StartTimeout, b)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// dropDatabases drops the databases of the shop's services.
func (s *Shop) dropDatabases(tb testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, name := range s.Services {
		if err := s.Node.Database(name).Drop(ctx); err != nil {
			tb.Errorf("shoptest: drop the %s database: %v", name, err)
		}
	}
}

// Database returns the database of the named service of the shop, to
// look at what a service stored. Tests should go through the services'
// clients wherever they can.
func (s *Shop) Database(service string) *mongo.Database {
	return s.Node.Database(service)
}

// Admin logs in as the shop's admin and returns a context carrying the
// session token (see shop.WithToken, shop.TokenFrom). It fails tb if the
// shop does not run the auth service.
func (s *Shop) Admin(tb testing.TB) context.Context {
	tb.Helper()
	return s.Login(tb, s.settings.AdminEmail, s.settings.AdminPassword)
}

// NewCustomer registers a customer with a fresh address and the password
// CustomerPassword, logs it in and returns a context carrying its session
// token. It fails tb if the shop does not run the auth service.
func (s *Shop) NewCustomer(tb testing.TB) context.Context {
	tb.Helper()
	email := fmt.Sprintf("customer%d@shoptest.invalid", s.customers.Add(1))
	if _, err := auth.NewClient(s.Bus).Register(context.Background(), auth.RegisterRequest{Email: email, Password: CustomerPassword}); err != nil {
		tb.Fatalf("shoptest: register %s: %v", email, err)
	}
	return s.Login(tb, email, CustomerPassword)
}

// Login logs an existing account in and returns a context carrying its
// session token. It fails tb if the login fails.
func (s *Shop) Login(tb testing.TB, email, password string) context.Context {
	tb.Helper()
	if !slices.Contains(s.Services, auth.ServiceName) {
		tb.Fatalf("shoptest: logging in needs the auth service, but the shop runs only %v", s.Services)
	}
	sess, err := auth.NewClient(s.Bus).Login(context.Background(), auth.LoginRequest{Email: email, Password: password})
	if err != nil {
		tb.Fatalf("shoptest: log in as %s: %v", email, err)
	}
	return shop.WithToken(context.Background(), sess.Token)
}

// NewBus returns a bus for tb, closed when tb ends: of kind InProcess or
// RabbitMQ, or, with an empty kind, RabbitMQ when SHOP_AMQP_URL is set and
// InProcess otherwise. A RabbitMQ bus connects to SHOP_AMQP_URL in a
// namespace of its own; without the variable, to the local broker on
// 127.0.0.1:5672, started if RabbitMQ is installed there, and tb is
// skipped if there is none (it fails instead when $CI is set).
func NewBus(tb testing.TB, kind string) transport.Bus {
	tb.Helper()
	if kind == "" {
		kind = InProcess
		if os.Getenv(testenv.EnvAMQPURL) != "" {
			kind = RabbitMQ
		}
	}
	if kind != InProcess && kind != RabbitMQ {
		tb.Fatalf("shoptest: unknown bus %q (want %q or %q)", kind, InProcess, RabbitMQ)
	}
	return bustest.New(tb, kind)
}

// DialBus returns a RabbitMQ bus on the broker at amqpURL (e.g. from
// AMQPURL) in a namespace of its own, closed when tb ends. The broker
// deletes the namespace's queues ten minutes after their last use.
func DialBus(tb testing.TB, amqpURL string) transport.Bus {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := rabbit.Dial(ctx, rabbit.Options{
		URL: amqpURL, Namespace: bustest.Namespace(), Name: tb.Name(),
		Logger: slog.New(slog.DiscardHandler), ExpireUnused: 10 * time.Minute,
	})
	if err != nil {
		tb.Fatalf("shoptest: connect to RabbitMQ: %v", err)
	}
	tb.Cleanup(func() { b.Close() })
	return b
}

// MongoURI returns the URI of the store: SHOP_MONGO_URI when set,
// otherwise that of the embedded FerretDB, started on first use and
// shared by the whole test binary.
func MongoURI(tb testing.TB) string {
	tb.Helper()
	return testenv.MongoURI(tb)
}

// Database returns a fresh database on the store, dropped when tb ends.
// Its name is name (t.Name() works) made safe for the store, plus a
// random suffix.
func Database(tb testing.TB, name string) *mongo.Database {
	tb.Helper()
	return testenv.MongoDB(tb, name)
}

// newClient connects a client to the store, disconnected when tb ends.
func newClient(tb testing.TB) *mongo.Client {
	tb.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI(MongoURI(tb)))
	if err != nil {
		tb.Fatalf("shoptest: connect to the store: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Disconnect(ctx); err != nil {
			tb.Errorf("shoptest: disconnect from the store: %v", err)
		}
	})
	return c
}

// ExampleTB returns a testing.TB for an Example function, which has no
// *testing.T of its own, and the function that ends it: call it
// deferred, where a test would end.
//
//	func Example() {
//		t, done := shoptest.ExampleTB()
//		defer done()
//		s := shoptest.Start(t, shoptest.Options{Services: []string{"cart"}})
//		...
//	}
//
// done runs the functions given to Cleanup, last first. Fatal, FailNow
// and Skip panic, which fails the example; Error prints its message,
// which makes the example's output differ from what it wants; Log
// discards. Only those methods, Helper, Name, Failed, Skipped, TempDir
// and Context may be called: the others panic.
func ExampleTB() (tb testing.TB, done func()) {
	e := &exampleTB{}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.Cleanup(e.cancel)
	return e, e.done
}

// exampleTB is the testing.TB of ExampleTB. The embedded TB is nil: it
// only provides testing.TB's unexported method.
type exampleTB struct {
	testing.TB

	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	cleanups []func()
	failed   bool
}

func (e *exampleTB) Helper()                  {}
func (e *exampleTB) Name() string             { return "Example" }
func (e *exampleTB) Context() context.Context { return e.ctx }
func (e *exampleTB) Log(args ...any)          {}
func (e *exampleTB) Logf(string, ...any)      {}
func (e *exampleTB) Skipped() bool            { return false }

func (e *exampleTB) Cleanup(f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cleanups = append(e.cleanups, f)
}

// done runs the cleanups, last first, including those they add.
func (e *exampleTB) done() {
	for {
		e.mu.Lock()
		if len(e.cleanups) == 0 {
			e.mu.Unlock()
			return
		}
		f := e.cleanups[len(e.cleanups)-1]
		e.cleanups = e.cleanups[:len(e.cleanups)-1]
		e.mu.Unlock()
		f()
	}
}

func (e *exampleTB) Fail() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.failed = true
}

func (e *exampleTB) Failed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.failed
}

func (e *exampleTB) Error(args ...any) { e.Errorf("%s", fmt.Sprint(args...)) }
func (e *exampleTB) Errorf(format string, args ...any) {
	e.Fail()
	fmt.Printf("FAIL: "+format+"\n", args...)
}
func (e *exampleTB) FailNow()                          { e.Fatal("FailNow") }
func (e *exampleTB) Fatal(args ...any)                 { e.Fatalf("%s", fmt.Sprint(args...)) }
func (e *exampleTB) Fatalf(format string, args ...any) { e.Fail(); panic(fmt.Sprintf(format, args...)) }
func (e *exampleTB) SkipNow()                          { e.Fatal("skipped") }
func (e *exampleTB) Skip(args ...any)                  { e.Fatalf("skipped: %s", fmt.Sprint(args...)) }
func (e *exampleTB) Skipf(format string, args ...any)  { e.Fatalf("skipped: "+format, args...) }

func (e *exampleTB) TempDir() string {
	dir, err := os.MkdirTemp("", "shoptest-example-")
	if err != nil {
		e.Fatalf("shoptest: TempDir: %v", err)
	}
	e.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
