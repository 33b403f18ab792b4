package option_test

import (
	"context"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/idem"
	"github.com/shopbus/shopbus/internal/idem/idemtest"
	"github.com/shopbus/shopbus/internal/testenv"
	ct "github.com/shopbus/shopbus/shop/catalog/internal/catalogtest"
	"github.com/shopbus/shopbus/shop/catalog/option"
	"github.com/shopbus/shopbus/transport"
)

// sameSet fails the test unless got and want are the same variant set:
// product, SKU base, groups, version and every variant's id, SKU and options.
func sameSet(t *testing.T, what string, got, want option.ProductVariants) {
	t.Helper()
	if got.ProductID != want.ProductID || got.SKU != want.SKU || !slices.Equal(got.Groups, want.Groups) ||
		got.Version != want.Version || !reflect.DeepEqual(got.Variants, want.Variants) {
		t.Fatalf("%s:\ngot  %+v\nwant %+v", what, got, want)
	}
}

// sameError fails the test unless got is the error want, with the same
// code, message and field errors.
func sameError(t *testing.T, what string, got *transport.Error, want error) {
	t.Helper()
	w := transport.AsError(want)
	if got == nil || w == nil || got.Code != w.Code || got.Message != w.Message || !reflect.DeepEqual(got.Fields, w.Fields) {
		t.Fatalf("%s: got error %v, want %v", what, got, want)
	}
}

// forgetRequests drops the option service's memory of handled requests,
// so that a request id can be used again.
func forgetRequests(t *testing.T, c *ct.Catalog) {
	t.Helper()
	if _, err := c.OptionDB.Collection(idem.Collection).DeleteMany(context.Background(), bson.D{}); err != nil {
		t.Fatal(err)
	}
}

// skuCount returns how many SKUs productID holds.
func skuCount(t *testing.T, c *ct.Catalog, productID string) int64 {
	t.Helper()
	n, err := c.OptionDB.Collection("variant_skus").CountDocuments(context.Background(), bson.D{{Key: "product_id", Value: productID}})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestGenerateVariantsMany(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		opts := c.Options
		groups(t, c)
		ct.Must(opts.GenerateVariants(c.Admin, option.GenerateRequest{ProductID: "p-old", SKU: "TEE", Groups: []string{"size"}}))(t)

		items := []option.GenerateRequest{
			{ProductID: "p1", SKU: "MUG", Groups: []string{"colour", "size"}},
			{ProductID: "p2", SKU: "CAP", Groups: []string{"weight", "size"}, Values: map[string][]string{"size": {"xxl"}}},
			{ProductID: "p3", SKU: "TEE", Groups: []string{"size", "colour"}, Values: map[string][]string{"size": {"m"}}}, // TEE-M-... is free
			{ProductID: "p4", SKU: "TEE", Groups: []string{"size"}, Values: map[string][]string{"size": {"m"}}},           // p-old's TEE-M
		}
		ctx := transport.WithRequestID(c.Admin, transport.NewRequestID())
		res := ct.Must(opts.GenerateVariantsMany(ctx, option.GenerateManyRequest{Items: items}))(t)
		if len(res) != len(items) {
			t.Fatalf("%d results for %d items", len(res), len(items))
		}
		for i, r := range res {
			if r.ProductID != items[i].ProductID || (r.Variants == nil) == (r.Error == nil) {
				t.Fatalf("result %d: %+v, want %s with variants or an error", i, r, items[i].ProductID)
			}
		}

		// p1 is fine: new variants with ids derived from the request id.
		p1 := *res[0].Variants
		want := []string{"MUG-RED-S", "MUG-RED-M", "MUG-RED-L", "MUG-BLUE-S", "MUG-BLUE-M", "MUG-BLUE-L"}
		if !slices.Equal(skus(p1), want) || p1.Version != 1 || p1.Variants[1].Options["size"] != "m" || p1.Variants[1].Options["colour"] != "red" {
			t.Fatalf("p1 = %+v, want skus %v at version 1", p1, want)
		}
		for _, v := range p1.Variants {
			if v.ID != idem.NewID(ctx, "variant:"+v.SKU) {
				t.Fatalf("variant %+v: id not derived from the request", v)
			}
		}
		sameSet(t, "p1 stored", ct.Must(opts.GetVariants(context.Background(), option.ProductRequest{ProductID: "p1"}))(t), p1)
		// p2 names an unknown group and value; p3 is fine; p4's SKU is p-old's.
		ct.WantCode(t, res[1].Error, transport.CodeInvalid)
		ct.WantField(t, res[1].Error, "groups[0]")
		ct.WantField(t, res[1].Error, "values.size")
		if !slices.Equal(skus(*res[2].Variants), []string{"TEE-M-RED", "TEE-M-BLUE"}) {
			t.Fatalf("p3 = %+v", res[2].Variants)
		}
		ct.WantCode(t, res[3].Error, transport.CodeConflict)
		for _, p := range []string{"p2", "p4"} {
			_, err := opts.GetVariants(context.Background(), option.ProductRequest{ProductID: p})
			ct.WantCode(t, err, transport.CodeNotFound)
			if n := skuCount(t, c, p); n != 0 {
				t.Errorf("%s holds %d SKUs, want none", p, n)
			}
		}
		if n := skuCount(t, c, "p-old"); n != 3 {
			t.Errorf("p-old holds %d SKUs, want its 3", n)
		}

		// A repeat answers the same and writes nothing.
		before := idemtest.Snapshot(t, c.OptionDB)
		again := ct.Must(opts.GenerateVariantsMany(ctx, option.GenerateManyRequest{Items: items}))(t)
		if a, b := ct.JSON(t, again), ct.JSON(t, res); a != b {
			t.Fatalf("repeat answered\n%s\nfirst\n%s", a, b)
		}
		if !maps.Equal(before, idemtest.Snapshot(t, c.OptionDB)) {
			t.Fatal("the repeat changed the database")
		}

		// GenerateVariants, item by item under the same request id, does
		// the same: the same variants (ids included) and the same errors.
		for _, p := range []string{"p1", "p3"} {
			ct.Must(opts.DeleteVariants(c.Admin, option.ProductRequest{ProductID: p}))(t)
		}
		for i, item := range items {
			forgetRequests(t, c)
			one, err := opts.GenerateVariants(ctx, item)
			if res[i].Error != nil {
				sameError(t, item.ProductID, res[i].Error, err)
				continue
			}
			if err != nil {
				t.Fatalf("%s: GenerateVariants: %v", item.ProductID, err)
			}
			sameSet(t, item.ProductID, one, *res[i].Variants)
		}
	})
}

func TestGenerateVariantsManyRegenerates(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		opts := c.Options
		groups(t, c)
		old := ct.Must(opts.GenerateVariants(c.Admin, option.GenerateRequest{ProductID: "p1", SKU: "TEE", Groups: []string{"size"}}))(t)
		few := ct.Must(opts.GenerateVariants(c.Admin, option.GenerateRequest{ProductID: "p2", SKU: "SOCK", Groups: []string{"size"},
			Values: map[string][]string{"size": {"s"}}}))(t)

		ctx := transport.WithRequestID(c.Admin, transport.NewRequestID())
		req := option.GenerateManyRequest{Items: []option.GenerateRequest{
			{ProductID: "p1", SKU: "TEE", Groups: []string{"size"}, Values: map[string][]string{"size": {"m", "l"}}},
			{ProductID: "p3", SKU: "MUG", Groups: []string{"colour"}},
			{ProductID: "p2", SKU: "SOCK", Groups: []string{"size"}, Values: map[string][]string{"size": {"s", "m"}}},
		}}
		res := ct.Must(opts.GenerateVariantsMany(ctx, req))(t)
		for i, r := range res {
			if r.Error != nil || r.Variants == nil {
				t.Fatalf("result %d: %+v", i, r)
			}
		}
		// p1 keeps the ids of M and L and gives up TEE-S.
		p1 := *res[0].Variants
		if !slices.Equal(skus(p1), []string{"TEE-M", "TEE-L"}) || p1.Version != 2 ||
			p1.Variants[0].ID != old.Variants[1].ID || p1.Variants[1].ID != old.Variants[2].ID {
			t.Fatalf("p1 = %+v, from %+v", p1, old)
		}
		if n := skuCount(t, c, "p1"); n != 2 {
			t.Errorf("p1 holds %d SKUs, want 2", n)
		}
		// p2 keeps SOCK-S's id; SOCK-M is new.
		p2 := *res[2].Variants
		if !slices.Equal(skus(p2), []string{"SOCK-S", "SOCK-M"}) || p2.Version != 2 ||
			p2.Variants[0].ID != few.Variants[0].ID || p2.Variants[1].ID != idem.NewID(ctx, "variant:SOCK-M") {
			t.Fatalf("p2 = %+v, from %+v", p2, few)
		}
		if p3 := *res[1].Variants; !slices.Equal(skus(p3), []string{"MUG-RED", "MUG-BLUE"}) || p3.Version != 1 {
			t.Fatalf("p3 = %+v", p3)
		}
		for i, p := range []string{"p1", "p3", "p2"} {
			sameSet(t, p, ct.Must(opts.GetVariants(context.Background(), option.ProductRequest{ProductID: p}))(t), *res[i].Variants)
		}

		// Run again after a crash that lost the outcome: the same variants.
		forgetRequests(t, c)
		again := ct.Must(opts.GenerateVariantsMany(ctx, req))(t)
		for i := range res {
			if !slices.Equal(ids(*again[i].Variants), ids(*res[i].Variants)) || !slices.Equal(skus(*again[i].Variants), skus(*res[i].Variants)) {
				t.Fatalf("re-run %d gave %+v, want %+v", i, again[i].Variants, res[i].Variants)
			}
		}
		for p, n := range map[string]int64{"p1": 2, "p2": 2, "p3": 2} {
			if got := skuCount(t, c, p); got != n {
				t.Errorf("%s holds %d SKUs, want %d", p, got, n)
			}
		}
	})
}

// TestGenerateVariantsManyOverlap: items of one batch whose SKUs overlap
// come out as if generated one after the other.
func TestGenerateVariantsManyOverlap(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		opts := c.Options
		groups(t, c)
		ct.Must(opts.AddVariant(c.Admin, option.AddVariantRequest{ProductID: "p-old", SKU: "BAG", Options: map[string]string{"colour": "red"}}))(t)

		res := ct.Must(opts.GenerateVariantsMany(c.Admin, option.GenerateManyRequest{Items: []option.GenerateRequest{
			{ProductID: "p1", SKU: "TEE", Groups: []string{"size"}},
			{ProductID: "p2", SKU: "TEE", Groups: []string{"size"}, Values: map[string][]string{"size": {"l"}}}, // p1 has TEE-L
			{ProductID: "p3", SKU: "BAG", Groups: []string{"colour"}},                                           // p-old has BAG-RED
			{ProductID: "p4", SKU: "BAG", Groups: []string{"colour"}, Values: map[string][]string{"colour": {"blue"}}},
		}}))(t)
		if res[0].Variants == nil || !slices.Equal(skus(*res[0].Variants), []string{"TEE-S", "TEE-M", "TEE-L"}) {
			t.Fatalf("p1: %+v", res[0])
		}
		ct.WantCode(t, res[1].Error, transport.CodeConflict)
		ct.WantCode(t, res[2].Error, transport.CodeConflict)
		// p3 failed, so BAG-BLUE was free for p4.
		if res[3].Variants == nil || !slices.Equal(skus(*res[3].Variants), []string{"BAG-BLUE"}) {
			t.Fatalf("p4: %+v", res[3])
		}
		for p, n := range map[string]int64{"p1": 3, "p2": 0, "p3": 0, "p4": 1, "p-old": 1} {
			if got := skuCount(t, c, p); got != n {
				t.Errorf("%s holds %d SKUs, want %d", p, got, n)
			}
		}
	})
}

func TestGenerateVariantsManyShape(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		opts := c.Options
		groups(t, c)
		item := func(i int) option.GenerateRequest {
			return option.GenerateRequest{ProductID: "p" + strconv.Itoa(i), SKU: "P" + strconv.Itoa(i), Groups: []string{"size"}}
		}
		var tooMany []option.GenerateRequest
		for i := range option.MaxGenerateMany + 1 {
			tooMany = append(tooMany, item(i))
		}
		for _, tc := range []struct {
			items []option.GenerateRequest
			field string
		}{
			{nil, "items"},
			{tooMany, "items"},
			{[]option.GenerateRequest{item(1), item(2), item(1)}, "items[2].product_id"},
		} {
			_, err := opts.GenerateVariantsMany(c.Admin, option.GenerateManyRequest{Items: tc.items})
			ct.WantField(t, err, tc.field)
		}
		if n := skuCount(t, c, "p1"); n != 0 {
			t.Fatalf("an invalid request reserved %d SKUs", n)
		}
		// A malformed body is invalid on the wire.
		_, err := bus.Call(c.Admin, option.MethodGenerateVariantsMany, []byte(`{"items": {"product_id": "p1"}}`))
		ct.WantCode(t, err, transport.CodeInvalid)
	})
}

// TestGenerateVariantsManyCommands: a batch of products without variants
// costs a few commands in all, not a few per product.
func TestGenerateVariantsManyCommands(t *testing.T) {
	c := ct.Start(t, bustest.New(t, "inproc"), ct.Config{})
	groups(t, c)
	var (
		mu       sync.Mutex
		counting bool
		commands []string
	)
	client, err := mongo.Connect(options.Client().ApplyURI(testenv.MongoURI(t)).SetMonitor(&event.CommandMonitor{
		Started: func(_ context.Context, e *event.CommandStartedEvent) {
			mu.Lock()
			defer mu.Unlock()
			if counting && e.CommandName != "buildInfo" { // the driver's, once per connection
				coll, _ := e.Command.Lookup(e.CommandName).StringValueOK()
				commands = append(commands, e.CommandName+" "+coll)
			}
		},
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	srv, err := option.New(client.Database(c.OptionDB.Name()), option.Options{Auth: c.Auth.Client})
	if err != nil {
		t.Fatal(err)
	}
	var items []option.GenerateRequest
	for i := range 50 {
		items = append(items, option.GenerateRequest{ProductID: "p" + strconv.Itoa(i), SKU: "P" + strconv.Itoa(i), Groups: []string{"size", "colour"}})
	}
	mu.Lock()
	counting = true
	mu.Unlock()
	res, err := srv.GenerateVariantsMany(transport.WithRequestID(c.Admin, transport.NewRequestID()), option.GenerateManyRequest{Items: items})
	mu.Lock()
	counting = false
	got := slices.Clone(commands)
	mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Variants == nil || len(r.Variants.Variants) != 6 {
			t.Fatalf("result %d: %+v", i, r)
		}
	}
	t.Logf("%d commands: %v", len(got), got)
	if len(got) > 5 || slices.Index(got, "insert variant_skus") < 0 || slices.Index(got, "insert product_variants") < 0 {
		t.Errorf("commands %v: want one insert of the SKUs, one of the sets and a few more", got)
	}
	if n, err := c.OptionDB.Collection("product_variants").CountDocuments(context.Background(), bson.D{}); err != nil || n != 50 {
		t.Errorf("%d sets stored (%v), want 50", n, err)
	}
}
