package seed_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/shoptest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop/seed"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/rabbit"
)

func TestMainRejectsBadArguments(t *testing.T) {
	t.Setenv(seed.EnvAMQPURL, "")
	t.Setenv(seed.EnvAdminEmail, "")
	t.Setenv(seed.EnvAdminPassword, "")
	t.Setenv(seed.EnvMongoURI, "")
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
	} {
		var out bytes.Buffer
		err := seed.Main(ctx, append(append([]string{}, admin...), c.args...), &out)
		wantCode(t, err, transport.CodeInvalid, c.field)
	}
	var out bytes.Buffer
	wantCode(t, seed.Main(ctx, []string{"-admin-email", "a@b.c", "-admin-password", "password"}, &out), transport.CodeInvalid, "amqp")
	wantCode(t, seed.Main(ctx, []string{"-amqp", "amqp://127.0.0.1:1/"}, &out), transport.CodeInvalid, "admin-email")
	out.Reset()
	if err := seed.Main(ctx, []string{"-h"}, &out); err != nil || !strings.Contains(out.String(), "-products") {
		t.Errorf("-h: %v, %q", err, out.String())
	}
}

// TestMain seeds a shop on RabbitMQ with the command line, as deploy/seed
// would, recording the run in MongoDB; a second call with -once does nothing.
func TestMainSeedsOverRabbitMQ(t *testing.T) {
	url := testenv.AMQPURL(t)
	ns := bustest.Namespace()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bus, err := rabbit.Dial(ctx, rabbit.Options{URL: url, Namespace: ns, Logger: quiet, ExpireUnused: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bus.Close() })
	s := startShop(t, bus)

	prefix := testenv.UniqueName("seedcli")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = testenv.MongoClient(t).Database(prefix + "_seeder").Drop(ctx)
	})
	args := []string{"-amqp", url, "-namespace", ns, "-seed", "5", "-products", "4", "-demo",
		"-admin-email", shoptest.AdminEmail, "-admin-password", shoptest.AdminPassword,
		"-mongo", testenv.MongoURI(t), "-db-prefix", prefix, "-progress-every", "2"}
	var out bytes.Buffer
	if err := seed.Main(ctx, args, &out); err != nil {
		t.Fatalf("Main: %v\n%s", err, out.String())
	}
	for _, want := range []string{"products               4/4       created 4", "seed 5, 4 products, run ", "categories", "variants"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	t.Logf("Main printed:\n%s", out.String())
	ds := mustDataset(t, 5, 4)
	if inv := takeInventory(t, s, ds); len(inv.Products) != 4 || !inv.DemoCustomer {
		t.Errorf("the shop after Main: %+v", inv)
	}

	out.Reset()
	if err := seed.Main(ctx, append(args, "-once"), &out); err != nil {
		t.Fatalf("Main -once: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "done already") {
		t.Errorf("Main -once did not skip a done seed:\n%s", out.String())
	}
}
