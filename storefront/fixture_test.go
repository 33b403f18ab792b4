package storefront_test

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/shopbus/shopbus/host"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/catalog/attribute"
	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/shop/catalog/filter"
	"github.com/shopbus/shopbus/shop/catalog/option"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/content/article"
	"github.com/shopbus/shopbus/shop/inventory"
	"github.com/shopbus/shopbus/shop/order"
	"github.com/shopbus/shopbus/storefront"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/inproc"
)

const (
	adminEmail    = "admin@front.test"
	adminPassword = "admin-password"
	seoBaseURL    = "https://shop.example"
)

var quiet = slog.New(slog.DiscardHandler)

// fixtureBcryptCost is the bcrypt cost of the fixture's auth service: the
// cheapest, but for a benchmark that measures what hashing costs.
var fixtureBcryptCost = bcrypt.MinCost

// fixture is a shop for one test: the services on a node on a bus (the
// in-process one unless given), sample data, and the storefront on an
// httptest server.
//
// The catalogue: categories shoes > running; products Red Runner (running,
// red, 59 EUR), Blue Runner (running, blue, 69 EUR), Blue Boot (shoes,
// blue, 129 EUR), Trail Runner (running, red, sizes Small 65 EUR and
// Medium 79 EUR), the draft Secret Shoe; the article "Choosing running
// shoes".
//
// Stock: Red Runner 50 (in stock), Blue Runner 3 (only 3 left), Blue Boot
// no stock record (sold out), Trail Runner Small 10 and Medium 0. The
// order service pays with pay, a fake provider that approves until told
// otherwise.
type fixture struct {
	srv      *httptest.Server
	front    *storefront.Storefront
	bus      *switchBus
	logs     *logRecorder
	admin    context.Context
	products map[string]product.Product // by slug
	cats     map[string]category.Category
	article  article.Article
	pay      *order.FakePayment
	node     *host.Node
}

// newShop starts every service and the storefront, and fills the
// catalogue.
func newShop(t testing.TB, opts storefront.Options) *fixture {
	t.Helper()
	raw := inproc.New(inproc.Options{Logger: quiet})
	t.Cleanup(func() { raw.Close() })
	return newShopOn(t, raw, opts)
}

// newShopOn is newShop on a given bus.
func newShopOn(t testing.TB, raw transport.Bus, opts storefront.Options) *fixture {
	t.Helper()
	bus := &switchBus{Bus: raw, served: map[string][]served{}}
	pay := order.NewFakePayment()
	node := &host.Node{
		Bus: bus, Mongo: testenv.MongoClient(t), DBPrefix: testenv.UniqueName("front"), Services: host.Catalogue(), Logger: quiet,
		Settings: host.Settings{AdminEmail: adminEmail, AdminPassword: adminPassword, BcryptCost: fixtureBcryptCost, BaseURL: seoBaseURL,
			Payment: pay},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		dctx, dcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer dcancel()
		for _, svc := range host.Catalogue() {
			_ = node.Database(svc.Name).Drop(dctx)
		}
	})
	waitFor(t, "the services", func() bool { return node.Status(context.Background()).Ready })

	f := &fixture{bus: bus, products: map[string]product.Product{}, cats: map[string]category.Category{}, pay: pay, node: node}
	f.front, f.srv, f.logs = f.newFront(t, opts)

	s, err := auth.NewClient(bus).Login(context.Background(), auth.LoginRequest{Email: adminEmail, Password: adminPassword})
	if err != nil {
		t.Fatal(err)
	}
	f.admin = shop.WithToken(context.Background(), s.Token)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = attribute.NewClient(bus).Create(f.admin, attribute.CreateRequest{Code: "color", Name: "Colour", Type: attribute.TypeEnum, Values: []string{"red", "blue"}})
	must(err)
	_, err = option.NewClient(bus).CreateGroup(f.admin, option.CreateGroupRequest{Code: "size", Name: "Size", Values: []option.Value{{Code: "s", Label: "Small"}, {Code: "m", Label: "Medium"}}})
	must(err)
	cats := category.NewClient(bus)
	shoes, err := cats.Create(f.admin, category.CreateRequest{Name: "Shoes", Description: "Shoes for every day"})
	must(err)
	running, err := cats.Create(f.admin, category.CreateRequest{Name: "Running", ParentID: shoes.ID})
	must(err)
	f.cats["shoes"], f.cats["running"] = shoes, running
	prods := product.NewClient(bus)
	for _, p := range []product.CreateRequest{
		{Title: "Red Runner", Price: eur(5900), CategoryIDs: []string{running.ID}, Attributes: map[string]any{"color": "red"}, Status: shop.StatusPublished, Description: "Light and fast."},
		{Title: "Blue Runner", Price: eur(6900), CategoryIDs: []string{running.ID}, Attributes: map[string]any{"color": "blue"}, Status: shop.StatusPublished},
		{Title: "Blue Boot", Price: eur(12900), CategoryIDs: []string{shoes.ID}, Attributes: map[string]any{"color": "blue"}, Status: shop.StatusPublished},
		{Title: "Trail Runner", Price: eur(6500), CategoryIDs: []string{running.ID}, Attributes: map[string]any{"color": "red"}, Status: shop.StatusPublished,
			OptionGroups: []string{"size"}, VariantPrices: []product.VariantPrice{{Options: map[string]string{"size": "m"}, Price: eur(7900)}}},
		{Title: "Secret Shoe", Price: eur(100), CategoryIDs: []string{shoes.ID}},
	} {
		created, err := prods.Create(f.admin, p)
		must(err)
		f.products[created.Slug] = created
	}
	stock := map[string]int64{f.products["red-runner"].SKU: 50, f.products["blue-runner"].SKU: 3}
	for _, v := range f.products["trail-runner"].Variants {
		stock[v.SKU] = map[string]int64{"s": 10, "m": 0}[v.Options["size"]]
	}
	inv := inventory.NewClient(bus)
	for sku, n := range stock {
		_, err := inv.SetStock(f.admin, inventory.SetStockRequest{SKU: sku, OnHand: n})
		must(err)
	}
	f.article, err = article.NewClient(bus).Create(f.admin, article.CreateRequest{
		Title: "Choosing running shoes", Status: article.StatusPublished, Excerpt: "A short guide.", Tags: []string{"running"},
		Body: "Pick **light** shoes.\n\n<script>alert(1)</script>",
	})
	must(err)
	// The filter learns the products from events.
	waitFor(t, "the filter to hold the products", func() bool {
		res, err := filter.NewClient(bus).Query(context.Background(), filter.Query{CategoryID: shoes.ID})
		return err == nil && res.Total == 4
	})
	return f
}

// newFront starts another storefront (with its own log) on the fixture's
// bus, or on the bus wrap makes of it.
func (f *fixture) newFront(t testing.TB, opts storefront.Options, wrap ...func(transport.Bus) transport.Bus) (*storefront.Storefront, *httptest.Server, *logRecorder) {
	t.Helper()
	logs := &logRecorder{}
	var bus transport.Bus = f.bus
	for _, w := range wrap {
		bus = w(bus)
	}
	opts.Bus, opts.Logger = bus, slog.New(logs)
	front, err := storefront.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(front)
	t.Cleanup(srv.Close)
	return front, srv, logs
}

func eur(a int64) shop.Money { return shop.Money{Amount: a, Currency: "EUR"} }

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ---- a bus whose services can be stopped ----

// switchBus records the request consumers each service attaches, so that
// a test can stop a service for real (its requests then wait in its
// queue, unanswered) and start it again.
type switchBus struct {
	transport.Bus
	mu     sync.Mutex
	served map[string][]served
}

type served struct {
	h    transport.Handler
	opts []transport.ConsumerOption
	sub  transport.Subscription
}

func (b *switchBus) Serve(service string, h transport.Handler, opts ...transport.ConsumerOption) (transport.Subscription, error) {
	sub, err := b.Bus.Serve(service, h, opts...)
	if err == nil {
		b.mu.Lock()
		b.served[service] = append(b.served[service], served{h: h, opts: opts, sub: sub})
		b.mu.Unlock()
	}
	return sub, err
}

// stop detaches every request consumer of service; it starts again when
// the test ends, or with start.
func (b *switchBus) stop(t testing.TB, service string) {
	t.Helper()
	b.mu.Lock()
	list := b.served[service]
	b.mu.Unlock()
	if len(list) == 0 {
		t.Fatalf("service %s serves nothing", service)
	}
	for _, s := range list {
		if err := s.sub.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { b.start(t, service) })
}

// start attaches the stopped consumers of service again.
func (b *switchBus) start(t testing.TB, service string) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, s := range b.served[service] {
		sub, err := b.Bus.Serve(service, s.h, s.opts...)
		if err != nil {
			t.Fatal(err)
		}
		_ = s.sub.Close() // idempotent: closed already
		b.served[service][i].sub = sub
	}
}

// delayBus delays every call by d: a slow network, to show that a page
// makes its calls at the same time.
type delayBus struct {
	transport.Bus
	d time.Duration
}

func (b delayBus) Call(ctx context.Context, method string, body []byte) ([]byte, error) {
	select {
	case <-time.After(b.d):
	case <-ctx.Done():
		return nil, transport.ContextError(ctx)
	}
	return b.Bus.Call(ctx, method, body)
}

// ---- logs ----

// logRecorder is a slog.Handler keeping every record.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.records = append(l.records, r.Clone())
	l.mu.Unlock()
	return nil
}

// warned reports whether a record at WARN or above names service.
func (l *logRecorder) warned(service string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.records {
		if r.Level < slog.LevelWarn {
			continue
		}
		found := false
		r.Attrs(func(a slog.Attr) bool {
			found = found || a.Key == "service" && a.Value.String() == service
			return !found
		})
		if found {
			return true
		}
	}
	return false
}

// ---- a browser without a browser ----

// browser is an HTTP client with a cookie jar that does not follow redirects.
type browser struct {
	t    testing.TB
	c    *http.Client
	base string
}

func (f *fixture) browser(t testing.TB) *browser { return newBrowser(t, f.srv.URL) }

func newBrowser(t testing.TB, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// do sends a request; a non-nil body is sent as JSON.
func (b *browser) do(method, path string, body any, header ...string) (*http.Response, []byte) {
	b.t.Helper()
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, b.base+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.doRequest(req)
}

// doRequest sends req and reads the whole answer.
func (b *browser) doRequest(req *http.Request) (*http.Response, []byte) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, data
}

// json calls the API and decodes the answer into out, checking the status.
func (b *browser) json(method, path string, body any, wantStatus int, out any) {
	b.t.Helper()
	resp, data := b.do(method, path, body)
	if resp.StatusCode != wantStatus {
		b.t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, data, wantStatus)
	}
	if ct := resp.Header.Get("Content-Type"); wantStatus != http.StatusNoContent && ct != "application/json" {
		b.t.Errorf("%s %s: content type %q", method, path, ct)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			b.t.Fatalf("%s %s: %v in %s", method, path, err, data)
		}
	}
}

// apiError calls the API and returns the error it answers with.
func (b *browser) apiError(method, path string, body any, wantStatus int) storefront.APIError {
	b.t.Helper()
	var e storefront.APIError
	b.json(method, path, body, wantStatus, &e)
	if e.Error == nil || e.Error.Code == "" {
		b.t.Fatalf("%s %s: no error code", method, path)
	}
	return e
}

func (b *browser) cookie(name string) *http.Cookie {
	u, _ := url.Parse(b.base)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// page fetches an HTML page and returns its status and body; every page,
// error pages included, must be HTML.
func (b *browser) page(path string) (int, string) {
	b.t.Helper()
	resp, data := b.do(http.MethodGet, path, nil)
	if resp.StatusCode < 300 || resp.StatusCode >= 400 {
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			b.t.Errorf("GET %s: %d, content type %q", path, resp.StatusCode, ct)
		}
	}
	return resp.StatusCode, string(data)
}

// redirect fetches path and returns the status and Location.
func (b *browser) redirect(path string) (int, string) {
	b.t.Helper()
	resp, _ := b.do(http.MethodGet, path, nil)
	return resp.StatusCode, resp.Header.Get("Location")
}

var (
	formRE   = regexp.MustCompile(`(?s)<form action="([^"]*)" method="post"[^>]*>(.*?)</form>`)
	hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// forms returns the hidden fields of the POST forms on an HTML page whose
// action is action, in order.
func forms(page, action string) []url.Values {
	var out []url.Values
	for _, m := range formRE.FindAllStringSubmatch(page, -1) {
		if html.UnescapeString(m[1]) != action {
			continue
		}
		v := url.Values{}
		for _, h := range hiddenRE.FindAllStringSubmatch(m[2], -1) {
			v.Add(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
		}
		out = append(out, v)
	}
	return out
}

// post posts a form and returns the status, Location and body.
func (b *browser) post(path string, v url.Values) (int, string, string) {
	b.t.Helper()
	resp, err := b.c.PostForm(b.base+path, v)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(data)
}

// submit loads page, takes the first POST form on it to action whose
// hidden fields agree with match (CSRF token included), sets fields over
// them and posts it. It returns the status, Location and body.
func (b *browser) submit(page, action string, match, fields url.Values) (int, string, string) {
	b.t.Helper()
	code, body := b.page(page)
	if code != http.StatusOK {
		b.t.Fatalf("GET %s: %d", page, code)
	}
	for _, v := range forms(body, action) {
		ok := true
		for k := range match {
			ok = ok && v.Get(k) == match.Get(k)
		}
		if !ok {
			continue
		}
		if v.Get(storefront.CSRFField) == "" {
			b.t.Fatalf("the form to %s on %s has no CSRF field", action, page)
		}
		for k, vs := range fields {
			v[k] = vs
		}
		return b.post(action, v)
	}
	b.t.Fatalf("no form to %s matching %v on %s:\n%s", action, match, page, body)
	return 0, "", ""
}
