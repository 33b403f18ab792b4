package order_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/shoptest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/inventory"
	"github.com/shopbus/shopbus/shop/order"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/rabbit"
)

// TestCrashMidSaga kills the order service's runner at points of the
// saga (it stops as a dead process would: nothing more written, its lease
// left to run out), then starts another server on the same database:
// while the lease runs it takes nothing over; after, it finishes each
// order, confirmed or failed-and-compensated, with stock and payment
// consistent and never two authorisations.
func TestCrashMidSaga(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		e := start(t, bus, order.Options{})
		cases := []struct {
			name    string
			step    string
			done    bool
			mode    order.FakeMode
			status  string
			payment string
			onHand  int64
			res     string
		}{
			{"between reserve and authorise", "authorize", false, order.FakeApprove, order.StatusPaid, order.PaymentCaptured, 4, inventory.StateCommitted},
			{"after authorising, before recording it", "authorize", true, order.FakeApprove, order.StatusPaid, order.PaymentCaptured, 4, inventory.StateCommitted},
			{"after committing, before confirming", "commit", true, order.FakeApprove, order.StatusPaid, order.PaymentCaptured, 4, inventory.StateCommitted},
			{"before capturing", "capture", false, order.FakeApprove, order.StatusPaid, order.PaymentCaptured, 4, inventory.StateCommitted},
			{"between reserve and a declined payment", "authorize", false, order.FakeDecline, order.StatusFailed, order.PaymentVoided, 5, inventory.StateReleased},
			{"mid-compensation", "compensate", false, order.FakeDecline, order.StatusFailed, order.PaymentVoided, 5, inventory.StateReleased},
		}
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				p := e.product(t, fmt.Sprint("Crash ", i), 1000, 5)
				customer, _ := e.auth.NewCustomer(t, "", "")
				e.add(t, customer, p, 1)
				e.pay.SetMode(c.mode)
				order.SetCrash(e.srv, func(step string, done bool) bool { return step == c.step && done == c.done })
				o := e.place(t, customer, request())
				order.SetCrash(e.srv, nil)
				if o.Status != order.StatusPending && c.step != "capture" && c.step != "compensate" || o.Settled {
					t.Fatalf("interrupted order %+v", o)
				}
				restarted := e.newServer(t, bus, order.Options{})
				if n := must(restarted.Recover(context.Background()))(t); n != 0 {
					t.Fatalf("took over %d orders whose runner's lease was live", n)
				}
				e.clock.Advance(order.DefaultLease + time.Second)
				if n := must(restarted.Recover(context.Background()))(t); n != 1 {
					t.Fatalf("took over %d orders, want 1", n)
				}
				got := must(e.orders.Get(customer, order.GetRequest{ID: o.ID}))(t)
				if got.Status != c.status || got.Payment != c.payment || !got.Settled {
					t.Fatalf("recovered order %+v", got)
				}
				if st := e.pay.State(o.ID); st != c.payment {
					t.Fatalf("provider's payment %q, want %q", st, c.payment)
				}
				if n := e.pay.Authorizations(o.ID); (c.mode == order.FakeApprove) != (n == 1) || n > 1 {
					t.Fatalf("%d authorisations", n)
				}
				e.wantStock(t, p.SKU, c.onHand, 0)
				if res := must(e.inv.GetReservation(e.auth.Admin, inventory.OrderRequest{OrderID: o.ID}))(t); res.State != c.res {
					t.Fatalf("reservation %+v, want %s", res, c.res)
				}
				e.pay.SetMode(order.FakeApprove)
			})
		}
	})
}

// TestNoOversellAcrossReplicas: 50 shoppers check out at once a SKU with
// 10 in stock, through two order replicas and two inventory replicas on
// RabbitMQ (a connection each, one database per service): exactly 10
// orders are paid, 40 failed as out of stock, the stock ends at 0 with
// nothing reserved and no reservation left open.
func TestNoOversellAcrossReplicas(t *testing.T) {
	url := testenv.AMQPURL(t)
	ns := bustest.Namespace()
	dial := func(name string) transport.Bus {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		b, err := rabbit.Dial(ctx, rabbit.Options{URL: url, Namespace: ns, Name: name, Logger: quiet(), ExpireUnused: 10 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	callers := dial("callers")
	e := &env{bus: callers, clock: &clock{}, pay: order.NewFakePayment()}
	e.auth = shoptest.StartAuth(t, callers)
	prod, err := product.New(testenv.MongoDB(t, "product_"+t.Name()), product.Options{Auth: e.auth.Client, Events: callers, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	bind(t, func() (transport.Subscription, error) { return product.Bind(callers, prod) })
	cs, err := cart.New(testenv.MongoDB(t, "cart_"+t.Name()), cart.Options{Auth: e.auth.Client, Products: product.NewClient(callers), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	bind(t, func() (transport.Subscription, error) { return cart.Bind(callers, cs) })
	invDB := testenv.MongoDB(t, "inventory_"+t.Name())
	e.db = testenv.MongoDB(t, "order_"+t.Name())
	var served [2]atomic.Int64
	for i := range 2 {
		bus := dial(fmt.Sprint("inventory-", i))
		inv, err := inventory.New(invDB, inventory.Options{Auth: auth.NewClient(bus), Events: bus, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		bind(t, func() (transport.Subscription, error) { return inventory.Bind(bus, inv) })
		bus = dial(fmt.Sprint("order-", i))
		srv := e.newServer(t, bus, order.Options{})
		counted := transport.HandlerFunc(func(ctx context.Context, req *transport.Request) ([]byte, error) {
			if req.Method == order.MethodPlace {
				served[i].Add(1)
			}
			return order.Handler(srv).ServeBus(ctx, req)
		})
		bind(t, func() (transport.Subscription, error) { return bus.Serve(order.ServiceName, counted) })
	}
	e.products, e.carts, e.inv, e.orders = product.NewClient(callers), cart.NewClient(callers), inventory.NewClient(callers), order.NewClient(callers)
	hot := e.product(t, "Hot item", 2500, 10)

	const buyers = 50
	shoppers := make([]context.Context, buyers)
	for i := range shoppers {
		shoppers[i], _ = e.auth.NewCustomer(t, "", "")
		e.add(t, shoppers[i], hot, 1)
	}
	orders := make([]order.Order, buyers)
	var wg sync.WaitGroup
	for i := range buyers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(transport.WithRequestID(shoppers[i], transport.NewRequestID()), 60*time.Second)
			defer cancel()
			o, err := e.orders.Place(ctx, request())
			if err != nil {
				t.Errorf("buyer %d: %v", i, err)
			}
			orders[i] = o
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	paid, short := 0, 0
	for i, o := range orders {
		switch {
		case o.Status == order.StatusPaid && o.Payment == order.PaymentCaptured:
			paid++
		case o.Status == order.StatusFailed && o.Reason == "out of stock: Hot item (only 0 left)":
			short++
		default:
			t.Errorf("buyer %d: order %+v", i, o)
		}
		res := must(e.inv.GetReservation(e.auth.Admin, inventory.OrderRequest{OrderID: o.ID}))(t)
		want := map[string]string{order.StatusPaid: inventory.StateCommitted, order.StatusFailed: inventory.StateRejected}[o.Status]
		if res.State != want {
			t.Errorf("buyer %d: %s order's reservation is %s, want %s", i, o.Status, res.State, want)
		}
		if n := e.pay.Authorizations(o.ID); n != map[string]int{order.StatusPaid: 1}[o.Status] {
			t.Errorf("buyer %d: %s order has %d authorisations", i, o.Status, n)
		}
	}
	if paid != 10 || short != buyers-10 {
		t.Fatalf("%d orders paid and %d out of stock, want 10 and %d", paid, short, buyers-10)
	}
	if served[0].Load() == 0 || served[1].Load() == 0 {
		t.Fatalf("one order replica served every checkout (%d, %d)", served[0].Load(), served[1].Load())
	}
	e.wantStock(t, hot.SKU, 0, 0)
}
