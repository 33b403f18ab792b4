package seeder_test

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/shop/catalog/option"
	invsvc "github.com/shopbus/shopbus/shop/inventory"
	"github.com/shopbus/shopbus/shop/seeder"
	"github.com/shopbus/shopbus/transport"
)

// BenchmarkCatalogWrites times the catalogue's writes one at a time, as
// the seeder makes them, through the bus clients of a shop on the
// in-process bus and the test MongoDB server (the embedded FerretDB unless
// SHOP_MONGO_URI is set), against a bare insert by _id of a document of the
// same size in the same run: product.create, attribute.validate,
// category.create, inventory.set_stock and option.generate_variants. Each reports its p50 in
// ms and its ratio to the insert's p50 (x-insert). The shop holds the
// sample data's attributes, option groups and categories, and grows by
// what the benchmark creates.
func BenchmarkCatalogWrites(b *testing.B) {
	bus := bustest.New(b, "inproc")
	s := startShop(b, bus)
	srv := startSeeder(b, s, nil)
	ctx, cancel := context.WithTimeout(s.admin, time.Hour)
	defer cancel()
	const seedNo = 7
	if _, err := srv.Seed(ctx, seeder.RunRequest{Seed: seedNo, Products: 1}); err != nil {
		b.Fatal(err)
	}
	ds, err := seeder.NewDataset(seedNo, 100000)
	if err != nil {
		b.Fatal(err)
	}
	catIDs := map[string]string{}
	for _, c := range ds.Categories {
		got, err := s.categories.GetBySlug(ctx, category.GetBySlugRequest{Slug: c.Slug})
		if err != nil {
			b.Fatal(err)
		}
		catIDs[c.Slug] = got.ID
	}
	baseline := testenv.MongoDB(b, "seed_bench_insert").Collection("docs")
	var insertP50 time.Duration
	next := 1 // products 0 ... exist already
	run := func(name string, op func(i int) error) {
		b.Run(name, func(b *testing.B) {
			times := make([]time.Duration, 0, b.N)
			for range b.N {
				i := next
				next++
				start := time.Now()
				if err := op(i); err != nil {
					b.Fatal(err)
				}
				times = append(times, time.Since(start))
			}
			slices.Sort(times)
			p50 := times[len(times)/2]
			b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
			if name == "insert_id" {
				insertP50 = p50
			} else if insertP50 > 0 {
				b.ReportMetric(float64(p50)/float64(insertP50), "x-insert")
			}
		})
	}
	run("insert_id", func(i int) error {
		p := ds.Product(i).Request
		_, err := baseline.InsertOne(ctx, bson.D{{Key: "_id", Value: uuid.NewString()}, {Key: "title", Value: p.Title},
			{Key: "description", Value: p.Description}, {Key: "attributes", Value: p.Attributes}, {Key: "images", Value: p.Images}})
		return err
	})
	run("product.create", func(i int) error {
		spec := ds.Product(i)
		req := spec.Request
		req.CategoryIDs = []string{catIDs[spec.CategorySlug]}
		_, err := s.products.Create(transport.WithRequestID(ctx, uuid.NewString()), req)
		return err
	})
	run("attribute.validate", func(i int) error {
		return s.attributes.Validate(ctx, ds.Product(i).Request.Attributes)
	})
	run("category.create", func(i int) error {
		c := ds.Categories[i%len(ds.Categories)]
		_, err := s.categories.Create(transport.WithRequestID(ctx, uuid.NewString()), category.CreateRequest{
			Name: c.Name + " " + strconv.Itoa(i), Description: c.Description, ParentID: catIDs[c.ParentSlug]})
		return err
	})
	run("inventory.set_stock", func(i int) error {
		_, err := s.stock.SetStock(transport.WithRequestID(ctx, uuid.NewString()), invsvc.SetStockRequest{SKU: "BENCH-" + strconv.Itoa(i), OnHand: 10})
		return err
	})
	run("option.generate_variants", func(i int) error {
		_, err := s.options.GenerateVariants(transport.WithRequestID(ctx, uuid.NewString()), option.GenerateRequest{
			ProductID: uuid.NewString(), SKU: "BENCH-" + strconv.Itoa(i),
			Groups: []string{"size", "colour"}, Values: map[string][]string{"size": {"s", "m", "l"}, "colour": {"red", "navy"}}})
		return err
	})
}
