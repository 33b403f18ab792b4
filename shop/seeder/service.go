// Package seeder is the shopbus seeder: it fills a development or benchmark
// shop with consistent sample data, through the other services' public
// APIs on the bus (their typed clients), never by writing their databases.
//
// One run creates, in this order:
//
//   - users: logs in as the admin that the auth service ensures
//     (Options.AdminEmail, AdminPassword) and registers a demo customer
//     (Options.DemoEmail, DemoPassword; default DefaultDemoEmail and
//     DefaultDemoPassword);
//   - attributes and attribute groups: text (brand), number with a unit
//     (weight in kg, width and height in cm), boolean (waterproof,
//     eco-friendly) and enum (material);
//   - option groups: size and colour;
//   - a category tree three levels deep (e.g. Clothing > Shirts > Eco
//     Shirts);
//   - products, published, filed under a leaf category, with attribute
//     values, a price in integer minor units (EUR), a picture drawn
//     locally and stored by the product service (Dataset.ProductImage; no
//     external URL, so an offline shop shows pictures; Options.NoImages
//     skips them), and variants
//     the product service has the option service generate (some with a
//     price of their own);
//   - stock for every product's SKU and every variant's, through the
//     inventory service (see Dataset.Stock): most plentiful, some "only a
//     few left", a few sold out;
//   - articles, published, with tags;
//   - SEO metadata written explicitly (seo Put) for three content pages
//     and the first few products.
//
// # Deterministic and idempotent
//
// Everything is derived from the run's seed (math/rand/v2 with a PCG
// source): names, slugs, prices, attribute values, variant choices,
// articles. Each entity draws from a stream of its own (kind and index),
// so a run with more products creates the same first products as a
// smaller one, and grows the shop rather than replacing it. NewDataset
// shows what a run would create without touching any service.
//
// Every entity has a natural key (a slug or a code) that is looked up
// before anything is created; a conflict on creation (someone else created
// it meanwhile) counts as "exists". So a second run with the same seed
// changes nothing and reports every entity as existing. Existing entities
// are never modified: one that differs from what the seed would create (an
// admin edited it, or another seed created it) is counted as Different and
// left alone. So is stock: a SKU that has a stock record already (the shop
// sold some, or an admin set it) keeps it.
//
// # Sizes and speed
//
// RunRequest.Products goes from a handful to MaxProducts (100,000, for
// benchmarks); the category tree and the attribute and option schema do
// not grow with it, articles do (see ArticlesFor). Kinds that do not need
// each other are made at once: the attributes, option groups, category
// tree and product pictures; then come the products, articles and SEO
// metadata, in that order. Each kind makes Options.Concurrency calls at a
// time; the products ProductBatch a call (product.create_many) and the
// categories a level of the tree a call (category.create_many).
// Options.Progress is called every Options.ProgressEvery items and at the
// end of each kind, and long runs log progress lines.
//
// Each product's SKUs (about seven) get their stock with one
// inventory.set_stock_many call, which writes them eight at a time; one
// inventory.set_stock call per SKU took about twice as long
// (BenchmarkSetStockMany in shop/inventory). Stock still costs a run a
// good part of its time: BenchmarkRunStockCost measured about 0.5 to 0.65
// times the products per second of runs without stock (0.4 to 0.45 with
// a call per SKU), on the embedded FerretDB with the machine's two cores
// busy; what is left is each SKU's own writes.
//
// # Running it
//
// As a service on the bus: Bind serves seeder.run and seeder.runs;
// callers must be admins. A run can take long (minutes for thousands of
// products): give the call a deadline that fits, or run large seeds with
// the seed command (deploy/seed: flags -amqp, -seed, -products, ...) or
// (*Server).Seed in-process. On RabbitMQ a request is acknowledged
// once answered, so a call must also finish within the broker's
// consumer_timeout (30 minutes by default). On the embedded FerretDB,
// whose writes slow down as collections grow, expect roughly 15 products
// a second for the first few hundred and fewer after; a real MongoDB is
// needed for benchmark sizes. A host that wants a seeded shop on first
// start calls (*Server).Ensure, which skips a seed already completed, or
// runs SeedOnStart as its background work.
// Runs are recorded in the seeder's own database (optional).
package seeder

import (
	"context"
	"time"
)

// ServiceName is the seeder's name on the bus: the prefix of its methods.
const ServiceName = "seeder"

// Method names on the bus.
const (
	MethodRun  = "seeder.run"
	MethodRuns = "seeder.runs"
)

// DefaultSeed is the seed of the sample data hosts seed on first start and
// of the seed command when no -seed is given, so that both find the same
// shop.
const DefaultSeed = 1

// Sizes.
const (
	// DefaultProducts is the number of products of a run whose
	// RunRequest.Products is 0.
	DefaultProducts = 48
	// MaxProducts is the most products one run creates.
	MaxProducts = 100_000
	// MaxArticles is the most articles one run creates.
	MaxArticles = 200
	// SEOProducts is how many products (the first ones) get explicit SEO
	// metadata.
	SEOProducts = 3
)

// Demo customer defaults.
const (
	DefaultDemoEmail    = "demo@shopbus.local"
	DefaultDemoPassword = "demo-password"
)

// Kind names a kind of entity in a Report.
type Kind string

// The kinds of entity a run seeds.
const (
	KindUsers           Kind = "users"
	KindAttributes      Kind = "attributes"
	KindAttributeGroups Kind = "attribute_groups"
	KindOptionGroups    Kind = "option_groups"
	KindCategories      Kind = "categories"
	KindProducts        Kind = "products"
	// KindVariants counts the variants of the products created (Created)
	// or found (Existing); they are made by the product service.
	KindVariants Kind = "variants"
	// KindStock counts the SKUs (of products and of variants) whose stock
	// the run set (Created) or found set already (Existing; Different
	// when the units on hand are not the seed's). Stock is set with each
	// product, so the products' progress covers it.
	KindStock    Kind = "stock"
	KindArticles Kind = "articles"
	// KindSEO counts the entities given explicit SEO metadata.
	KindSEO Kind = "seo"
)

// Kinds lists every Kind in the order a run seeds them.
var Kinds = []Kind{KindUsers, KindAttributes, KindAttributeGroups, KindOptionGroups,
	KindCategories, KindProducts, KindVariants, KindStock, KindArticles, KindSEO}

// RunRequest asks for one seed run.
type RunRequest struct {
	// Seed determines every generated value; the same seed gives the
	// same shop. Any value is valid, 0 included.
	Seed int64 `json:"seed"`
	// Products is the number of products, from 1 to MaxProducts; 0 means
	// DefaultProducts. Negative or larger values are invalid.
	Products int `json:"products,omitempty"`
}

// Count is what a run did with the entities of one kind.
type Count struct {
	// Created is how many the run created.
	Created int `json:"created"`
	// Existing is how many it found already there (and left alone).
	Existing int `json:"existing"`
	// Different is how many of the existing ones differ from what the
	// seed would have created (they are counted in Existing too).
	Different int `json:"different,omitempty"`
}

// Total is Created plus Existing.
func (c Count) Total() int { return c.Created + c.Existing }

// Report is the outcome of a run.
type Report struct {
	// RunID identifies the run (and its record in the seeder's database).
	RunID    string `json:"run_id"`
	Seed     int64  `json:"seed"`
	Products int    `json:"products"`
	// Counts has an entry for every Kind.
	Counts     map[Kind]Count `json:"counts"`
	StartedAt  time.Time      `json:"started_at"`
	FinishedAt time.Time      `json:"finished_at"`
}

// Created is the number of entities the run created, variants included.
func (r Report) Created() int {
	n := 0
	for _, c := range r.Counts {
		n += c.Created
	}
	return n
}

// Existing is the number of entities the run found already there.
func (r Report) Existing() int {
	n := 0
	for _, c := range r.Counts {
		n += c.Existing
	}
	return n
}

// Progress tells how far a run is with one kind of entity.
type Progress struct {
	Kind Kind `json:"kind"`
	// Done of Total entities of Kind have been handled.
	Done  int `json:"done"`
	Total int `json:"total"`
	// Created and Existing count the entities of Kind so far.
	Created  int `json:"created"`
	Existing int `json:"existing"`
	// Elapsed is the time since the run started.
	Elapsed time.Duration `json:"elapsed"`
}

// Run statuses in a RunRecord.
const (
	StatusRunning = "running"
	StatusDone    = "done"
	StatusFailed  = "failed"
)

// RunRecord is a run as the seeder's database records it.
type RunRecord struct {
	Report
	// Status is StatusRunning, StatusDone or StatusFailed. A run whose
	// process died stays StatusRunning.
	Status string `json:"status"`
	// Error says why a failed run failed.
	Error string `json:"error,omitempty"`
}

// RunsRequest lists recorded runs, newest first.
type RunsRequest struct {
	// Limit is the most runs returned: 20 when 0, at most 100.
	Limit int `json:"limit,omitempty"`
}

// Service is the seeder contract; *Server and *Client implement it.
type Service interface {
	// Run seeds the shop (admin only) and reports what it created and
	// what already existed. It is idempotent: a second run with the same
	// request creates nothing. Products out of range are invalid. It runs
	// until done or until ctx ends; an interrupted run can simply be run
	// again.
	Run(ctx context.Context, r RunRequest) (Report, error)
	// Runs lists the recorded runs, newest first (admin only). A seeder
	// without a database records none.
	Runs(ctx context.Context, r RunsRequest) ([]RunRecord, error)
}
