package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// brokerSecrets writes a random broker password for every account (the
// services, the storefront and the operator "admin") into a fresh
// directory, as an operator does once with deploy/brokeraccess, and
// returns it for the compose files' SHOP_BROKER_SECRETS.
func brokerSecrets(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "broker")
	cmd := exec.Command("go", "run", "./deploy/brokeraccess", "passwords", dir)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "SHOP_BROKER_ADMIN=admin")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("brokeraccess passwords: %v\n%s", err, out)
	}
	return dir
}

// brokerPassword reads one account's password from a brokerSecrets
// directory.
func brokerPassword(t *testing.T, dir, account string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, account))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

// mongoSecrets writes a random database password for the root user and
// every service into a fresh directory, as an operator does once with
// deploy/mongo-init, and returns it for the compose files'
// SHOP_MONGO_SECRETS.
func mongoSecrets(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mongo")
	cmd := exec.Command("go", "run", "./deploy/mongo-init", "passwords", dir)
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mongo-init passwords: %v\n%s", err, out)
	}
	return dir
}
