package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"golang.org/x/crypto/bcrypt"

	"github.com/shopbus/shopbus/host"
	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/shop/catalog/filter"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/transport"
)

const (
	adminEmail    = "admin@all-in-one.test"
	adminPassword = "admin-password"
)

// node is the example's run, started for one test.
type node struct {
	bus  transport.Bus
	url  string // of the health endpoints
	stop func() // cancels run and checks that it returned nil
}

// startNode configures the example through the environment, as a user would,
// and runs it on the in-process bus and the test MongoDB server.
func startNode(t *testing.T, services string) *node {
	t.Helper()
	prefix := testenv.UniqueName("allinone")
	t.Setenv(host.EnvServices, services)
	t.Setenv(host.EnvDBPrefix, prefix)
	t.Setenv(host.EnvAdminEmail, adminEmail)
	t.Setenv(host.EnvAdminPassword, adminPassword)
	t.Setenv(host.EnvBcryptCost, strconv.Itoa(bcrypt.MinCost))
	cfg, err := host.ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	client := testenv.MongoClient(t)
	t.Cleanup(func() { dropDatabases(t, client, prefix) })

	bus := bustest.New(t, "inproc")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, bus, client, ln, slog.New(slog.DiscardHandler)) }()
	stopped := false
	stop := func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run returned %v after cancellation, want nil", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("run did not return within 20 s of cancellation")
		}
	}
	t.Cleanup(stop)
	return &node{bus: bus, url: "http://" + ln.Addr().String(), stop: stop}
}

// ready waits until /readyz answers 200 and returns its report.
func (n *node) ready(t *testing.T) host.Status {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := get(t, n.url+"/readyz")
		if code == http.StatusOK {
			var st host.Status
			if err := json.Unmarshal([]byte(body), &st); err != nil {
				t.Fatalf("/readyz: %v\n%s", err, body)
			}
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d after 30 s:\n%s", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRun starts every service, waits until the node is ready and uses a
// few services through their bus clients: the admin the auth service
// ensured fills the catalogue, and the filter service finds the product
// through the events.
func TestRun(t *testing.T) {
	n := startNode(t, "") // SHOP_SERVICES unset: all of them
	st := n.ready(t)
	if got := slices.Sorted(maps.Keys(st.Services)); !slices.Equal(got, slices.Sorted(slices.Values(host.Names))) {
		t.Errorf("/readyz lists services %v, want all of %v", got, host.Names)
	}

	ctx := context.Background()
	session, err := auth.NewClient(n.bus).Login(ctx, auth.LoginRequest{Email: adminEmail, Password: adminPassword})
	if err != nil {
		t.Fatal(err)
	}
	admin := shop.WithToken(ctx, session.Token)
	shirts, err := category.NewClient(n.bus).Create(admin, category.CreateRequest{Name: "Shirts"})
	if err != nil {
		t.Fatal(err)
	}
	shirt, err := product.NewClient(n.bus).Create(admin, product.CreateRequest{
		Title: "Linen shirt", Status: shop.StatusPublished,
		Price: shop.Money{Amount: 2500, Currency: "EUR"}, CategoryIDs: []string{shirts.ID},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The customer registers; the filter service lists the new product
	// once the product event reached it.
	if _, err := auth.NewClient(n.bus).Register(ctx, auth.RegisterRequest{Email: "ada@example.com", Password: "correct horse"}); err != nil {
		t.Fatal(err)
	}
	var res filter.Result
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err = filter.NewClient(n.bus).Query(ctx, filter.Query{CategorySlug: "shirts"})
		if err == nil && res.Total == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("filter query: %+v, %v; want the new shirt within 20 s", res, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if res.Items[0].ID != shirt.ID || res.Items[0].Price != shirt.Price {
		t.Errorf("filter found %+v, want %s at %s", res.Items[0], shirt.ID, shirt.Price)
	}

	// The node counted the requests its services served.
	if code, body := get(t, n.url+"/metrics"); code != http.StatusOK || !strings.Contains(body, `method="auth.login"`) || !strings.Contains(body, `shopbus_service_up{service="filter"} 1`) {
		t.Errorf("/metrics = %d, without auth.login requests or filter up:\n%s", code, body)
	}

	n.stop()
	if _, err := http.Get(n.url + "/healthz"); err == nil {
		t.Error("the health endpoints still answer after run returned")
	}
}

// TestServices hosts only the services SHOP_SERVICES names.
func TestServices(t *testing.T) {
	n := startNode(t, "auth")
	st := n.ready(t)
	if got := slices.Collect(maps.Keys(st.Services)); !slices.Equal(got, []string{"auth"}) {
		t.Errorf("/readyz lists services %v, want [auth]", got)
	}
	if _, err := auth.NewClient(n.bus).Login(context.Background(), auth.LoginRequest{Email: adminEmail, Password: adminPassword}); err != nil {
		t.Errorf("admin login: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := category.NewClient(n.bus).Tree(ctx, category.TreeRequest{}); !errors.Is(err, shop.ErrDeadlineExceeded) {
		t.Errorf("category call on a node without it: %v, want deadline_exceeded", err)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// dropDatabases drops the databases of the services under prefix.
func dropDatabases(t *testing.T, client *mongo.Client, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, name := range host.Names {
		if err := client.Database(prefix + "_" + name).Drop(ctx); err != nil {
			t.Errorf("drop %s_%s: %v", prefix, name, err)
		}
	}
}
