package inventory_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/shoptest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/inventory"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/rabbit"
)

func TestReserveAllOrNothing(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		e := start(t, bus, inventory.Options{})
		e.set(t, "A", 5)
		e.set(t, "B", 1)

		// B is short: nothing is held, and the error names the short lines.
		_, err := e.inv.Reserve(e.customer, reserve("o1", line("A", 2), line("B", 2), line("GONE", 1)))
		wantField(t, err, transport.CodeConflict, "lines[1].quantity", "only 1 available")
		wantField(t, err, transport.CodeConflict, "lines[2].quantity", "only 0 available")
		e.wantStock(t, "A", 5, 0)
		e.wantStock(t, "B", 1, 0)
		r := must(e.inv.GetReservation(e.customer, inventory.OrderRequest{OrderID: "o1"}))(t)
		if r.State != inventory.StateRejected || r.Reason == "" {
			t.Fatalf("rejected reservation: %+v", r)
		}
		// The same order again gives the same answer, even once stock is back.
		e.set(t, "B", 9)
		_, err = e.inv.Reserve(e.customer, reserve("o1", line("A", 2), line("B", 2), line("GONE", 1)))
		wantField(t, err, transport.CodeConflict, "lines[1].quantity", "only 1 available")

		// A reservation that fits holds every line until it expires.
		r = must(e.inv.Reserve(e.customer, inventory.ReserveRequest{OrderID: "o2", Lines: []inventory.Line{line("A", 2), line("B", 3)}, ExpiresIn: 60}))(t)
		if r.State != inventory.StateReserved || r.UserID != e.auth.CustomerUser.UserID || !r.ExpiresAt.Equal(e.clock.Now().Add(time.Minute)) {
			t.Fatalf("reserved: %+v", r)
		}
		e.wantStock(t, "A", 5, 2)
		e.wantStock(t, "B", 9, 3)
		again := must(e.inv.Reserve(e.customer, inventory.ReserveRequest{OrderID: "o2", Lines: []inventory.Line{line("A", 2), line("B", 3)}, ExpiresIn: 60}))(t)
		if again.Version != r.Version || again.State != inventory.StateReserved {
			t.Fatalf("reserve again: %+v, first %+v", again, r)
		}
		e.wantStock(t, "A", 5, 2)
		_, err = e.inv.Reserve(e.customer, reserve("o2", line("A", 1)))
		wantCode(t, err, transport.CodeConflict) // other lines

		// Another customer may neither see, commit, release nor take it.
		other, _ := e.auth.NewCustomer(t, "", "")
		_, err = e.inv.GetReservation(other, inventory.OrderRequest{OrderID: "o2"})
		wantCode(t, err, transport.CodeForbidden)
		_, err = e.inv.Commit(other, inventory.OrderRequest{OrderID: "o2"})
		wantCode(t, err, transport.CodeForbidden)
		_, err = e.inv.Release(other, inventory.OrderRequest{OrderID: "o2"})
		wantCode(t, err, transport.CodeForbidden)
		_, err = e.inv.Reserve(other, reserve("o2", line("A", 2), line("B", 3)))
		wantCode(t, err, transport.CodeForbidden)
		_, err = e.inv.Reserve(context.Background(), reserve("o9", line("A", 1)))
		wantCode(t, err, transport.CodeUnauthenticated)

		// Commit: the units leave on hand; again changes nothing.
		c := must(e.inv.Commit(e.customer, inventory.OrderRequest{OrderID: "o2"}))(t)
		if c.State != inventory.StateCommitted {
			t.Fatalf("commit: %+v", c)
		}
		e.wantStock(t, "A", 3, 0)
		e.wantStock(t, "B", 6, 0)
		must(e.inv.Commit(e.customer, inventory.OrderRequest{OrderID: "o2"}))(t)
		e.wantStock(t, "A", 3, 0)
		_, err = e.inv.Release(e.customer, inventory.OrderRequest{OrderID: "o2"})
		wantCode(t, err, transport.CodeConflict)

		// Release: the units come back; again changes nothing; an admin may.
		must(e.inv.Reserve(e.customer, reserve("o3", line("A", 3))))(t)
		e.wantStock(t, "A", 3, 3)
		_, err = e.inv.Reserve(e.customer, reserve("o4", line("A", 1)))
		wantField(t, err, transport.CodeConflict, "lines[0].quantity", "only 0 available")
		rel := must(e.inv.Release(e.admin, inventory.OrderRequest{OrderID: "o3"}))(t)
		if rel.State != inventory.StateReleased {
			t.Fatalf("release: %+v", rel)
		}
		e.wantStock(t, "A", 3, 0)
		must(e.inv.Release(e.customer, inventory.OrderRequest{OrderID: "o3"}))(t)
		e.wantStock(t, "A", 3, 0)
		_, err = e.inv.Commit(e.customer, inventory.OrderRequest{OrderID: "o3"})
		wantCode(t, err, transport.CodeConflict)
		_, err = e.inv.Reserve(e.customer, reserve("o3", line("A", 3)))
		wantCode(t, err, transport.CodeConflict)
		_, err = e.inv.Commit(e.customer, inventory.OrderRequest{OrderID: "never"})
		wantCode(t, err, transport.CodeNotFound)

		// A release that overtakes its reserve: the late reserve holds nothing.
		early := must(e.inv.Release(e.customer, inventory.OrderRequest{OrderID: "o5"}))(t)
		if early.State != inventory.StateReleased || len(early.Lines) != 0 {
			t.Fatalf("early release: %+v", early)
		}
		_, err = e.inv.Reserve(e.customer, reserve("o5", line("A", 1)))
		wantCode(t, err, transport.CodeConflict)
		e.wantStock(t, "A", 3, 0)

		// Bad input.
		_, err = e.inv.Reserve(e.customer, reserve("", line("A", 1)))
		wantField(t, err, transport.CodeInvalid, "order_id", "")
		_, err = e.inv.Reserve(e.customer, reserve("o6"))
		wantField(t, err, transport.CodeInvalid, "lines", "")
		_, err = e.inv.Reserve(e.customer, reserve("o6", line("A", 1), line("A", 1)))
		wantField(t, err, transport.CodeInvalid, "lines[1].sku", "")
		_, err = e.inv.Reserve(e.customer, reserve("o6", line("A", 0)))
		wantField(t, err, transport.CodeInvalid, "lines[0].quantity", "")
		_, err = e.inv.Reserve(e.customer, inventory.ReserveRequest{OrderID: "o6", Lines: []inventory.Line{line("A", 1)}, ExpiresIn: 86401})
		wantField(t, err, transport.CodeInvalid, "expires_in", "")
		_, err = e.inv.Reserve(e.customer, reserve("o/6", line("A", 1)))
		wantField(t, err, transport.CodeInvalid, "order_id", "")
		_, err = e.inv.Release(e.customer, inventory.OrderRequest{OrderID: "{\"$gt\":\"\"}"})
		wantField(t, err, transport.CodeInvalid, "order_id", "")
		e.wantStock(t, "A", 3, 0)
	})
}

func TestExpiryWithTwoSweepers(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		e := start(t, bus, inventory.Options{})
		second := newServer(t, e.db, bus, e, inventory.Options{})
		e.set(t, "A", 10)
		for i := range 6 {
			must(e.inv.Reserve(e.customer, inventory.ReserveRequest{OrderID: fmt.Sprint("x", i), Lines: []inventory.Line{line("A", 1)}, ExpiresIn: int64(60 * (1 + i%2))}))(t)
		}
		e.wantStock(t, "A", 10, 6)

		e.clock.Advance(time.Minute) // the odd ones have another minute
		var wg sync.WaitGroup
		var results [2]inventory.SweepResult
		for i, srv := range []*inventory.Server{e.srv, second} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := srv.Sweep(context.Background())
				if err != nil {
					t.Error(err)
				}
				results[i] = res
			}()
		}
		wg.Wait()
		if got := results[0].Expired + results[1].Expired; got != 3 {
			t.Fatalf("the sweepers released %d reservations (%+v), want 3", got, results)
		}
		e.wantStock(t, "A", 10, 3)
		r := must(e.inv.GetReservation(e.customer, inventory.OrderRequest{OrderID: "x0"}))(t)
		if r.State != inventory.StateReleased || r.Reason != "expired" {
			t.Fatalf("expired reservation: %+v", r)
		}
		_, err := e.inv.Commit(e.customer, inventory.OrderRequest{OrderID: "x0"})
		wantCode(t, err, transport.CodeConflict)

		// Committing an expired reservation the sweeper has not reached
		// yet releases it and says so.
		e.clock.Advance(time.Minute)
		_, err = e.inv.Commit(e.customer, inventory.OrderRequest{OrderID: "x1"})
		wantCode(t, err, transport.CodeConflict)
		e.wantStock(t, "A", 10, 2)
		res := must(second.Sweep(context.Background()))(t)
		if res.Expired != 2 {
			t.Fatalf("second sweep: %+v", res)
		}
		e.wantStock(t, "A", 10, 0)

		// Finished reservations are forgotten after the retention.
		e.clock.Advance(inventory.DefaultRetention + time.Minute)
		res = must(e.srv.Sweep(context.Background()))(t)
		if res.Deleted != 6 {
			t.Fatalf("retention sweep: %+v", res)
		}
		_, err = e.inv.GetReservation(e.customer, inventory.OrderRequest{OrderID: "x0"})
		wantCode(t, err, transport.CodeNotFound)
	})
}

// TestCrashMidway simulates a replica that died between the steps of a
// transition, by writing what it would have left: a reservation in a
// transitional state with its lease out, and some of its stock writes
// applied. A retry finishes it; the sweeper undoes a reserve and
// completes a commit or release.
func TestCrashMidway(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		e := start(t, bus, inventory.Options{Lease: 10 * time.Second})
		e.set(t, "A", 10)
		e.set(t, "B", 10)
		res := e.db.Collection("reservations")

		// halfDone reserves order, then rewinds it to state with A done
		// and B not, as a runner that died after its first stock write.
		halfDone := func(t *testing.T, order, state string, undoB func()) {
			t.Helper()
			must(e.inv.Reserve(e.customer, reserve(order, line("A", 2), line("B", 3))))(t)
			undoB()
			// Rewind the reservation: on FerretDB through the version log
			// the service keeps (docstore.Versions), which readers follow.
			setState(t, e, order, state, e.clock.Now().Add(10*time.Second))
		}
		undoHoldB := func() {
			t.Helper()
			e.setStockRaw(t, "B", func(d bson.M) {
				d["reserved"] = d["reserved"].(int64) - 3
				d["holds"] = bson.A{}
			})
		}

		// 1. A reserve died after holding A: a retry takes over once the
		// lease is out, and finishes it.
		halfDone(t, "r1", inventory.StateReserving, undoHoldB)
		e.wantStock(t, "A", 10, 2)
		e.wantStock(t, "B", 10, 0)
		ctx, cancel := context.WithTimeout(e.customer, 500*time.Millisecond)
		_, err := e.inv.Reserve(ctx, reserve("r1", line("A", 2), line("B", 3)))
		cancel()
		// Its lease is live: the retry waits for it (here, in vain).
		if !errors.Is(err, shop.ErrUnavailable) && !errors.Is(err, shop.ErrDeadlineExceeded) {
			t.Fatalf("a retry during the lease: %v", err)
		}
		e.wantStock(t, "B", 10, 0)
		e.clock.Advance(11 * time.Second)
		r := must(e.inv.Reserve(e.customer, reserve("r1", line("A", 2), line("B", 3))))(t)
		if r.State != inventory.StateReserved {
			t.Fatalf("finished reserve: %+v", r)
		}
		e.wantStock(t, "A", 10, 2)
		e.wantStock(t, "B", 10, 3)
		must(e.inv.Release(e.customer, inventory.OrderRequest{OrderID: "r1"}))(t)

		// 2. The same, never retried: the sweeper undoes it, but only once
		// the lease has been out for another lease.
		halfDone(t, "r2", inventory.StateReserving, undoHoldB)
		e.clock.Advance(11 * time.Second)
		if sr := must(e.srv.Sweep(context.Background()))(t); sr.Recovered != 0 {
			t.Fatalf("swept a reservation whose runner may still be writing: %+v", sr)
		}
		e.clock.Advance(10 * time.Second)
		if sr := must(e.srv.Sweep(context.Background()))(t); sr.Recovered != 1 {
			t.Fatalf("sweep: %+v", sr)
		}
		e.wantStock(t, "A", 10, 0)
		e.wantStock(t, "B", 10, 0)
		r = must(e.inv.GetReservation(e.customer, inventory.OrderRequest{OrderID: "r2"}))(t)
		if r.State != inventory.StateReleased {
			t.Fatalf("abandoned reserve: %+v", r)
		}
		_, err = e.inv.Reserve(e.customer, reserve("r2", line("A", 2), line("B", 3)))
		wantCode(t, err, transport.CodeConflict)

		// 3. A commit died after committing A: the sweeper completes it.
		halfDone(t, "r3", inventory.StateCommitting, func() {
			e.setStockRaw(t, "A", func(d bson.M) {
				d["on_hand"] = d["on_hand"].(int64) - 2
				d["reserved"] = d["reserved"].(int64) - 2
				d["holds"] = bson.A{}
			})
		})
		e.wantStock(t, "A", 8, 0)
		e.wantStock(t, "B", 10, 3)
		e.clock.Advance(21 * time.Second)
		if sr := must(e.srv.Sweep(context.Background()))(t); sr.Recovered != 1 {
			t.Fatalf("sweep: %+v", sr)
		}
		e.wantStock(t, "A", 8, 0)
		e.wantStock(t, "B", 7, 0)
		if r := must(e.inv.Commit(e.customer, inventory.OrderRequest{OrderID: "r3"}))(t); r.State != inventory.StateCommitted {
			t.Fatalf("recovered commit: %+v", r)
		}

		// 4. A release died after giving back B: a retried release
		// completes it at once, its lease being out.
		halfDone(t, "r4", inventory.StateReleasing, undoHoldB)
		e.wantStock(t, "A", 8, 2)
		e.clock.Advance(11 * time.Second)
		if r := must(e.inv.Release(e.customer, inventory.OrderRequest{OrderID: "r4"}))(t); r.State != inventory.StateReleased {
			t.Fatalf("recovered release: %+v", r)
		}
		e.wantStock(t, "A", 8, 0)
		e.wantStock(t, "B", 7, 0)

		n, err := res.CountDocuments(context.Background(), bson.D{{Key: "open", Value: true}})
		if err != nil || n != 0 {
			t.Fatalf("%d reservations left open (%v)", n, err)
		}
	})
}

// setState rewinds the reservation of order to state with a lease until
// lease, by storing it as its next version the way the service does.
func setState(t *testing.T, e *env, order, state string, lease time.Time) {
	t.Helper()
	inventory.RewriteReservation(t, e.srv, order, func(d bson.M) {
		d["state"] = state
		d["open"] = true
		d["lease"] = lease
		d["owner"] = "crashed"
	})
}

func (e *env) setStockRaw(t *testing.T, sku string, change func(d bson.M)) {
	t.Helper()
	inventory.RewriteStock(t, e.srv, sku, change)
}

// TestNoOversellAcrossReplicas: 50 buyers race for 10 units through two
// inventory replicas on RabbitMQ (two connections, one database):
// exactly 10 get one.
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
	e := &env{bus: callers, clock: &clock{now: time.Now()}}
	e.auth = shoptest.StartAuth(t, callers)
	e.admin, e.customer = e.auth.Admin, e.auth.Customer
	e.db = testenv.MongoDB(t, "inventory_"+t.Name())
	e.inv = inventory.NewClient(callers)
	var served [2]atomic.Int64
	for i := range 2 {
		bus := dial(fmt.Sprint("replica-", i))
		srv := newServer(t, e.db, bus, e, inventory.Options{Now: time.Now})
		counted := transport.HandlerFunc(func(ctx context.Context, req *transport.Request) ([]byte, error) {
			if req.Method == inventory.MethodReserve {
				served[i].Add(1)
			}
			return inventory.Handler(srv).ServeBus(ctx, req)
		})
		sub, err := bus.Serve(inventory.ServiceName, counted)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Close() })
	}
	e.set(t, "HOT", 10)

	const buyers = 50
	var ok, short atomic.Int64
	var wg sync.WaitGroup
	for i := range buyers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(e.customer, 30*time.Second)
			defer cancel()
			_, err := e.inv.Reserve(ctx, reserve(fmt.Sprint("buyer-", i), line("HOT", 1)))
			switch transport.CodeOf(err) {
			case "":
				ok.Add(1)
			case transport.CodeConflict:
				short.Add(1)
			default:
				t.Errorf("buyer %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 10 || short.Load() != buyers-10 {
		t.Fatalf("%d reservations succeeded and %d were short, want 10 and %d", ok.Load(), short.Load(), buyers-10)
	}
	if served[0].Load() == 0 || served[1].Load() == 0 {
		t.Fatalf("one replica served every reservation (%d, %d): no race across replicas", served[0].Load(), served[1].Load())
	}
	e.wantStock(t, "HOT", 10, 10)
	holds := inventory.Holds(t, e.db, "HOT")
	if holds != 10 {
		t.Fatalf("%d holds recorded, want 10", holds)
	}
}
