package seeder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/internal/idem"
	"github.com/shopbus/shopbus/internal/indexes"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/catalog/attribute"
	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/shop/catalog/option"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/content/article"
	"github.com/shopbus/shopbus/shop/content/seo"
	"github.com/shopbus/shopbus/shop/inventory"
	"github.com/shopbus/shopbus/transport"
)

// Defaults of Options.
const (
	DefaultConcurrency   = 8
	DefaultCallTimeout   = 30 * time.Second
	DefaultProgressEvery = 100
	DefaultEnsureWait    = 5 * time.Minute
)

// callAttempts is how often one call is tried when it fails with
// unavailable or deadline_exceeded (every write is idempotent: a retried
// creation that had succeeded finds its entity by slug).
const callAttempts = 4

// Options configure a Server. The zero value of each field means its
// default; the services must be reachable either through Bus or through
// the individual clients.
type Options struct {
	// Bus, if set, provides the clients left nil below (auth.NewClient(Bus)
	// and so on). Production passes the bus and nothing else.
	Bus transport.Bus

	// The services the seeder writes through. Each defaults to its bus
	// client on Bus. Auth also authenticates callers of Run and Runs.
	Auth         auth.Service
	Categories   category.Service
	Attributes   attribute.Service
	OptionGroups option.Service
	Products     product.Service
	Articles     article.Service
	SEO          seo.Service
	Inventory    inventory.Service

	// AdminEmail and AdminPassword are the admin account the auth service
	// ensures (its Options.AdminEmail and AdminPassword): the seeder logs
	// in with them and writes as that admin. Without them a run writes
	// with the session token of its caller (Run requires an admin).
	AdminEmail, AdminPassword string
	// Demo makes a run register a demo customer, DemoEmail with
	// DemoPassword (defaults DefaultDemoEmail and DefaultDemoPassword),
	// whose password is public: for a developer's own shop, never one that
	// others can reach.
	Demo bool
	// DemoEmail and DemoPassword are the demo customer (with Demo).
	DemoEmail, DemoPassword string

	// Concurrency is how many categories, products and articles are
	// created at once (default DefaultConcurrency); each product's stock
	// is set with one call (inventory.set_stock_many).
	Concurrency int
	// CallTimeout bounds each call to another service (default
	// DefaultCallTimeout); a call that times out or finds the service
	// unavailable is retried a few times.
	CallTimeout time.Duration
	// Progress, if set, is called every ProgressEvery entities of a kind
	// and when a kind is done. Calls do not overlap.
	Progress func(Progress)
	// ProgressEvery is the progress interval (default
	// DefaultProgressEvery). Kinds with at least that many entities also
	// log a progress line at that interval.
	ProgressEvery int
	// NoImages skips the sample pictures (see Dataset.ProductImage):
	// products are created without images, articles without a cover and
	// product metadata without og:image. Pictures are not free: drawing
	// one takes about 10 ms and putting it (decoding, three variants, the
	// writes) about 25 ms, paid once per design (ImageDesigns) and run;
	// BenchmarkRunImageCost measured runs of 200 products with pictures
	// at 0.77 to 0.88 times the products per second of runs without (0.5
	// to 0.6 when every product had a picture of its own), on the
	// embedded FerretDB with the machine's two cores busy.
	NoImages bool
	// EnsureWait is how long Ensure keeps retrying a run that fails
	// because services are not up yet (default DefaultEnsureWait).
	EnsureWait time.Duration
	// Logger receives progress lines and run summaries; slog.Default()
	// when nil.
	Logger *slog.Logger
	// Now returns the current time (default time.Now).
	Now func() time.Time
}

// Server is the seeder. It keeps a record of its runs in its database, if
// it has one.
type Server struct {
	opts     Options
	runs     *mongo.Collection // nil without a database
	requests *idem.Store       // the requests handled; nil without a database
	sem      chan struct{}     // one run at a time
}

var (
	_ Service = (*Server)(nil)
	_ Service = (*Client)(nil)
)

// New returns a seeder that records its runs in db (nil records nothing)
// and writes through the services of opts. It fails if a service has
// neither a client nor a bus to reach it through.
func New(db *mongo.Database, opts Options) (*Server, error) {
	if b := opts.Bus; b != nil {
		if opts.Auth == nil {
			opts.Auth = auth.NewClient(b)
		}
		if opts.Categories == nil {
			opts.Categories = category.NewClient(b)
		}
		if opts.Attributes == nil {
			opts.Attributes = attribute.NewClient(b)
		}
		if opts.OptionGroups == nil {
			opts.OptionGroups = option.NewClient(b)
		}
		if opts.Products == nil {
			opts.Products = product.NewClient(b)
		}
		if opts.Articles == nil {
			opts.Articles = article.NewClient(b)
		}
		if opts.SEO == nil {
			opts.SEO = seo.NewClient(b)
		}
		if opts.Inventory == nil {
			opts.Inventory = inventory.NewClient(b)
		}
	}
	var missing []string
	for name, svc := range map[string]any{"Auth": opts.Auth, "Categories": opts.Categories, "Attributes": opts.Attributes,
		"OptionGroups": opts.OptionGroups, "Products": opts.Products, "Articles": opts.Articles, "SEO": opts.SEO,
		"Inventory": opts.Inventory} {
		if v := reflect.ValueOf(svc); svc == nil || v.Kind() == reflect.Pointer && v.IsNil() {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, fmt.Errorf("seed: no Bus and no client for %v", missing)
	}
	if (opts.AdminEmail == "") != (opts.AdminPassword == "") {
		return nil, shop.Invalid("invalid seeder options", "AdminEmail", "AdminEmail and AdminPassword must be set together")
	}
	if opts.DemoEmail == "" {
		opts.DemoEmail = DefaultDemoEmail
	}
	if opts.DemoPassword == "" {
		opts.DemoPassword = DefaultDemoPassword
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = DefaultCallTimeout
	}
	if opts.ProgressEvery <= 0 {
		opts.ProgressEvery = DefaultProgressEvery
	}
	if opts.EnsureWait <= 0 {
		opts.EnsureWait = DefaultEnsureWait
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, sem: make(chan struct{}, 1)}
	if db != nil {
		s.runs = db.Collection("runs")
		s.requests = idem.New(db, idem.Options{Logger: opts.Logger})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := indexes.Ensure(ctx, s.runs, bson.D{{Key: "started_at", Value: -1}}); err != nil {
			return nil, fmt.Errorf("seed: %w", err)
		}
	}
	return s, nil
}

// Run implements Service: it checks that the caller is an admin, then
// seeds (see Seed). A seeder with a database runs a request once: a
// repeat (same request id) within ten minutes gets the first report (see
// internal/idem); one after a crash runs again, finds what the first
// created and records itself under the same run id.
func (s *Server) Run(ctx context.Context, r RunRequest) (Report, error) {
	if _, err := shop.RequireAdmin(ctx, s.opts.Auth); err != nil {
		return Report{}, err
	}
	return idem.Do(ctx, s.requests, MethodRun, r, func(ctx context.Context) (Report, error) {
		return s.Seed(ctx, r)
	})
}

// Seed runs the seeder without checking who asks: it is for trusted
// in-process callers (a host, the seed command in deploy/seed). Runs of one Server happen one at a
// time; a second waits for the first. On failure it returns the report of
// what was done so far with the error.
func (s *Server) Seed(ctx context.Context, r RunRequest) (Report, error) {
	n, err := checkRequest(r)
	if err != nil {
		return Report{}, err
	}
	ds, err := NewDataset(r.Seed, n)
	if err != nil {
		return Report{}, err
	}
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	case <-ctx.Done():
		return Report{}, transport.ContextError(ctx)
	}
	start := s.opts.Now()
	rn := &run{s: s, ds: ds, ctx: ctx, start: time.Now(), counts: map[Kind]*Count{}, catIDs: map[string]string{}}
	for _, k := range Kinds {
		rn.counts[k] = &Count{}
	}
	rep := Report{RunID: idem.NewID(ctx, "run"), Seed: r.Seed, Products: n, StartedAt: start}
	s.record(ctx, rep, StatusRunning, nil)
	log := s.opts.Logger.With("run", rep.RunID)
	log.Info("seed: run started", "seed", r.Seed, "products", n)

	err = rn.seed()

	rep.FinishedAt = s.opts.Now()
	rep.Counts = rn.snapshot()
	status := StatusDone
	if err != nil {
		status = StatusFailed
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	s.record(rctx, rep, status, err)
	cancel()
	if err != nil {
		log.Warn("seed: run failed", "err", err, "created", rep.Created(), "existing", rep.Existing())
		return rep, err
	}
	log.Info("seed: run done", "created", rep.Created(), "existing", rep.Existing(), "elapsed", time.Since(rn.start).Round(time.Millisecond))
	return rep, nil
}

// Ensure makes sure the shop holds the seed of r: if a completed run of
// the same seed with at least as many products is recorded it does
// nothing and returns that run's report and false; otherwise it runs Seed
// and returns its report and true (a run recorded before the seeder set
// stock does not count: the next one gives that shop its stock). A run
// that fails for any reason but an invalid request, bad credentials or a
// lack of rights (services still starting, say) is retried with backoff
// for up to Options.EnsureWait. Hosts call it at start-up to seed a fresh
// shop once.
func (s *Server) Ensure(ctx context.Context, r RunRequest) (Report, bool, error) {
	n, err := checkRequest(r)
	if err != nil {
		return Report{}, false, err
	}
	if s.runs != nil {
		var d runDoc
		err := s.runs.FindOne(ctx, bson.D{
			{Key: "status", Value: StatusDone},
			{Key: "seed", Value: r.Seed},
			{Key: "products", Value: bson.D{{Key: "$gte", Value: n}}},
			// Runs from before the seeder set stock do not count.
			{Key: "counts." + string(KindStock), Value: bson.D{{Key: "$exists", Value: true}}},
		}, options.FindOne().SetSort(bson.D{{Key: "started_at", Value: -1}})).Decode(&d)
		switch {
		case err == nil:
			return d.record().Report, false, nil
		case !errors.Is(err, mongo.ErrNoDocuments):
			return Report{}, false, shop.StorageFailure(ctx, "seed: find runs", err)
		}
	}
	deadline := time.Now().Add(s.opts.EnsureWait)
	backoff := 500 * time.Millisecond
	for {
		rep, err := s.Seed(ctx, r)
		if err == nil {
			return rep, true, nil
		}
		switch transport.CodeOf(err) {
		case transport.CodeInvalid, transport.CodeUnauthenticated, transport.CodeForbidden:
			return rep, false, err
		}
		if ctx.Err() != nil || time.Now().Add(backoff).After(deadline) {
			return rep, false, err
		}
		s.opts.Logger.Warn("seed: run failed, retrying", "err", err, "in", backoff)
		if !sleep(ctx, backoff) {
			return rep, false, err
		}
		backoff = min(2*backoff, 15*time.Second)
	}
}

// SeedOnStart returns background work for a host (host.Started.Run): it
// calls Ensure with r once, logs the outcome, and returns nil, so that a
// failed seed never restarts the seeder service. Use it where a fresh shop
// should fill itself on first start (deploy/shop).
func (s *Server) SeedOnStart(r RunRequest) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		rep, ran, err := s.Ensure(ctx, r)
		switch {
		case err != nil && ctx.Err() == nil:
			s.opts.Logger.Error("seed: seeding on start failed", "err", err)
		case err == nil && !ran:
			s.opts.Logger.Info("seed: shop seeded already", "seed", rep.Seed, "products", rep.Products, "run", rep.RunID)
		}
		return nil
	}
}

// Runs implements Service.
func (s *Server) Runs(ctx context.Context, r RunsRequest) ([]RunRecord, error) {
	if _, err := shop.RequireAdmin(ctx, s.opts.Auth); err != nil {
		return nil, err
	}
	if r.Limit < 0 || r.Limit > 100 {
		return nil, shop.Invalid("invalid request", "limit", "must be from 1 to 100 (0 means 20)")
	}
	limit := r.Limit
	if limit == 0 {
		limit = 20
	}
	out := []RunRecord{}
	if s.runs == nil {
		return out, nil
	}
	cur, err := s.runs.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "started_at", Value: -1}, {Key: "_id", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, shop.StorageFailure(ctx, "seed: list runs", err)
	}
	var docs []runDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, shop.StorageFailure(ctx, "seed: read runs", err)
	}
	for _, d := range docs {
		out = append(out, d.record())
	}
	return out, nil
}

// ---- the run records ----

type countDoc struct {
	Created   int `bson:"created"`
	Existing  int `bson:"existing"`
	Different int `bson:"different"`
}

type runDoc struct {
	ID         string              `bson:"_id"`
	Seed       int64               `bson:"seed"`
	Products   int                 `bson:"products"`
	Status     string              `bson:"status"`
	Error      string              `bson:"error,omitempty"`
	Counts     map[string]countDoc `bson:"counts"`
	StartedAt  time.Time           `bson:"started_at"`
	FinishedAt time.Time           `bson:"finished_at,omitempty"`
}

func (d runDoc) record() RunRecord {
	rec := RunRecord{Status: d.Status, Error: d.Error, Report: Report{
		RunID: d.ID, Seed: d.Seed, Products: d.Products, Counts: map[Kind]Count{},
		StartedAt: d.StartedAt.UTC(), FinishedAt: d.FinishedAt.UTC(),
	}}
	if d.FinishedAt.IsZero() {
		rec.FinishedAt = time.Time{}
	}
	for k, c := range d.Counts {
		rec.Counts[Kind(k)] = Count(c)
	}
	return rec
}

// record writes the state of a run; failing to is logged, not fatal.
func (s *Server) record(ctx context.Context, rep Report, status string, runErr error) {
	if s.runs == nil {
		return
	}
	d := runDoc{ID: rep.RunID, Seed: rep.Seed, Products: rep.Products, Status: status,
		Counts: map[string]countDoc{}, StartedAt: rep.StartedAt, FinishedAt: rep.FinishedAt}
	if runErr != nil {
		d.Error = transport.AsError(runErr).Error()
	}
	for k, c := range rep.Counts {
		d.Counts[string(k)] = countDoc(c)
	}
	// An upsert: a run made again after a crash has the same id.
	_, err := s.runs.ReplaceOne(ctx, bson.D{{Key: "_id", Value: d.ID}}, d, options.Replace().SetUpsert(true))
	if err != nil {
		s.opts.Logger.Warn("seed: cannot record the run", "run", rep.RunID, "err", err)
	}
}

// ---- one run ----

// run is the state of one seed run.
type run struct {
	s     *Server
	ds    *Dataset
	ctx   context.Context // the run's context
	admin context.Context // ctx carrying the admin's session token
	start time.Time

	mu     sync.Mutex
	counts map[Kind]*Count
	catIDs map[string]string // category slug -> id

	progressMu sync.Mutex
	reported   map[Kind]int // last Done reported per kind

	imagesMu sync.Mutex
	images   [ImageDesigns]string // stored path of each picture design put in this run

	stockMu  sync.Mutex
	stocking []inventory.SetStockRequest // SKUs of products made, waiting to be stocked

	failMu  sync.Mutex
	failure error // the first error of a phase: the others start no new item
}

// imagePath puts product i's picture (Dataset.ProductImage) unless this
// run put its design already, and returns its stored path. Two workers
// may put one design at once: the same bytes are the same stored image
// (content addressed). A put has a request id of its own, so that a run
// made again after a failure puts it again under another admin session.
func (r *run) imagePath(ctx context.Context, svc product.Service, i int) (string, error) {
	k := ImageDesign(i)
	r.imagesMu.Lock()
	path := r.images[k]
	r.imagesMu.Unlock()
	if path != "" {
		return path, nil
	}
	ictx := transport.WithRequestID(ctx, transport.NewRequestID())
	img, err := svc.PutImage(ictx, product.PutImageRequest{Data: r.ds.ProductImage(i)})
	if err != nil {
		return "", err
	}
	r.imagesMu.Lock()
	r.images[k] = img.Path
	r.imagesMu.Unlock()
	return img.Path, nil
}

// seed runs the phases. The admin's login comes first. The phases that
// need nothing more run at once: the attributes and then their groups,
// the option groups, the category tree and the product pictures. Then the
// products, the articles (whose covers are the pictures) and the metadata
// of the products made. Running those first phases at once keeps a bus's
// round trips off the critical path, where the CPU-bound pictures hide
// them. The articles do not run beside the products: on a machine the
// products keep busy, a seed of 20,000 products then took 49.6 to 56.5 s
// against 45.2 to 48.6 s, with more CPU.
func (r *run) seed() error {
	logout, err := r.users()
	if logout != nil {
		defer logout()
	}
	if err != nil {
		return err
	}
	attributes := func() error {
		if err := r.attributes(); err != nil {
			return err
		}
		return r.attributeGroups()
	}
	if err := r.together(attributes, r.optionGroups, r.categories, r.pictures); err != nil {
		return err
	}
	seoIDs, err := r.products()
	if err != nil {
		return err
	}
	if err := r.articles(); err != nil {
		return err
	}
	return r.seo(seoIDs)
}

// together runs the phases at once and returns the first error of the
// run; once one fails, the others start no new item (see fanOut).
func (r *run) together(phases ...func() error) error {
	var wg sync.WaitGroup
	for _, ph := range phases {
		wg.Go(func() {
			if err := ph(); err != nil {
				r.fail(err)
			}
		})
	}
	wg.Wait()
	return r.failed()
}

// fail records err as the run's failure, unless it has one already.
func (r *run) fail(err error) {
	r.failMu.Lock()
	defer r.failMu.Unlock()
	if r.failure == nil {
		r.failure = err
	}
}

// failed returns the first error of the run's phases, nil if none failed.
func (r *run) failed() error {
	r.failMu.Lock()
	defer r.failMu.Unlock()
	return r.failure
}

// users logs in as the admin and registers the demo customer. It returns
// a function ending the admin session it started, if it started one.
func (r *run) users() (logout func(), err error) {
	o := r.s.opts
	ph := r.begin(KindUsers, 2)
	token := shop.TokenFrom(r.ctx)
	if o.AdminEmail != "" {
		// A login of its own for every run, not one derived from the
		// request served: a run made again after a failure, whose
		// session was ended, must not be answered that session.
		lctx := transport.WithRequestID(r.ctx, transport.NewRequestID())
		sess, err := call(r, lctx, func(ctx context.Context) (auth.Session, error) {
			return o.Auth.Login(ctx, auth.LoginRequest{Email: o.AdminEmail, Password: o.AdminPassword})
		})
		if err != nil {
			return nil, wrap(KindUsers, o.AdminEmail, err)
		}
		token = sess.Token
		logout = func() {
			// Ending the session is hygiene: after a cancelled run (a
			// host shutting down, say) the auth service may be gone, so
			// do not wait long for it.
			wait := 10 * time.Second
			if r.ctx.Err() != nil {
				wait = time.Second
			}
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), wait)
			defer cancel()
			if err := o.Auth.Logout(ctx, sess.Token); err != nil {
				o.Logger.Warn("seed: admin logout", "err", err)
			}
		}
	}
	if token == "" {
		return nil, shop.Unauthenticated("seed: no admin credentials configured (AdminEmail, AdminPassword) and no caller session token")
	}
	r.admin = shop.WithToken(r.ctx, token)
	p, err := call(r, r.ctx, func(ctx context.Context) (shop.Principal, error) { return o.Auth.Authenticate(ctx, token) })
	if err != nil {
		return logout, wrap(KindUsers, "admin", err)
	}
	if !p.Has(shop.RoleAdmin) {
		return logout, shop.Forbidden("seed: " + p.Email + " is not an admin")
	}
	r.found(KindUsers, true)
	r.step(ph)

	if !o.Demo {
		r.step(ph)
		return logout, nil
	}
	_, err = call(r, r.ctx, func(ctx context.Context) (auth.User, error) {
		return o.Auth.Register(ctx, auth.RegisterRequest{Email: o.DemoEmail, Password: o.DemoPassword})
	})
	switch {
	case err == nil:
		r.add(KindUsers, 1, 0, 0)
	case errors.Is(err, shop.ErrConflict):
		r.found(KindUsers, true)
	default:
		return logout, wrap(KindUsers, o.DemoEmail, err)
	}
	r.step(ph)
	return logout, nil
}

func (r *run) attributes() error {
	svc := r.s.opts.Attributes
	ph := r.begin(KindAttributes, len(r.ds.Attributes))
	return r.parallel(len(r.ds.Attributes), func(i int) error {
		a := r.ds.Attributes[i]
		_, _, err := ensure(r, KindAttributes, a.Code,
			func(ctx context.Context) (attribute.Attribute, error) {
				return svc.Get(ctx, attribute.CodeRequest{Code: a.Code})
			},
			func(ctx context.Context) (attribute.Attribute, error) { return svc.Create(ctx, a) },
			func(got attribute.Attribute) bool {
				return got.Name == a.Name && got.Type == a.Type && got.Unit == a.Unit && slices.Equal(got.Values, a.Values)
			})
		if err != nil {
			return err
		}
		r.step(ph)
		return nil
	})
}

func (r *run) attributeGroups() error {
	svc := r.s.opts.Attributes
	ph := r.begin(KindAttributeGroups, len(r.ds.AttributeGroups))
	return r.parallel(len(r.ds.AttributeGroups), func(i int) error {
		g := r.ds.AttributeGroups[i]
		_, _, err := ensure(r, KindAttributeGroups, g.Code,
			func(ctx context.Context) (attribute.Group, error) {
				return svc.GetGroup(ctx, attribute.CodeRequest{Code: g.Code})
			},
			func(ctx context.Context) (attribute.Group, error) { return svc.CreateGroup(ctx, g) },
			func(got attribute.Group) bool {
				return got.Name == g.Name && got.Position == g.Position && slices.Equal(got.Attributes, g.Attributes)
			})
		if err != nil {
			return err
		}
		r.step(ph)
		return nil
	})
}

func (r *run) optionGroups() error {
	svc := r.s.opts.OptionGroups
	ph := r.begin(KindOptionGroups, len(r.ds.OptionGroups))
	return r.parallel(len(r.ds.OptionGroups), func(i int) error {
		g := r.ds.OptionGroups[i]
		_, _, err := ensure(r, KindOptionGroups, g.Code,
			func(ctx context.Context) (option.Group, error) {
				return svc.GetGroup(ctx, option.GroupRequest{Code: g.Code})
			},
			func(ctx context.Context) (option.Group, error) { return svc.CreateGroup(ctx, g) },
			func(got option.Group) bool {
				return got.Name == g.Name && got.Position == g.Position && slices.Equal(got.Values, g.Values)
			})
		if err != nil {
			return err
		}
		r.step(ph)
		return nil
	})
}

// categories creates the tree a level at a time, each level with
// category.create_many calls (category.MaxCreateMany categories each), the
// calls concurrently. A category whose creation is a conflict (a run over
// a seeded shop: its slug is taken) is looked up and counted as existing.
func (r *run) categories() error {
	svc := r.s.opts.Categories
	ph := r.begin(KindCategories, len(r.ds.Categories))
	for level := 1; level <= 3; level++ {
		var specs []CategorySpec
		for _, c := range r.ds.Categories {
			if c.Level == level {
				specs = append(specs, c)
			}
		}
		calls := (len(specs) + category.MaxCreateMany - 1) / category.MaxCreateMany
		err := r.parallel(calls, func(b int) error {
			part := specs[b*category.MaxCreateMany : min((b+1)*category.MaxCreateMany, len(specs))]
			reqs := make([]category.CreateRequest, len(part))
			for k, c := range part {
				reqs[k] = c.Request(r.categoryID(c.ParentSlug))
			}
			res, err := call(r, r.attempt(), func(ctx context.Context) ([]category.CreateResult, error) {
				return svc.CreateMany(ctx, category.CreateManyRequest{Items: reqs})
			})
			if err != nil {
				return wrap(KindCategories, reqs[0].Slug, err)
			}
			if len(res) != len(reqs) {
				return shop.Internal(fmt.Sprintf("seed: category.create_many answered %d results for %d categories", len(res), len(reqs)))
			}
			for k, made := range res {
				c, req := part[k], reqs[k]
				var got category.Category
				switch {
				case made.Category != nil:
					got = *made.Category
					r.add(KindCategories, 1, 0, 0)
				case made.Error != nil && made.Error.Code == transport.CodeConflict:
					got, _, err = ensure(r, KindCategories, c.Slug,
						func(ctx context.Context) (category.Category, error) {
							return svc.GetBySlug(ctx, category.GetBySlugRequest{Slug: c.Slug})
						},
						func(ctx context.Context) (category.Category, error) { return svc.Create(ctx, req) },
						func(got category.Category) bool {
							return got.Name == c.Name && got.ParentID == req.ParentID && got.Description == c.Description
						})
					if err != nil {
						return err
					}
				case made.Error != nil:
					return wrap(KindCategories, c.Slug, made.Error)
				default:
					return shop.Internal("seed: category.create_many answered neither a category nor an error for " + c.Slug)
				}
				r.mu.Lock()
				r.catIDs[c.Slug] = got.ID
				r.mu.Unlock()
				r.step(ph)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *run) categoryID(slug string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.catIDs[slug]
}

// pictures puts every picture design the products show (unless
// Options.NoImages), at once and before the products: not one after the
// other inside a batch of products.
func (r *run) pictures() error {
	if r.s.opts.NoImages {
		return nil
	}
	svc := r.s.opts.Products
	return r.parallel(min(r.ds.Products, ImageDesigns), func(i int) error {
		_, err := call(r, r.admin, func(ctx context.Context) (string, error) { return r.imagePath(ctx, svc, i) })
		if err != nil {
			return wrap(KindProducts, r.ds.Product(i).Request.Slug, err)
		}
		return nil
	})
}

// ProductBatch is how many products one product.create_many call of a
// run makes.
const ProductBatch = 25

// products creates the products, ProductBatch a call, the calls
// concurrently; sets their stock; and returns the ids of the first
// SEOProducts. A product whose creation is a conflict (a run over a
// seeded shop: its slug is taken) is looked up and counted as existing.
func (r *run) products() ([]string, error) {
	svc := r.s.opts.Products
	ph := r.begin(KindProducts, r.ds.Products)
	seoIDs := make([]string, min(SEOProducts, r.ds.Products))
	batches := (r.ds.Products + ProductBatch - 1) / ProductBatch
	err := r.parallel(batches, func(b int) error {
		lo, hi := b*ProductBatch, min((b+1)*ProductBatch, r.ds.Products)
		reqs := make([]product.CreateRequest, 0, hi-lo)
		for i := lo; i < hi; i++ {
			spec := r.ds.Product(i)
			req := spec.Request
			req.CategoryIDs = []string{r.categoryID(spec.CategorySlug)}
			if !r.s.opts.NoImages {
				path, err := call(r, r.admin, func(ctx context.Context) (string, error) { return r.imagePath(ctx, svc, i) })
				if err != nil {
					return wrap(KindProducts, req.Slug, err)
				}
				req.Images = []string{path}
			}
			reqs = append(reqs, req)
		}
		res, err := call(r, r.attempt(), func(ctx context.Context) ([]product.CreateResult, error) {
			return svc.CreateMany(ctx, product.CreateManyRequest{Items: reqs})
		})
		if err != nil {
			return wrap(KindProducts, reqs[0].Slug, err)
		}
		if len(res) != len(reqs) {
			return shop.Internal(fmt.Sprintf("seed: product.create_many answered %d results for %d products", len(res), len(reqs)))
		}
		for k, made := range res {
			i, req := lo+k, reqs[k]
			var p product.Product
			switch {
			case made.Product != nil:
				p = *made.Product
				r.add(KindProducts, 1, 0, 0)
				r.add(KindVariants, len(p.Variants), 0, 0)
			case made.Error != nil && made.Error.Code == transport.CodeConflict:
				var created bool
				p, created, err = ensure(r, KindProducts, req.Slug,
					func(ctx context.Context) (product.Product, error) {
						return svc.GetBySlug(ctx, product.GetBySlugRequest{Slug: req.Slug})
					},
					func(ctx context.Context) (product.Product, error) { return svc.Create(ctx, req) },
					func(got product.Product) bool { return sameProduct(got, req, r.ds.Product(i).Variants) })
				if err != nil {
					return err
				}
				if created {
					r.add(KindVariants, len(p.Variants), 0, 0)
				} else {
					r.add(KindVariants, 0, len(p.Variants), 0)
				}
			case made.Error != nil:
				return wrap(KindProducts, req.Slug, made.Error)
			default:
				return shop.Internal("seed: product.create_many answered neither a product nor an error for " + req.Slug)
			}
			if err := r.queueStock(i, p); err != nil {
				return err
			}
			if i < len(seoIDs) {
				seoIDs[i] = p.ID // each index is written by one worker only
			}
			r.step(ph)
		}
		return nil
	})
	if err == nil {
		err = r.flushStock(0)
	}
	return seoIDs, err
}

// queueStock queues the SKUs of product i (p as the product service
// holds it) to be stocked with the dataset's amounts (Dataset.Stock), and
// stocks a full call's worth (inventory.MaxLines SKUs, of several
// products) once that many are waiting.
func (r *run) queueStock(i int, p product.Product) error {
	variants := make([]string, 0, len(p.Variants))
	for _, v := range p.Variants {
		variants = append(variants, v.SKU)
	}
	amounts, own := r.ds.Stock(i, variants)
	seen := make(map[string]bool, len(variants)+1)
	items := make([]inventory.SetStockRequest, 0, len(variants)+1)
	add := func(sku string, units int64) {
		if sku != "" && !seen[sku] {
			seen[sku] = true
			items = append(items, inventory.SetStockRequest{SKU: sku, OnHand: units})
		}
	}
	for j, sku := range variants {
		add(sku, amounts[j])
	}
	add(p.SKU, own)
	r.stockMu.Lock()
	r.stocking = append(r.stocking, items...)
	r.stockMu.Unlock()
	return r.flushStock(inventory.MaxLines)
}

// flushStock stocks the queued SKUs, a call of inventory.MaxLines at a
// time, while at least least of them are waiting (0: all of them). The
// SKUs that have no stock yet get the dataset's amount, all of one call
// with one insert; SKUs with stock count as existing and keep it.
func (r *run) flushStock(least int) error {
	svc := r.s.opts.Inventory
	for {
		r.stockMu.Lock()
		n := min(len(r.stocking), inventory.MaxLines)
		if n == 0 || n < least {
			r.stockMu.Unlock()
			return nil
		}
		var items []inventory.SetStockRequest
		want := make(map[string]int64, n)
		for _, it := range r.stocking[:n] {
			if _, dup := want[it.SKU]; !dup { // two products of one SKU: stocked once
				want[it.SKU] = it.OnHand
				items = append(items, it)
			}
		}
		r.stocking = slices.Delete(r.stocking, 0, n)
		r.stockMu.Unlock()
		res, err := call(r, r.attempt(), func(ctx context.Context) ([]inventory.StockResult, error) {
			return svc.SetStockMany(ctx, inventory.SetStockManyRequest{Items: items, IfAbsent: true})
		})
		if err != nil {
			return wrap(KindStock, items[0].SKU, err)
		}
		created := 0
		for _, st := range res {
			switch {
			case st.Error != nil:
				return wrap(KindStock, st.SKU, st.Error)
			case st.Kept:
				r.found(KindStock, st.Stock != nil && st.Stock.OnHand == want[st.SKU])
			default:
				created++
			}
		}
		r.add(KindStock, created, 0, 0)
	}
}

// sameProduct reports whether got is what req would create.
func sameProduct(got product.Product, req product.CreateRequest, variants int) bool {
	return got.Title == req.Title && got.Description == req.Description && got.Status == req.Status &&
		got.Price == req.Price && slices.Equal(got.CategoryIDs, req.CategoryIDs) &&
		reflect.DeepEqual(got.Attributes, req.Attributes) && slices.Equal(got.OptionGroups, req.OptionGroups) &&
		len(got.Variants) == variants
}

func (r *run) articles() error {
	svc := r.s.opts.Articles
	ph := r.begin(KindArticles, r.ds.Articles)
	return r.parallel(r.ds.Articles, func(i int) error {
		a := r.ds.Article(i)
		if r.s.opts.NoImages {
			a.CoverImage = ""
		}
		_, _, err := ensure(r, KindArticles, a.Slug,
			func(ctx context.Context) (article.Article, error) {
				return svc.GetBySlug(ctx, article.GetBySlugRequest{Slug: a.Slug})
			},
			func(ctx context.Context) (article.Article, error) { return svc.Create(ctx, a) },
			func(got article.Article) bool {
				return got.Title == a.Title && got.Status == a.Status && got.Excerpt == a.Excerpt && slices.Equal(got.Tags, a.Tags)
			})
		if err != nil {
			return err
		}
		r.step(ph)
		return nil
	})
}

// seo writes the explicit metadata of the pages and of the products whose
// ids are given. Metadata counts as existing when the entity has explicit
// metadata already (written by an earlier run or by an admin).
func (r *run) seo(productIDs []string) error {
	svc := r.s.opts.SEO
	puts := slices.Clone(r.ds.Pages)
	for i, id := range productIDs {
		m := r.ds.ProductMetadata(i)
		m.EntityID = id
		if r.s.opts.NoImages {
			m.OpenGraph.Image = ""
		}
		puts = append(puts, m)
	}
	ph := r.begin(KindSEO, len(puts))
	return r.parallel(len(puts), func(i int) error {
		put := puts[i]
		_, _, err := ensure(r, KindSEO, string(put.Kind)+"/"+put.EntityID,
			func(ctx context.Context) (seo.Metadata, error) {
				m, err := svc.Get(ctx, seo.GetRequest{Kind: put.Kind, EntityID: put.EntityID})
				if err == nil && len(m.Explicit) == 0 {
					return m, shop.NotFound("explicit metadata")
				}
				return m, err
			},
			func(ctx context.Context) (seo.Metadata, error) { return svc.Put(ctx, put) },
			func(got seo.Metadata) bool {
				return got.Title == put.Title && got.Description == put.Description && (put.Path == "" || got.Path == put.Path)
			})
		if err != nil {
			return err
		}
		r.step(ph)
		return nil
	})
}

// ---- helpers ----

// attempt returns the admin's context with a request id of its own, for a
// bulk call that creates first and looks up only what is in conflict: the
// call's retries (see call) carry that id, but a run made again after a
// failure makes it afresh under its new admin session (a request id
// derived from the served request's and the same body would be refused
// as used by another caller).
func (r *run) attempt() context.Context {
	return transport.WithRequestID(r.admin, transport.NewRequestID())
}

// ensure finds an entity with lookup, or creates it with create when
// lookup says not_found; a conflict on creation means someone else
// created it meanwhile, and lookup runs again. It counts the entity under
// kind, as created or existing (and different, when same says so), and
// reports whether it created it. Calls carry the admin's token.
func ensure[T any](r *run, kind Kind, key string, lookup, create func(ctx context.Context) (T, error), same func(T) bool) (T, bool, error) {
	v, err := call(r, r.admin, lookup)
	if err == nil {
		r.found(kind, same(v))
		return v, false, nil
	}
	if !errors.Is(err, shop.ErrNotFound) {
		return v, false, wrap(kind, key, err)
	}
	v, err = call(r, r.admin, create)
	if err == nil {
		r.add(kind, 1, 0, 0)
		return v, true, nil
	}
	if errors.Is(err, shop.ErrConflict) {
		if v2, err2 := call(r, r.admin, lookup); err2 == nil {
			r.found(kind, same(v2))
			return v2, false, nil
		}
	}
	return v, false, wrap(kind, key, err)
}

// call runs f with a per-call timeout, retrying transient failures with
// backoff while ctx lasts.
func call[T any](r *run, ctx context.Context, f func(ctx context.Context) (T, error)) (T, error) {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, r.s.opts.CallTimeout)
		v, err := f(cctx)
		cancel()
		if err == nil || attempt == callAttempts || ctx.Err() != nil {
			return v, err
		}
		switch transport.CodeOf(err) {
		case transport.CodeUnavailable, transport.CodeDeadlineExceeded:
		default:
			return v, err
		}
		if !sleep(ctx, backoff) {
			return v, err
		}
		backoff *= 4
	}
}

// wrap names the entity an error is about, keeping its code and fields.
func wrap(kind Kind, key string, err error) error {
	e := transport.AsError(err)
	return &shop.Error{Code: e.Code, Message: fmt.Sprintf("seed %s %q: %s", kind, key, e.Message), Fields: e.Fields, Cause: err}
}

// parallel runs fn(0) ... fn(n-1) on Options.Concurrency goroutines and
// returns the first error; after an error no new item starts.
func (r *run) parallel(n int, fn func(i int) error) error {
	return r.fanOut(n, r.s.opts.Concurrency, fn)
}

// fanOut runs fn(0) ... fn(n-1) on up to workers goroutines, as parallel
// does. Once an item of any phase fails, no new item starts, and it
// returns the run's first error.
func (r *run) fanOut(n, workers int, fn func(i int) error) error {
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || r.failed() != nil || r.ctx.Err() != nil {
					return
				}
				if err := fn(i); err != nil {
					r.fail(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := r.failed(); err != nil {
		return err
	}
	if r.ctx.Err() != nil {
		return transport.ContextError(r.ctx)
	}
	return nil
}

// sleep waits for d or until ctx ends, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (r *run) add(kind Kind, created, existing, different int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.counts[kind]
	c.Created += created
	c.Existing += existing
	c.Different += different
}

func (r *run) found(kind Kind, same bool) {
	if same {
		r.add(kind, 0, 1, 0)
	} else {
		r.add(kind, 0, 1, 1)
	}
}

func (r *run) snapshot() map[Kind]Count {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[Kind]Count, len(r.counts))
	for k, c := range r.counts {
		out[k] = *c
	}
	return out
}

// phase is the progress of one kind.
type phase struct {
	kind  Kind
	total int
	done  atomic.Int64
}

// begin starts the phase of kind and reports it at 0 done.
func (r *run) begin(kind Kind, total int) *phase {
	ph := &phase{kind: kind, total: total}
	r.report(ph, 0)
	return ph
}

// step counts one entity of ph as handled and reports progress at the
// interval and at the end.
func (r *run) step(ph *phase) {
	d := int(ph.done.Add(1))
	if d == ph.total || d%r.s.opts.ProgressEvery == 0 {
		r.report(ph, d)
	}
}

func (r *run) report(ph *phase, done int) {
	o := r.s.opts
	r.progressMu.Lock()
	defer r.progressMu.Unlock()
	if r.reported == nil {
		r.reported = map[Kind]int{}
	}
	if last, ok := r.reported[ph.kind]; ok && done <= last {
		return // a slower worker's older news
	}
	r.reported[ph.kind] = done
	r.mu.Lock()
	c := *r.counts[ph.kind]
	r.mu.Unlock()
	p := Progress{Kind: ph.kind, Done: done, Total: ph.total, Created: c.Created, Existing: c.Existing, Elapsed: time.Since(r.start)}
	if o.Progress != nil {
		o.Progress(p)
	}
	if ph.total >= o.ProgressEvery && done > 0 {
		o.Logger.Info("seed: progress", "kind", p.Kind, "done", p.Done, "total", p.Total,
			"created", p.Created, "existing", p.Existing, "elapsed", p.Elapsed.Round(time.Millisecond))
	}
}
