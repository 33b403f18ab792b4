package category

import (
	"context"
	"errors"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/shopbus/shopbus/internal/audit"
	"github.com/shopbus/shopbus/internal/idem"
	"github.com/shopbus/shopbus/internal/outbox"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/internal/kit"
	"github.com/shopbus/shopbus/transport"
)

// CreateMany implements Service.
func (s *Server) CreateMany(ctx context.Context, r CreateManyRequest) ([]CreateResult, error) {
	p, err := shop.RequireAdmin(ctx, s.opts.Auth)
	if err != nil {
		return nil, err
	}
	ctx = audit.WithActor(ctx, p)
	if n := len(r.Items); n == 0 || n > MaxCreateMany {
		return nil, shop.Invalid("invalid categories", "items", "name 1-"+strconv.Itoa(MaxCreateMany)+" categories")
	}
	return idem.Do(ctx, s.requests, MethodCreateMany, r, func(ctx context.Context) ([]CreateResult, error) {
		return s.createMany(ctx, r)
	})
}

// making is one category of a CreateMany under way.
type making struct {
	doc categoryDoc
	err error // why it is not made (invalid, conflict): for it alone
}

// createMany makes the categories of r as Create makes each, with the work
// shared: the earlier run's categories and the parents read with one find,
// the slugs claimed together (kit.Slugs.ReserveMany: one question to each
// other service of the slug space), the categories inserted with one
// insert and their events published through one batch
// (outbox.Relay.Begin). Ids derive from the request id and the item's
// place, so a repeat finds what an earlier run made.
func (s *Server) createMany(ctx context.Context, r CreateManyRequest) ([]CreateResult, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	now := s.now()
	ms := make([]*making, len(r.Items))
	ids := make([]string, 0, 2*len(r.Items))
	for i, req := range r.Items {
		m := &making{err: checkCreate(req)}
		m.doc.ID = idem.NewID(ctx, "category/"+strconv.Itoa(i))
		ms[i] = m
		ids = append(ids, m.doc.ID)
		if m.err == nil && req.ParentID != "" {
			ids = append(ids, req.ParentID)
		}
	}
	stored, err := s.find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: kit.Unique(ids)}}}}, withoutLog)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*categoryDoc, len(stored))
	for k := range stored {
		byID[stored[k].ID] = &stored[k]
	}

	var todo []*making
	var claims []kit.SlugClaim
	for i, m := range ms {
		req := r.Items[i]
		if d, ok := byID[m.doc.ID]; ok {
			m.doc, m.err = *d, nil // made by an earlier run of this request
			continue
		}
		if m.err != nil {
			continue
		}
		var parent *categoryDoc
		if req.ParentID != "" {
			if parent = byID[req.ParentID]; parent == nil {
				m.err = unknownParent(req.ParentID)
				continue
			}
		}
		if m.doc, m.err = newCategory(m.doc.ID, req, parent, now); m.err != nil {
			continue
		}
		todo = append(todo, m)
		claims = append(claims, kit.SlugClaim{ID: m.doc.ID, Explicit: req.Slug, Name: m.doc.Name})
	}
	if err := s.claimSlugs(ctx, todo, claims); err != nil {
		return nil, err
	}
	if err := s.insertMany(ctx, todo); err != nil {
		return nil, err
	}

	out := make([]CreateResult, len(ms))
	for i, m := range ms {
		if m.err != nil {
			e := transport.AsError(m.err)
			out[i].Error = &shop.Error{Code: e.Code, Message: e.Message, Fields: e.Fields}
			continue
		}
		c := m.doc.category()
		out[i].Category = &c
	}
	return out, nil
}

// claimSlugs claims the slugs of ms (claims[k] is ms[k]'s) as Creates one
// after the other would. A slug in conflict is that category's error.
func (s *Server) claimSlugs(ctx context.Context, ms []*making, claims []kit.SlugClaim) error {
	if len(ms) == 0 {
		return nil
	}
	got, err := s.slugs.ReserveMany(ctx, claims)
	if err != nil {
		return err
	}
	for k, m := range ms {
		if got[k].Err != nil {
			m.err = got[k].Err
			continue
		}
		m.doc.Slug = got[k].Slug
	}
	return nil
}

// insertMany inserts the categories of ms that hold their slugs, with one
// insert, their events kept in one batch record until published. A
// category whose id exists was made by an earlier run of the request
// meanwhile: it is taken as stored.
func (s *Server) insertMany(ctx context.Context, ms []*making) error {
	var live []*making
	for _, m := range ms {
		if m.err == nil {
			m.doc.Record(ctx, MethodCreateMany, m.doc.CreatedAt, audit.Changed(nil, m.doc))
			s.addEvent(&m.doc, shop.EventCategoryCreated, "")
			live = append(live, m)
		}
	}
	if len(live) == 0 {
		return nil
	}
	pending := make([]outbox.Doc, len(live))
	for k, m := range live {
		pending[k] = outbox.Doc{ID: m.doc.ID, Version: m.doc.Version, Events: m.doc.Events}
	}
	inserted, err := kit.InsertBatch(ctx, s.relay, s.cats, s.logger, "categories", pending, func(k int, batch string) any {
		live[k].doc.Events = outbox.Events{Batch: batch}
		return live[k].doc
	})
	s.live.Changed(ctx)
	if err != nil {
		// Some may be stored: their slugs stay with them (a retry with
		// the same request id finds its categories by id).
		return err
	}
	for k, m := range live {
		if inserted[k] {
			continue
		}
		old, err := s.load(ctx, m.doc.ID) // made by an earlier run of this request
		if errors.Is(err, shop.ErrNotFound) {
			err = shop.Internal("category: " + m.doc.ID + " neither inserted nor found")
		}
		if err != nil {
			return err
		}
		if old.Slug != m.doc.Slug {
			s.releaseSlug(ctx, m.doc.Slug, m.doc.ID)
		}
		m.doc = old
	}
	return nil
}
