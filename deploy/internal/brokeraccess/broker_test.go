package brokeraccess_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"golang.org/x/crypto/bcrypt"

	"github.com/shopbus/shopbus/deploy/internal/brokeraccess"
	"github.com/shopbus/shopbus/host"
	"github.com/shopbus/shopbus/host/ops"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/catalog/filter"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/content/seo"
	"github.com/shopbus/shopbus/shop/inventory"
	"github.com/shopbus/shopbus/shop/seeder"
	"github.com/shopbus/shopbus/storefront"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/rabbit"
)

// accounts are the shop's accounts imported into a virtual host of one
// test on the shared test broker.
type accounts struct {
	plan brokeraccess.Plan
	urls map[string]string // account name -> AMQP URL with its credentials
}

// importAccounts makes the accounts of every service of host.Names and
// of the storefront in a fresh virtual host, with user names of their own,
// through `rabbitmqctl import_definitions`, and deletes them when t ends.
func importAccounts(t *testing.T) *accounts {
	t.Helper()
	base := testenv.AMQPURL(t)
	vhost := testenv.UniqueName("brokeraccess")
	a := &accounts{
		plan: brokeraccess.Plan{
			VHost:      vhost,
			Services:   host.Names,
			Callers:    []string{"storefront"},
			UserPrefix: vhost + "-",
		},
		urls: map[string]string{},
	}
	all, err := a.plan.Accounts()
	if err != nil {
		t.Fatal(err)
	}
	passwords := map[string]string{}
	for _, acc := range all {
		passwords[acc.Name] = randomPassword(t)
	}
	defs, err := a.plan.Definitions(passwords, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := defs.JSON()
	if err != nil {
		t.Fatal(err)
	}
	// Debian's rabbitmqctl runs as the rabbitmq user: the file must be
	// readable by it, which t.TempDir is not.
	dir, err := os.MkdirTemp("/tmp", "brokeraccess-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "definitions.json")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.RabbitCtl(t, "-q", "import_definitions", file)
	t.Cleanup(func() {
		testenv.RabbitCtl(t, "-q", "delete_vhost", vhost)
		for _, acc := range all {
			testenv.RabbitCtl(t, "-q", "delete_user", acc.User)
		}
	})
	for _, acc := range all {
		u, err := amqp.ParseURI(base)
		if err != nil {
			t.Fatal(err)
		}
		u.Username, u.Password, u.Vhost = acc.User, passwords[acc.Name], vhost
		a.urls[acc.Name] = u.String()
	}
	return a
}

func randomPassword(t *testing.T) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// channel connects as the named account and opens a channel.
func (a *accounts) channel(t *testing.T, name string) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial(a.urls[name])
	if err != nil {
		t.Fatalf("connect as %s: %v", name, err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// refused fails the test unless err is the broker's ACCESS_REFUSED.
func refused(t *testing.T, what string, err error) {
	t.Helper()
	var amqpErr *amqp.Error
	if !errors.As(err, &amqpErr) || amqpErr.Code != amqp.AccessRefused {
		t.Errorf("%s: got %v, want ACCESS_REFUSED (403)", what, err)
	}
}

// publish publishes an event on a fresh confirm channel of the named
// account and returns nil once the broker confirmed it, or the error the
// broker closed the channel with.
func (a *accounts) publish(t *testing.T, name, exchange, key string) error {
	t.Helper()
	ch := a.channel(t, name)
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	if err := ch.Confirm(false); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conf, err := ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, false, false, amqp.Publishing{
		ContentType: "application/json", MessageId: "probe", Type: key, Body: []byte(`{}`),
	})
	if err != nil {
		return err
	}
	select {
	case <-conf.Done():
		if conf.Acked() {
			return nil
		}
		return errors.New("nacked")
	case err := <-closed:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestServiceAccountIsConfined checks what RabbitMQ lets the product
// service's account (and the storefront's) do to other services' objects,
// with a control of what it may do to its own.
func TestServiceAccountIsConfined(t *testing.T) {
	a := importAccounts(t)
	ns := brokeraccess.DefaultNamespace

	// The owners declare their queues, as their buses do.
	authCh := a.channel(t, "auth")
	for _, q := range []string{ns + ".auth", ns + ".auth.dead"} {
		if _, err := authCh.QueueDeclare(q, true, false, false, false, nil); err != nil {
			t.Fatalf("auth declares %s: %v", q, err)
		}
	}
	filterCh := a.channel(t, "filter")
	for _, q := range []string{ns + ".events.filter.dead", ns + ".events.filter-r1.dead"} {
		if _, err := filterCh.QueueDeclare(q, true, false, false, false, nil); err != nil {
			t.Fatalf("filter declares %s: %v", q, err)
		}
	}
	// The filter reads other services' events, the inventory's included
	// (for its in-stock read model): a control, this must succeed.
	if _, err := filterCh.QueueDeclare(ns+".events.filter", true, false, false, false, amqp.Table{"x-dead-letter-exchange": ns + ".dead"}); err != nil {
		t.Fatalf("filter declares its event queue: %v", err)
	}
	for _, key := range []string{filter.ProductEvents, filter.CategoryEvents, filter.StockEvents} {
		if err := filterCh.QueueBind(ns+".events.filter", key, ns+".events", false, nil); err != nil {
			t.Fatalf("filter binds its event queue to %s: %v", key, err)
		}
	}
	if err := a.publish(t, "inventory", ns+".events", shop.EventStockChanged); err != nil {
		t.Fatalf("inventory publishes %s: %v", shop.EventStockChanged, err)
	}
	refused(t, "filter: publish "+shop.EventStockChanged, a.publish(t, "filter", ns+".events", shop.EventStockChanged))

	// Product may use its own objects (controls: these must succeed).
	own := a.channel(t, "product")
	if _, err := own.QueueDeclare(ns+".product", true, false, false, false, nil); err != nil {
		t.Fatalf("product declares its request queue: %v", err)
	}
	if _, err := own.QueueDeclare(ns+".events.product", true, false, false, false, amqp.Table{"x-dead-letter-exchange": ns + ".dead"}); err != nil {
		t.Fatalf("product declares its event queue with dead letters: %v", err)
	}
	if err := own.QueueBind(ns+".events.product", "category.category.deleted", ns+".events", false, nil); err != nil {
		t.Fatalf("product binds its event queue: %v", err)
	}
	if _, err := own.Consume(ns+".product", "", false, false, false, false, nil); err != nil {
		t.Fatalf("product consumes its request queue: %v", err)
	}
	if err := a.publish(t, "product", ns+".events", shop.EventProductUpdated); err != nil {
		t.Fatalf("product publishes %s: %v", shop.EventProductUpdated, err)
	}
	if err := a.publish(t, "product", "", ns+".auth"); err != nil {
		t.Fatalf("product calls auth (publishes to its request queue): %v", err)
	}

	// ... and nothing of the others'.
	probes := []struct {
		name string
		try  func(ch *amqp.Channel) error
	}{
		{"consume " + ns + ".auth", func(ch *amqp.Channel) error {
			_, err := ch.Consume(ns+".auth", "", false, false, false, false, nil)
			return err
		}},
		{"get from " + ns + ".auth", func(ch *amqp.Channel) error { _, _, err := ch.Get(ns+".auth", false); return err }},
		{"get from " + ns + ".auth.dead", func(ch *amqp.Channel) error { _, _, err := ch.Get(ns+".auth.dead", false); return err }},
		{"get from " + ns + ".events.filter.dead", func(ch *amqp.Channel) error {
			_, _, err := ch.Get(ns+".events.filter.dead", false)
			return err
		}},
		{"get from " + ns + ".events.filter-r1.dead", func(ch *amqp.Channel) error {
			_, _, err := ch.Get(ns+".events.filter-r1.dead", false)
			return err
		}},
		{"purge " + ns + ".auth", func(ch *amqp.Channel) error { _, err := ch.QueuePurge(ns+".auth", false); return err }},
		{"delete " + ns + ".auth", func(ch *amqp.Channel) error { _, err := ch.QueueDelete(ns+".auth", false, false, false); return err }},
		{"declare " + ns + ".cart", func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclare(ns+".cart", true, false, false, false, nil)
			return err
		}},
		{"declare " + ns + ".events.filter-x", func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclare(ns+".events.filter-x", true, false, false, false, nil)
			return err
		}},
		{"delete exchange " + ns + ".events", func(ch *amqp.Channel) error { return ch.ExchangeDelete(ns+".events", false, false) }},
		{"declare exchange " + ns + ".events", func(ch *amqp.Channel) error {
			return ch.ExchangeDeclare(ns+".events", "topic", true, false, false, false, nil)
		}},
		{"bind to " + ns + ".retry with another's queue name", func(ch *amqp.Channel) error {
			return ch.QueueBind(ns+".events.product", ns+".events.filter", ns+".retry", false, nil)
		}},
		{"bind " + ns + ".auth", func(ch *amqp.Channel) error { return ch.QueueBind(ns+".auth", "#", ns+".events", false, nil) }},
	}
	for _, p := range probes {
		refused(t, "product: "+p.name, p.try(a.channel(t, "product")))
	}
	for _, key := range []string{"auth.user.created", shop.EventCategoryDeleted, "product", "xproduct.product.updated", ""} {
		refused(t, "product: publish "+key, a.publish(t, "product", ns+".events", key))
	}
	// Retries: only into its own event queues.
	if err := a.publish(t, "product", ns+".retry", ns+".events.product"); err != nil {
		t.Errorf("product retries into its own event queue: %v", err)
	}
	for _, key := range []string{ns + ".events.filter", ns + ".events.filter-r1", ns + ".auth"} {
		refused(t, "product: retry into "+key, a.publish(t, "product", ns+".retry", key))
	}

	// The storefront only calls: it consumes no queue, publishes no event.
	refused(t, "storefront: consume "+ns+".product", func() error {
		_, err := a.channel(t, "storefront").Consume(ns+".product", "", false, false, false, false, nil)
		return err
	}())
	for _, key := range []string{shop.EventProductUpdated, ""} {
		refused(t, "storefront: publish "+key, a.publish(t, "storefront", ns+".events", key))
	}
	refused(t, "storefront: retry", a.publish(t, "storefront", ns+".retry", ns+".events.filter"))
	refused(t, "storefront: declare a queue", func() error {
		_, err := a.channel(t, "storefront").QueueDeclare(ns+".storefront", true, false, false, false, nil)
		return err
	}())
	if err := a.publish(t, "storefront", "", ns+".product"); err != nil {
		t.Errorf("storefront calls product (publishes to its request queue): %v", err)
	}
}

// TestShopRunsWithRestrictedAccounts runs every service of host.Names in
// a node of its own, on a bus connected as its own account, and the
// storefront on the storefront's account; then a customer registers,
// logs in and fills a cart through the storefront's JSON API, and an
// admin's new product and price change reach the filter, seo and cart
// services as events.
func TestShopRunsWithRestrictedAccounts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole shop")
	}
	a := importAccounts(t)
	quiet := slog.New(slog.DiscardHandler)
	const adminEmail, adminPassword = "admin@brokeraccess.test", "admin-password-123"

	dial := func(name string) *rabbit.Bus {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		b, err := rabbit.Dial(ctx, rabbit.Options{URL: a.urls[name], Name: t.Name() + " " + name, Logger: quiet})
		if err != nil {
			t.Fatalf("%s connects with its account: %v", name, err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}

	client := testenv.MongoClient(t)
	prefix := testenv.UniqueName("brokeraccess")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, name := range host.Names {
			_ = client.Database(prefix + "_" + name).Drop(ctx)
		}
	})
	var nodes []*host.Node
	for _, svc := range host.Catalogue() {
		settings := host.Settings{AdminEmail: adminEmail, AdminPassword: adminPassword, BcryptCost: bcrypt.MinCost}
		if svc.Name == filter.ServiceName {
			settings.Replica = "r1" // a replica's own expiring event queue too
		}
		node := &host.Node{
			Bus:      dial(svc.Name),
			Mongo:    client,
			DBPrefix: prefix,
			Services: []host.Service{svc},
			Settings: settings,
			Logger:   quiet,
		}
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- node.Run(ctx) }()
		t.Cleanup(func() {
			stop()
			if err := <-done; err != nil {
				t.Errorf("%s: %v", svc.Name, err)
			}
		})
		nodes = append(nodes, node)
	}
	if len(nodes) != len(host.Names) {
		t.Fatalf("%d services in this build, want %d (host.Names)", len(nodes), len(host.Names))
	}
	ctx := context.Background()
	for i, node := range nodes {
		waitFor(t, host.Catalogue()[i].Name+" to be ready on its own account", func() bool {
			st := node.Status(ctx)
			return st.Ready
		})
	}

	// The storefront, on its own account.
	sf := dial("storefront")
	site, err := storefront.New(storefront.Options{Bus: sf, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(site)
	t.Cleanup(web.Close)

	session, err := auth.NewClient(sf).Login(ctx, auth.LoginRequest{Email: adminEmail, Password: adminPassword})
	if err != nil {
		t.Fatalf("admin login through the storefront's account: %v", err)
	}
	admin := shop.WithToken(ctx, session.Token)
	if _, err := seeder.NewClient(sf).Run(admin, seeder.RunRequest{Seed: seeder.DefaultSeed, Products: 4}); err != nil {
		t.Fatalf("seeder: %v", err)
	}
	filters := filter.NewClient(sf)
	waitFor(t, "the filter service to list the seeded products (product events)", func() bool {
		res, err := filters.Query(ctx, filter.Query{})
		return err == nil && res.Total == 4
	})

	// The seeder stocked them through the inventory service, whose events
	// reach the filter: selling out every variant of a product takes it
	// out of the products in stock.
	page, err := product.NewClient(sf).List(admin, product.ListRequest{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(page.Items, func(p product.Product) bool { return len(p.Variants) > 0 })
	if i < 0 {
		t.Fatalf("no seeded product has variants: %+v", page.Items)
	}
	first := page.Items[i]
	var sold []string
	for _, v := range first.Variants {
		sold = append(sold, v.SKU)
	}
	inStock := func() []string {
		res, err := filters.Query(ctx, filter.Query{InStock: true})
		if err != nil || !res.StockKnown {
			return nil
		}
		var ids []string
		for _, it := range res.Items {
			ids = append(ids, it.ID)
		}
		return ids
	}
	waitFor(t, "the filter service to know the seeded stock (inventory events)", func() bool {
		return slices.Contains(inStock(), first.ID)
	})
	for _, sku := range sold {
		if _, err := inventory.NewClient(sf).SetStock(admin, inventory.SetStockRequest{SKU: sku, OnHand: 0}); err != nil {
			t.Fatalf("sell out %s: %v", sku, err)
		}
	}
	waitFor(t, "the filter service to see the product sold out", func() bool {
		ids := inStock()
		return ids != nil && !slices.Contains(ids, first.ID)
	})

	// A customer registers, logs in and sees the shop.
	b := newBrowser(t, web.URL)
	creds := map[string]string{"email": "ada@brokeraccess.test", "password": "correct horse battery"}
	b.json("POST", "/api/register", creds, http.StatusCreated, nil)
	b.json("POST", "/api/login", creds, http.StatusOK, nil)
	if code, body := b.do("GET", "/", nil); code != http.StatusOK || !strings.Contains(body, "</html>") {
		t.Fatalf("home page: %d\n%.500s", code, body)
	}

	// The admin adds a product: its event reaches filter and seo.
	p, err := product.NewClient(sf).Create(admin, product.CreateRequest{
		Title: "Restricted runner", Status: shop.StatusPublished, Price: shop.Money{Amount: 4999, Currency: "EUR"},
	})
	if err != nil {
		t.Fatalf("create product: %v", err)
	}
	waitFor(t, "the filter service to index the new product", func() bool {
		res, err := filters.Query(ctx, filter.Query{Text: "restricted runner"})
		return err == nil && res.Total == 1 && res.Items[0].ID == p.ID
	})
	waitFor(t, "the seo service to know the new product", func() bool {
		m, err := seo.NewClient(sf).Get(ctx, seo.GetRequest{Kind: seo.KindProduct, EntityID: p.ID})
		return err == nil && m.Path != ""
	})

	// The customer puts it in the cart; the admin changes its price: the
	// event reaches the cart service, which flags the line.
	b.json("POST", "/api/cart/items", storefront.CartItem{ProductID: p.ID, Quantity: 2}, http.StatusOK, nil)
	price := shop.Money{Amount: 3999, Currency: "EUR"}
	if _, err := product.NewClient(sf).Update(admin, product.UpdateRequest{ID: p.ID, Price: &price}); err != nil {
		t.Fatalf("update price: %v", err)
	}
	waitFor(t, "the cart to flag the price change", func() bool {
		var c struct {
			Lines []cartLine `json:"lines"`
		}
		code, body := b.do("GET", "/api/cart", nil)
		if code != http.StatusOK || json.Unmarshal([]byte(body), &c) != nil {
			return false
		}
		i := slices.IndexFunc(c.Lines, func(l cartLine) bool { return l.ProductID == p.ID })
		return i >= 0 && c.Lines[i].PriceChanged && c.Lines[i].UnitPrice == price
	})

	// The console's dead-letter work is done by the service that owns the
	// subscriber, with its own account, when the storefront's account asks
	// it over the bus: a stock event the filter cannot decode is parked by
	// both its subscribers, replayed into one of them (publish to the retry
	// exchange with its own queue as key, then ack the dead copy), parked
	// there again, and discarded.
	undecodable := transport.Event{ID: "undecodable-stock", Key: shop.EventStockChanged, Body: []byte(`{"sku":5}`)}
	if err := dial("inventory").Publish(ctx, undecodable); err != nil {
		t.Fatalf("inventory publishes: %v", err)
	}
	opsc := ops.NewClient(sf)
	parkedIn := func(sub string) bool {
		dl, err := opsc.DeadLetters(admin, filter.ServiceName, ops.DeadLettersRequest{Subscriber: sub})
		if err != nil {
			t.Fatalf("dead letters of %s through the storefront's account: %v", sub, err)
		}
		return len(dl.Events) == 1 && dl.Events[0].ID == undecodable.ID
	}
	for _, sub := range []string{"filter", "filter-r1"} {
		waitFor(t, "the undecodable event parked by "+sub, func() bool { return parkedIn(sub) })
	}
	if n, err := opsc.ReplayDeadLetters(admin, filter.ServiceName, ops.IDsRequest{Subscriber: "filter", IDs: []string{undecodable.ID}}); err != nil || n.Count != 1 {
		t.Fatalf("replay on the filter's account: %+v, %v", n, err)
	}
	waitFor(t, "the replayed event parked again", func() bool { return parkedIn("filter") })
	for _, sub := range []string{"filter", "filter-r1"} {
		if n, err := opsc.DiscardDeadLetters(admin, filter.ServiceName, ops.IDsRequest{Subscriber: sub, IDs: []string{undecodable.ID}}); err != nil || n.Count != 1 {
			t.Errorf("discard from %s on the filter's account: %+v, %v", sub, n, err)
		}
	}

	// No service parked an event: every handler could do its work.
	for _, sub := range []string{"filter", "filter-r1", "seo", "cart", "category", "product"} {
		dead, err := dial(strings.SplitN(sub, "-", 2)[0]).DrainDeadLetters(ctx, sub)
		if err != nil || len(dead) > 0 {
			t.Errorf("dead letters of %s: %d, %v", sub, len(dead), err)
		}
	}
}

// cartLine is what the test reads of a line of GET /api/cart.
type cartLine struct {
	ProductID    string     `json:"product_id"`
	PriceChanged bool       `json:"price_changed"`
	UnitPrice    shop.Money `json:"unit_price"`
}

// browser is an HTTP client with cookies.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

func (b *browser) do(method, path string, body any) (int, string) {
	b.t.Helper()
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = strings.NewReader(string(j))
	}
	req, err := http.NewRequest(method, b.base+path, rd)
	if err != nil {
		b.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

func (b *browser) json(method, path string, body any, want int, out any) {
	b.t.Helper()
	code, data := b.do(method, path, body)
	if code != want {
		b.t.Fatalf("%s %s: %d %s, want %d", method, path, code, data, want)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(data), out); err != nil {
			b.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// waitFor polls cond for up to 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBrokerBootsFromDefinitions starts a broker of its own whose
// configuration loads the definitions at boot (load_definitions, as the
// compose files do): the accounts work, and there is no guest account.
func TestBrokerBootsFromDefinitions(t *testing.T) {
	plan := brokeraccess.Plan{Services: host.Names, Callers: []string{"storefront"}, Admin: "ops", DeadLetterLimit: 2}
	all, err := plan.Accounts()
	if err != nil {
		t.Fatal(err)
	}
	passwords := map[string]string{}
	for _, acc := range all {
		passwords[acc.Name] = randomPassword(t)
	}
	defs, err := plan.Definitions(passwords, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := defs.JSON()
	if err != nil {
		t.Fatal(err)
	}
	broker := testenv.PrivateRabbitWith(t, testenv.PrivateConfig{
		Conf:  "load_definitions = {dir}/definitions.json\n",
		Files: map[string][]byte{"definitions.json": data},
	})
	urlOf := func(user, password string) string {
		u, err := amqp.ParseURI(broker.URL)
		if err != nil {
			t.Fatal(err)
		}
		u.Username, u.Password = user, password
		return u.String()
	}

	// No default account: guest/guest is refused.
	if conn, err := amqp.Dial(urlOf("guest", "guest")); err == nil {
		conn.Close()
		t.Fatal("guest/guest can connect to a broker booted from the definitions")
	} else {
		refused(t, "guest connects", err)
	}
	// A wrong password is refused too.
	if _, err := amqp.Dial(urlOf("shop-product", "wrong-password-123")); err == nil {
		t.Fatal("shop-product connects with a wrong password")
	}
	// The product service's bus connects with its account: the exchanges
	// are there, which it may not declare itself.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bus, err := rabbit.Dial(ctx, rabbit.Options{URL: urlOf("shop-product", passwords["product"]), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("product's bus: %v", err)
	}
	defer bus.Close()
	if err := bus.Publish(ctx, transport.Event{Key: shop.EventProductCreated, Body: []byte(`{}`)}); err != nil {
		t.Errorf("product publishes %s: %v", shop.EventProductCreated, err)
	}
	// Another service's event is refused by the broker, at once, as
	// forbidden: not retried until the deadline.
	start := time.Now()
	err = bus.Publish(ctx, transport.Event{Key: shop.EventCategoryCreated, Body: []byte(`{}`)})
	if transport.CodeOf(err) != transport.CodeForbidden {
		t.Errorf("product publishes %s: %v, want forbidden", shop.EventCategoryCreated, err)
	}
	if waited := time.Since(start); waited > 10*time.Second {
		t.Errorf("the refused publish took %v", waited)
	}
	// The bus recovers the channel the broker closed, and goes on.
	if err := bus.Publish(ctx, transport.Event{Key: shop.EventProductUpdated, Body: []byte(`{}`)}); err != nil {
		t.Errorf("product publishes %s after a refusal: %v", shop.EventProductUpdated, err)
	}
	// The policy bounds a subscriber's dead letters: of three events its
	// handler cannot take, the newest two stay parked.
	sub, err := bus.Subscribe("product", "product.product.deleted", transport.EventHandlerFunc(func(context.Context, transport.Event) error {
		return errors.New("cannot handle it")
	}), transport.WithMaxAttempts(1), transport.WithConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for _, id := range []string{"d1", "d2", "d3"} {
		if err := bus.Publish(ctx, transport.Event{ID: id, Key: shop.EventProductDeleted, Body: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // parked in order
	}
	var ids []string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		dead, err := bus.PeekDeadLetters(ctx, "product", 10)
		if err != nil {
			t.Fatal(err)
		}
		ids = ids[:0]
		for _, ev := range dead {
			ids = append(ids, ev.ID)
		}
		if slices.Equal(ids, []string{"d2", "d3"}) {
			return
		}
	}
	t.Fatalf("parked %v, want the newest two [d2 d3] (policy max-length 2)", ids)
}
