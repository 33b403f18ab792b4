package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/shopbus/shopbus/host"
	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/seeder"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/rabbit"
)

const (
	adminEmail    = "admin@seed-command.test"
	adminPassword = "admin-password"
)

var quiet = slog.New(slog.DiscardHandler)

// wantInvalid fails t unless err is shop.ErrInvalid with a field error
// for field.
func wantInvalid(t *testing.T, err error, field string) {
	t.Helper()
	if !errors.Is(err, shop.ErrInvalid) || transport.AsError(err).Field(field) == "" {
		t.Fatalf("got %v, want invalid with a field error for %q", err, field)
	}
}

func TestRunRejectsBadArguments(t *testing.T) {
	t.Setenv(EnvAMQPURL, "")
	t.Setenv(EnvAdminEmail, "")
	t.Setenv(EnvAdminPassword, "")
	t.Setenv(EnvMongoURI, "")
	ctx := context.Background()
	admin := []string{"-admin-email", "a@b.c", "-admin-password", "password", "-amqp", "amqp://127.0.0.1:1/"}
	for _, c := range []struct {
		args  []string
		field string
	}{
		{[]string{"-products", "-1"}, "products"},
		{[]string{"-products", "0"}, "products"},
		{[]string{"-products", "100001"}, "products"},
		{[]string{"-products", "many"}, "args"},
		{[]string{"stray"}, "args"},
		{[]string{"-concurrency", "0"}, "concurrency"},
		{[]string{"-once"}, "once"},
		{[]string{"-progress-every", "-1"}, "progress-every"},
	} {
		var out bytes.Buffer
		err := run(ctx, append(append([]string{}, admin...), c.args...), &out)
		wantInvalid(t, err, c.field)
	}
	var out bytes.Buffer
	wantInvalid(t, run(ctx, []string{"-admin-email", "a@b.c", "-admin-password", "password"}, &out), "amqp")
	wantInvalid(t, run(ctx, []string{"-amqp", "amqp://127.0.0.1:1/"}, &out), "admin-email")
	out.Reset()
	if err := run(ctx, []string{"-h"}, &out); err != nil || !strings.Contains(out.String(), "-products") {
		t.Errorf("-h: %v, %q", err, out.String())
	}
}

// TestRunSeedsOverRabbitMQ seeds a shop on RabbitMQ with the command
// line, recording the run in MongoDB; a second run with -once does
// nothing.
func TestRunSeedsOverRabbitMQ(t *testing.T) {
	url := testenv.AMQPURL(t)
	ns := bustest.Namespace()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bus, err := rabbit.Dial(ctx, rabbit.Options{URL: url, Namespace: ns, Logger: quiet, ExpireUnused: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bus.Close() })

	// The services the seeder writes through, hosted as a deployment would.
	names := []string{"auth", "category", "attribute", "option", "product", "article", "seo", "inventory"}
	services, err := host.Lookup(names...)
	if err != nil {
		t.Fatal(err)
	}
	client := testenv.MongoClient(t)
	prefix := testenv.UniqueName("seedcli")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, name := range append(names, seeder.ServiceName) {
			if err := client.Database(prefix + "_" + name).Drop(ctx); err != nil {
				t.Errorf("drop %s_%s: %v", prefix, name, err)
			}
		}
	})
	node := &host.Node{
		Bus: bus, Mongo: client, DBPrefix: prefix, Services: services, Logger: quiet,
		Settings: host.Settings{AdminEmail: adminEmail, AdminPassword: adminPassword, BcryptCost: bcrypt.MinCost},
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
	for !node.Status(ctx).Ready {
		if ctx.Err() != nil {
			t.Fatal("the services did not get ready")
		}
		time.Sleep(10 * time.Millisecond)
	}

	args := []string{"-amqp", url, "-namespace", ns, "-seed", "5", "-products", "4", "-demo",
		"-admin-email", adminEmail, "-admin-password", adminPassword,
		"-mongo", testenv.MongoURI(t), "-db-prefix", prefix, "-progress-every", "2"}
	var out bytes.Buffer
	if err := run(ctx, args, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{"products               4/4       created 4", "seed 5, 4 products, run ", "categories", "variants"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	t.Logf("run printed:\n%s", out.String())

	session, err := auth.NewClient(bus).Login(ctx, auth.LoginRequest{Email: adminEmail, Password: adminPassword})
	if err != nil {
		t.Fatal(err)
	}
	page, err := product.NewClient(bus).List(shop.WithToken(ctx, session.Token), product.ListRequest{Limit: 10})
	if err != nil || len(page.Items) != 4 {
		t.Errorf("products after run: %d, %v; want 4", len(page.Items), err)
	}
	if _, err := auth.NewClient(bus).Login(ctx, auth.LoginRequest{Email: seeder.DefaultDemoEmail, Password: seeder.DefaultDemoPassword}); err != nil {
		t.Errorf("the demo customer cannot log in: %v", err)
	}

	out.Reset()
	if err := run(ctx, append(args, "-once"), &out); err != nil {
		t.Fatalf("run -once: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "done already") {
		t.Errorf("run -once did not skip a done seed:\n%s", out.String())
	}
}

// TestPrintReport checks the report's table (every kind in seeder.Kinds
// order, then others) and its JSON form.
func TestPrintReport(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rep := seeder.Report{RunID: "r1", Seed: 5, Products: 4, StartedAt: start, FinishedAt: start.Add(1500 * time.Millisecond),
		Counts: map[seeder.Kind]seeder.Count{seeder.KindProducts: {Created: 4}, "gadgets": {Existing: 2}, seeder.KindUsers: {Existing: 1}}}
	var out bytes.Buffer
	if err := printReport(&out, rep, false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2+len(seeder.Kinds)+1 || lines[0] != "seed 5, 4 products, run r1, 1.5s" {
		t.Fatalf("table:\n%s", out.String())
	}
	for i, k := range append(slices.Clone(seeder.Kinds), "gadgets") {
		if f := strings.Fields(lines[2+i]); f[0] != string(k) {
			t.Errorf("row %d is %q, want kind %s", i, lines[2+i], k)
		}
	}
	if f := strings.Fields(lines[len(lines)-1]); strings.Join(f, " ") != "gadgets 0 2 0" {
		t.Errorf("last row %q", lines[len(lines)-1])
	}

	out.Reset()
	if err := printReport(&out, rep, true); err != nil {
		t.Fatal(err)
	}
	var got seeder.Report
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || got.RunID != "r1" || got.Counts[seeder.KindProducts].Created != 4 {
		t.Errorf("JSON report %+v, %v:\n%s", got, err, out.String())
	}
}
