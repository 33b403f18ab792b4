package product

import (
	"context"
	"errors"
	"slices"
	"strconv"

	"golang.org/x/sync/errgroup"

	"github.com/shopbus/shopbus/internal/audit"
	"github.com/shopbus/shopbus/internal/idem"
	"github.com/shopbus/shopbus/internal/outbox"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/attribute"
	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/shop/catalog/internal/kit"
	"github.com/shopbus/shopbus/shop/catalog/option"
	"github.com/shopbus/shopbus/transport"
)

// ManyVariantGenerator is a VariantGenerator that also generates the
// variants of many products in one call; option.Client is one. CreateMany
// uses it when Options.Variants has it, and one call per product otherwise.
type ManyVariantGenerator interface {
	GenerateVariantsMany(ctx context.Context, r option.GenerateManyRequest) ([]option.GenerateResult, error)
}

// ManyAttributeValidator is an AttributeValidator that also checks the
// values of many products in one call; attribute.Client is one.
type ManyAttributeValidator interface {
	ValidateMany(ctx context.Context, r attribute.ValidateManyRequest) ([]attribute.Validation, error)
}

// ManyCategoryGetter is a CategoryGetter that also looks many categories
// up in one call; category.Client is one. CreateMany uses it when
// Options.Categories has it, and one call per category otherwise.
type ManyCategoryGetter interface {
	GetMany(ctx context.Context, r category.GetManyRequest) ([]category.Category, error)
}

// createManyWorkers is how many categories one CreateMany looks up at
// once when they are looked up one by one.
const createManyWorkers = 8

// CreateMany implements Service.
func (s *Server) CreateMany(ctx context.Context, r CreateManyRequest) ([]CreateResult, error) {
	p, err := shop.RequireAdmin(ctx, s.opts.Auth)
	if err != nil {
		return nil, err
	}
	ctx = audit.WithActor(ctx, p)
	if n := len(r.Items); n == 0 || n > MaxCreateMany {
		return nil, shop.Invalid("invalid products", "items", "name 1-"+strconv.Itoa(MaxCreateMany)+" products")
	}
	return idem.Do(ctx, s.requests, MethodCreateMany, r, func(ctx context.Context) ([]CreateResult, error) {
		return s.createMany(ctx, r)
	})
}

// making is one product of a CreateMany under way.
type making struct {
	req    CreateRequest
	doc    productDoc
	f      kit.Fields
	err    error // why it is not made (invalid, conflict): for it alone
	slug   string
	slugOK bool // slug claimed for doc.ID
}

// fail records why m is not made, releasing what it holds.
func (s *Server) fail(ctx context.Context, m *making, err error) {
	if m.err == nil {
		m.err = err
	}
	if m.slugOK {
		s.releaseSlug(ctx, m.slug, m.doc.ID)
		m.slugOK = false
	}
}

// createMany makes the products of r as Create makes each, with the work
// shared: the categories looked up once each, the attribute values checked
// and the variants generated with one call each for all products, the
// products inserted with one insert and their events published through
// one batch (outbox.Relay.Begin). Products that are invalid or in
// conflict get their error; failures worth retrying fail the call (a
// retry with the same request id makes the rest: ids derive from it).
func (s *Server) createMany(ctx context.Context, r CreateManyRequest) ([]CreateResult, error) {
	now := s.now()
	ms := make([]*making, len(r.Items))
	for i, req := range r.Items {
		m := &making{req: req}
		m.doc = draft(idem.NewID(ctx, "product/"+strconv.Itoa(i)), req, now, &m.f)
		ms[i] = m
	}
	if err := s.checkManyImages(ctx, ms); err != nil {
		return nil, err
	}
	for _, m := range ms {
		if err := m.f.Err("invalid product"); err != nil {
			m.err = err
		}
	}
	if err := s.checkManyRemote(ctx, ms); err != nil {
		return nil, err
	}
	if err := s.claimManySlugs(ctx, ms); err != nil {
		return nil, err
	}
	if err := s.generateMany(ctx, ms); err != nil {
		for _, m := range ms {
			s.fail(ctx, m, err) // releases the slugs
		}
		return nil, err
	}
	var live []*making
	for _, m := range ms {
		if m.err != nil {
			continue
		}
		m.doc.Record(ctx, MethodCreateMany, now, audit.Changed(nil, m.doc, derivedFields...))
		s.addEvent(&m.doc, shop.EventProductCreated, "")
		live = append(live, m)
	}
	if err := s.insertMany(ctx, live); err != nil {
		// Some may be stored: their slugs and variants stay (a retry
		// with the same request id finds them by id and goes on).
		return nil, err
	}
	out := make([]CreateResult, len(ms))
	for i, m := range ms {
		if m.err != nil {
			e := transport.AsError(m.err)
			out[i].Error = &shop.Error{Code: e.Code, Message: e.Message, Fields: e.Fields}
			continue
		}
		p := m.doc.product()
		out[i].Product = &p
	}
	return out, nil
}

// checkManyImages checks the stored images the products name (an image
// found once is not looked up again: see imageType).
func (s *Server) checkManyImages(ctx context.Context, ms []*making) error {
	for _, m := range ms {
		if m.f.Len() > 0 {
			continue
		}
		if err := s.checkStoredImages(ctx, &m.f, m.doc.Images, nil); err != nil {
			return err
		}
	}
	return nil
}

// checkManyRemote asks the category service about each category the
// products name, once, and the attribute service about all products'
// values at once, adding field errors to the products concerned.
func (s *Server) checkManyRemote(ctx context.Context, ms []*making) error {
	var cats []string
	var attrs []*making
	for _, m := range ms {
		if m.err != nil {
			continue
		}
		for _, id := range m.doc.CategoryIDs {
			if !slices.Contains(cats, id) {
				cats = append(cats, id)
			}
		}
		if len(m.doc.Attributes) > 0 {
			attrs = append(attrs, m)
		}
	}
	if len(cats) > 0 && s.opts.Categories == nil {
		return shop.Internal("product: no category service configured")
	}
	if len(attrs) > 0 && s.opts.Attributes == nil {
		return shop.Internal("product: no attribute service configured")
	}
	var unknown []bool
	var g errgroup.Group
	g.Go(func() (err error) {
		unknown, err = s.unknownCategories(ctx, cats)
		return err
	})
	attrErrs, attrErr := s.validateMany(ctx, attrs)
	if err := cmpErr(g.Wait(), attrErr); err != nil {
		return err
	}
	for _, m := range ms {
		if m.err != nil {
			continue
		}
		for _, id := range m.doc.CategoryIDs {
			if unknown[slices.Index(cats, id)] {
				m.f.Add("category_ids", "unknown category "+kit.Quote(id))
			}
		}
	}
	for k, m := range attrs {
		if err := attrErrs[k]; err != nil && !m.f.Merge(err) {
			m.err = err
		}
	}
	for _, m := range ms {
		if err := m.f.Err("invalid product"); err != nil && m.err == nil {
			m.err = err
		}
	}
	return nil
}

// unknownCategories reports which of ids name no category: with one call
// per category.MaxGetMany where the category service takes many, else
// one call each, createManyWorkers at a time.
func (s *Server) unknownCategories(ctx context.Context, ids []string) ([]bool, error) {
	unknown := make([]bool, len(ids))
	if many, ok := s.opts.Categories.(ManyCategoryGetter); ok {
		for lo := 0; lo < len(ids); lo += category.MaxGetMany {
			part := ids[lo:min(lo+category.MaxGetMany, len(ids))]
			found, err := many.GetMany(ctx, category.GetManyRequest{IDs: part})
			if err != nil {
				return nil, err
			}
			for k, id := range part {
				unknown[lo+k] = !slices.ContainsFunc(found, func(c category.Category) bool { return c.ID == id })
			}
		}
		return unknown, nil
	}
	var g errgroup.Group
	g.SetLimit(createManyWorkers)
	for i, id := range ids {
		g.Go(func() error {
			_, err := s.opts.Categories.Get(ctx, category.GetRequest{ID: id})
			if errors.Is(err, shop.ErrNotFound) || errors.Is(err, shop.ErrInvalid) {
				unknown[i] = true
				return nil
			}
			return err
		})
	}
	return unknown, g.Wait()
}

// cmpErr returns the first of two errors that is not nil.
func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// validateMany checks the attribute values of ms: with one call where the
// validator takes many, else one call each. It returns each product's
// outcome, and an error for a failure worth retrying.
func (s *Server) validateMany(ctx context.Context, ms []*making) ([]error, error) {
	out := make([]error, len(ms))
	if len(ms) == 0 {
		return out, nil
	}
	if many, ok := s.opts.Attributes.(ManyAttributeValidator); ok {
		items := make([]map[string]any, len(ms))
		for k, m := range ms {
			items[k] = m.doc.Attributes
		}
		res, err := many.ValidateMany(ctx, attribute.ValidateManyRequest{Items: items})
		if err != nil {
			return nil, err
		}
		if len(res) != len(ms) {
			return nil, shop.Internal("product: attribute.validate_many answered " + strconv.Itoa(len(res)) + " results for " + strconv.Itoa(len(ms)))
		}
		for k, v := range res {
			if v.Error != nil {
				out[k] = v.Error
			}
		}
		return out, nil
	}
	for k, m := range ms {
		err := s.opts.Attributes.Validate(ctx, m.doc.Attributes)
		switch {
		case err == nil:
		case errors.Is(err, shop.ErrInvalid):
			out[k] = err
		default:
			return nil, err
		}
	}
	return out, nil
}

// claimManySlugs claims each product's slug as Creates one after the
// other would (kit.Slugs.ReserveMany): most with one insert and one
// question to each other service of the slug space.
func (s *Server) claimManySlugs(ctx context.Context, ms []*making) error {
	var todo []*making
	var claims []kit.SlugClaim
	for _, m := range ms {
		if m.err == nil {
			todo = append(todo, m)
			claims = append(claims, kit.SlugClaim{ID: m.doc.ID, Explicit: m.req.Slug, Name: m.doc.Title})
		}
	}
	got, err := s.slugs.ReserveMany(ctx, claims)
	if err != nil {
		for _, m := range ms {
			s.fail(ctx, m, err)
		}
		return err
	}
	for k, m := range todo {
		if got[k].Err != nil {
			m.err = got[k].Err
			continue
		}
		m.slug, m.slugOK = got[k].Slug, true
		m.doc.Slug = got[k].Slug
		if m.doc.SKU == "" {
			m.doc.SKU = skuFromSlug(got[k].Slug)
		}
	}
	return nil
}

// generateMany has the option service generate the variants of the
// products with option groups: with one call where it takes many, else
// one call each.
func (s *Server) generateMany(ctx context.Context, ms []*making) error {
	var todo []*making
	for _, m := range ms {
		if m.err == nil && len(m.doc.OptionGroups) > 0 {
			todo = append(todo, m)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	if s.opts.Variants == nil {
		return shop.Internal("product: no option service configured")
	}
	apply := func(m *making, pv option.ProductVariants, err error) {
		if err == nil {
			setVariants(&m.doc, pv)
			err = applyVariantPrices(&m.doc, m.req.VariantPrices)
		} else {
			err = renameOptionFields(err)
		}
		if err != nil {
			s.fail(ctx, m, err)
			if len(m.doc.Variants) > 0 {
				s.cleanup("drop variants", s.dropVariants(ctx, m.doc.ID))
			}
		}
	}
	// A request id of this run's own, as generate does.
	gctx := transport.WithRequestID(ctx, transport.NewRequestID())
	many, ok := s.opts.Variants.(ManyVariantGenerator)
	if !ok {
		for _, m := range todo {
			pv, err := s.opts.Variants.GenerateVariants(transport.WithRequestID(ctx, transport.NewRequestID()), option.GenerateRequest{
				ProductID: m.doc.ID, SKU: m.doc.SKU, Groups: m.doc.OptionGroups, Values: m.doc.OptionValues,
			})
			if err != nil && !errors.Is(err, shop.ErrInvalid) && !errors.Is(err, shop.ErrConflict) {
				return err
			}
			apply(m, pv, err)
		}
		return nil
	}
	items := make([]option.GenerateRequest, len(todo))
	for k, m := range todo {
		items[k] = option.GenerateRequest{ProductID: m.doc.ID, SKU: m.doc.SKU, Groups: m.doc.OptionGroups, Values: m.doc.OptionValues}
	}
	res, err := many.GenerateVariantsMany(gctx, option.GenerateManyRequest{Items: items})
	if err != nil {
		return renameOptionFields(err)
	}
	if len(res) != len(todo) {
		return shop.Internal("product: option.generate_variants_many answered " + strconv.Itoa(len(res)) + " results for " + strconv.Itoa(len(todo)))
	}
	for k, m := range todo {
		switch {
		case res[k].Error != nil:
			apply(m, option.ProductVariants{}, res[k].Error)
		case res[k].Variants == nil:
			apply(m, option.ProductVariants{}, shop.Internal("product: no variants in option.generate_variants_many's result"))
		default:
			apply(m, *res[k].Variants, nil)
		}
	}
	return nil
}

// insertMany inserts the products with one insert, their events kept in
// one batch record until published. A product whose id exists was made
// by an earlier run of this request: it is taken as it is stored.
func (s *Server) insertMany(ctx context.Context, ms []*making) error {
	if len(ms) == 0 {
		return nil
	}
	pending := make([]outbox.Doc, len(ms))
	for k, m := range ms {
		pending[k] = outbox.Doc{ID: m.doc.ID, Version: m.doc.Version, Events: m.doc.Events}
	}
	stored, err := kit.InsertBatch(ctx, s.relay, s.products, s.logger, "products", pending, func(k int, batch string) any {
		ms[k].doc.Events = outbox.Events{Batch: batch}
		return ms[k].doc
	})
	if err != nil {
		// Some may be stored: their slugs stay with them.
		return err
	}
	for k, m := range ms {
		if stored[k] {
			continue
		}
		old, err := s.load(ctx, m.doc.ID) // made by an earlier run of this request
		if err != nil {
			return err
		}
		if old.Slug != m.slug {
			s.releaseSlug(ctx, m.slug, m.doc.ID)
		}
		m.slugOK = false
		m.doc = old
	}
	for _, m := range ms {
		m.slugOK = false // the products hold their slugs now
	}
	return nil
}
