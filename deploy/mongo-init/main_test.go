package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/host"
	"github.com/shopbus/shopbus/internal/embedmongo"
)

// server starts FerretDB with authentication, its first user root with
// the password in dir/root, and returns its host:port.
func server(t *testing.T, dir string) string {
	t.Helper()
	pw, err := readPassword(dir, rootAccount)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := embedmongo.Start(context.Background(), t.TempDir(), embedmongo.WithAuth(rootAccount, pw))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	u, err := url.Parse(srv.URI())
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// login connects to node as user and returns the error of a write into
// db.
func login(t *testing.T, node, user, password, db string) error {
	t.Helper()
	u := url.URL{Scheme: "mongodb", Host: node, Path: "/", User: url.UserPassword(user, password)}
	c, err := mongo.Connect(options.Client().ApplyURI(u.String()).SetServerSelectionTimeout(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.Database(db).Collection("probe").InsertOne(ctx, bson.D{{Key: "at", Value: time.Now()}})
	return err
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

// TestUsers writes the passwords, makes every service's user on two
// standalone servers (FerretDB has no replica sets), checks that each
// gets in with its own password only, then runs again after a password
// changed.
func TestUsers(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "mongo")
	var out bytes.Buffer
	if err := run(ctx, []string{"passwords", dir}, &out); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Count(out.String(), "wrote "), len(host.Names)+1; got != want {
		t.Fatalf("wrote %d passwords, want %d:\n%s", got, want, &out)
	}
	nodes := []string{server(t, dir), server(t, dir)}
	t.Setenv("SHOP_MONGO_NODES", strings.Join(nodes, ","))
	t.Setenv("SHOP_MONGO_PASSWORDS", dir)
	t.Setenv("SHOP_MONGO_TIMEOUT", "30s")
	t.Setenv(host.EnvDBPrefix, "t1")

	out.Reset()
	if err := run(ctx, nil, &out); err != nil {
		t.Fatalf("%v\n%s", err, &out)
	}
	if got, want := strings.Count(out.String(), ": created user t1_"), 2*len(host.Names); got != want {
		t.Fatalf("created %d users, want %d:\n%s", got, want, &out)
	}
	for _, node := range nodes {
		for _, name := range host.Names {
			user, pw := "t1_"+name, readFile(t, filepath.Join(dir, name))
			if err := login(t, node, user, pw, user); err != nil {
				t.Fatalf("%s on %s: %v", user, node, err)
			}
		}
		other := readFile(t, filepath.Join(dir, "cart"))
		if err := login(t, node, "t1_product", other, "t1_product"); !authFailed(err) {
			t.Fatalf("t1_product with cart's password: got %v, want AuthenticationFailed", err)
		}
	}

	// Again, with product's password changed: the users are updated.
	old := readFile(t, filepath.Join(dir, "product"))
	if err := os.WriteFile(filepath.Join(dir, "product"), []byte("a-new-product-password\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(ctx, nil, &out); err != nil {
		t.Fatalf("second run: %v\n%s", err, &out)
	}
	if got, want := strings.Count(out.String(), ": updated user t1_"), 2*len(host.Names); got != want {
		t.Fatalf("second run updated %d users, want %d:\n%s", got, want, &out)
	}
	if err := login(t, nodes[0], "t1_product", "a-new-product-password", "t1_product"); err != nil {
		t.Fatalf("the new password: %v", err)
	}
	if err := login(t, nodes[0], "t1_product", old, "t1_product"); !authFailed(err) {
		t.Fatalf("the old password: got %v, want AuthenticationFailed", err)
	}
}

// TestWrongRootPassword: a root password the server refuses ends the run
// at once, naming the file, not after the timeout.
func TestWrongRootPassword(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mongo")
	if err := run(context.Background(), []string{"passwords", dir}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	node := server(t, dir)
	if err := os.WriteFile(filepath.Join(dir, rootAccount), []byte("not-the-root-password"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SHOP_MONGO_NODES", node)
	t.Setenv("SHOP_MONGO_PASSWORDS", dir)
	t.Setenv("SHOP_MONGO_TIMEOUT", "1m")
	began := time.Now()
	err := run(context.Background(), nil, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "refuses user root") || !authFailed(err) {
		t.Fatalf("got %v, want the server refusing root", err)
	}
	if strings.Contains(err.Error(), "not-the-root-password") {
		t.Fatalf("the error shows the password: %v", err)
	}
	if d := time.Since(began); d > 20*time.Second {
		t.Fatalf("took %v: waited for the timeout", d)
	}
}

func TestMissingPassword(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mongo")
	if err := run(context.Background(), []string{"passwords", dir}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "seo")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SHOP_MONGO_PASSWORDS", dir)
	err := run(context.Background(), nil, &bytes.Buffer{})
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "password of seo") {
		t.Fatalf("got %v, want seo's password missing", err)
	}
}

func TestPasswordsKept(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mongo")
	if err := run(context.Background(), []string{"passwords", dir}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	before := readFile(t, filepath.Join(dir, "auth"))
	var out bytes.Buffer
	if err := run(context.Background(), []string{"passwords", dir}, &out); err != nil || strings.Contains(out.String(), "wrote") {
		t.Fatalf("second run replaced passwords: %v\n%s", err, &out)
	}
	if after := readFile(t, filepath.Join(dir, "auth")); after != before || len(before) < 16 {
		t.Fatalf("auth's password %q then %q", before, after)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("directory: %v, %v; want mode 0700", fi.Mode(), err)
	}
}

func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyfile")
	t.Setenv("SHOP_MONGO_KEYFILE_OWNER", fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid()))
	var out bytes.Buffer
	if err := run(context.Background(), []string{"keyfile", path}, &out); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o400 {
		t.Errorf("mode %v, want 0400 (mongod refuses a key file others can read)", fi.Mode())
	}
	key := readFile(t, path)
	if len(key) < 6 || len(key) > 1024 || strings.Trim(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") != "" {
		t.Errorf("key of %d characters is not what mongod accepts (6 to 1024 base64 characters)", len(key))
	}
	if err := run(context.Background(), []string{"keyfile", path}, &out); err != nil {
		t.Fatal(err)
	}
	if again := readFile(t, path); again != key {
		t.Error("a second run replaced the key file: the members would no longer agree")
	}

	t.Setenv("SHOP_MONGO_KEYFILE_OWNER", "mongodb")
	err = run(context.Background(), []string{"keyfile", filepath.Join(t.TempDir(), "k")}, &out)
	if err == nil || !strings.Contains(err.Error(), "uid:gid") {
		t.Errorf("owner %q: got %v, want an error", "mongodb", err)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{"passwords"}, {"keyfile"}, {"nonsense"}} {
		if err := run(context.Background(), args, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "usage") {
			t.Errorf("%q: got %v, want the usage", args, err)
		}
	}
}
