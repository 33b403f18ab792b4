package product

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/internal/audit"
	"github.com/shopbus/shopbus/internal/idem"
	"github.com/shopbus/shopbus/internal/keylock"
	"github.com/shopbus/shopbus/internal/outbox"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/attribute"
	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/shop/catalog/internal/kit"
	"github.com/shopbus/shopbus/shop/catalog/option"
	"github.com/shopbus/shopbus/transport"
)

// CategoryGetter looks categories up; category.Client is one.
type CategoryGetter interface {
	Get(ctx context.Context, r category.GetRequest) (category.Category, error)
}

// AttributeValidator validates attribute values; attribute.Client is one.
type AttributeValidator interface {
	Validate(ctx context.Context, values map[string]any) error
}

// VariantGenerator makes and drops the variants of a product;
// option.Client is one.
type VariantGenerator interface {
	GenerateVariants(ctx context.Context, r option.GenerateRequest) (option.ProductVariants, error)
	DeleteVariants(ctx context.Context, r option.ProductRequest) (option.ProductVariants, error)
}

// Options configure a Server. The zero value works for products without
// categories, attributes or variants; it cannot authorise writes (no
// Auth) and announces nothing (no Events).
type Options struct {
	// Auth authenticates the caller of a write; writes need an admin.
	Auth shop.Authenticator
	// Events receives product.product.* events; nil publishes nothing.
	Events shop.Publisher
	// Categories checks category ids (the category service's client).
	Categories CategoryGetter
	// Attributes validates attribute values (the attribute service's client).
	Attributes AttributeValidator
	// Variants generates variants (the option service's client).
	Variants VariantGenerator
	// SharedSlugs are the other services whose pages share this one's
	// addresses (the storefront's /{slug}): a slug one of them holds is
	// refused, or skipped when generated. Nil: slugs are unique among
	// products only.
	SharedSlugs shop.SlugSpace
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger reports events not yet published, failed clean-ups and
	// requests that could not be remembered (default slog.Default()).
	Logger *slog.Logger
}

// Server is the MongoDB implementation of Service. Its collections:
// products (by id), product_slugs (slug → id, so slugs are unique and
// found by _id; see kit.Slugs), images (image variants by name, see
// PutImage), requests (the writes handled, so that
// a repeated request is answered without applying it again; see
// internal/idem) and audit_deleted (the audit logs of deleted products;
// a live product's log is in its own document, see History).
//
// A change is stored together with its event in the same document (an
// outbox), published, then removed from the document; RunRelay publishes
// whatever a crash or a bus outage left there. Changes to one product are
// serialised within one Server, and a version check catches concurrent
// changes from other instances (conflict).
type Server struct {
	products *mongo.Collection
	slugs    kit.Slugs
	opts     Options
	now      func() time.Time
	logger   *slog.Logger
	locks    keylock.Map
	relay    *outbox.Relay
	// requests remembers the writes handled, by request id.
	requests *idem.Store
	// seen holds the ids of the events handled, so that a repeat is dropped.
	seen outbox.Seen
	// retired keeps the audit logs of deleted products.
	retired audit.Retired
	// images holds the image variants by name (see media.go); imageSem
	// bounds the images decoded at once.
	images      *mongo.Collection
	imageSem    chan struct{}
	knownImages knownImages
}

var _ Service = (*Server)(nil)

type variantDoc struct {
	ID      string            `bson:"id"`
	SKU     string            `bson:"sku"`
	Options map[string]string `bson:"options"`
	// Price is the variant's own price; nil means the product's.
	Price *shop.Money `bson:"price,omitempty"`
}

type productDoc struct {
	ID           string              `bson:"_id"`
	Slug         string              `bson:"slug"`
	Title        string              `bson:"title"`
	TitleKey     string              `bson:"title_key"` // lower-cased, for sorting
	Description  string              `bson:"description"`
	Status       string              `bson:"status"`
	SKU          string              `bson:"sku"`
	Price        shop.Money          `bson:"price"`
	CategoryIDs  []string            `bson:"category_ids"`
	Attributes   map[string]any      `bson:"attributes,omitempty"`
	OptionGroups []string            `bson:"option_groups,omitempty"`
	OptionValues map[string][]string `bson:"option_values,omitempty"`
	Variants     []variantDoc        `bson:"variants,omitempty"`
	Images       []string            `bson:"images,omitempty"`
	Version      int64               `bson:"version"`
	CreatedAt    time.Time           `bson:"created_at"`
	UpdatedAt    time.Time           `bson:"updated_at"`
	PublishedAt  time.Time           `bson:"published_at,omitzero"`
	// Deleted marks a tombstone kept until its deletion is announced.
	Deleted bool `bson:"deleted,omitempty"`
	// Events holds the events of changes the broker has not confirmed yet,
	// stored in the same write as the change (see internal/outbox).
	outbox.Events `bson:",inline"`
	// Log is the product's audit log, written with each change (see
	// internal/audit).
	audit.Log `bson:",inline"`
}

func (d *productDoc) product() Product {
	p := Product{
		ID: d.ID, Slug: d.Slug, Title: d.Title, Description: d.Description, Status: d.Status,
		SKU: d.SKU, Price: d.Price, CategoryIDs: d.CategoryIDs, Attributes: d.Attributes,
		OptionGroups: d.OptionGroups, OptionValues: d.OptionValues, Images: d.Images,
		Version: d.Version, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt, PublishedAt: d.PublishedAt,
	}
	if p.CategoryIDs == nil {
		p.CategoryIDs = []string{}
	}
	for _, v := range d.Variants {
		pv := Variant{ID: v.ID, SKU: v.SKU, Options: v.Options, Price: d.Price}
		if v.Price != nil {
			pv.Price, pv.OwnPrice = *v.Price, true
		}
		p.Variants = append(p.Variants, pv)
	}
	return p
}

// clone returns a copy of d that shares no slice or map with it.
func (d productDoc) clone() productDoc {
	d.CategoryIDs = slices.Clone(d.CategoryIDs)
	d.Attributes = maps.Clone(d.Attributes)
	d.OptionGroups = slices.Clone(d.OptionGroups)
	d.OptionValues = maps.Clone(d.OptionValues)
	d.Variants = slices.Clone(d.Variants)
	d.Images = slices.Clone(d.Images)
	d.Events.Pending = slices.Clone(d.Events.Pending)
	d.Entries = slices.Clone(d.Entries)
	return d
}

// New returns a Server storing its data in db and creates its indexes.
func New(db *mongo.Database, opts Options) (*Server, error) {
	s := &Server{
		products: db.Collection("products"),
		slugs:    kit.NewSlugs(db.Collection("product_slugs"), "product_id", "product").Sharing(opts.SharedSlugs),
		seen:     outbox.NewStoredSeen(db.Collection("handled_events"), 0, nil),
		retired:  audit.NewRetired(db),
		images:   db.Collection("images"),
		imageSem: make(chan struct{}, ImageWorkers),
		opts:     opts,
		now:      kit.Clock(opts.Now),
		logger:   kit.Logger(opts.Logger),
	}
	s.requests = idem.New(db, idem.Options{Logger: s.logger})
	if err := kit.EnsureIndexes(
		kit.Index{Collection: s.products, Keys: bson.D{{Key: "created_at", Value: 1}, {Key: "_id", Value: 1}}},
		kit.Index{Collection: s.products, Keys: bson.D{{Key: "title_key", Value: 1}, {Key: "_id", Value: 1}}},
		kit.Index{Collection: s.products, Keys: bson.D{{Key: "price.amount", Value: 1}, {Key: "_id", Value: 1}}},
		kit.Index{Collection: s.products, Keys: bson.D{{Key: "category_ids", Value: 1}}},
	); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	relay, err := outbox.New(ctx, outbox.Config{Collection: s.products, Publisher: opts.Events, Locks: &s.locks, Name: "product", Logger: s.logger})
	if err != nil {
		return nil, err
	}
	s.relay = relay
	return s, nil
}

// ---- reads ----

// Get implements Service.
func (s *Server) Get(ctx context.Context, r GetRequest) (Product, error) {
	var f kit.Fields
	f.ID("id", r.ID, true)
	if err := f.Err("invalid product id"); err != nil {
		return Product{}, err
	}
	d, err := s.load(ctx, r.ID, shownOnly)
	if err != nil {
		return Product{}, err
	}
	return d.product(), nil
}

// shownOnly leaves out of a read what a Product does not show: the audit
// log (up to shop.MaxHistory entries) and the events waiting in the
// outbox (a whole product each). For reads only: a write stores the whole
// document it loaded.
var shownOnly = options.FindOne().SetProjection(bson.D{{Key: audit.Field, Value: 0}, {Key: "outbox", Value: 0}})

// GetBySlug implements Service.
// HoldsSlug implements Service. A malformed slug is held by nobody.
func (s *Server) HoldsSlug(ctx context.Context, r shop.SlugRequest) (shop.SlugHeld, error) {
	if !kit.ValidSlug(r.Slug) {
		return shop.SlugHeld{}, nil
	}
	id, err := s.slugs.Holder(ctx, r.Slug)
	return shop.SlugHeld{Held: id != ""}, err
}

// HoldsSlugs implements Service.
func (s *Server) HoldsSlugs(ctx context.Context, r shop.SlugsRequest) (shop.SlugsHeld, error) {
	return s.slugs.HoldsSlugs(ctx, r)
}

func (s *Server) GetBySlug(ctx context.Context, r GetBySlugRequest) (Product, error) {
	slug := strings.ToLower(strings.TrimSpace(r.Slug))
	var f kit.Fields
	f.Slug("slug", slug)
	if err := f.Err("invalid slug"); err != nil {
		return Product{}, err
	}
	id, err := s.slugs.Holder(ctx, slug)
	if err != nil {
		return Product{}, err
	}
	if id == "" {
		return Product{}, shop.NotFound("product " + kit.Quote(slug))
	}
	d, err := s.load(ctx, id, shownOnly)
	if err != nil {
		return Product{}, err
	}
	if d.Slug != slug { // being renamed
		return Product{}, shop.NotFound("product " + kit.Quote(slug))
	}
	return d.product(), nil
}

func (s *Server) load(ctx context.Context, id string, opts ...options.Lister[options.FindOneOptions]) (productDoc, error) {
	d, err := kit.Find[productDoc](ctx, s.products, "product", id, opts...)
	if err == nil && d.Deleted {
		return productDoc{}, shop.NotFound("product " + kit.Quote(id))
	}
	return d, err
}

// ---- validation ----

// checkLocal validates what needs no other service. slug is the explicit
// slug, if any.
func checkLocal(f *kit.Fields, d *productDoc, slug string) {
	f.Text("title", d.Title, true, kit.MaxNameLen)
	if slug != "" {
		f.Slug("slug", slug)
	}
	f.LongText("description", d.Description, false, kit.MaxDescriptionLen)
	switch d.Status {
	case shop.StatusDraft, shop.StatusPublished:
	default:
		f.Add("status", "must be draft or published")
	}
	if d.SKU != "" && !option.ValidSKUBase(d.SKU) {
		f.Addf("sku", "must be 1-%d of A-Z, 0-9, '-', '_', '.', starting with a letter or digit", option.MaxSKUBaseLen)
	}
	f.Merge(d.Price.Validate("price"))
	if len(d.CategoryIDs) > MaxCategories {
		f.Addf("category_ids", "at most %d categories", MaxCategories)
	}
	for _, id := range d.CategoryIDs {
		if !kit.ValidID(id) {
			f.Add("category_ids", "malformed category id "+kit.Quote(id))
		}
	}
	if len(d.Attributes) > attribute.MaxValues {
		f.Addf("attributes", "at most %d attribute values", attribute.MaxValues)
	}
	if len(d.OptionGroups) > option.MaxGroupsPerProduct {
		f.Addf("option_groups", "at most %d option groups", option.MaxGroupsPerProduct)
	}
	for i, g := range d.OptionGroups {
		f.Code("option_groups["+strconv.Itoa(i)+"]", g)
	}
	if len(d.OptionValues) > 0 && len(d.OptionGroups) == 0 {
		f.Add("option_values", "only with option_groups")
	}
	if len(d.Images) > MaxImages {
		f.Addf("images", "at most %d images", MaxImages)
	}
	for i, u := range d.Images {
		if msg := checkImageURL(u); msg != "" {
			f.Add("images["+strconv.Itoa(i)+"]", msg)
		}
	}
}

// checkImageURL says what is wrong with an image URL, or returns "": an
// http(s) URL, or the path of a stored image (ImagePath).
func checkImageURL(s string) string {
	if s == "" || len(s) > MaxImageURLLen {
		return "must be a URL of 1-" + strconv.Itoa(MaxImageURLLen) + " bytes"
	}
	if strings.HasPrefix(s, "/") {
		if _, _, ok := ParseImagePath(s); !ok {
			return "must be an http or https URL, or a stored image's path " + MediaPrefix + "<id>-<variant>.<jpg or png>"
		}
		return ""
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "must not contain spaces or control characters"
	}
	u, err := url.Parse(s)
	if err != nil {
		return "is not a valid URL"
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "must be an http or https URL"
	}
	if u.Host == "" || u.Hostname() == "" {
		return "must name a host"
	}
	return ""
}

func checkVariantPrices(f *kit.Fields, prices []VariantPrice, currency string) {
	for i, vp := range prices {
		field := "variant_prices[" + strconv.Itoa(i) + "]"
		if len(vp.Options) == 0 {
			f.Add(field+".options", "is required")
		}
		if err := vp.Price.Validate(field + ".price"); err != nil {
			f.Merge(err)
		} else if vp.Price.Currency != currency {
			f.Add(field+".price.currency", "must be the product's currency "+currency)
		}
	}
}

// checkRemote asks the category and attribute services about d's
// categories and attributes, all at once, adding field errors to f. It
// returns other failures (a service unavailable, say).
func (s *Server) checkRemote(ctx context.Context, f *kit.Fields, d *productDoc, categories, attributes bool) error {
	categories = categories && len(d.CategoryIDs) > 0
	attributes = attributes && len(d.Attributes) > 0
	if categories && s.opts.Categories == nil {
		return shop.Internal("product: no category service configured")
	}
	if attributes && s.opts.Attributes == nil {
		return shop.Internal("product: no attribute service configured")
	}
	var checks []func() error
	if categories {
		for _, id := range d.CategoryIDs {
			checks = append(checks, func() error {
				_, err := s.opts.Categories.Get(ctx, category.GetRequest{ID: id})
				if errors.Is(err, shop.ErrNotFound) || errors.Is(err, shop.ErrInvalid) {
					return shop.Invalid("invalid product", "category_ids", "unknown category "+kit.Quote(id))
				}
				return err
			})
		}
	}
	if attributes {
		checks = append(checks, func() error { return s.opts.Attributes.Validate(ctx, d.Attributes) })
	}
	errs := make([]error, len(checks))
	var wg sync.WaitGroup
	for i, check := range checks {
		if i == len(checks)-1 { // the last in this goroutine
			errs[i] = check()
			break
		}
		wg.Go(func() { errs[i] = check() })
	}
	wg.Wait()
	for _, err := range errs { // in order, for stable messages
		if err != nil && !f.Merge(err) {
			return err
		}
	}
	return nil
}

// normaliseAttributes stores every number as a float64, as JSON gives them.
func normaliseAttributes(m map[string]any) map[string]any {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if n, ok := attribute.Number(v); ok {
			v = n
		}
		out[k] = v
	}
	return out
}

// ---- variants ----

// generate asks the option service for d's variants and keeps the own
// prices of variants that survive.
func (s *Server) generate(ctx context.Context, d *productDoc) error {
	if s.opts.Variants == nil {
		return shop.Internal("product: no option service configured")
	}
	// A request id of this run's own: a run after a failed one (whose
	// variants its undo deleted) must generate again, not be answered
	// the remembered variants.
	ctx = transport.WithRequestID(ctx, transport.NewRequestID())
	pv, err := s.opts.Variants.GenerateVariants(ctx, option.GenerateRequest{
		ProductID: d.ID, SKU: d.SKU, Groups: d.OptionGroups, Values: d.OptionValues,
	})
	if err != nil {
		return renameOptionFields(err)
	}
	setVariants(d, pv)
	return nil
}

// setVariants gives d the variants the option service generated, keeping
// the own prices of variants that survive.
func setVariants(d *productDoc, pv option.ProductVariants) {
	own := map[string]*shop.Money{}
	for _, v := range d.Variants {
		own[v.ID] = v.Price
	}
	d.Variants = make([]variantDoc, len(pv.Variants))
	for i, v := range pv.Variants {
		d.Variants[i] = variantDoc{ID: v.ID, SKU: v.SKU, Options: v.Options, Price: own[v.ID]}
	}
}

// renameOptionFields names the option service's field errors after the
// product's fields ("groups[0]" → "option_groups[0]").
func renameOptionFields(err error) error {
	var e *transport.Error
	if !errors.As(err, &e) || e.Code != transport.CodeInvalid {
		return err
	}
	out := &shop.Error{Code: e.Code, Message: e.Message, Cause: err}
	for _, fe := range e.Fields {
		switch {
		case strings.HasPrefix(fe.Field, "groups"):
			fe.Field = "option_groups" + strings.TrimPrefix(fe.Field, "groups")
		case strings.HasPrefix(fe.Field, "values"):
			fe.Field = "option_values" + strings.TrimPrefix(fe.Field, "values")
		}
		out.Fields = append(out.Fields, fe)
	}
	return out
}

// applyVariantPrices sets the own prices: every entry must match a variant.
func applyVariantPrices(d *productDoc, prices []VariantPrice) error {
	var f kit.Fields
	for i := range d.Variants {
		d.Variants[i].Price = nil
	}
	for i, vp := range prices {
		j := slices.IndexFunc(d.Variants, func(v variantDoc) bool { return maps.Equal(v.Options, vp.Options) })
		if j < 0 {
			f.Add("variant_prices["+strconv.Itoa(i)+"].options", "no variant has these options")
			continue
		}
		price := vp.Price
		d.Variants[j].Price = &price
	}
	return f.Err("invalid variant prices")
}

// dropVariants asks the option service to forget productID's variants.
func (s *Server) dropVariants(ctx context.Context, productID string) error {
	if s.opts.Variants == nil {
		return shop.Internal("product: no option service configured")
	}
	ctx = transport.WithRequestID(ctx, transport.NewRequestID()) // see generate
	_, err := s.opts.Variants.DeleteVariants(ctx, option.ProductRequest{ProductID: productID})
	return err
}

// ---- writes ----

// Create implements Service. The product's id derives from the request
// id, so a re-run of a request that stored it but could not remember its
// outcome returns the product it made.
func (s *Server) Create(ctx context.Context, r CreateRequest) (Product, error) {
	p, err := shop.RequireAdmin(ctx, s.opts.Auth)
	if err != nil {
		return Product{}, err
	}
	ctx = audit.WithActor(ctx, p)
	return idem.Do(ctx, s.requests, MethodCreate, r, func(ctx context.Context) (Product, error) {
		return s.create(ctx, r)
	})
}

func (s *Server) create(ctx context.Context, r CreateRequest) (Product, error) {
	var f kit.Fields
	d := draft(idem.NewID(ctx, "product"), r, s.now(), &f)
	if err := f.Err("invalid product"); err != nil {
		return Product{}, err
	}
	if err := s.checkStoredImages(ctx, &f, d.Images, nil); err != nil {
		return Product{}, err
	}
	if err := f.Err("invalid product"); err != nil {
		return Product{}, err
	}
	now := d.CreatedAt

	// At once, as none needs another's answer: whether an earlier run of
	// this request made the product, the categories and attributes (other
	// services), and the slug (this store, then the services sharing the
	// slug space). The slug is released if the product is not made.
	var (
		earlier productDoc
		loadErr error
		slug    string
		slugErr error
		wg      sync.WaitGroup
	)
	wg.Go(func() { earlier, loadErr = s.load(ctx, d.ID) })
	wg.Go(func() { slug, slugErr = s.slugs.Reserve(ctx, d.ID, r.Slug, d.Title) })
	remoteErr := s.checkRemote(ctx, &f, &d, true, true)
	wg.Wait()
	releaseSlug := func() {
		if slugErr == nil {
			s.releaseSlug(ctx, slug, d.ID)
		}
	}
	if loadErr == nil { // made by an earlier run of this request
		if slug != earlier.Slug {
			releaseSlug()
		}
		return earlier.product(), nil
	}
	if remoteErr == nil {
		remoteErr = f.Err("invalid product")
	}
	if remoteErr != nil {
		releaseSlug()
		return Product{}, remoteErr
	}
	if slugErr != nil {
		return Product{}, slugErr
	}
	d.Slug = slug
	if d.SKU == "" {
		d.SKU = skuFromSlug(slug)
	}
	undo := func() {
		if len(d.Variants) > 0 {
			s.cleanup("drop variants", s.dropVariants(ctx, d.ID))
		}
		s.releaseSlug(ctx, slug, d.ID)
	}
	if len(d.OptionGroups) > 0 {
		if err := s.generate(ctx, &d); err != nil {
			undo()
			return Product{}, err
		}
		if err := applyVariantPrices(&d, r.VariantPrices); err != nil {
			undo()
			return Product{}, err
		}
	}
	d.Record(ctx, MethodCreate, now, audit.Changed(nil, d, derivedFields...))
	s.addEvent(&d, shop.EventProductCreated, "")
	unlock := s.locks.Lock(d.ID)
	defer unlock()
	if _, err := s.products.InsertOne(ctx, d); err != nil {
		if mongo.IsDuplicateKeyError(err) { // an earlier run of this request made it
			old, err := s.load(ctx, d.ID)
			if err != nil {
				return Product{}, err // the slug and variants may be the product's: leave them
			}
			if old.Slug != slug {
				s.releaseSlug(ctx, slug, d.ID)
			}
			return old.product(), nil
		}
		undo()
		return Product{}, kit.Internal("insert product", err)
	}
	s.announce(ctx, d)
	return d.product(), nil
}

// draft returns the product r creates, with id, before the checks with
// other services, slug and variants, and adds to f what is wrong with it
// on its own.
func draft(id string, r CreateRequest, now time.Time, f *kit.Fields) productDoc {
	d := productDoc{
		ID:           id,
		Title:        strings.TrimSpace(r.Title),
		Description:  r.Description,
		Status:       r.Status,
		SKU:          r.SKU,
		Price:        r.Price,
		CategoryIDs:  kit.Unique(r.CategoryIDs),
		Attributes:   normaliseAttributes(r.Attributes),
		OptionGroups: r.OptionGroups,
		OptionValues: r.OptionValues,
		Images:       kit.Unique(r.Images),
		Version:      1,
		CreatedAt:    now,
		UpdatedAt:    now,
	}
	if d.Status == "" {
		d.Status = shop.StatusDraft
	}
	if d.Status == shop.StatusPublished {
		d.PublishedAt = now
	}
	d.TitleKey = strings.ToLower(d.Title)
	checkLocal(f, &d, r.Slug)
	checkVariantPrices(f, r.VariantPrices, d.Price.Currency)
	if len(r.VariantPrices) > 0 && len(d.OptionGroups) == 0 {
		f.Add("variant_prices", "only with option_groups")
	}
	return d
}

// skuFromSlug derives a SKU from a slug: upper-cased, cut to fit.
func skuFromSlug(slug string) string {
	sku := strings.ToUpper(slug)
	if len(sku) > option.MaxSKUBaseLen {
		sku = strings.TrimRight(sku[:option.MaxSKUBaseLen], "-")
	}
	return sku
}

// beginWrite starts a change of product id: it checks that the id is well
// formed, locks the product within this process (see package keylock) and
// loads it. The caller must call unlock.
func (s *Server) beginWrite(ctx context.Context, id string) (cur productDoc, unlock func(), err error) {
	var f kit.Fields
	f.ID("id", id, true)
	if err := f.Err("invalid product id"); err != nil {
		return productDoc{}, nil, err
	}
	unlock = s.locks.Lock(id)
	if cur, err = s.load(ctx, id); err != nil {
		unlock()
		return productDoc{}, nil, err
	}
	return cur, unlock, nil
}

// Update implements Service.
func (s *Server) Update(ctx context.Context, r UpdateRequest) (Product, error) {
	p, err := shop.RequireAdmin(ctx, s.opts.Auth)
	if err != nil {
		return Product{}, err
	}
	ctx = audit.WithActor(ctx, p)
	return idem.Do(ctx, s.requests, MethodUpdate, r, func(ctx context.Context) (Product, error) {
		return s.update(ctx, r)
	})
}

func (s *Server) update(ctx context.Context, r UpdateRequest) (Product, error) {
	cur, unlock, err := s.beginWrite(ctx, r.ID)
	if err != nil {
		return Product{}, err
	}
	defer unlock()
	var f kit.Fields
	next := cur.clone()
	if r.Title != nil {
		next.Title = strings.TrimSpace(*r.Title)
		next.TitleKey = strings.ToLower(next.Title)
	}
	if r.Description != nil {
		next.Description = *r.Description
	}
	if r.SKU != nil {
		next.SKU = *r.SKU
		if next.SKU == "" {
			next.SKU = skuFromSlug(cur.Slug)
		}
	}
	if r.Price != nil {
		next.Price = *r.Price
	}
	if r.CategoryIDs != nil {
		next.CategoryIDs = kit.Unique(*r.CategoryIDs)
	}
	if r.Attributes != nil {
		next.Attributes = normaliseAttributes(*r.Attributes)
	}
	if r.OptionGroups != nil {
		next.OptionGroups = slices.Clone(*r.OptionGroups)
		if len(next.OptionGroups) == 0 {
			next.OptionGroups, next.OptionValues = nil, nil
		}
	}
	if r.OptionValues != nil {
		next.OptionValues = maps.Clone(*r.OptionValues)
	}
	if r.Images != nil {
		next.Images = kit.Unique(*r.Images)
	}
	explicitSlug := ""
	if r.Slug != nil && *r.Slug != cur.Slug {
		explicitSlug = *r.Slug
		if explicitSlug == "" {
			f.Add("slug", "must not be empty")
		}
	}
	checkLocal(&f, &next, explicitSlug)
	if r.VariantPrices != nil {
		checkVariantPrices(&f, *r.VariantPrices, next.Price.Currency)
		if len(*r.VariantPrices) > 0 && len(next.OptionGroups) == 0 {
			f.Add("variant_prices", "only with option_groups")
		}
	}
	if err := f.Err("invalid product"); err != nil {
		return Product{}, err
	}
	if err := s.checkStoredImages(ctx, &f, next.Images, cur.Images); err != nil {
		return Product{}, err
	}
	if err := s.checkRemote(ctx, &f, &next, r.CategoryIDs != nil, r.Attributes != nil); err != nil {
		return Product{}, err
	}
	if err := f.Err("invalid product"); err != nil {
		return Product{}, err
	}

	if explicitSlug != "" {
		if _, err := s.slugs.Reserve(ctx, cur.ID, explicitSlug, ""); err != nil {
			return Product{}, err
		}
		next.Slug = explicitSlug
	}
	undo := func() {
		if explicitSlug != "" {
			s.releaseSlug(ctx, explicitSlug, cur.ID)
		}
	}
	regenerate := !slices.Equal(next.OptionGroups, cur.OptionGroups) ||
		!reflect.DeepEqual(next.OptionValues, cur.OptionValues) || next.SKU != cur.SKU && len(next.OptionGroups) > 0
	if regenerate {
		if len(next.OptionGroups) > 0 {
			err = s.generate(ctx, &next)
		} else {
			err = s.dropVariants(ctx, cur.ID)
			next.Variants = nil
		}
		if err != nil {
			undo()
			return Product{}, err
		}
	}
	if r.VariantPrices != nil {
		if err := applyVariantPrices(&next, *r.VariantPrices); err != nil {
			undo()
			return Product{}, err
		}
	}
	for i, v := range next.Variants {
		if v.Price != nil && v.Price.Currency != next.Price.Currency {
			undo()
			return Product{}, shop.Invalid("invalid product", "variant_prices["+strconv.Itoa(i)+"].price.currency",
				"variant "+v.SKU+" has its own price in "+v.Price.Currency+": set variant_prices in "+next.Price.Currency+" too")
		}
	}
	if reflect.DeepEqual(cur.product(), next.product()) {
		undo()
		return cur.product(), nil // nothing changed: no new version, no event
	}
	oldSlug := ""
	if explicitSlug != "" {
		oldSlug = cur.Slug
	}
	next, err = s.save(ctx, MethodUpdate, cur, next, shop.EventProductUpdated, oldSlug)
	if err != nil {
		undo()
		return Product{}, err
	}
	if explicitSlug != "" {
		s.releaseSlug(ctx, cur.Slug, cur.ID)
	}
	s.announce(ctx, next)
	return next.product(), nil
}

// Publish implements Service.
func (s *Server) Publish(ctx context.Context, r GetRequest) (Product, error) {
	return s.setStatus(ctx, MethodPublish, r, shop.StatusPublished)
}

// Unpublish implements Service.
func (s *Server) Unpublish(ctx context.Context, r GetRequest) (Product, error) {
	return s.setStatus(ctx, MethodUnpublish, r, shop.StatusDraft)
}

// setStatus is the request method (Publish or Unpublish): it sets r's
// product to status.
func (s *Server) setStatus(ctx context.Context, method string, r GetRequest, status string) (Product, error) {
	p, err := shop.RequireAdmin(ctx, s.opts.Auth)
	if err != nil {
		return Product{}, err
	}
	ctx = audit.WithActor(ctx, p)
	return idem.Do(ctx, s.requests, method, r, func(ctx context.Context) (Product, error) {
		return s.changeStatus(ctx, method, r, status)
	})
}

func (s *Server) changeStatus(ctx context.Context, method string, r GetRequest, status string) (Product, error) {
	cur, unlock, err := s.beginWrite(ctx, r.ID)
	if err != nil {
		return Product{}, err
	}
	defer unlock()
	if cur.Status == status {
		return cur.product(), nil
	}
	next := cur.clone()
	next.Status = status
	if status == shop.StatusPublished {
		next.PublishedAt = s.now()
	}
	next, err = s.save(ctx, method, cur, next, shop.EventProductUpdated, "")
	if err != nil {
		return Product{}, err
	}
	s.announce(ctx, next)
	return next.product(), nil
}

// Delete implements Service.
func (s *Server) Delete(ctx context.Context, r GetRequest) (Product, error) {
	p, err := shop.RequireAdmin(ctx, s.opts.Auth)
	if err != nil {
		return Product{}, err
	}
	ctx = audit.WithActor(ctx, p)
	return idem.Do(ctx, s.requests, MethodDelete, r, func(ctx context.Context) (Product, error) {
		return s.delete(ctx, r)
	})
}

func (s *Server) delete(ctx context.Context, r GetRequest) (Product, error) {
	cur, unlock, err := s.beginWrite(ctx, r.ID)
	if err != nil {
		return Product{}, err
	}
	defer unlock()
	// Free the variants first: if that fails the product is untouched
	// and the delete can be retried.
	if len(cur.Variants) > 0 {
		if err := s.dropVariants(ctx, cur.ID); err != nil {
			return Product{}, err
		}
	}
	next := cur.clone()
	next.Deleted = true
	next, err = s.save(ctx, MethodDelete, cur, next, shop.EventProductDeleted, "")
	if err != nil {
		return Product{}, err
	}
	s.releaseSlug(ctx, cur.Slug, cur.ID)
	s.announce(ctx, next)
	return next.product(), nil
}

// save stores next in place of cur if cur is still the stored version,
// with the version bumped, the change's audit entry (action, by ctx's
// actor) and its event (key; oldSlug if the slug changed) in the same
// write. A delete keeps the product's log first (see audit.Retired). The
// caller holds the product's lock.
func (s *Server) save(ctx context.Context, action string, cur, next productDoc, key, oldSlug string) (productDoc, error) {
	next.Version = cur.Version + 1
	next.UpdatedAt = s.now()
	if next.Deleted {
		next.Record(ctx, action, next.UpdatedAt, nil)
		if err := s.retired.Keep(ctx, ServiceName, next.ID, next.Log); err != nil {
			return productDoc{}, shop.StorageFailure(ctx, "keep the history of product "+next.ID, err)
		}
	} else {
		next.Record(ctx, action, next.UpdatedAt, audit.Changed(cur, next, derivedFields...))
	}
	s.addEvent(&next, key, oldSlug)
	if err := kit.Replace(ctx, s.products, "product", cur.ID, cur.Version, next); err != nil {
		return productDoc{}, err
	}
	return next, nil
}

// releaseSlug frees slug if id holds it.
func (s *Server) releaseSlug(ctx context.Context, slug, id string) {
	s.cleanup("release slug "+slug, s.slugs.Release(ctx, slug, id))
}

func (s *Server) cleanup(what string, err error) {
	if err != nil {
		s.logger.Error("product: clean-up failed", "what", what, "err", err)
	}
}

// derivedFields are stored fields derived from others, left out of the
// audit log's list of changed fields.
var derivedFields = []string{"title_key"}

// History implements Service.
func (s *Server) History(ctx context.Context, r shop.HistoryRequest) (shop.History, error) {
	if _, err := shop.RequireAdmin(ctx, s.opts.Auth); err != nil {
		return shop.History{}, err
	}
	if err := kit.CheckHistory(r, ServiceName); err != nil {
		return shop.History{}, err
	}
	return audit.Read(ctx, s.products, s.retired, ServiceName, r.ID)
}

// ---- events ----

// addEvent records in d the event announcing its current version.
func (s *Server) addEvent(d *productDoc, key, oldSlug string) {
	if s.opts.Events == nil {
		return
	}
	d.Events.Add(kit.EventID(key, d.ID, d.Version), key, shop.ProductChanged{
		Product:  d.product().Snapshot(),
		OldSlug:  oldSlug,
		Deleted:  d.Deleted,
		Occurred: d.UpdatedAt,
	}, d.UpdatedAt)
}

// announce publishes the events just stored with d (and removes the
// tombstone of a deletion). The caller holds the product's lock. A
// failure is logged: the events wait in the document for the relay.
func (s *Server) announce(ctx context.Context, d productDoc) {
	err := s.relay.Flush(ctx, outbox.Doc{ID: d.ID, Version: d.Version, Deleted: d.Deleted, Events: d.Events})
	if err != nil {
		s.logger.Warn("product: event not published yet; the relay will retry", "product", d.ID, "version", d.Version, "err", err)
	}
}

// PublishPending publishes every event stored with a change but not yet
// confirmed by the broker (the bus was down, or the process stopped in
// between) and returns how many it published. RunRelay does this by
// itself; events keep their ids, so a repeat is harmless.
func (s *Server) PublishPending(ctx context.Context) (int, error) {
	return s.relay.Drain(ctx)
}

// RunRelay publishes stored events the writes could not publish: at once,
// whenever the bus comes back, and periodically, until ctx ends (see
// internal/outbox). Hosts run it beside the service.
func (s *Server) RunRelay(ctx context.Context) error {
	return s.relay.Run(ctx)
}

// EventBacklog reports the events stored but not yet confirmed by the broker.
func (s *Server) EventBacklog(ctx context.Context) (shop.EventBacklog, error) {
	return s.relay.Backlog(ctx)
}
