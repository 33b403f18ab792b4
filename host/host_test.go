package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"golang.org/x/crypto/bcrypt"

	"github.com/shopbus/shopbus/host"
	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/shop/catalog/filter"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/content/seo"
	"github.com/shopbus/shopbus/supervise"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/inproc"
)

const (
	adminEmail    = "admin@host.test"
	adminPassword = "admin-password"
)

var quiet = slog.New(slog.DiscardHandler)

// newNode returns a node hosting services (nil: the whole catalogue) on
// bus and the test MongoDB, with databases private to the test.
func newNode(t *testing.T, bus transport.Bus, services []host.Service) *host.Node {
	t.Helper()
	n := &host.Node{
		Bus:      bus,
		Mongo:    testenv.MongoClient(t),
		DBPrefix: testenv.UniqueName("host"),
		Services: services,
		Settings: host.Settings{AdminEmail: adminEmail, AdminPassword: adminPassword, BcryptCost: bcrypt.MinCost},
		Logger:   quiet,
	}
	dropDatabases(t, n, services)
	return n
}

// dropDatabases drops the databases of the node's services when t ends.
func dropDatabases(t *testing.T, n *host.Node, services []host.Service) {
	if services == nil {
		services = host.Catalogue()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, svc := range services {
			if err := n.Database(svc.Name).Drop(ctx); err != nil {
				t.Errorf("drop %s: %v", svc.Name, err)
			}
		}
	})
}

// run runs n until the test ends and returns a channel with Run's result.
func run(t *testing.T, n *host.Node) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	var once atomic.Bool
	stop = func() error {
		cancel()
		if once.Swap(true) {
			return nil
		}
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("Node.Run did not return after cancel")
			return nil
		}
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitReady(t *testing.T, n *host.Node) {
	t.Helper()
	waitFor(t, "the node to be ready", func() bool { return n.Status(context.Background()).Ready })
}

// get fetches path from h and returns the status and body.
func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func TestNodeHostsServices(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		n := newNode(t, bus, nil)
		n.Concurrency = map[string]int{"auth": 4}
		stop := run(t, n)
		waitReady(t, n)
		ctx := context.Background()

		// The services answer through their clients, and reach each other
		// over the bus: category asks auth who is calling.
		authc := auth.NewClient(bus)
		if _, err := authc.Register(ctx, auth.RegisterRequest{Email: "ann@host.test", Password: "ann-password"}); err != nil {
			t.Fatalf("register: %v", err)
		}
		customer, err := authc.Login(ctx, auth.LoginRequest{Email: "ann@host.test", Password: "ann-password"})
		if err != nil {
			t.Fatalf("customer login: %v", err)
		}
		admin, err := authc.Login(ctx, auth.LoginRequest{Email: adminEmail, Password: adminPassword})
		if err != nil {
			t.Fatalf("admin login (the node's admin settings): %v", err)
		}
		cats := category.NewClient(bus)
		_, err = cats.Create(shop.WithToken(ctx, customer.Token), category.CreateRequest{Name: "Shoes"})
		if !errors.Is(err, shop.ErrForbidden) {
			t.Fatalf("customer creates a category: got %v, want forbidden", err)
		}
		c, err := cats.Create(shop.WithToken(ctx, admin.Token), category.CreateRequest{Name: "Shoes"})
		if err != nil {
			t.Fatalf("admin creates a category: %v", err)
		}
		if got, err := cats.Get(ctx, category.GetRequest{ID: c.ID}); err != nil || got.Name != "Shoes" {
			t.Fatalf("get category: %+v, %v", got, err)
		}

		// A published product in the category reaches the filter and seo
		// read models through events, and the cart through the product
		// service.
		p, err := product.NewClient(bus).Create(shop.WithToken(ctx, admin.Token), product.CreateRequest{
			Title: "Red Shoe", Status: shop.StatusPublished, CategoryIDs: []string{c.ID},
			Price: shop.Money{Amount: 4999, Currency: "EUR"},
		})
		if err != nil {
			t.Fatalf("create product: %v", err)
		}
		waitFor(t, "the filter to list the product", func() bool {
			res, err := filter.NewClient(bus).Query(ctx, filter.Query{CategorySlug: c.Slug})
			return err == nil && res.Total == 1 && res.Items[0].ID == p.ID
		})
		waitFor(t, "seo metadata of the product", func() bool {
			md, err := seo.NewClient(bus).Get(ctx, seo.GetRequest{Kind: seo.KindProduct, EntityID: p.ID})
			return err == nil && strings.Contains(md.Title, "Red Shoe")
		})
		crt, err := cart.NewClient(bus).AddItem(shop.WithToken(ctx, customer.Token), cart.AddItemRequest{ProductID: p.ID, Quantity: 2})
		if err != nil || len(crt.Lines) != 1 || crt.Totals["EUR"] != 9998 {
			t.Fatalf("add to cart: %+v, %v", crt, err)
		}

		// Each service has its own database "<prefix>_<name>".
		users, err := n.Database("auth").Collection("users").CountDocuments(ctx, bson.D{})
		if err != nil || users != 2 {
			t.Errorf("users in %s_auth: %d, %v; want 2", n.DBPrefix, users, err)
		}
		if cnt, err := n.Database("category").Collection("categories").CountDocuments(ctx, bson.D{}); err != nil || cnt != 1 {
			t.Errorf("categories in %s_category: %d, %v; want 1", n.DBPrefix, cnt, err)
		}

		h := n.Handler()
		if code, body := get(t, h, "/healthz"); code != http.StatusOK {
			t.Errorf("/healthz: %d %s", code, body)
		}
		code, body := get(t, h, "/readyz")
		if code != http.StatusOK {
			t.Fatalf("/readyz: %d %s", code, body)
		}
		var st host.Status
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatalf("/readyz body: %v", err)
		}
		if !st.Ready || st.Bus != "ok" || st.Database != "ok" || len(st.Services) != len(host.Catalogue()) {
			t.Errorf("/readyz: %+v", st)
		}
		for name, s := range st.Services {
			if s.State != host.StateServing || s.Starts != 1 {
				t.Errorf("service %s: %+v", name, s)
			}
		}

		_, metrics := get(t, h, "/metrics")
		for _, want := range []string{
			`shopbus_requests_total{method="auth.login"} 2`,
			`shopbus_requests_total{method="auth.register"} 1`,
			`shopbus_requests_total{method="category.create"} 2`,
			`shopbus_errors_total{method="category.create"} 0`,
			`shopbus_request_duration_seconds_count{method="auth.login"} 2`,
			`shopbus_request_duration_seconds_bucket{method="auth.login",le="+Inf"} 2`,
			`# TYPE shopbus_request_duration_seconds histogram`,
			`shopbus_service_up{service="auth"} 1`,
			`shopbus_service_starts_total{service="category"} 1`,
			// Every event was confirmed: nothing waits in the outboxes.
			`shopbus_outbox_pending_events{service="product"} 0`,
			`shopbus_outbox_pending_events{service="category"} 0`,
			`shopbus_outbox_pending_events{service="article"} 0`,
			`shopbus_outbox_oldest_pending_seconds{service="product"} 0`,
		} {
			if !strings.Contains(metrics, want+"\n") {
				t.Errorf("/metrics lacks %q:\n%s", want, metrics)
			}
		}

		code, body = get(t, h, "/stats")
		var stats struct {
			Endpoints []transport.EndpointStats     `json:"endpoints"`
			Services  map[string]host.ServiceStatus `json:"services"`
			Events    map[string]struct {
				Pending *int `json:"pending"`
			} `json:"events"`
		}
		if err := json.Unmarshal([]byte(body), &stats); code != http.StatusOK || err != nil {
			t.Fatalf("/stats: %d %v %s", code, err, body)
		}
		found := false
		for _, e := range stats.Endpoints {
			if e.Method == "auth.authenticate" {
				found = true
				if e.Requests < 2 || e.Errors != 0 {
					t.Errorf("auth.authenticate stats: %+v", e)
				}
			}
		}
		if e := stats.Events["product"]; e.Pending == nil || *e.Pending != 0 || len(stats.Events) != 5 { // product, category, article, inventory, order
			t.Errorf("/stats events: %s", body)
		}
		if !found || stats.Services["option"].State != host.StateServing {
			t.Errorf("/stats: %s", body)
		}

		if err := stop(); err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
		for name, s := range n.Status(ctx).Services {
			if s.State != host.StateStopped {
				t.Errorf("after stop, %s is %s", name, s.State)
			}
		}
		// The consumers are detached: a call finds nobody serving.
		cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		if _, err := authc.Login(cctx, auth.LoginRequest{Email: adminEmail, Password: adminPassword}); err == nil {
			t.Error("auth still answers after the node stopped")
		}
	})
}

func TestReadinessFailsWhenBusCloses(t *testing.T) {
	bus := inproc.New(inproc.Options{Logger: quiet})
	defer bus.Close()
	auth, _ := host.Builtin("auth")
	n := newNode(t, bus, []host.Service{auth})
	h := n.Handler()
	if code, _ := get(t, h, "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz before Run: %d, want 503", code)
	}
	run(t, n)
	waitReady(t, n)
	if code, body := get(t, h, "/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	_ = bus.Close()
	code, body := get(t, h, "/readyz")
	if code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz after the bus closed: %d, want 503", code)
	}
	var st host.Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	if st.Ready || st.Bus == "ok" || st.Database != "ok" {
		t.Errorf("/readyz after the bus closed: %+v", st)
	}
	if code, _ := get(t, h, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz after the bus closed: %d, want 200 (alive, not ready)", code)
	}
}

func TestFailingServiceIsRestarted(t *testing.T) {
	bus := inproc.New(inproc.Options{Logger: quiet})
	defer bus.Close()
	var starts atomic.Int32
	flaky := host.Service{Name: "flaky", Start: func(ctx context.Context, env host.Env) (*host.Started, error) {
		if starts.Add(1) == 1 {
			return nil, errors.New("first start fails")
		}
		var a host.Attach
		a.Add(env.Bus.Serve("flaky", transport.HandlerFunc(func(ctx context.Context, req *transport.Request) ([]byte, error) {
			return []byte(`"pong"`), nil
		}), env.Consumer...))
		return a.Started(nil)
	}}
	n := newNode(t, bus, []host.Service{flaky})
	n.Supervisor = &supervise.Supervisor{MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
	run(t, n)
	waitReady(t, n)
	st := n.Status(context.Background()).Services["flaky"]
	if st.Starts != 2 || st.State != host.StateServing {
		t.Errorf("flaky: %+v, want serving after 2 starts", st)
	}
	if got, err := transport.Invoke[string](context.Background(), bus, "flaky.ping", nil); err != nil || got != "pong" {
		t.Errorf("flaky.ping: %q, %v", got, err)
	}
	if _, metrics := get(t, n.Handler(), "/metrics"); !strings.Contains(metrics, `shopbus_service_starts_total{service="flaky"} 2`) {
		t.Errorf("/metrics:\n%s", metrics)
	}
}

func TestNodeGivesUpOnBrokenService(t *testing.T) {
	bus := inproc.New(inproc.Options{Logger: quiet})
	defer bus.Close()
	broken := host.Service{Name: "broken", Start: func(ctx context.Context, env host.Env) (*host.Started, error) {
		return nil, errors.New("cannot start")
	}}
	// A background job that fails, after the consumers were attached.
	var closed atomic.Int32
	failing := host.Service{Name: "failing", Start: func(ctx context.Context, env host.Env) (*host.Started, error) {
		return &host.Started{
			Subscriptions: []transport.Subscription{closer{&closed}},
			Run:           func(ctx context.Context) error { return errors.New("job failed") },
		}, nil
	}}
	for _, svc := range []host.Service{broken, failing} {
		t.Run(svc.Name, func(t *testing.T) {
			n := newNode(t, bus, []host.Service{svc})
			n.Supervisor = &supervise.Supervisor{MaxRestarts: 2, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond, Logger: quiet}
			err := n.Run(context.Background())
			var limit *supervise.RestartLimitError
			if !errors.As(err, &limit) || limit.Service != svc.Name {
				t.Fatalf("Run: %v, want a restart limit error for %s", err, svc.Name)
			}
			st := n.Status(context.Background())
			if st.Ready || st.Services[svc.Name].State != host.StateFailed || st.Services[svc.Name].Starts != 3 || st.Services[svc.Name].Error == "" {
				t.Errorf("status: %+v", st)
			}
			if code, body := get(t, n.Handler(), "/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, svc.Name) {
				t.Errorf("/healthz after giving up: %d %s", code, body)
			}
		})
	}
	if closed.Load() != 3 {
		t.Errorf("the failing service's consumers were closed %d times, want 3", closed.Load())
	}
}

type closer struct{ n *atomic.Int32 }

func (c closer) Close() error { c.n.Add(1); return nil }

func TestNodeChecksFields(t *testing.T) {
	bus := inproc.New(inproc.Options{Logger: quiet})
	defer bus.Close()
	mongo := testenv.MongoClient(t)
	a, _ := host.Builtin("auth")
	for name, n := range map[string]*host.Node{
		"no bus":       {Mongo: mongo},
		"no mongo":     {Bus: bus},
		"bad prefix":   {Bus: bus, Mongo: mongo, DBPrefix: "a b"},
		"duplicate":    {Bus: bus, Mongo: mongo, Services: []host.Service{a, a}},
		"no start":     {Bus: bus, Mongo: mongo, Services: []host.Service{{Name: "x"}}},
		"bad name":     {Bus: bus, Mongo: mongo, Services: []host.Service{{Name: "X.y", Start: a.Start}}},
		"bad workers":  {Bus: bus, Mongo: mongo, Services: []host.Service{a}, Concurrency: map[string]int{"auth": -1}},
		"empty prefix": {Bus: bus, Mongo: mongo, DBPrefix: strings.Repeat("p", 41)},
	} {
		if err := n.Run(context.Background()); err == nil {
			t.Errorf("%s: Run succeeded", name)
		}
	}
}

func TestLookup(t *testing.T) {
	all, err := host.Lookup("all")
	if err != nil || len(all) != len(host.Catalogue()) || len(all) < 4 {
		t.Fatalf("Lookup(all): %d services, %v", len(all), err)
	}
	got, err := host.Lookup("option", "auth", "option")
	if err != nil || len(got) != 2 || got[0].Name != "auth" || got[1].Name != "option" {
		t.Errorf("Lookup(option, auth, option): %v, %v", got, err)
	}
	if _, err := host.Lookup("auth", "nope"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("Lookup(nope): %v", err)
	}
	for _, svc := range host.Catalogue() {
		if b, ok := host.Builtin(svc.Name); !ok || b.Name != svc.Name || b.Start == nil {
			t.Errorf("Builtin(%s): %v %v", svc.Name, b, ok)
		}
	}
	if _, ok := host.Builtin("nope"); ok {
		t.Error("Builtin(nope) found something")
	}
}

func TestEmptyNodeRunsUntilCancelled(t *testing.T) {
	bus := inproc.New(inproc.Options{Logger: quiet})
	defer bus.Close()
	n := newNode(t, bus, []host.Service{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	select {
	case err := <-done:
		t.Fatalf("Run returned at once: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if code, body := get(t, n.Handler(), "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz of a node without services: %d %s", code, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// logRecorder is a slog.Handler that keeps the messages logged.
type logRecorder struct {
	mu   *sync.Mutex
	msgs *[]string
}

func newLogRecorder() logRecorder { return logRecorder{mu: &sync.Mutex{}, msgs: &[]string{}} }

func (l logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	*l.msgs = append(*l.msgs, r.Message)
	return nil
}
func (l logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l logRecorder) WithGroup(string) slog.Handler      { return l }

func (l logRecorder) has(msg string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range *l.msgs {
		if m == msg {
			return true
		}
	}
	return false
}

func TestNodeSeedsOnce(t *testing.T) {
	bus := inproc.New(inproc.Options{Logger: quiet})
	defer bus.Close()
	n := newNode(t, bus, nil)
	n.Settings.Seed, n.Settings.SeedProducts = true, 3
	logs := newLogRecorder()
	n.Logger = slog.New(logs)
	stop := run(t, n)
	waitFor(t, "the first start to seed", func() bool { return logs.has("host: seeded sample data") })
	waitFor(t, "the filter to list the sample products", func() bool {
		res, err := filter.NewClient(bus).Query(context.Background(), filter.Query{})
		return err == nil && res.Total == 3
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// A second node on the same databases finds the run recorded.
	again := &host.Node{Bus: bus, Mongo: n.Mongo, DBPrefix: n.DBPrefix, Settings: n.Settings}
	logs2 := newLogRecorder()
	again.Logger = slog.New(logs2)
	run(t, again)
	waitFor(t, "the second start to find the seed", func() bool { return logs2.has("host: sample data already seeded") })
	if logs2.has("host: seeded sample data") {
		t.Error("the second start seeded again")
	}
}

// TestStopGivesUpWaitingHandlers: a handler of one service waiting for
// another service of the same node, stopped with it, is given up after
// HandlerGrace: the node stops well within the supervisor's stop timeout
// (10 s) instead of failing it, and the caller is told unavailable (the
// request may be retried with its id), not left waiting.
func TestStopGivesUpWaitingHandlers(t *testing.T) {
	bus := inproc.New(inproc.Options{Logger: quiet})
	defer bus.Close()
	entered := make(chan struct{}, 1)
	// "front" calls "back", which never answers once the node stops: its
	// handler waits for the stop, then for its caller's deadline.
	back := host.Service{Name: "back", Start: func(ctx context.Context, env host.Env) (*host.Started, error) {
		var a host.Attach
		a.Add(env.Bus.Serve("back", transport.HandlerFunc(func(hctx context.Context, req *transport.Request) ([]byte, error) {
			select {
			case <-ctx.Done(): // stopping: the back service stops answering
			case <-hctx.Done():
				return nil, hctx.Err()
			}
			return nil, transport.Errorf(transport.CodeUnavailable, "back stopped")
		}), env.Consumer...))
		return a.Started(nil)
	}}
	front := host.Service{Name: "front", Start: func(ctx context.Context, env host.Env) (*host.Started, error) {
		var a host.Attach
		a.Add(env.Bus.Serve("front", transport.HandlerFunc(func(hctx context.Context, req *transport.Request) ([]byte, error) {
			entered <- struct{}{}
			// Invoke retries back's unavailable until hctx ends.
			return transport.Invoke[json.RawMessage](hctx, env.Bus, "back.wait", nil)
		}), env.Consumer...))
		return a.Started(nil)
	}}
	n := newNode(t, bus, []host.Service{back, front})
	stop := run(t, n)
	waitReady(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	result := make(chan error, 1)
	go func() {
		_, err := bus.Call(ctx, "front.go", []byte(`{}`))
		result <- err
	}()
	<-entered
	start := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("Node.Run: %v", err)
	}
	if took := time.Since(start); took > host.HandlerGrace+3*time.Second {
		t.Errorf("the node took %v to stop (grace %v)", took, host.HandlerGrace)
	}
	select {
	case err := <-result:
		if transport.CodeOf(err) != transport.CodeUnavailable {
			t.Errorf("the caller got %v, want unavailable", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the caller got no answer after the node stopped")
	}
}
