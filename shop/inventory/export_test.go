package inventory

import (
	"context"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/shopbus/shopbus/internal/docstore"
)

// RewriteReservation stores change applied to the reservation of order as
// its next version, the way the service writes (tests use it to leave
// what a crashed runner would have left).
func RewriteReservation(t testing.TB, s *Server, order string, change func(d bson.M)) {
	t.Helper()
	rewrite(t, s, s.resV.Load, s.resV.Store, order, change)
}

// RewriteStock is RewriteReservation for the stock of sku.
func RewriteStock(t testing.TB, s *Server, sku string, change func(d bson.M)) {
	t.Helper()
	unlock := s.locks.Lock(sku)
	defer unlock()
	rewrite(t, s, s.stockV.Load, s.stockV.Store, sku, change)
}

func rewrite[R any](t testing.TB, _ *Server,
	load func(ctx context.Context, id string, into any) (R, bool, error),
	store func(ctx context.Context, id string, doc any, prev R) (bool, error),
	id string, change func(d bson.M)) {
	t.Helper()
	ctx := context.Background()
	var d bson.M
	rev, found, err := load(ctx, id, &d)
	if err != nil || !found {
		t.Fatalf("rewrite %s: found %v, %v", id, found, err)
	}
	change(d)
	d["version"] = d["version"].(int64) + 1
	if ok, err := store(ctx, id, d, rev); err != nil || !ok {
		t.Fatalf("rewrite %s: stored %v, %v", id, ok, err)
	}
}

// Holds returns how many holds the stock document of sku records.
func Holds(t testing.TB, db *mongo.Database, sku string) int {
	t.Helper()
	var d stockDoc
	if _, found, err := docstore.NewVersions(db.Collection(collStock), "version", nil).Load(context.Background(), sku, &d); err != nil || !found {
		t.Fatalf("load stock of %s: found %v, %v", sku, found, err)
	}
	return len(d.Holds)
}
