package product_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/content/article"
	"github.com/shopbus/shopbus/transport"
)

// BenchmarkCreate times product.create one at a time as the all-in-one
// shop runs it, on the Server, its peers reached through their clients on
// the in-process bus, and the test MongoDB server (the embedded FerretDB unless SHOP_MONGO_URI is set),
// with two categories, three attribute values, six variants and the slug
// space shared with the category and article services (host/builtin.go).
// The baseline, in the same run, is a bare insert by _id of a document of
// the product's size (insert_id). Each reports its p50 in ms; create also
// its ratio to the insert's p50 (x-insert) and the commands the product
// service sends its own database per create (db-cmds/op).
func BenchmarkCreate(b *testing.B) {
	quiet := slog.New(slog.DiscardHandler)
	bus := bustest.New(b, "inproc")
	w := setup(b, bus)
	// A product service like the built-in one: its slugs shared with
	// categories and articles, its commands counted.
	var commands atomic.Int64
	client, err := mongo.Connect(options.Client().ApplyURI(testenv.MongoURI(b)).SetMonitor(&event.CommandMonitor{
		Started: func(context.Context, *event.CommandStartedEvent) { commands.Add(1) },
	}))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	db := client.Database(testenv.MongoDB(b, "bench_product").Name())
	art, err := article.New(testenv.MongoDB(b, "bench_article"), article.Options{Auth: w.Auth.Client, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	sub, err := article.Bind(bus, art)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sub.Close() })
	srv, err := product.New(db, product.Options{
		Auth: w.Auth.Client, Events: bus, Logger: quiet,
		Categories: w.Categories, Attributes: w.Attributes, Variants: w.Options,
		SharedSlugs: shop.SlugSpace{"category": w.Categories, "article": article.NewClient(bus)},
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(w.Admin, time.Hour)
	defer cancel()
	baseline := testenv.MongoDB(b, "bench_insert").Collection("docs")
	req := w.shirt()
	req.CategoryIDs = []string{w.shirts.ID, w.sale.ID}
	var insertP50 time.Duration
	next := 0
	run := func(name string, op func(i int) error) {
		b.Run(name, func(b *testing.B) {
			times := make([]time.Duration, 0, b.N)
			before := commands.Load()
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
				return
			}
			if insertP50 > 0 {
				b.ReportMetric(float64(p50)/float64(insertP50), "x-insert")
			}
			b.ReportMetric(float64(commands.Load()-before)/float64(b.N), "db-cmds/op")
		})
	}
	run("insert_id", func(i int) error {
		_, err := baseline.InsertOne(ctx, bson.D{{Key: "_id", Value: uuid.NewString()}, {Key: "title", Value: req.Title + " " + strconv.Itoa(i)},
			{Key: "description", Value: req.Description}, {Key: "attributes", Value: req.Attributes}, {Key: "images", Value: req.Images}})
		return err
	})
	run("create", func(i int) error {
		r := req
		r.Title = fmt.Sprintf("%s %d", req.Title, i)
		_, err := srv.Create(transport.WithRequestID(ctx, uuid.NewString()), r)
		return err
	})
	// The same title every time: the slugs taken pile up.
	run("create_same_title", func(int) error {
		_, err := srv.Create(transport.WithRequestID(ctx, uuid.NewString()), req)
		return err
	})
}
