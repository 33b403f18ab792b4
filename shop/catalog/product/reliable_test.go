package product_test

// Reliable events (the outbox, internal/outbox) end to end: the product
// service's events reach the filter and cart read models across a broker
// outage, a crash between write and publish, duplicates and concurrent
// writers, on a real RabbitMQ node of the test's own and the embedded store.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/shoptest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/shop/catalog/filter"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/rabbit"
)

// shopOnBroker is a product service with its relay, and the filter and
// cart services subscribed to its events, on one bus over broker.
type shopOnBroker struct {
	bus      *rabbit.Bus
	auth     *shoptest.Auth
	products *product.Server
	filter   *filter.Server
	carts    *cart.Client
	// admin calls the product server directly as an admin: the server
	// authenticates with the auth server itself, not over the bus, so
	// writes reach it while the broker is away.
	admin context.Context
}

func startShopOnBroker(t *testing.T, url string) *shopOnBroker {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bus, err := rabbit.Dial(ctx, rabbit.Options{URL: url, Namespace: bustest.Namespace(), MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond, Logger: quiet, ExpireUnused: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bus.Close() })
	a := shoptest.StartAuth(t, bus)
	s := &shopOnBroker{bus: bus, auth: a, carts: cart.NewClient(bus), admin: a.Admin}
	if s.products, err = product.New(testenv.MongoDB(t, "product"), product.Options{Auth: a.Server, Events: bus, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	if s.filter, err = filter.New(testenv.MongoDB(t, "filter"), filter.Options{Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	carts, err := cart.New(testenv.MongoDB(t, "cart"), cart.Options{Auth: a.Client, Products: product.NewClient(bus), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	// One event at a time: a sentinel event handled means every earlier
	// one was.
	one := []transport.ConsumerOption{transport.WithConcurrency(1), transport.WithRetryDelay(20 * time.Millisecond)}
	for _, attach := range []func() (transport.Subscription, error){
		func() (transport.Subscription, error) { return product.Bind(bus, s.products) },
		func() (transport.Subscription, error) { return filter.Subscribe(bus, s.filter, one...) },
		func() (transport.Subscription, error) { return cart.Bind(bus, carts) },
		func() (transport.Subscription, error) { return cart.Subscribe(bus, carts, one...) },
	} {
		sub, err := attach()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sub.Close() })
	}
	relayCtx, stopRelay := context.WithCancel(context.Background())
	relayDone := make(chan error, 1)
	go func() { relayDone <- s.products.RunRelay(relayCtx) }()
	t.Cleanup(func() {
		stopRelay()
		if err := <-relayDone; err != nil {
			t.Errorf("RunRelay: %v", err)
		}
	})
	return s
}

// newProduct creates a published product at price (minor units, EUR).
func (s *shopOnBroker) newProduct(t *testing.T, title string, price int64) product.Product {
	t.Helper()
	p, err := s.products.Create(s.admin, product.CreateRequest{Title: title, Status: shop.StatusPublished, Price: shop.Money{Amount: price, Currency: "EUR"}})
	if err != nil {
		t.Fatalf("create %s: %v", title, err)
	}
	return p
}

func (s *shopOnBroker) setPrice(t *testing.T, id string, price int64) product.Product {
	t.Helper()
	p, err := s.products.Update(s.admin, product.UpdateRequest{ID: id, Price: &shop.Money{Amount: price, Currency: "EUR"}})
	if err != nil {
		t.Fatalf("update price of %s: %v", id, err)
	}
	return p
}

// filterPrice is the product's price in the filter's read model, or -1.
func (s *shopOnBroker) filterPrice(id string) int64 {
	res, err := s.filter.Query(context.Background(), filter.Query{Limit: filter.MaxLimit})
	if err != nil {
		return -1
	}
	for _, it := range res.Items {
		if it.ID == id {
			return it.Price.Amount
		}
	}
	return -1
}

// cartLine returns the customer's cart line of product id.
func (s *shopOnBroker) cartLine(t *testing.T, id string) cart.Line {
	t.Helper()
	c, err := s.carts.Get(s.auth.Customer, cart.CartRequest{})
	if err != nil {
		t.Fatalf("get cart: %v", err)
	}
	for _, l := range c.Lines {
		if l.ProductID == id {
			return l
		}
	}
	t.Fatalf("cart has no line of %s: %+v", id, c.Lines)
	return cart.Line{}
}

func waitUntil(t *testing.T, limit time.Duration, what string, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > limit {
			t.Fatalf("after %v: %s did not happen", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// TestUpdateDuringBrokerOutageReachesReadModels: the broker stops, a
// product's price changes, the broker comes back; the filter read model
// and the cart's price flag follow within seconds, with nothing restarted.
func TestUpdateDuringBrokerOutageReachesReadModels(t *testing.T) {
	broker := testenv.PrivateRabbit(t)
	s := startShopOnBroker(t, broker.URL)
	p := s.newProduct(t, "Outage Kettle", 1000)
	if _, err := s.carts.AddItem(s.auth.Customer, cart.AddItemRequest{ProductID: p.ID, Quantity: 1}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the filter learning the product", func() bool { return s.filterPrice(p.ID) == 1000 })

	broker.StopApp()
	waitUntil(t, 10*time.Second, "the bus noticing the outage", func() bool { return s.bus.Ready() != nil })
	s.setPrice(t, p.ID, 1500) // stored with its event; the publish waits for the broker
	backlog, err := s.products.EventBacklog(context.Background())
	if err != nil || backlog.Pending != 1 {
		t.Fatalf("backlog during the outage: %+v, %v; want the update's event", backlog, err)
	}
	time.Sleep(500 * time.Millisecond)
	if got := s.filterPrice(p.ID); got != 1000 {
		t.Fatalf("filter price %d while the broker is away", got)
	}

	broker.StartApp()
	back := time.Now()
	waitUntil(t, 15*time.Second, "the filter seeing the new price", func() bool { return s.filterPrice(p.ID) == 1500 })
	waitUntil(t, 15*time.Second, "the cart flagging the price change", func() bool {
		l := s.cartLine(t, p.ID)
		return l.PriceChanged && l.UnitPrice.Amount == 1500 && l.PreviousPrice != nil && l.PreviousPrice.Amount == 1000
	})
	t.Logf("read models caught up %v after the broker came back", time.Since(back).Round(time.Millisecond))
	if b, _ := s.products.EventBacklog(context.Background()); b.Pending != 0 {
		t.Fatalf("backlog after the relay: %+v", b)
	}
}

// TestDuplicateEventChangesNothing: the same event delivered again (a
// relay that died after the broker's confirm and before clearing it) is
// dropped by every subscriber.
func TestDuplicateEventChangesNothing(t *testing.T) {
	s := startShopOnBroker(t, testenv.AMQPURL(t))
	rec := &eventLog{}
	sub, err := s.bus.Subscribe("duplicate-watch", "product.product.*", rec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	p := s.newProduct(t, "Twice Toaster", 2000)
	sentinel := s.newProduct(t, "Sentinel Spoon", 100)
	for _, id := range []string{p.ID, sentinel.ID} {
		if _, err := s.carts.AddItem(s.auth.Customer, cart.AddItemRequest{ProductID: id, Quantity: 1}); err != nil {
			t.Fatal(err)
		}
	}
	s.setPrice(t, p.ID, 2500)
	waitUntil(t, 10*time.Second, "the update reaching the cart", func() bool { return s.cartLine(t, p.ID).PriceChanged })
	// The customer looks again: updating the line clears the flag.
	if _, err := s.carts.UpdateItem(s.auth.Customer, cart.UpdateItemRequest{ProductID: p.ID, Quantity: 2}); err != nil {
		t.Fatal(err)
	}
	update := rec.wait(t, shop.EventProductUpdated, p.ID, 2)
	lineBefore, statsBefore := s.cartLine(t, p.ID), s.filter.EventStats()

	if err := s.bus.Publish(context.Background(), update); err != nil { // the same id, key and body
		t.Fatal(err)
	}
	s.setPrice(t, sentinel.ID, 150)
	waitUntil(t, 10*time.Second, "the sentinel reaching the cart", func() bool { return s.cartLine(t, sentinel.ID).PriceChanged })
	waitUntil(t, 10*time.Second, "the sentinel reaching the filter", func() bool { return s.filterPrice(sentinel.ID) == 150 })

	if got := s.cartLine(t, p.ID); got.PriceChanged != lineBefore.PriceChanged || got.Quantity != 2 || got.UnitPrice != lineBefore.UnitPrice {
		t.Fatalf("cart line changed by the duplicate: %+v, was %+v", got, lineBefore)
	}
	after := s.filter.EventStats()
	if after.Applied != statsBefore.Applied+1 || after.Ignored != statsBefore.Ignored {
		t.Fatalf("filter handled the duplicate: stats %+v, were %+v (want only the sentinel applied)", after, statsBefore)
	}
	if n := rec.count(update.ID); n != 2 {
		t.Fatalf("the duplicate was delivered %d times in all, want 2 (the test must really send it)", n)
	}
}

// TestCrashBetweenWriteAndPublish: a process stores a product and dies
// before publishing its event; the next process's relay publishes it.
func TestCrashBetweenWriteAndPublish(t *testing.T) {
	if os.Getenv("SHOP_CRASH_CHILD") == "1" {
		crashChild()
		return
	}
	dbName := testenv.UniqueName("crash")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashBetweenWriteAndPublish$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SHOP_CRASH_CHILD=1", "SHOP_CRASH_URI="+testenv.MongoURI(t), "SHOP_CRASH_DB="+dbName)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != crashExitCode {
		t.Fatalf("the child did not die at the publish: %v\n%s", err, out)
	}

	db := testenv.MongoClient(t).Database(dbName)
	t.Cleanup(func() { db.Drop(context.Background()) })
	bus := newRabbit(t, testenv.AMQPURL(t))
	rec := &eventLog{}
	sub, err := bus.Subscribe("crash-watch", "product.product.*", rec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	srv, err := product.New(db, product.Options{Events: bus, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := srv.EventBacklog(context.Background()); err != nil || b.Pending != 1 {
		t.Fatalf("backlog after the crash: %+v, %v; want the created event", b, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.RunRelay(ctx)
	ev := rec.wait(t, shop.EventProductCreated, "", 1)
	var pc shop.ProductChanged
	if err := json.Unmarshal(ev.Body, &pc); err != nil || pc.Product.Title != "Crash Kettle" {
		t.Fatalf("relayed event %s: %+v, %v", ev.Key, pc, err)
	}
	waitUntil(t, 10*time.Second, "the outbox emptying", func() bool {
		b, err := srv.EventBacklog(context.Background())
		return err == nil && b.Pending == 0
	})
}

const crashExitCode = 42

// crashChild stores a product whose publish kills the process.
func crashChild() {
	client, err := mongo.Connect(options.Client().ApplyURI(os.Getenv("SHOP_CRASH_URI")))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	db := client.Database(os.Getenv("SHOP_CRASH_DB"))
	srv, err := product.New(db, product.Options{Auth: allowAdmin{}, Events: dieOnPublish{}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_, err = srv.Create(shop.WithToken(context.Background(), "admin"), product.CreateRequest{Title: "Crash Kettle", Price: shop.Money{Amount: 900, Currency: "EUR"}})
	fmt.Fprintln(os.Stderr, "create returned without publishing:", err)
	os.Exit(1)
}

// dieOnPublish kills the process when asked to publish: the write is
// stored, its event is not.
type dieOnPublish struct{}

func (dieOnPublish) Publish(context.Context, transport.Event) error {
	os.Exit(crashExitCode)
	return nil
}

// allowAdmin takes every token for an admin's.
type allowAdmin struct{}

func (allowAdmin) Authenticate(context.Context, string) (shop.Principal, error) {
	return shop.Principal{UserID: "admin", Roles: []shop.Role{shop.RoleAdmin}}, nil
}

// TestConcurrentUpdatesAcrossBrokerRestart: 1,000 price updates from
// concurrent writers while the broker restarts; every update's event
// reaches a subscriber at least once and the filter ends equal to the
// product service.
func TestConcurrentUpdatesAcrossBrokerRestart(t *testing.T) {
	const products, updatesEach = 10, 100
	broker := testenv.PrivateRabbit(t)
	s := startShopOnBroker(t, broker.URL)
	rec := &eventLog{}
	sub, err := s.bus.Subscribe("restart-watch", "product.product.*", rec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	ids := make([]string, products)
	for i := range ids {
		ids[i] = s.newProduct(t, fmt.Sprintf("Busy Product %d", i), 1).ID
	}

	var done atomic.Int64
	var wg sync.WaitGroup
	for w := range products {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range updatesEach {
				s.setPrice(t, ids[w], int64(100*(u+1)+w))
				done.Add(1)
			}
		}()
	}
	waitUntil(t, time.Minute, "a third of the updates", func() bool { return done.Load() >= products*updatesEach/3 })
	broker.StopApp()
	time.Sleep(time.Second)
	broker.StartApp()
	t.Logf("broker restarted after %d updates", done.Load())
	wg.Wait()

	// Every version 2..updatesEach+1 of every product was announced.
	waitUntil(t, 30*time.Second, "every update's event arriving", func() bool {
		return rec.missing(ids, updatesEach+1) == 0
	})
	for i, id := range ids {
		want := int64(100*updatesEach + i)
		got, err := s.products.Get(context.Background(), product.GetRequest{ID: id})
		if err != nil || got.Price.Amount != want {
			t.Fatalf("product %d: %+v, %v; want price %d", i, got.Price, err, want)
		}
		waitUntil(t, 10*time.Second, fmt.Sprintf("the filter's price of product %d", i), func() bool { return s.filterPrice(id) == want })
	}
	t.Logf("%d events received for %d updates (duplicates allowed)", rec.total(), products*updatesEach)
}

// eventLog records product events by product id and version.
type eventLog struct {
	mu     sync.Mutex
	events []transport.Event
	seen   map[string]map[int64]bool
	byID   map[string]int
}

// HandleEvent implements transport.EventHandler.
func (l *eventLog) HandleEvent(_ context.Context, ev transport.Event) error {
	var pc shop.ProductChanged
	if err := json.Unmarshal(ev.Body, &pc); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen, l.byID = map[string]map[int64]bool{}, map[string]int{}
	}
	l.events = append(l.events, ev)
	if l.seen[pc.Product.ID] == nil {
		l.seen[pc.Product.ID] = map[int64]bool{}
	}
	l.seen[pc.Product.ID][pc.Product.Version] = true
	l.byID[ev.ID]++
	return nil
}

// wait returns the first event with key for product id ("": any) at
// version.
func (l *eventLog) wait(t *testing.T, key, id string, version int64) transport.Event {
	t.Helper()
	var found transport.Event
	waitUntil(t, 15*time.Second, key+" event", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, ev := range l.events {
			var pc shop.ProductChanged
			if ev.Key == key && json.Unmarshal(ev.Body, &pc) == nil && (id == "" || pc.Product.ID == id) && pc.Product.Version == version {
				found = ev
				return true
			}
		}
		return false
	})
	return found
}

// missing counts the versions 2..last of ids not announced yet.
func (l *eventLog) missing(ids []string, last int64) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, id := range ids {
		for v := int64(2); v <= last; v++ {
			if !l.seen[id][v] {
				n++
			}
		}
	}
	return n
}

func (l *eventLog) count(eventID string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byID[eventID]
}

func (l *eventLog) total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.events)
}

func newRabbit(t *testing.T, url string) *rabbit.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bus, err := rabbit.Dial(ctx, rabbit.Options{URL: url, Namespace: bustest.Namespace(), Logger: slog.New(slog.DiscardHandler), ExpireUnused: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bus.Close() })
	return bus
}
