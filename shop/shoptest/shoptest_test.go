package shoptest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/host"
	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/shoptest"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/inproc"
	"github.com/shopbus/shopbus/transport/rabbit"
)

// cartServices are the services a shop asked for "cart" runs.
var cartServices = []string{"auth", "category", "attribute", "option", "product", "cart", "article"}

// mug is a product a test creates.
var mug = product.CreateRequest{
	Title:  "Blue mug",
	Status: shop.StatusPublished,
	Price:  shop.Money{Amount: 1290, Currency: "EUR"},
}

// checkBusKind fails t unless bus is of the kind named.
func checkBusKind(t *testing.T, bus transport.Bus, kind string) {
	t.Helper()
	var ok bool
	switch kind {
	case shoptest.InProcess:
		_, ok = bus.(*inproc.Bus)
	case shoptest.RabbitMQ:
		_, ok = bus.(*rabbit.Bus)
	}
	if !ok {
		t.Errorf("the bus is a %T, want a %s bus", bus, kind)
	}
}

// useCart has the admin create a product and a new customer put it in
// their cart, and checks what the services answer.
func useCart(t *testing.T, s *shoptest.Shop) {
	t.Helper()
	products, carts := product.NewClient(s.Bus), cart.NewClient(s.Bus)
	admin, ada := s.Admin(t), s.NewCustomer(t)
	p, err := products.Create(admin, mug)
	if err != nil {
		t.Fatalf("admin creates a product: %v", err)
	}
	if _, err := products.Create(ada, mug); transport.CodeOf(err) != transport.CodeForbidden {
		t.Errorf("a customer creates a product: got %v, want forbidden", err)
	}
	c, err := carts.AddItem(ada, cart.AddItemRequest{ProductID: p.ID, Quantity: 2})
	if err != nil {
		t.Fatalf("add to cart: %v", err)
	}
	if len(c.Lines) != 1 || c.Lines[0].Title != mug.Title || c.Totals["EUR"] != 2580 {
		t.Errorf("cart after adding 2 mugs: %+v", c)
	}
	// Every NewCustomer is another account, with a cart of its own.
	bob := s.NewCustomer(t)
	if shop.TokenFrom(bob) == shop.TokenFrom(ada) {
		t.Error("two customers share a session token")
	}
	if c, err := carts.Get(bob, cart.CartRequest{}); err != nil || len(c.Lines) != 0 {
		t.Errorf("the second customer's cart: %+v, %v; want an empty cart", c, err)
	}
}

func TestStartOnEachBus(t *testing.T) {
	for _, kind := range bustest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel() // shops are independent
			s := shoptest.Start(t, shoptest.Options{Services: []string{"cart"}, Bus: kind})
			checkBusKind(t, s.Bus, kind)
			if !slices.Equal(s.Services, cartServices) {
				t.Errorf("Services = %v, want %v", s.Services, cartServices)
			}
			if st := s.Node.Status(context.Background()); !st.Ready || len(st.Services) != len(cartServices) {
				t.Errorf("node status after Start: %+v", st)
			}
			useCart(t, s)

			// The services' databases are the shop's own.
			names, err := s.Mongo.ListDatabaseNames(context.Background(), bson.D{})
			if err != nil {
				t.Fatal(err)
			}
			for _, svc := range []string{"auth", "product", "cart"} {
				if want := s.DBPrefix + "_" + svc; !slices.Contains(names, want) {
					t.Errorf("no database %s among %v", want, names)
				}
				if got := s.Database(svc).Name(); got != s.DBPrefix+"_"+svc {
					t.Errorf("Database(%q) is %s", svc, got)
				}
			}
		})
	}
}

// After a test, its shop has left no goroutine and no database behind.
func TestCleanup(t *testing.T) {
	for _, kind := range bustest.Kinds {
		t.Run("warm-up/"+kind, func(t *testing.T) {
			// The store and the drivers' shared state start once per
			// process; they are not the shop's to stop.
			shoptest.Start(t, shoptest.Options{Services: []string{"auth"}, Bus: kind}).NewCustomer(t)
		})
	}
	base := settledGoroutines()
	var prefixes []string
	for _, kind := range bustest.Kinds {
		t.Run(kind, func(t *testing.T) {
			s := shoptest.Start(t, shoptest.Options{Services: []string{"cart"}, Bus: kind})
			prefixes = append(prefixes, s.DBPrefix)
			useCart(t, s)
		})
	}
	if t.Failed() {
		return
	}
	c, err := mongo.Connect(options.Client().ApplyURI(shoptest.MongoURI(t)))
	if err != nil {
		t.Fatal(err)
	}
	names, err := c.ListDatabaseNames(context.Background(), bson.D{})
	c.Disconnect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(prefixes) == 0 {
		t.Fatal("no shop ran")
	}
	for _, p := range prefixes {
		for _, n := range names {
			if strings.HasPrefix(n, p+"_") {
				t.Errorf("database %s is left behind", n)
			}
		}
	}

	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			var b strings.Builder
			pprof.Lookup("goroutine").WriteTo(&b, 1)
			t.Fatalf("%d goroutines left, %d before the shops started:\n%s", runtime.NumGoroutine(), base, b.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settledGoroutines returns the number of goroutines once it has stopped
// falling (goroutines of earlier tests may still be ending).
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for range 50 {
		time.Sleep(20 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m >= n {
			return m
		}
		n = m
	}
	return n
}

func TestNewBusFollowsEnvironment(t *testing.T) {
	url := os.Getenv("SHOP_AMQP_URL")
	t.Setenv("SHOP_AMQP_URL", "")
	checkBusKind(t, shoptest.NewBus(t, ""), shoptest.InProcess)
	if url == "" {
		t.Log("SHOP_AMQP_URL is not set: RabbitMQ not checked")
		return
	}
	t.Setenv("SHOP_AMQP_URL", url)
	checkBusKind(t, shoptest.NewBus(t, ""), shoptest.RabbitMQ)
	s := shoptest.Start(t, shoptest.Options{Services: []string{"auth"}})
	checkBusKind(t, s.Bus, shoptest.RabbitMQ)
}

// Services of the test's own run on the shop's node, replacing built-in
// ones of their name.
func TestExtraServices(t *testing.T) {
	serve := func(name, reply string) host.Service {
		return host.Service{Name: name, Start: func(_ context.Context, env host.Env) (*host.Started, error) {
			mux := transport.NewMux()
			transport.Handle(mux, name+".hello", func(_ context.Context, who string) (string, error) {
				return reply + ", " + who, nil
			})
			var a host.Attach
			a.Add(env.Bus.Serve(name, mux, env.Consumer...))
			return a.Started(nil)
		}}
	}
	s := shoptest.Start(t, shoptest.Options{
		Services: []string{"seo"},
		Extra:    []host.Service{serve("seo", "not seo"), serve("greeter", "hello")},
	})
	// A replacement's calls are its own: auth does not come with it.
	if want := []string{"seo", "greeter"}; !slices.Equal(s.Services, want) {
		t.Errorf("Services = %v, want %v", s.Services, want)
	}
	for method, want := range map[string]string{"greeter.hello": "hello, ada", "seo.hello": "not seo, ada"} {
		got, err := transport.Invoke[string](context.Background(), s.Bus, method, "ada")
		if err != nil || got != want {
			t.Errorf("%s: %q, %v; want %q", method, got, err, want)
		}
	}
}

func TestSeedProducts(t *testing.T) {
	s := shoptest.Start(t, shoptest.Options{Services: []string{"cart"}, Bus: shoptest.InProcess, SeedProducts: 3})
	if !slices.Contains(s.Services, "seeder") || !slices.Contains(s.Services, "inventory") {
		t.Errorf("Services = %v, want the seeder and the services it writes through", s.Services)
	}
	if s.Seeded.Products != 3 || s.Seeded.Created() == 0 {
		t.Errorf("seeding report: %+v", s.Seeded)
	}
	page, err := product.NewClient(s.Bus).List(s.NewCustomer(t), product.ListRequest{Status: shop.StatusPublished})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 3 {
		t.Fatalf("%d published products, want 3", len(page.Items))
	}
	c, err := cart.NewClient(s.Bus).AddItem(s.NewCustomer(t), cart.AddItemRequest{ProductID: page.Items[0].ID, VariantID: firstVariant(page.Items[0]), Quantity: 1})
	if err != nil || len(c.Lines) != 1 {
		t.Errorf("adding a seeded product to a cart: %+v, %v", c, err)
	}
}

// firstVariant returns the id of p's first variant, or "" if it has none.
func firstVariant(p product.Product) string {
	if len(p.Variants) == 0 {
		return ""
	}
	return p.Variants[0].ID
}

func TestDatabase(t *testing.T) {
	if shoptest.MongoURI(t) == "" {
		t.Fatal("no store URI")
	}
	db := shoptest.Database(t, t.Name())
	if !strings.HasPrefix(db.Name(), "TestDatabase_") {
		t.Errorf("database name %q", db.Name())
	}
	ctx := context.Background()
	if _, err := db.Collection("things").InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}, {Key: "n", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	var got struct{ N int }
	if err := db.Collection("things").FindOne(ctx, bson.D{{Key: "_id", Value: "a"}}).Decode(&got); err != nil || got.N != 1 {
		t.Errorf("read back: %+v, %v", got, err)
	}
}

// The kit fails the test, saying why, where it cannot do what it is asked.
func TestFailures(t *testing.T) {
	boom := host.Service{Name: "boom", Start: func(context.Context, host.Env) (*host.Started, error) {
		return nil, errors.New("no fuel")
	}}
	for _, tc := range []struct {
		name string
		run  func(tb testing.TB)
		want string
	}{
		{"unknown service", func(tb testing.TB) {
			shoptest.Start(tb, shoptest.Options{Services: []string{"cart", "nope"}})
		}, "unknown service nope"},
		{"unknown bus", func(tb testing.TB) { shoptest.NewBus(tb, "carrier-pigeon") }, `unknown bus "carrier-pigeon"`},
		{"service fails", func(tb testing.TB) {
			shoptest.Start(tb, shoptest.Options{Services: []string{}, Extra: []host.Service{boom}})
		}, "service boom failed to start: starting boom: no fuel"},
		{"no auth service", func(tb testing.TB) {
			shoptest.Start(tb, shoptest.Options{Services: []string{}}).Admin(tb)
		}, "logging in needs the auth service"},
		{"wrong password", func(tb testing.TB) {
			shoptest.Start(tb, shoptest.Options{Services: []string{"auth"}}).Login(tb, shoptest.AdminEmail, "wrong")
		}, "log in as " + shoptest.AdminEmail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := newStandIn(t.Name())
			done := make(chan struct{})
			go func() {
				defer close(done)
				tc.run(tb)
			}()
			<-done
			tb.cleanup()
			if !strings.Contains(tb.fatal, tc.want) {
				t.Errorf("Fatal with %q, want a message containing %q", tb.fatal, tc.want)
			}
			if len(tb.errors) > 0 {
				t.Errorf("cleaning up reported %q", tb.errors)
			}
		})
	}
}

// standIn is a testing.TB for code that has no *testing.T of its own (an
// Example), and for checking how the kit fails. Only the methods below
// may be called (the embedded TB is nil). Fatal and Skip end the
// goroutine, as in a test.
type standIn struct {
	testing.TB
	name string

	// panics makes Fatal panic, for an Example, whose goroutine must
	// not end.
	panics bool

	mu       sync.Mutex
	cleanups []func()
	fatal    string
	errors   []string
}

func newStandIn(name string) *standIn { return &standIn{name: name} }

// newExampleT returns the stand-in of an Example's *testing.T.
func newExampleT() *standIn { return &standIn{name: "Example", panics: true} }

func (s *standIn) Helper()      {}
func (s *standIn) Name() string { return s.name }

func (s *standIn) Cleanup(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, f)
}

// cleanup runs the cleanups, last first.
func (s *standIn) cleanup() {
	for {
		s.mu.Lock()
		if len(s.cleanups) == 0 {
			s.mu.Unlock()
			return
		}
		f := s.cleanups[len(s.cleanups)-1]
		s.cleanups = s.cleanups[:len(s.cleanups)-1]
		s.mu.Unlock()
		f()
	}
}

func (s *standIn) Log(args ...any)                 {}
func (s *standIn) Logf(format string, args ...any) {}
func (s *standIn) Error(args ...any)               { s.Errorf("%s", fmt.Sprint(args...)) }
func (s *standIn) Errorf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errors = append(s.errors, fmt.Sprintf(format, args...))
}
func (s *standIn) Fatal(args ...any) { s.Fatalf("%s", fmt.Sprint(args...)) }
func (s *standIn) Fatalf(format string, args ...any) {
	s.mu.Lock()
	s.fatal = fmt.Sprintf(format, args...)
	s.mu.Unlock()
	if s.panics {
		panic(s.fatal)
	}
	runtime.Goexit()
}
func (s *standIn) Skip(args ...any)                 { s.Fatalf("skipped: %s", fmt.Sprint(args...)) }
func (s *standIn) Skipf(format string, args ...any) { s.Fatalf("skipped: "+format, args...) }
func (s *standIn) Failed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fatal != "" || len(s.errors) > 0
}

// BenchmarkStart measures what a shop costs a test: Start (ns/op includes
// stopping) and the cleanup alone (s-stop/op).
func BenchmarkStart(b *testing.B) {
	for _, tc := range []struct {
		name     string
		services []string
	}{{"cart", []string{"cart"}}, {"all", nil}} {
		for _, kind := range bustest.Kinds {
			b.Run(tc.name+"/"+kind, func(b *testing.B) {
				if kind == shoptest.RabbitMQ && os.Getenv("SHOP_AMQP_URL") == "" {
					b.Skip("SHOP_AMQP_URL is not set")
				}
				var stop time.Duration
				for b.Loop() {
					tb := newStandIn(b.Name())
					shoptest.Start(tb, shoptest.Options{Services: tc.services, Bus: kind})
					t0 := time.Now()
					tb.cleanup()
					stop += time.Since(t0)
					if tb.Failed() {
						b.Fatalf("%s %q", tb.fatal, tb.errors)
					}
				}
				b.ReportMetric(stop.Seconds()/float64(b.N), "s-stop/op")
			})
		}
	}
}

// Options.Middleware wraps every service's handler: it sees the requests
// the test makes and those one service makes of another.
func TestMiddleware(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	record := func(next transport.Handler) transport.Handler {
		return transport.HandlerFunc(func(ctx context.Context, req *transport.Request) ([]byte, error) {
			mu.Lock()
			seen = append(seen, req.Method)
			mu.Unlock()
			return next.ServeBus(ctx, req)
		})
	}
	s := shoptest.Start(t, shoptest.Options{Services: []string{"cart"}, Bus: shoptest.InProcess, Middleware: []transport.Middleware{record}})
	useCart(t, s)
	mu.Lock()
	defer mu.Unlock()
	for _, m := range []string{"auth.register", "auth.login", "product.create", "cart.add_item", "auth.authenticate", "product.get"} {
		if !slices.Contains(seen, m) {
			t.Errorf("the middleware did not see %s (saw %v)", m, seen)
		}
	}
}
