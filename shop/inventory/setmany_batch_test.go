package inventory_test

import (
	"context"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop/inventory"
	"github.com/shopbus/shopbus/transport"
)

// TestSetStockManyCreatesAtOnce: the SKUs of a SetStockMany without stock
// are created with one insert of them all, each with its event at version
// 1; the others are set one by one, as set_stock does.
func TestSetStockManyCreatesAtOnce(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		e := start(t, bus, inventory.Options{})
		ev := record(t, bus)
		e.set(t, "OLD", 2)
		var (
			mu      sync.Mutex
			inserts []int
		)
		client, err := mongo.Connect(options.Client().ApplyURI(testenv.MongoURI(t)).SetMonitor(&event.CommandMonitor{
			Started: func(_ context.Context, c *event.CommandStartedEvent) {
				if c.CommandName != "insert" {
					return
				}
				if coll, _ := c.Command.Lookup("insert").StringValueOK(); coll == "stock" {
					docs, _ := c.Command.Lookup("documents").Array().Values()
					mu.Lock()
					inserts = append(inserts, len(docs))
					mu.Unlock()
				}
			},
		}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
		srv := newServer(t, client.Database(e.db.Name()), bus, e, inventory.Options{})
		res, err := srv.SetStockMany(e.admin, inventory.SetStockManyRequest{Items: []inventory.SetStockRequest{
			{SKU: "A", OnHand: 1}, {SKU: "OLD", OnHand: 5}, {SKU: "B", OnHand: 2}, {SKU: "C", OnHand: 0},
		}})
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range []struct {
			sku             string
			onHand, version int64
		}{{"A", 1, 1}, {"OLD", 5, 2}, {"B", 2, 1}, {"C", 0, 1}} {
			if r := res[i]; r.SKU != want.sku || r.Error != nil || r.Stock == nil || r.Stock.OnHand != want.onHand || r.Stock.Version != want.version {
				t.Fatalf("result %d: %+v (%+v), want %s with %d on hand at version %d", i, r, r.Stock, want.sku, want.onHand, want.version)
			}
			e.wantStock(t, want.sku, want.onHand, 0)
			ev.waitFor(t, want.sku, want.version, want.onHand)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(inserts) != 1 || inserts[0] != 3 {
			t.Errorf("inserts into stock: %v documents each; want one insert of the 3 new SKUs", inserts)
		}
	})
}
