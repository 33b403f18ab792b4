package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/shopbus/shopbus/host"
	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/shop/catalog/filter"
	"github.com/shopbus/shopbus/shop/seeder"
	"github.com/shopbus/shopbus/transport/rabbit"
)

const (
	adminEmail    = "admin@rabbit-client.test"
	adminPassword = "admin-password"
	products      = 4 // seeded
)

// startShop hosts every service on a RabbitMQ namespace of its own, seeds
// a few products and waits until the filter service lists them. It
// returns the shop's bus and points the example's environment at the
// same broker and namespace.
func startShop(t *testing.T) *rabbit.Bus {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	url, ns := testenv.AMQPURL(t), bustest.Namespace()
	t.Setenv("SHOP_AMQP_URL", url)
	t.Setenv("SHOP_AMQP_NAMESPACE", ns)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bus, err := rabbit.Dial(ctx, rabbit.Options{URL: url, Namespace: ns, Name: t.Name(), Logger: quiet, ExpireUnused: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bus.Close() })

	client := testenv.MongoClient(t)
	prefix := testenv.UniqueName("rabbitclient")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, name := range host.Names {
			if err := client.Database(prefix + "_" + name).Drop(ctx); err != nil {
				t.Errorf("drop %s_%s: %v", prefix, name, err)
			}
		}
	})
	node := &host.Node{
		Bus:      bus,
		Mongo:    client,
		DBPrefix: prefix,
		Services: host.Catalogue(),
		Settings: host.Settings{AdminEmail: adminEmail, AdminPassword: adminPassword, BcryptCost: bcrypt.MinCost},
		Logger:   quiet,
	}
	nodeCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Run(nodeCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("node: %v", err)
		}
	})
	waitFor(t, "the node to be ready", func() bool { return node.Status(ctx).Ready })

	session, err := auth.NewClient(bus).Login(ctx, auth.LoginRequest{Email: adminEmail, Password: adminPassword})
	if err != nil {
		t.Fatal(err)
	}
	admin := shop.WithToken(ctx, session.Token)
	if _, err := seeder.NewClient(bus).Run(admin, seeder.RunRequest{Seed: seeder.DefaultSeed, Products: products}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the filter service to list the seeded products", func() bool {
		res, err := filter.NewClient(bus).Query(ctx, filter.Query{})
		return err == nil && res.Total == products
	})
	return bus
}

// TestRun runs the client against a seeded shop on RabbitMQ, twice: the
// second run finds the customer registered and adds to the same cart.
func TestRun(t *testing.T) {
	bus := startShop(t)
	ctx := context.Background()
	o := options{Email: "ada@example.com", Password: "correct horse battery"}

	var out bytes.Buffer
	if err := start(o, &out); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, &out)
	}
	t.Logf("output:\n%s", &out)

	// What it printed: the whole category tree, the query, the cart.
	tree, err := category.NewClient(bus).Tree(ctx, category.TreeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	cheapest, err := filter.NewClient(bus).Query(ctx, filter.Query{Sort: filter.SortPriceAsc, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	first := cheapest.Items[0]
	want := []string{
		"registered ada@example.com\nlogged in as ada@example.com\ncategories:\n",
		fmt.Sprintf("products found: %d, cheapest first:\n  %-12s %s\n", products, first.Price, first.Title),
		"cart:\n  1 x " + first.Title,
		"\n  total " + first.Price.String() + "\n",
	}
	walk(tree, func(n category.Node, depth int) {
		want = append(want, fmt.Sprintf("\n%s%s (%s)\n", strings.Repeat("  ", depth), n.Name, n.Slug))
	})
	if len(tree) == 0 {
		t.Fatal("the seeded shop has no categories")
	}
	for _, s := range want {
		if !strings.Contains(out.String(), s) {
			t.Errorf("output lacks %q", s)
		}
	}

	// The customer's cart holds the cheapest product.
	session, err := auth.NewClient(bus).Login(ctx, auth.LoginRequest{Email: o.Email, Password: o.Password})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cart.NewClient(bus).Get(shop.WithToken(ctx, session.Token), cart.CartRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Lines) != 1 || c.Lines[0].ProductID != first.ID || c.Lines[0].Quantity != 1 {
		t.Fatalf("cart = %+v, want one %s", c, first.ID)
	}

	// Again: the account exists, the cart grows.
	out.Reset()
	if err := start(o, &out); err != nil {
		t.Fatalf("second run: %v\noutput:\n%s", err, &out)
	}
	for _, s := range []string{"ada@example.com is already registered\nlogged in as", "cart:\n  2 x " + first.Title} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("second run: output lacks %q:\n%s", s, &out)
		}
	}

	// -category filters one category's subtree: a root holding some but
	// not all of the products.
	var in filter.Result
	for _, root := range tree {
		if in, err = filter.NewClient(bus).Query(ctx, filter.Query{CategorySlug: root.Slug}); err != nil {
			t.Fatal(err)
		}
		if in.Total > 0 && in.Total < products {
			o.Category = root.Slug
			break
		}
	}
	if o.Category == "" {
		t.Fatal("no root category holds some but not all of the seeded products")
	}
	out.Reset()
	if err := start(o, &out); err != nil {
		t.Fatalf("run with -category: %v\noutput:\n%s", err, &out)
	}
	if s := fmt.Sprintf("products found: %d,", in.Total); !strings.Contains(out.String(), s) {
		t.Errorf("run with -category %s: output lacks %q:\n%s", o.Category, s, &out)
	}

	// A wrong password stops it with the service's error.
	o.Password = "not the password"
	if err := start(o, &out); !errors.Is(err, shop.ErrUnauthenticated) {
		t.Errorf("run with a wrong password: %v, want unauthenticated", err)
	}
}

// walk calls fn for every node of the tree, depth first, with the depth
// the example indents it by.
func walk(nodes []category.Node, fn func(category.Node, int)) {
	var rec func([]category.Node, int)
	rec = func(nodes []category.Node, depth int) {
		for _, n := range nodes {
			fn(n, depth)
			rec(n.Children, depth+1)
		}
	}
	rec(nodes, 1)
}

// waitFor polls cond until it holds, failing the test after 60 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s after 60 s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
