package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// serve runs the command with args until the test ends and returns its
// address.
func serve(t *testing.T, args ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"-addr", addr, "-dir", t.TempDir()}, args...), io.Discard) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		select {
		case err := <-done:
			t.Fatalf("ferretdb: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatal("ferretdb does not listen")
	return ""
}

// insert writes a document into db as user (none if empty) and returns
// the server's error code, 0 for success.
func insert(t *testing.T, addr, user, password string) int32 {
	t.Helper()
	u := url.URL{Scheme: "mongodb", Host: addr, Path: "/"}
	if user != "" {
		u.User = url.UserPassword(user, password)
	}
	c, err := mongo.Connect(options.Client().ApplyURI(u.String()).SetServerSelectionTimeout(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	defer c.Disconnect(ctx)
	_, err = c.Database("shop_product").Collection("c").InsertOne(ctx, bson.D{{Key: "x", Value: 1}})
	var ce mongo.CommandError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ce):
		return ce.Code
	}
	t.Fatalf("insert as %q: %v", user, err)
	return -1
}

func secretFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAuthFromFlags(t *testing.T) {
	addr := serve(t, "-auth-user", "root", "-auth-password-file", secretFile(t, "flag-password\n"))
	if code := insert(t, addr, "", ""); code != 13 {
		t.Errorf("without credentials: code %d, want Unauthorized (13)", code)
	}
	if code := insert(t, addr, "root", "flag-passwor"); code != 18 {
		t.Errorf("a wrong password: code %d, want AuthenticationFailed (18)", code)
	}
	// The file's trailing newline is not part of the password.
	if code := insert(t, addr, "root", "flag-password"); code != 0 {
		t.Errorf("root: code %d, want success", code)
	}
}

// TestAuthFromMongoImageEnv: the mongo image's variables, so that compose
// configures both images alike.
func TestAuthFromMongoImageEnv(t *testing.T) {
	t.Setenv("MONGO_INITDB_ROOT_USERNAME", "admin")
	t.Setenv("MONGO_INITDB_ROOT_PASSWORD_FILE", secretFile(t, "env-password"))
	addr := serve(t)
	if code := insert(t, addr, "", ""); code != 13 {
		t.Errorf("without credentials: code %d, want Unauthorized (13)", code)
	}
	if code := insert(t, addr, "admin", "wrong"); code != 18 {
		t.Errorf("a wrong password: code %d, want AuthenticationFailed (18)", code)
	}
	if code := insert(t, addr, "admin", "env-password"); code != 0 {
		t.Errorf("admin: code %d, want success", code)
	}
}

func TestNoAuth(t *testing.T) {
	addr := serve(t)
	if code := insert(t, addr, "", ""); code != 0 {
		t.Errorf("without authentication configured: code %d, want success", code)
	}
}

func TestAuthOptionErrors(t *testing.T) {
	empty := secretFile(t, "\n")
	for _, c := range []struct {
		name, user, file string
		env              map[string]string
		want             string
	}{
		{name: "user without password", user: "root", want: "has no password"},
		{name: "password without user", file: secretFile(t, "pw"), want: "no user"},
		{name: "empty file", user: "root", file: empty, want: "is empty"},
		{name: "missing file", user: "root", file: filepath.Join(t.TempDir(), "none"), want: "no such file"},
		{name: "both forms", env: map[string]string{"MONGO_INITDB_ROOT_USERNAME": "a", "MONGO_INITDB_ROOT_USERNAME_FILE": empty}, want: "set one of them"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			_, err := authOption(c.user, c.file)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error with %q", err, c.want)
			}
		})
	}
}
