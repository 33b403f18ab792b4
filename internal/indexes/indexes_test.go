package indexes

import (
	"context"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/shopbus/shopbus/internal/testenv"
)

func TestUsefulFor(t *testing.T) {
	for _, c := range []struct {
		name string
		info bson.D
		want bool
	}{
		{"MongoDB", bson.D{{Key: "version", Value: "7.0.14"}, {Key: "ok", Value: 1.0}}, true},
		{"FerretDB v1", bson.D{{Key: "version", Value: "7.0.42"}, {Key: "ferretdbVersion", Value: "v1.24.2"}}, false},
		{"FerretDB v1 embedded", bson.D{{Key: "version", Value: "7.0.42"}, {Key: "ferretdbVersion", Value: "unknown"}}, false},
		{"FerretDB v2", bson.D{{Key: "version", Value: "7.0.77"}, {Key: "ferretdbVersion", Value: "v2.1.0"}}, true},
	} {
		raw, err := bson.Marshal(c.info)
		if err != nil {
			t.Fatal(err)
		}
		if got := usefulFor(raw); got != c.want {
			t.Errorf("%s: usefulFor = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestEnsureOnFerretDB: the embedded store (FerretDB v1) is recognised, and
// Ensure creates no index there. (The MongoDB side, where it creates them,
// is not run here: this machine has no MongoDB.)
func TestEnsureOnFerretDB(t *testing.T) {
	ctx := context.Background()
	db := testenv.MongoDB(t, "indexes")
	coll := db.Collection("things")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}, {Key: "kind", Value: "x"}}); err != nil {
		t.Fatal(err)
	}
	useful, err := Useful(ctx, db.Client())
	if err != nil || useful {
		t.Fatalf("Useful on FerretDB = %v, %v; want false", useful, err)
	}
	if err := Ensure(ctx, coll, bson.D{{Key: "kind", Value: 1}}, bson.D{{Key: "at", Value: -1}}); err != nil {
		t.Fatal(err)
	}
	names, err := coll.Indexes().ListSpecifications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range names {
		if s.Name != "_id_" {
			t.Errorf("index %s created on FerretDB", s.Name)
		}
	}
}
