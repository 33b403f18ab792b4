package embedmongo_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/internal/embedmongo"
)

// connectAs returns a client of srv authenticating as user (no
// credentials if user is empty).
func connectAs(t *testing.T, srv *embedmongo.Server, user, password string) *mongo.Client {
	t.Helper()
	u, err := url.Parse(srv.URI())
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		u.User = url.UserPassword(user, password)
	}
	c, err := mongo.Connect(options.Client().ApplyURI(u.String()).SetServerSelectionTimeout(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return c
}

// commandCode returns the server's error code in err, or 0.
func commandCode(err error) int32 {
	var ce mongo.CommandError
	if errors.As(err, &ce) {
		return ce.Code
	}
	var we mongo.WriteException
	if errors.As(err, &we) && len(we.WriteErrors) > 0 {
		return int32(we.WriteErrors[0].Code)
	}
	return 0
}

func TestAuth(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	srv, err := embedmongo.Start(ctx, dir, embedmongo.WithAuth("root", "root-password"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	doc := bson.D{{Key: "_id", Value: "k"}}

	// Without credentials: the handshake and ping only.
	anon := connectAs(t, srv, "", "")
	if err := anon.Ping(ctx, nil); err != nil {
		t.Fatalf("ping without credentials: %v", err)
	}
	_, err = anon.Database("shop_product").Collection("c").InsertOne(ctx, doc)
	if code := commandCode(err); code != 13 {
		t.Fatalf("insert without credentials: got %v, want Unauthorized (13)", err)
	}
	err = anon.Database("admin").Collection("system.users").FindOne(ctx, bson.D{}).Err()
	if code := commandCode(err); code != 13 {
		t.Fatalf("reading the users without credentials: got %v, want Unauthorized (13)", err)
	}
	err = anon.Database("admin").RunCommand(ctx, bson.D{{Key: "createUser", Value: "intruder"}, {Key: "pwd", Value: "x"}, {Key: "roles", Value: bson.A{}}}).Err()
	if code := commandCode(err); code != 13 {
		t.Fatalf("createUser without credentials: got %v, want Unauthorized (13)", err)
	}

	// A wrong password, or a user that does not exist.
	for _, c := range []struct{ user, password string }{{"root", "wrong-password"}, {"nobody", "root-password"}} {
		err := connectAs(t, srv, c.user, c.password).Ping(ctx, nil)
		if code := commandCode(err); code != 18 {
			t.Fatalf("%s with a wrong password: got %v, want AuthenticationFailed (18)", c.user, err)
		}
	}

	// The first user creates a service's user, which gets in.
	root := connectAs(t, srv, "root", "root-password")
	createUser := bson.D{{Key: "createUser", Value: "shop_product"}, {Key: "pwd", Value: "product-password"}, {Key: "roles", Value: bson.A{}}}
	if err := root.Database("admin").RunCommand(ctx, createUser).Err(); err != nil {
		t.Fatalf("createUser: %v", err)
	}
	if code := commandCode(root.Database("admin").RunCommand(ctx, createUser).Err()); code != 51003 {
		t.Fatalf("createUser again: got code %d, want 51003 (user exists)", code)
	}
	product := connectAs(t, srv, "shop_product", "product-password")
	if _, err := product.Database("shop_product").Collection("c").InsertOne(ctx, doc); err != nil {
		t.Fatalf("the service's user writing its database: %v", err)
	}
	if n, err := product.Database("shop_product").Collection("c").CountDocuments(ctx, bson.D{}); err != nil || n != 1 {
		t.Fatalf("the service's user reading its database: %d, %v", n, err)
	}
	err = connectAs(t, srv, "shop_product", "root-password").Ping(ctx, nil)
	if code := commandCode(err); code != 18 {
		t.Fatalf("the service's user with another's password: got %v, want AuthenticationFailed (18)", err)
	}

	// What FerretDB does not do (documented in WithAuth): roles, and
	// keeping a user to its own database.
	err = root.Database("admin").RunCommand(ctx, bson.D{
		{Key: "createUser", Value: "shop_cart"}, {Key: "pwd", Value: "cart-password"},
		{Key: "roles", Value: bson.A{bson.D{{Key: "role", Value: "readWrite"}, {Key: "db", Value: "shop_cart"}}}},
	}).Err()
	if code := commandCode(err); code != 238 {
		t.Errorf("createUser with roles: got %v, want NotImplemented (238)", err)
	}
	if _, err := product.Database("shop_auth").Collection("c").InsertOne(ctx, doc); err != nil {
		t.Errorf("FerretDB now refuses another database to a user (%v): update WithAuth's doc and SECURITY.md", err)
	}
	for _, c := range []*mongo.Client{anon, root, product} {
		_ = c.Disconnect(ctx) // or Stop waits for them
	}
	srv.Stop()

	// On restart the stored users are kept: a new initial password does
	// not replace the first.
	srv, err = embedmongo.Start(ctx, dir, embedmongo.WithAuth("root", "another-password"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	if err := connectAs(t, srv, "root", "root-password").Ping(ctx, nil); err != nil {
		t.Fatalf("root after a restart: %v", err)
	}
	if err := connectAs(t, srv, "shop_product", "product-password").Ping(ctx, nil); err != nil {
		t.Fatalf("the service's user after a restart: %v", err)
	}
	err = connectAs(t, srv, "root", "another-password").Ping(ctx, nil)
	if code := commandCode(err); code != 18 {
		t.Fatalf("the second initial password: got %v, want AuthenticationFailed (18)", err)
	}
	_, err = connectAs(t, srv, "", "").Database("shop_product").Collection("c").InsertOne(ctx, bson.D{{Key: "_id", Value: "k2"}})
	if code := commandCode(err); code != 13 {
		t.Fatalf("insert without credentials after a restart: got %v, want Unauthorized (13)", err)
	}
}

func TestAuthNeedsUserAndPassword(t *testing.T) {
	for _, c := range []struct{ user, password string }{{"", "p"}, {"u", ""}} {
		_, err := embedmongo.Start(context.Background(), t.TempDir(), embedmongo.WithAuth(c.user, c.password))
		if err == nil || !strings.Contains(err.Error(), "user and a password") {
			t.Errorf("WithAuth(%q, %q): got %v, want an error", c.user, c.password, err)
		}
	}
}
