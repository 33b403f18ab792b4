package embedmongo_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/internal/embedmongo"
)

func start(t *testing.T, dir string) (*embedmongo.Server, *mongo.Client) {
	t.Helper()
	srv, err := embedmongo.Start(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	client, err := mongo.Connect(options.Client().ApplyURI(srv.URI()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return srv, client
}

func TestCRUD(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, client := start(t, t.TempDir())
	if err := client.Ping(ctx, nil); err != nil {
		t.Fatal(err)
	}
	coll := client.Database("shop").Collection("users")

	type user struct {
		ID    string `bson:"_id"`
		Email string `bson:"email"`
		N     int64  `bson:"n"`
	}

	// Insert and find by _id.
	if _, err := coll.InsertOne(ctx, user{ID: "u1", Email: "a@example.com"}); err != nil {
		t.Fatal(err)
	}
	var got user
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "u1"}}).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Email != "a@example.com" {
		t.Fatalf("got %+v", got)
	}
	err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "nope"}}).Err()
	if !errors.Is(err, mongo.ErrNoDocuments) {
		t.Fatalf("missing document: got %v, want ErrNoDocuments", err)
	}

	// Duplicate _id.
	_, err = coll.InsertOne(ctx, user{ID: "u1", Email: "b@example.com"})
	if !mongo.IsDuplicateKeyError(err) {
		t.Fatalf("duplicate _id: got %v, want a duplicate key error", err)
	}

	// Unique secondary index.
	if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "email", Value: 1}},
		Options: options.Index().SetUnique(true),
	}); err != nil {
		t.Fatal(err)
	}
	_, err = coll.InsertOne(ctx, user{ID: "u2", Email: "a@example.com"})
	if !mongo.IsDuplicateKeyError(err) {
		t.Fatalf("duplicate email: got %v, want a duplicate key error", err)
	}
	var we mongo.WriteException
	if !errors.As(err, &we) || len(we.WriteErrors) != 1 || we.WriteErrors[0].Code != 11000 {
		t.Errorf("duplicate email: got %#v, want one write error with code 11000", err)
	}

	// findOneAndUpdate with upsert: first call inserts, second updates.
	for i, want := range []int64{1, 2} {
		var doc user
		err := coll.FindOneAndUpdate(ctx,
			bson.D{{Key: "_id", Value: "counter"}},
			bson.D{
				{Key: "$inc", Value: bson.D{{Key: "n", Value: int64(1)}}},
				{Key: "$setOnInsert", Value: bson.D{{Key: "email", Value: "counter@example.com"}}},
			},
			options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After),
		).Decode(&doc)
		if err != nil {
			t.Fatalf("upsert %d: %v", i, err)
		}
		if doc.N != want || doc.Email != "counter@example.com" {
			t.Fatalf("upsert %d: got %+v, want n=%d", i, doc, want)
		}
	}

	// Without ReturnDocument(After) the document before the update is
	// returned, and an upsert that inserts returns ErrNoDocuments.
	err = coll.FindOneAndUpdate(ctx,
		bson.D{{Key: "_id", Value: "fresh"}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "email", Value: "fresh@example.com"}}}},
		options.FindOneAndUpdate().SetUpsert(true),
	).Err()
	if !errors.Is(err, mongo.ErrNoDocuments) {
		t.Fatalf("upsert returning before: got %v, want ErrNoDocuments", err)
	}

	n, err := coll.CountDocuments(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("count: got %d, want 3", n)
	}
}

func TestDataPersists(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "not", "yet", "there") // created by Start

	srv, client := start(t, dir)
	if _, err := client.Database("db").Collection("c").InsertOne(ctx, bson.D{{Key: "_id", Value: "k"}}); err != nil {
		t.Fatal(err)
	}
	_ = client.Disconnect(ctx)
	srv.Stop()
	srv.Stop() // idempotent
	select {
	case <-srv.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
	if _, err := os.Stat(filepath.Join(dir, "db.sqlite")); err != nil {
		t.Errorf("expected a SQLite file per database: %v", err)
	}

	_, client = start(t, dir)
	n, err := client.Database("db").Collection("c").CountDocuments(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("after restart: got %d documents, want 1", n)
	}
}

func TestStopOnContextCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := embedmongo.Start(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-srv.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop after its context was canceled")
	}
}
