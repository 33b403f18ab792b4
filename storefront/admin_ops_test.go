package storefront_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopbus/shopbus/host"
	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/storefront"
	"github.com/shopbus/shopbus/transport"
)

// ledger is a test service hosted by the node: it applies
// "ledgertest.#" events under the subscriber "ledger" (deduplicating by
// event id, as the shop's subscribers do), and fails while broken.
type ledger struct {
	broken  atomic.Bool
	mu      sync.Mutex
	applied map[string]int // applications per event id
}

func (l *ledger) count(id string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.applied[id]
}

func (l *ledger) service() host.Service {
	return host.Service{Name: "ledger", Start: func(ctx context.Context, env host.Env) (*host.Started, error) {
		mux := transport.NewMux()
		transport.Handle(mux, "ledger.ping", func(ctx context.Context, _ struct{}) (string, error) { return "pong", nil })
		var a host.Attach
		a.Add(env.Bus.Serve("ledger", mux, env.Consumer...))
		opts := append(env.Consumer, transport.WithMaxAttempts(2), transport.WithRetryDelay(10*time.Millisecond))
		a.Add(env.Bus.Subscribe("ledger", "ledgertest.#", transport.EventHandlerFunc(func(ctx context.Context, ev transport.Event) error {
			if l.broken.Load() {
				return errors.New("the ledger is broken")
			}
			l.mu.Lock()
			l.applied[ev.ID]++
			l.mu.Unlock()
			return nil
		}), opts...))
		return a.Started(nil)
	}}
}

// opsShop runs auth, the seeder and a ledger on a node (replica "r1") on
// bus, and a storefront whose operations page asks those three and the
// product service, which does not run.
func opsShop(t *testing.T, bus transport.Bus, l *ledger) *fixture {
	t.Helper()
	t.Cleanup(storefront.SetOperationsServices([]string{"auth", "product", "seeder", "ledger"}))
	a, _ := host.Builtin("auth")
	sd, _ := host.Builtin("seeder")
	services := []host.Service{a, sd, l.service()}
	node := &host.Node{Bus: bus, Mongo: testenv.MongoClient(t), DBPrefix: testenv.UniqueName("ops"), Services: services, Logger: quiet,
		Settings: host.Settings{AdminEmail: adminEmail, AdminPassword: adminPassword, BcryptCost: fixtureBcryptCost, Replica: "r1"}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		dctx, dcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer dcancel()
		for _, svc := range services {
			_ = node.Database(svc.Name).Drop(dctx)
		}
	})
	waitFor(t, "the services", func() bool { return node.Status(context.Background()).Ready })
	front, err := storefront.New(storefront.Options{Bus: bus, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(front)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, front: front}
}

// opsAdmin logs the admin in and loads a console page, for a CSRF token.
func opsAdmin(t *testing.T, f *fixture) *browser {
	t.Helper()
	b := f.browser(t)
	b.json("POST", "/api/login", map[string]string{"email": adminEmail, "password": adminPassword}, 200, nil)
	if code, _ := b.page("/admin/operations/ledger/dead-letters"); code != 200 {
		t.Fatalf("dead letters page: %d", code)
	}
	return b
}

// parked waits until the ledger's dead-letter queue holds the events ids
// and nothing else.
func parked(t *testing.T, bus transport.Bus, ids ...string) {
	t.Helper()
	var got []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		evs, err := bus.PeekDeadLetters(context.Background(), "ledger", 10)
		if err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		for _, ev := range evs {
			got = append(got, ev.ID)
		}
		slices.Sort(got)
		if slices.Equal(got, ids) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("parked events %v, want %v", got, ids)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// eventForm is the hidden fields of the form on page that posts to
// action for the one event id.
func eventForm(t *testing.T, page, action, id string) url.Values {
	t.Helper()
	for _, v := range forms(page, action) {
		if len(v["id"]) == 1 && v.Get("id") == id {
			return v
		}
	}
	t.Fatalf("no form to %s for %s on the page:\n%s", action, id, page)
	return nil
}

// TestAdminOperationsReplay is the dead-letter replay test: an
// event the broken ledger subscriber parked is shown on the console,
// replayed from it once the subscriber is fixed (a POST to the replay
// URL, as the page's form sends it), and applied exactly once, a double
// submit included; another is discarded and never applied. Customers and
// forged forms change nothing. On both buses.
func TestAdminOperationsReplay(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		l := &ledger{applied: map[string]int{}}
		l.broken.Store(true)
		f := opsShop(t, bus, l)
		ctx := context.Background()
		if _, err := transport.Invoke[string](ctx, bus, "ledger.ping", struct{}{}); err != nil {
			t.Fatal(err)
		}
		for _, ev := range []transport.Event{
			{ID: "ev-replay", Key: "ledgertest.entry.added", Body: []byte(`{"note":"<script>alert(1)</script>"}`)},
			{ID: "ev-discard", Key: "ledgertest.entry.added", Body: []byte(`{"note":"` + strings.Repeat("x", 5000) + `"}`)},
		} {
			if err := bus.Publish(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		parked(t, bus, "ev-discard", "ev-replay")
		const list = "/admin/operations/ledger/dead-letters?subscriber=ledger"
		const replay, discard = "/admin/operations/ledger/dead-letters/replay", "/admin/operations/ledger/dead-letters/discard"
		one := url.Values{"subscriber": {"ledger"}, "id": {"ev-replay"}}

		// A guest is sent to log in; a customer gets 403 pages and cannot act.
		guest := f.browser(t)
		for _, p := range []string{"/admin/operations", list} {
			if code, loc := guest.redirect(p); code != 303 || !strings.HasPrefix(loc, "/login?next=") {
				t.Errorf("guest GET %s: %d %q", p, code, loc)
			}
		}
		cust := customer(t, f, "carl@ops.test")
		for _, p := range []string{"/admin/operations", list} {
			if code, body := cust.page(p); code != 403 || !strings.Contains(body, "for its staff only") {
				t.Errorf("customer GET %s: %d", p, code)
			}
		}
		for _, p := range []string{replay, discard} {
			if code, _, _ := cust.post(p, cust.withToken(one)); code != 403 {
				t.Errorf("customer POST %s: %d", p, code)
			}
		}

		// The admin's overview: states, statistics, counts, the replica,
		// a service that does not answer, the seeder's runs.
		admin := opsAdmin(t, f)
		code, page := admin.page("/admin/operations")
		if code != 200 {
			t.Fatalf("operations: %d\n%s", code, page)
		}
		for _, want := range []string{`id="service-ledger"`, `Replica <strong class="ops-replica">r1</strong> answered`, `status-serving`,
			`<td>ledger.ping</td><td>1</td><td>0</td>`, `<a class="dead-count" href="` + strings.ReplaceAll(list, "&", "&amp;") + `">2</a>`,
			`id="service-product"`, `<small class="ops-down">not answering</small>`, `No runs recorded.`, `href="/admin/operations" aria-current="page"`} {
			if !strings.Contains(page, want) {
				t.Errorf("operations page without %q", want)
			}
		}
		if t.Failed() {
			t.Logf("%s", page)
		}

		// The dead letters, with their bodies escaped and cut.
		code, page = admin.page(list)
		if code != 200 || !strings.Contains(page, `<code class="event-id">ev-replay</code>`) || !strings.Contains(page, `<code class="event-id">ev-discard</code>`) {
			t.Fatalf("dead letters: %d\n%s", code, page)
		}
		if strings.Contains(page, "<script>alert") || !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") || !strings.Contains(page, "(truncated)") {
			t.Errorf("bodies not escaped or not cut:\n%s", page)
		}

		// A forged form (no token, a wrong one) changes nothing.
		for _, token := range []string{"", "wrong"} {
			v := cloneForm(one)
			if token != "" {
				v.Set(storefront.CSRFField, token)
			}
			if code, _, body := admin.post(replay, v); code != 403 || !strings.Contains(body, "form has expired") {
				t.Errorf("replay with token %q: %d", token, code)
			}
		}
		parked(t, bus, "ev-discard", "ev-replay")
		if n := l.count("ev-replay"); n != 0 {
			t.Fatalf("applied %d times before the fix", n)
		}

		// Fixed, the event is replayed from the console and applied once.
		l.broken.Store(false)
		form := eventForm(t, page, replay, "ev-replay")
		code, loc, _ := admin.post(replay, form)
		if code != 303 || loc != list+"&count=1&done=replayed" {
			t.Fatalf("replay: %d %q", code, loc)
		}
		waitFor(t, "the replayed event to be applied", func() bool { return l.count("ev-replay") == 1 })
		if code, page := admin.page(loc); code != 200 || !strings.Contains(page, "1 event(s) replayed") || strings.Contains(page, "ev-replay") {
			t.Errorf("after the replay: %d\n%s", code, page)
		}
		// The same form again (a double submit) replays nothing.
		if code, loc, _ := admin.post(replay, form); code != 303 || loc != list+"&count=0&done=replayed" {
			t.Errorf("second replay: %d %q", code, loc)
		}
		time.Sleep(300 * time.Millisecond)
		if n := l.count("ev-replay"); n != 1 {
			t.Errorf("the replayed event was applied %d times, want once", n)
		}

		// Discard: the other event goes, never applied.
		code, loc, _ = admin.post(discard, eventForm(t, page, discard, "ev-discard"))
		if code != 303 || loc != list+"&count=1&done=discarded" {
			t.Fatalf("discard: %d %q", code, loc)
		}
		parked(t, bus)
		if code, page := admin.page(loc); code != 200 || !strings.Contains(page, "Nothing is parked.") {
			t.Errorf("after the discard: %d\n%s", code, page)
		}
		time.Sleep(200 * time.Millisecond)
		if n := l.count("ev-discard"); n != 0 {
			t.Errorf("the discarded event was applied %d times", n)
		}

		// Bad requests: no event chosen, a subscriber the service does
		// not have, a malformed service name.
		if code, _, body := admin.post(replay, admin.withToken(url.Values{"subscriber": {"ledger"}})); code != 400 || !strings.Contains(body, "event ids") {
			t.Errorf("replay of nothing: %d", code)
		}
		if code, _ := admin.page("/admin/operations/ledger/dead-letters?subscriber=filter"); code != 404 {
			t.Errorf("unknown subscriber: %d", code)
		}
		if code, _ := admin.page("/admin/operations/Not%20A%20Service/dead-letters"); code != 404 {
			t.Errorf("malformed service: %d", code)
		}
	})
}

// TestOperationsServicesAreTheShops: the operations page asks every
// service of the shop.
func TestOperationsServicesAreTheShops(t *testing.T) {
	if got := storefront.OperationsServices(); !slices.Equal(got, host.Names) {
		t.Errorf("the operations page asks %v, the shop has %v", got, host.Names)
	}
}
