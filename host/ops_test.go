package host_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopbus/shopbus/host"
	"github.com/shopbus/shopbus/host/ops"
	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/transport"
)

// ledger is a test service that applies "ledgertest.*" events under the
// subscriber "ledger", failing while broken, and counts the applications
// of each event id.
type ledger struct {
	broken atomic.Bool
	// backlogErr, when set, is what the ledger's outbox backlog answers
	// (a store that does not answer); nil: the ledger has no outbox.
	backlogErr error
	mu         sync.Mutex
	applied    map[string]int
}

func newLedger() *ledger {
	l := &ledger{applied: map[string]int{}}
	l.broken.Store(true)
	return l
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
				return errors.New("ledger is broken")
			}
			l.mu.Lock()
			l.applied[ev.ID]++
			l.mu.Unlock()
			return nil
		}), opts...))
		st, err := a.Started(nil)
		if err == nil && l.backlogErr != nil {
			st.Backlog = func(context.Context) (shop.EventBacklog, error) { return shop.EventBacklog{}, l.backlogErr }
		}
		return st, err
	}}
}

// TestOperationsBacklogUnknown: a backlog that could not be read is
// reported as unknown, with why, never as an empty outbox.
func TestOperationsBacklogUnknown(t *testing.T) {
	bus := bustest.New(t, "inproc")
	l := newLedger()
	l.backlogErr = errors.New("ledger store: connection refused")
	_, admin, _ := opsNode(t, bus, l)
	rep, err := ops.NewClient(bus).Operations(admin, "ledger")
	if err != nil || rep.Backlog != nil || !strings.Contains(rep.BacklogError, "connection refused") {
		t.Fatalf("operations with an unreadable backlog: backlog %+v, error %q, %v", rep.Backlog, rep.BacklogError, err)
	}
}

// opsNode runs auth and a ledger on bus and returns the node with an
// admin's and a customer's contexts.
func opsNode(t *testing.T, bus transport.Bus, l *ledger) (n *host.Node, admin, customer context.Context) {
	t.Helper()
	a, _ := host.Builtin("auth")
	n = newNode(t, bus, []host.Service{a, l.service()})
	n.Settings.Replica = "r1"
	run(t, n)
	waitReady(t, n)
	ctx := context.Background()
	authc := auth.NewClient(bus)
	s, err := authc.Login(ctx, auth.LoginRequest{Email: adminEmail, Password: adminPassword})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := authc.Register(ctx, auth.RegisterRequest{Email: "carl@host.test", Password: "customer-password"}); err != nil {
		t.Fatal(err)
	}
	c, err := authc.Login(ctx, auth.LoginRequest{Email: "carl@host.test", Password: "customer-password"})
	if err != nil {
		t.Fatal(err)
	}
	return n, shop.WithToken(ctx, s.Token), shop.WithToken(ctx, c.Token)
}

// TestOperationsAdminOnly: every operations method refuses a caller
// without a session (unauthenticated) and a customer (forbidden), on
// every service, auth's own included; the service's own methods are
// still served next to them.
func TestOperationsAdminOnly(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		l := newLedger()
		_, _, customer := opsNode(t, bus, l)
		c := ops.NewClient(bus)
		for _, service := range []string{"auth", "ledger"} {
			for who, ctx := range map[string]context.Context{"anonymous": context.Background(), "a customer": customer} {
				want := transport.CodeForbidden
				if who == "anonymous" {
					want = transport.CodeUnauthenticated
				}
				calls := map[string]error{}
				_, calls["operations"] = c.Operations(ctx, service)
				_, calls["dead_letters"] = c.DeadLetters(ctx, service, ops.DeadLettersRequest{Subscriber: "ledger"})
				_, calls["replay"] = c.ReplayDeadLetters(ctx, service, ops.IDsRequest{Subscriber: "ledger", IDs: []string{"x"}})
				_, calls["discard"] = c.DiscardDeadLetters(ctx, service, ops.IDsRequest{Subscriber: "ledger", IDs: []string{"x"}})
				for name, err := range calls {
					if transport.CodeOf(err) != want {
						t.Errorf("%s calling %s.%s: %v, want %s", who, service, name, err, want)
					}
				}
			}
		}
		if got, err := transport.Invoke[string](context.Background(), bus, "ledger.ping", struct{}{}); err != nil || got != "pong" {
			t.Errorf("the ledger's own method: %q, %v", got, err)
		}
		// A service's describe lists the operations methods served on its
		// queue next to its own (auth's Handler is a service Mux).
		d, err := transport.Invoke[transport.Description](context.Background(), bus, "auth."+transport.DescribeMethod, transport.DescribeRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range append([]string{"login", transport.DescribeMethod}, ops.Names...) {
			if !slices.Contains(d.Methods, "auth."+name) {
				t.Errorf("auth.describe lists %v: no auth.%s", d.Methods, name)
			}
		}
		if !slices.IsSorted(d.Methods) || d.Version != shop.ContractVersion {
			t.Errorf("auth.describe: %+v", d)
		}
	})
}

// TestOperationsReportAndDeadLetters: the report of a service names the
// replica, the node's services, the service's method statistics and its
// subscribers' dead-letter counts; an event the broken subscriber parked
// is listed, replayed once the subscriber is fixed (and applied once), a
// discard removes another; bad requests are typed errors.
func TestOperationsReportAndDeadLetters(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		l := newLedger()
		n, admin, _ := opsNode(t, bus, l)
		c := ops.NewClient(bus)
		ctx := context.Background()
		if _, err := transport.Invoke[string](ctx, bus, "ledger.ping", struct{}{}); err != nil {
			t.Fatal(err)
		}
		if got := n.Subscribers("ledger"); len(got) != 1 || got[0] != "ledger" {
			t.Fatalf("Subscribers(ledger) = %v", got)
		}
		evs := []transport.Event{
			{ID: "ev-replay", Key: "ledgertest.entry.added", Body: []byte(`{"amount":` + strings.Repeat("1", ops.MaxBody+10) + `}`)},
			{ID: "ev-discard", Key: "ledgertest.entry.added", Body: []byte(`{"amount":"<b>2</b>"}`)},
		}
		for _, ev := range evs {
			if err := bus.Publish(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		var rep ops.Report
		waitFor(t, "two parked events in the report", func() bool {
			var err error
			rep, err = c.Operations(admin, "ledger")
			if err != nil {
				t.Fatal(err)
			}
			return len(rep.Subscribers) == 1 && rep.Subscribers[0].DeadLetters == 2
		})
		if rep.Service != "ledger" || rep.Node != "r1" || rep.Subscribers[0].Name != "ledger" || rep.Subscribers[0].More {
			t.Errorf("report = %+v", rep)
		}
		if len(rep.Services) != 2 || rep.Services[0].Name != "auth" || rep.Services[1].Name != "ledger" || rep.Services[1].State != host.StateServing || rep.Services[1].Starts != 1 {
			t.Errorf("report services = %+v", rep.Services)
		}
		var ping *ops.MethodStats
		for i, m := range rep.Methods {
			if !strings.HasPrefix(m.Method, "ledger.") {
				t.Errorf("the ledger's report has %s", m.Method)
			}
			if m.Method == "ledger.ping" {
				ping = &rep.Methods[i]
			}
		}
		if ping == nil || ping.Requests != 1 || ping.Errors != 0 || ping.P50 <= 0 || ping.P99 < ping.P50 {
			t.Errorf("ledger.ping statistics = %+v", ping)
		}
		if rep.Backlog != nil {
			t.Errorf("a service without an outbox has a backlog: %+v", rep.Backlog)
		}
		if r, err := c.Operations(admin, "auth"); err != nil || len(r.Subscribers) != 0 || r.Service != "auth" {
			t.Errorf("auth's report = %+v, %v", r, err)
		}

		dl, err := c.DeadLetters(admin, "ledger", ops.DeadLettersRequest{Subscriber: "ledger"})
		if err != nil {
			t.Fatal(err)
		}
		if len(dl.Events) != 2 || dl.More {
			t.Fatalf("dead letters = %+v", dl)
		}
		byID := map[string]ops.DeadLetter{}
		for _, d := range dl.Events {
			byID[d.ID] = d
			if d.Key != "ledgertest.entry.added" || d.Attempts != 2 || d.Reason == "" || d.ParkedAt.IsZero() || d.Time.IsZero() {
				t.Errorf("dead letter %+v", d)
			}
		}
		if d := byID["ev-replay"]; len(d.Body) != ops.MaxBody || !d.Truncated {
			t.Errorf("long body: %d bytes, truncated %v", len(d.Body), d.Truncated)
		}
		if d := byID["ev-discard"]; d.Body != `{"amount":"<b>2</b>"}` || d.Truncated {
			t.Errorf("short body: %q, truncated %v", d.Body, d.Truncated)
		}
		if one, err := c.DeadLetters(admin, "ledger", ops.DeadLettersRequest{Subscriber: "ledger", Max: 1}); err != nil || len(one.Events) != 1 || !one.More {
			t.Errorf("max 1: %+v, %v", one, err)
		}

		l.broken.Store(false)
		if n, err := c.ReplayDeadLetters(admin, "ledger", ops.IDsRequest{Subscriber: "ledger", IDs: []string{"ev-replay", "unknown"}}); err != nil || n.Count != 1 {
			t.Fatalf("replay = %+v, %v", n, err)
		}
		waitFor(t, "the replayed event to be applied", func() bool { return l.count("ev-replay") == 1 })
		if n, err := c.DiscardDeadLetters(admin, "ledger", ops.IDsRequest{Subscriber: "ledger", IDs: []string{"ev-discard"}}); err != nil || n.Count != 1 {
			t.Fatalf("discard = %+v, %v", n, err)
		}
		if n, err := c.ReplayDeadLetters(admin, "ledger", ops.IDsRequest{Subscriber: "ledger", IDs: []string{"ev-replay", "ev-discard"}}); err != nil || n.Count != 0 {
			t.Errorf("replay again = %+v, %v", n, err)
		}
		time.Sleep(200 * time.Millisecond)
		if a, b := l.count("ev-replay"), l.count("ev-discard"); a != 1 || b != 0 {
			t.Errorf("applied: replayed %d times, discarded %d times; want 1 and 0", a, b)
		}
		if dl, err := c.DeadLetters(admin, "ledger", ops.DeadLettersRequest{Subscriber: "ledger"}); err != nil || len(dl.Events) != 0 {
			t.Errorf("dead letters at the end = %+v, %v", dl, err)
		}

		bad := map[string]error{}
		_, bad["unknown subscriber"] = c.DeadLetters(admin, "ledger", ops.DeadLettersRequest{Subscriber: "filter"})
		_, bad["another service's subscriber"] = c.DeadLetters(admin, "auth", ops.DeadLettersRequest{Subscriber: "ledger"})
		_, bad["no subscriber"] = c.DeadLetters(admin, "ledger", ops.DeadLettersRequest{})
		_, bad["max too large"] = c.DeadLetters(admin, "ledger", ops.DeadLettersRequest{Subscriber: "ledger", Max: ops.MaxDeadLetters + 1})
		_, bad["no ids"] = c.ReplayDeadLetters(admin, "ledger", ops.IDsRequest{Subscriber: "ledger"})
		_, bad["too many ids"] = c.DiscardDeadLetters(admin, "ledger", ops.IDsRequest{Subscriber: "ledger", IDs: make([]string, ops.MaxIDs+1)})
		_, bad["empty id"] = c.DiscardDeadLetters(admin, "ledger", ops.IDsRequest{Subscriber: "ledger", IDs: []string{""}})
		_, bad["malformed body"] = bus.Call(admin, ops.Method("ledger", ops.NameReplay), []byte(`{"ids":"x"}`))
		want := map[string]transport.Code{"unknown subscriber": transport.CodeNotFound, "another service's subscriber": transport.CodeNotFound}
		for name, err := range bad {
			code := transport.CodeInvalid
			if c, ok := want[name]; ok {
				code = c
			}
			if transport.CodeOf(err) != code {
				t.Errorf("%s: %v, want %s", name, err, code)
			}
		}
	})
}
