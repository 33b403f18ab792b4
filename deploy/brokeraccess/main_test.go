package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shopbus/shopbus/deploy/internal/brokeraccess"
	"github.com/shopbus/shopbus/host"
)

// TestPasswordsThenDefinitions generates the passwords into a directory,
// then the definitions from them, one account's password coming from its
// variable instead, and checks every user's hash against its password.
func TestPasswordsThenDefinitions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	var out bytes.Buffer
	if err := run([]string{"passwords", dir}, &out); err != nil {
		t.Fatal(err)
	}
	names := append(append([]string{}, host.Names...), callers...)
	if got := strings.Count(out.String(), "wrote "); got != len(names) {
		t.Fatalf("wrote %d passwords, want %d:\n%s", got, len(names), &out)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "auth"))
	out.Reset()
	if err := run([]string{"passwords", dir}, &out); err != nil || strings.Contains(out.String(), "wrote") {
		t.Fatalf("second run replaced passwords: %v\n%s", err, &out)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "auth")); !bytes.Equal(before, after) || len(before) < brokeraccess.MinPasswordLength {
		t.Fatalf("auth's password %q then %q", before, after)
	}

	t.Setenv("SHOP_BROKER_PASSWORD_CART", "cart-password-from-env")
	file := filepath.Join(t.TempDir(), "definitions.json")
	if err := run([]string{"-passwords", dir, "-o", file}, &out); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var defs brokeraccess.Definitions
	if err := json.Unmarshal(data, &defs); err != nil {
		t.Fatal(err)
	}
	if len(defs.Users) != len(names) {
		t.Fatalf("%d users, want %d", len(defs.Users), len(names))
	}
	for _, u := range defs.Users {
		name := strings.TrimPrefix(u.Name, "shop-")
		pw, _ := os.ReadFile(filepath.Join(dir, name))
		if name == "cart" {
			pw = []byte("cart-password-from-env")
		}
		if !brokeraccess.CheckHash(u.PasswordHash, string(pw)) {
			t.Errorf("user %s: hash is not of its password", u.Name)
		}
	}
}

func TestMissingPassword(t *testing.T) {
	dir := t.TempDir()
	if err := run([]string{"passwords", dir}, new(bytes.Buffer)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "seo")); err != nil {
		t.Fatal(err)
	}
	err := run([]string{"-passwords", dir}, new(bytes.Buffer))
	if err == nil || !strings.Contains(err.Error(), "seo") {
		t.Fatalf("err = %v, want one naming seo", err)
	}
	t.Setenv("SHOP_BROKER_PASSWORD_SEO_FILE", filepath.Join(dir, "nope"))
	if err := run([]string{"-passwords", dir}, new(bytes.Buffer)); err == nil || !strings.Contains(err.Error(), "seo") {
		t.Fatalf("err = %v, want one naming seo's file", err)
	}
}
