package seeder_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/idem/idemtest"
	"github.com/shopbus/shopbus/internal/shoptest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/content/seo"
	"github.com/shopbus/shopbus/shop/seeder"
	"github.com/shopbus/shopbus/transport"
)

// serveSeeder serves a seeder on the shop's bus with the options given
// (Bus, admin credentials and Logger filled in) and returns it and its
// database.
func serveSeeder(t *testing.T, s *testShop, opts seeder.Options) (*seeder.Server, *mongo.Database) {
	t.Helper()
	db := testenv.MongoDB(t, "seed_seeder")
	opts.Bus, opts.Logger = s.bus, quiet
	opts.AdminEmail, opts.AdminPassword = shoptest.AdminEmail, shoptest.AdminPassword
	opts.Demo = true
	srv, err := seeder.New(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := seeder.Bind(s.bus, srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return srv, db
}

// TestRequestsApplyOnce sends every state-changing method twice with one
// request id: the first run seeds the shop, the repeat answers the same
// report and changes nothing, in the seeder's database or in the shop.
func TestRequestsApplyOnce(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		const seedValue, n = 5, 2
		s := startShop(t, bus)
		srv, db := serveSeeder(t, s, seeder.Options{Concurrency: 4})
		ds := mustDataset(t, seedValue, n)
		var shops []inventory // the shop after each call
		opts := idemtest.Options{Settle: func(t *testing.T) { shops = append(shops, takeInventory(t, s, ds)) }}
		cases := []idemtest.Case{
			{Method: seeder.MethodRun, Body: `{"seed":5,"products":2}`, Ctx: func(*testing.T) context.Context { return s.admin }},
		}
		for _, c := range cases {
			t.Run(c.Method, func(t *testing.T) {
				before := idemtest.Snapshot(t, db)
				idemtest.Twice(t, bus, db, c, opts)
				if reflect.DeepEqual(before, idemtest.Snapshot(t, db)) {
					t.Errorf("%s %s changed nothing: the case proves nothing", c.Method, c.Body)
				}
			})
		}
		if len(shops) != 2 || len(shops[0].Products) != n || len(shops[0].Categories) == 0 || !shops[0].DemoCustomer {
			t.Fatalf("the first run seeded %+v", shops)
		}
		if !reflect.DeepEqual(shops[0], shops[1]) {
			t.Errorf("the repeat changed the shop:\n%+v\n%+v", shops[0], shops[1])
		}
		runs, err := srv.Runs(s.admin, seeder.RunsRequest{})
		if err != nil || len(runs) != 1 || runs[0].Status != seeder.StatusDone {
			t.Errorf("runs: %+v, %v; want one, done", runs, err)
		}
		idemtest.Covered(t, seeder.Handler(srv).Methods(), []string{seeder.MethodRuns}, cases)
	})
}

// restarts fails the first calls it is asked about with unavailable,
// like a service that is restarting.
type restarts struct{ fails atomic.Int32 }

// next returns the error of the next call: unavailable while failures are
// left.
func (f *restarts) next() error {
	if f.fails.Add(-1) >= 0 {
		return shop.Unavailable("service restarting")
	}
	return nil
}

// flakyProducts fails the first product creations.
type flakyProducts struct {
	product.Service
	*restarts
}

func (p flakyProducts) Create(ctx context.Context, r product.CreateRequest) (product.Product, error) {
	if err := p.next(); err != nil {
		return product.Product{}, err
	}
	return p.Service.Create(ctx, r)
}

func (p flakyProducts) CreateMany(ctx context.Context, r product.CreateManyRequest) ([]product.CreateResult, error) {
	if err := p.next(); err != nil {
		return nil, err
	}
	return p.Service.CreateMany(ctx, r)
}

// flakySEO fails the first metadata writes.
type flakySEO struct {
	seo.Service
	*restarts
}

func (m flakySEO) Put(ctx context.Context, r seo.PutRequest) (seo.Metadata, error) {
	if err := m.next(); err != nil {
		return seo.Metadata{}, err
	}
	return m.Service.Put(ctx, r)
}

// TestRunRetriedAfterAFailure: a run that fails for a while (a service
// unavailable) is not remembered, and the caller's retry, with the same
// request id, runs again to the end and is recorded as one run. The retry
// logs the admin in afresh: the session of the failed attempt was ended
// when it failed. A run that failed at its last phase, after it made the
// categories, products and stock, finds them: its bulk creations are
// requests of their own (under the retry's new admin session), not
// repeats of the first attempt's.
func TestRunRetriedAfterAFailure(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flaky func(s *testShop, f *restarts) seeder.Options
		made  []seeder.Kind // what the retry finds made by the first attempt
	}{{
		name: "at the first product",
		flaky: func(s *testShop, f *restarts) seeder.Options {
			return seeder.Options{Products: flakyProducts{s.products, f}}
		},
	}, {
		name: "after its writes",
		flaky: func(s *testShop, f *restarts) seeder.Options {
			return seeder.Options{SEO: flakySEO{s.seo, f}, NoImages: true}
		},
		made: []seeder.Kind{seeder.KindCategories, seeder.KindProducts, seeder.KindStock},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			s := startShop(t, bustest.New(t, "inproc"))
			f := &restarts{}
			f.fails.Store(4) // every attempt the seeder's run makes at one call
			opts := tc.flaky(s, f)
			opts.Concurrency = 1
			srv, _ := serveSeeder(t, s, opts)
			ctx, cancel := context.WithTimeout(s.admin, time.Minute)
			defer cancel()
			// Invoke retries a call that failed with unavailable, with its id.
			rep, err := seeder.NewClient(s.bus).Run(ctx, seeder.RunRequest{Seed: 9, Products: 2})
			if err != nil {
				t.Fatalf("retried run: %v", err)
			}
			if f.fails.Load() >= 0 {
				t.Fatal("the run never failed: the test proves nothing")
			}
			if c := rep.Counts[seeder.KindProducts]; c.Total() != 2 {
				t.Errorf("products: %+v", c)
			}
			for _, k := range tc.made {
				if c := rep.Counts[k]; c.Created != 0 || c.Different != 0 || c.Existing == 0 {
					t.Errorf("%s in the retry: %+v, want all made by the first attempt", k, c)
				}
			}
			// Both attempts are one run, recorded once.
			runs, err := srv.Runs(ctx, seeder.RunsRequest{})
			if err != nil || len(runs) != 1 || runs[0].Status != seeder.StatusDone || runs[0].RunID != rep.RunID {
				t.Errorf("runs: %+v, %v; want one, done, %s", runs, err, rep.RunID)
			}
		})
	}
}

// brokenCategories refuses every category.create_many.
type brokenCategories struct{ category.Service }

func (brokenCategories) CreateMany(context.Context, category.CreateManyRequest) ([]category.CreateResult, error) {
	return nil, shop.Internal("category store broken")
}

// TestRunStopsAtAFailedPhase: a phase that fails while others run beside
// it (the category tree beside the attributes and pictures) fails the run
// with its own error, and the phases that need it never start.
func TestRunStopsAtAFailedPhase(t *testing.T) {
	s := startShop(t, bustest.New(t, "inproc"))
	srv, _ := serveSeeder(t, s, seeder.Options{Categories: brokenCategories{s.categories}})
	ctx, cancel := context.WithTimeout(s.admin, time.Minute)
	defer cancel()
	rep, err := srv.Seed(ctx, seeder.RunRequest{Seed: 9, Products: 4})
	if !errors.Is(err, shop.ErrInternal) || !strings.Contains(err.Error(), "seed categories") {
		t.Fatalf("run: %v, want the categories' internal error", err)
	}
	if c := rep.Counts[seeder.KindProducts]; c.Total() != 0 {
		t.Errorf("products: %+v, want none made", c)
	}
	ds, err := seeder.NewDataset(9, 4)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.products.GetBySlug(ctx, product.GetBySlugRequest{Slug: ds.Product(0).Request.Slug}); !errors.Is(err, shop.ErrNotFound) {
		t.Errorf("first product: %v, want not_found", err)
	}
}

// TestEnsureGivesOldShopsStock: a done run recorded before the seeder set
// stock (no stock count) does not satisfy Ensure, which runs the seed
// again; then one that has it does.
func TestEnsureGivesOldShopsStock(t *testing.T) {
	s := startShop(t, bustest.New(t, "inproc"))
	srv, db := serveSeeder(t, s, seeder.Options{Concurrency: 2})
	ctx, cancel := context.WithTimeout(s.admin, time.Minute)
	defer cancel()
	req := seeder.RunRequest{Seed: 4, Products: 2}
	first, ran, err := srv.Ensure(ctx, req)
	if err != nil || !ran {
		t.Fatalf("first Ensure: ran %v, %v", ran, err)
	}
	// As a seeder without stock recorded it.
	res, err := db.Collection("runs").UpdateMany(ctx, bson.D{}, bson.D{{Key: "$unset", Value: bson.D{{Key: "counts." + string(seeder.KindStock), Value: ""}}}})
	if err != nil || res.ModifiedCount != 1 {
		t.Fatalf("unset the stock count: %+v, %v", res, err)
	}
	again, ran, err := srv.Ensure(ctx, req)
	if err != nil || !ran || again.RunID == first.RunID {
		t.Fatalf("Ensure after a run without stock: ran %v, %v", ran, err)
	}
	if c := again.Counts[seeder.KindStock]; c.Existing != first.Counts[seeder.KindStock].Created || c.Created != 0 {
		t.Errorf("stock of the second run: %+v; the first made %+v", c, first.Counts[seeder.KindStock])
	}
	if rep, ran, err := srv.Ensure(ctx, req); err != nil || ran || rep.RunID != again.RunID {
		t.Errorf("third Ensure: ran %v, %v, run %s, want %s", ran, err, rep.RunID, again.RunID)
	}
}
