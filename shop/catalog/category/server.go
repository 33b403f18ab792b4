package category

import (
	"context"
	"errors"
	"log/slog"
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
	"github.com/shopbus/shopbus/shop/catalog/internal/kit"
)

// Options configure a Server. The zero value works but cannot authorise
// writes (no Auth) and announces nothing (no Events).
type Options struct {
	// Auth authenticates the caller of a write; writes need an admin.
	Auth shop.Authenticator
	// Events receives category.category.* events; nil publishes nothing.
	Events shop.Publisher
	// SharedSlugs are the other services whose pages share this one's
	// addresses (the storefront's /{slug}): a slug one of them holds is
	// refused, or skipped when generated. Nil: slugs are unique among
	// categorys only.
	SharedSlugs shop.SlugSpace
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger reports events that could not be published and requests
	// that could not be remembered (default slog.Default()).
	Logger *slog.Logger
}

// Server is the MongoDB implementation of Service. Its collections:
// categories (by id), category_slugs (slug → id, so slugs are unique and
// found by _id), product_refs (product id → category ids, the read
// model fed by product events), requests (the writes handled, so that
// a repeated request is answered without applying it again; see
// internal/idem), audit_deleted (the audit logs of deleted categories;
// a live category's log is in its own document, see History) and
// category_stamp (a stamp changed by every write of a category, which
// tells GetMany when its in-memory copy of the categories is out of date).
//
// A change is stored together with its event in the same document (an
// outbox), published, then removed from the document; RunRelay publishes
// whatever a crash or a bus outage left there. Within one Server, moves,
// updates and deletes run one at a time and alone; creations run at once
// with each other, never beside those (a category created under a parent
// being moved or deleted would keep stale ancestors or lose its parent).
type Server struct {
	cats   *mongo.Collection
	slugs  kit.Slugs
	refs   *mongo.Collection
	opts   Options
	now    func() time.Time
	logger *slog.Logger
	mu     sync.RWMutex // creations share it; moves, updates and deletes hold it alone
	locks  keylock.Map
	relay  *outbox.Relay
	// requests remembers the writes handled, by request id.
	requests *idem.Store
	// retired keeps the audit logs of deleted categories.
	retired audit.Retired
	// live is the in-memory copy of the live categories (newLive).
	live *kit.Snapshot[map[string]categoryDoc]
}

// liveMaxAge bounds how long GetMany trusts its copy of the categories
// should a write's stamp have been lost (a crash between the two).
const liveMaxAge = 30 * time.Second

// newLive returns the in-memory copy of the live categories by id, without
// their audit logs, that GetMany answers from: product writes check their
// categories with it, and on FerretDB a find of several ids reads the
// whole collection. A shop has at most some thousands of categories.
func (s *Server) newLive(stamps *mongo.Collection) *kit.Snapshot[map[string]categoryDoc] {
	return kit.NewSnapshot(stamps, "categories", liveMaxAge, s.logger, func(ctx context.Context) (map[string]categoryDoc, error) {
		docs, err := s.find(ctx, bson.D{}, withoutLog)
		if err != nil {
			return nil, err
		}
		byID := make(map[string]categoryDoc, len(docs))
		for _, d := range docs {
			byID[d.ID] = d
		}
		return byID, nil
	})
}

var _ Service = (*Server)(nil)

// categoryDoc is a category as stored.
type categoryDoc struct {
	ID          string    `bson:"_id"`
	Slug        string    `bson:"slug"`
	Name        string    `bson:"name"`
	Description string    `bson:"description"`
	ParentID    string    `bson:"parent_id"`
	Ancestors   []string  `bson:"ancestors"`
	Position    int       `bson:"position"`
	Version     int64     `bson:"version"`
	CreatedAt   time.Time `bson:"created_at"`
	UpdatedAt   time.Time `bson:"updated_at"`
	// Deleted marks a tombstone kept until its deletion is announced.
	Deleted bool `bson:"deleted,omitempty"`
	// Events holds the events of changes the broker has not confirmed yet,
	// stored in the same write as the change (see internal/outbox).
	outbox.Events `bson:",inline"`
	// Log is the category's audit log, written with each change (see
	// internal/audit).
	audit.Log `bson:",inline"`
}

func (d *categoryDoc) category() Category {
	anc := d.Ancestors
	if anc == nil {
		anc = []string{}
	}
	return Category{
		ID: d.ID, Slug: d.Slug, Name: d.Name, Description: d.Description,
		ParentID: d.ParentID, Ancestors: anc, Position: d.Position, Version: d.Version,
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
	}
}

// New returns a Server storing its data in db and creates its indexes.
func New(db *mongo.Database, opts Options) (*Server, error) {
	s := &Server{
		cats:    db.Collection("categories"),
		slugs:   kit.NewSlugs(db.Collection("category_slugs"), "category_id", "category").Sharing(opts.SharedSlugs),
		refs:    db.Collection("product_refs"),
		retired: audit.NewRetired(db),
		opts:    opts,
		now:     kit.Clock(opts.Now),
		logger:  kit.Logger(opts.Logger),
	}
	s.requests = idem.New(db, idem.Options{Logger: s.logger})
	s.live = s.newLive(db.Collection("category_stamp"))
	if err := kit.EnsureIndexes(
		kit.Index{Collection: s.cats, Keys: bson.D{{Key: "parent_id", Value: 1}}},
		kit.Index{Collection: s.cats, Keys: bson.D{{Key: "ancestors", Value: 1}}},
		kit.Index{Collection: s.refs, Keys: bson.D{{Key: "category_ids", Value: 1}}},
	); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	relay, err := outbox.New(ctx, outbox.Config{Collection: s.cats, Publisher: opts.Events, Locks: &s.locks, Name: "category", Logger: s.logger})
	if err != nil {
		return nil, err
	}
	s.relay = relay
	return s, nil
}

// ---- reads ----

// Get implements Service.
func (s *Server) Get(ctx context.Context, r GetRequest) (Category, error) {
	var f kit.Fields
	f.ID("id", r.ID, true)
	if err := f.Err("invalid category id"); err != nil {
		return Category{}, err
	}
	d, err := s.load(ctx, r.ID)
	if err != nil {
		return Category{}, err
	}
	return d.category(), nil
}

// GetMany implements Service.
func (s *Server) GetMany(ctx context.Context, r GetManyRequest) ([]Category, error) {
	if len(r.IDs) > MaxGetMany {
		return nil, shop.Invalid("too many categories", "ids", "name at most "+strconv.Itoa(MaxGetMany)+" categories")
	}
	var ids []string
	for _, id := range r.IDs {
		if kit.ValidID(id) && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	out := make([]Category, 0, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	byID, err := s.live.Get(ctx)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if d, ok := byID[id]; ok {
			out = append(out, d.category())
		}
	}
	return out, nil
}

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

func (s *Server) GetBySlug(ctx context.Context, r GetBySlugRequest) (Category, error) {
	slug := strings.ToLower(strings.TrimSpace(r.Slug))
	var f kit.Fields
	f.Slug("slug", slug)
	if err := f.Err("invalid slug"); err != nil {
		return Category{}, err
	}
	id, err := s.slugs.Holder(ctx, slug)
	if err != nil {
		return Category{}, err
	}
	if id == "" {
		return Category{}, shop.NotFound("category " + kit.Quote(slug))
	}
	d, err := s.load(ctx, id)
	if err != nil {
		return Category{}, err
	}
	if d.Slug != slug { // the slug is being released
		return Category{}, shop.NotFound("category " + kit.Quote(slug))
	}
	return d.category(), nil
}

// ListChildren implements Service.
func (s *Server) ListChildren(ctx context.Context, r ListChildrenRequest) ([]Category, error) {
	var f kit.Fields
	f.ID("parent_id", r.ParentID, false)
	if err := f.Err("invalid parent id"); err != nil {
		return nil, err
	}
	if r.ParentID != "" {
		if _, err := s.load(ctx, r.ParentID); err != nil {
			return nil, err
		}
	}
	docs, err := s.find(ctx, bson.D{{Key: "parent_id", Value: r.ParentID}}, withoutLog)
	if err != nil {
		return nil, err
	}
	sortDocs(docs)
	out := make([]Category, len(docs))
	for i := range docs {
		out[i] = docs[i].category()
	}
	return out, nil
}

// Tree implements Service.
func (s *Server) Tree(ctx context.Context, r TreeRequest) ([]Node, error) {
	var f kit.Fields
	f.ID("root_id", r.RootID, false)
	if err := f.Err("invalid root id"); err != nil {
		return nil, err
	}
	var docs, roots []categoryDoc
	if r.RootID == "" {
		all, err := s.find(ctx, bson.D{}, withoutLog)
		if err != nil {
			return nil, err
		}
		docs = all
	} else {
		root, err := s.load(ctx, r.RootID)
		if err != nil {
			return nil, err
		}
		sub, err := s.find(ctx, bson.D{{Key: "ancestors", Value: r.RootID}}, withoutLog)
		if err != nil {
			return nil, err
		}
		docs, roots = sub, []categoryDoc{root}
	}
	sortDocs(docs)
	children := map[string][]categoryDoc{}
	for _, d := range docs {
		children[d.ParentID] = append(children[d.ParentID], d)
	}
	var build func(d categoryDoc, depth int) Node
	build = func(d categoryDoc, depth int) Node {
		n := Node{Category: d.category()}
		if depth > MaxDepth+1 { // a corrupt cycle must not recurse forever
			return n
		}
		for _, c := range children[d.ID] {
			n.Children = append(n.Children, build(c, depth+1))
		}
		return n
	}
	if r.RootID == "" {
		roots = children[""]
	}
	out := make([]Node, 0, len(roots))
	for _, d := range roots {
		out = append(out, build(d, 1))
	}
	return out, nil
}

// Ancestors implements Service.
func (s *Server) Ancestors(ctx context.Context, r AncestorsRequest) ([]Category, error) {
	var f kit.Fields
	f.ID("id", r.ID, true)
	if err := f.Err("invalid category id"); err != nil {
		return nil, err
	}
	d, err := s.load(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	out := make([]Category, 0, len(d.Ancestors))
	for _, id := range d.Ancestors { // one _id lookup each: the fast path
		a, err := s.load(ctx, id)
		if errors.Is(err, shop.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, a.category())
	}
	return out, nil
}

// load returns the live category id, or not_found.
func (s *Server) load(ctx context.Context, id string) (categoryDoc, error) {
	d, err := kit.Find[categoryDoc](ctx, s.cats, "category", id)
	if err == nil && d.Deleted {
		return categoryDoc{}, shop.NotFound("category " + kit.Quote(id))
	}
	return d, err
}

// withoutLog leaves the audit logs out of the categories find reads, for
// reads that never store them again (a write replaces the whole
// document, so it must read the log).
var withoutLog = options.Find().SetProjection(bson.D{{Key: audit.Field, Value: 0}})

// find returns the live categories matching filter.
func (s *Server) find(ctx context.Context, filter bson.D, opts ...options.Lister[options.FindOptions]) ([]categoryDoc, error) {
	cur, err := s.cats.Find(ctx, filter, opts...)
	if err != nil {
		return nil, kit.Internal("find categories", err)
	}
	var docs []categoryDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, kit.Internal("read categories", err)
	}
	live := docs[:0]
	for _, d := range docs {
		if !d.Deleted {
			live = append(live, d)
		}
	}
	return live, nil
}

func sortDocs(docs []categoryDoc) {
	kit.SortPlaced(docs, func(d *categoryDoc) (int, string, string) { return d.Position, d.Name, d.ID })
}

// ---- writes ----

// Create implements Service. The category's id derives from the request
// id, so a re-run of a request that stored it but could not remember its
// outcome returns the category it made.
func (s *Server) Create(ctx context.Context, r CreateRequest) (Category, error) {
	p, err := shop.RequireAdmin(ctx, s.opts.Auth)
	if err != nil {
		return Category{}, err
	}
	ctx = audit.WithActor(ctx, p)
	return idem.Do(ctx, s.requests, MethodCreate, r, func(ctx context.Context) (Category, error) {
		return s.create(ctx, r)
	})
}

func (s *Server) create(ctx context.Context, r CreateRequest) (Category, error) {
	if err := checkCreate(r); err != nil {
		return Category{}, err
	}

	s.mu.RLock()
	defer s.mu.RUnlock()
	id := idem.NewID(ctx, "category")
	if d, err := s.load(ctx, id); err == nil {
		return d.category(), nil // made by an earlier run of this request
	}
	var parent *categoryDoc
	if r.ParentID != "" {
		p, err := s.load(ctx, r.ParentID)
		if errors.Is(err, shop.ErrNotFound) {
			return Category{}, unknownParent(r.ParentID)
		}
		if err != nil {
			return Category{}, err
		}
		parent = &p
	}
	d, err := newCategory(id, r, parent, s.now())
	if err != nil {
		return Category{}, err
	}
	slug, err := s.slugs.Reserve(ctx, d.ID, r.Slug, d.Name)
	if err != nil {
		return Category{}, err
	}
	d.Slug = slug
	d.Record(ctx, MethodCreate, d.CreatedAt, audit.Changed(nil, d))
	s.addEvent(&d, shop.EventCategoryCreated, "")
	unlock := s.locks.Lock(d.ID)
	defer unlock()
	_, err = s.cats.InsertOne(ctx, d)
	s.live.Changed(ctx)
	if err != nil {
		if mongo.IsDuplicateKeyError(err) { // an earlier run of this request made it
			old, err := s.load(ctx, d.ID)
			if err != nil {
				return Category{}, err // the slug may be the category's: leave it
			}
			if old.Slug != slug {
				s.releaseSlug(ctx, slug, d.ID)
			}
			return old.category(), nil
		}
		s.releaseSlug(ctx, slug, d.ID)
		return Category{}, kit.Internal("insert category", err)
	}
	s.announce(ctx, d)
	return d.category(), nil
}

// checkCreate checks the fields of a creation.
func checkCreate(r CreateRequest) error {
	var f kit.Fields
	f.Text("name", r.Name, true, kit.MaxNameLen)
	if r.Slug != "" {
		f.Slug("slug", r.Slug)
	}
	f.LongText("description", r.Description, false, kit.MaxDescriptionLen)
	f.ID("parent_id", r.ParentID, false)
	return f.Err("invalid category")
}

// unknownParent is the error of a creation under a category that does not
// exist.
func unknownParent(id string) error {
	return shop.Invalid("invalid category", "parent_id", "unknown category "+kit.Quote(id))
}

// newCategory returns the category r creates with id under parent (nil for
// a root), made at now, without its slug; too deep is invalid.
func newCategory(id string, r CreateRequest, parent *categoryDoc, now time.Time) (categoryDoc, error) {
	ancestors := []string{}
	if parent != nil {
		ancestors = append(slices.Clone(parent.Ancestors), parent.ID)
		if len(ancestors)+1 > MaxDepth {
			return categoryDoc{}, shop.Invalid("invalid category", "parent_id", "categories nest at most 16 deep")
		}
	}
	return categoryDoc{
		ID:          id,
		Name:        strings.TrimSpace(r.Name),
		Description: r.Description,
		ParentID:    r.ParentID,
		Ancestors:   ancestors,
		Position:    r.Position,
		Version:     1,
		CreatedAt:   now,
		UpdatedAt:   now,
	}, nil
}

// Update implements Service.
func (s *Server) Update(ctx context.Context, r UpdateRequest) (Category, error) {
	p, err := shop.RequireAdmin(ctx, s.opts.Auth)
	if err != nil {
		return Category{}, err
	}
	ctx = audit.WithActor(ctx, p)
	return idem.Do(ctx, s.requests, MethodUpdate, r, func(ctx context.Context) (Category, error) {
		return s.update(ctx, r)
	})
}

func (s *Server) update(ctx context.Context, r UpdateRequest) (Category, error) {
	var f kit.Fields
	f.ID("id", r.ID, true)
	if r.Name != nil {
		f.Text("name", *r.Name, true, kit.MaxNameLen)
	}
	if r.Slug != nil {
		f.Slug("slug", *r.Slug)
	}
	if r.Description != nil {
		f.LongText("description", *r.Description, false, kit.MaxDescriptionLen)
	}
	if err := f.Err("invalid category"); err != nil {
		return Category{}, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.load(ctx, r.ID)
	if err != nil {
		return Category{}, err
	}
	next := d
	if r.Name != nil {
		next.Name = strings.TrimSpace(*r.Name)
	}
	if r.Description != nil {
		next.Description = *r.Description
	}
	if r.Position != nil {
		next.Position = *r.Position
	}
	newSlug := ""
	if r.Slug != nil && *r.Slug != d.Slug {
		if _, err := s.slugs.Reserve(ctx, d.ID, *r.Slug, ""); err != nil {
			return Category{}, err
		}
		newSlug = *r.Slug
		next.Slug = newSlug
	}
	if next.Name == d.Name && next.Description == d.Description && next.Position == d.Position && newSlug == "" {
		return d.category(), nil // nothing changed: no new version, no event
	}
	oldSlug := ""
	if newSlug != "" {
		oldSlug = d.Slug
	}
	next, err = s.save(ctx, MethodUpdate, d, next, shop.EventCategoryUpdated, oldSlug)
	if err != nil {
		if newSlug != "" {
			s.releaseSlug(ctx, newSlug, d.ID)
		}
		return Category{}, err
	}
	if newSlug != "" {
		s.releaseSlug(ctx, d.Slug, d.ID)
	}
	return next.category(), nil
}

// Move implements Service.
func (s *Server) Move(ctx context.Context, r MoveRequest) (Category, error) {
	p, err := shop.RequireAdmin(ctx, s.opts.Auth)
	if err != nil {
		return Category{}, err
	}
	ctx = audit.WithActor(ctx, p)
	return idem.Do(ctx, s.requests, MethodMove, r, func(ctx context.Context) (Category, error) {
		return s.moveRequest(ctx, r)
	})
}

func (s *Server) moveRequest(ctx context.Context, r MoveRequest) (Category, error) {
	var f kit.Fields
	f.ID("id", r.ID, true)
	f.ID("parent_id", r.ParentID, false)
	if err := f.Err("invalid move"); err != nil {
		return Category{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.load(ctx, r.ID)
	if err != nil {
		return Category{}, err
	}
	moved, err := s.move(ctx, MethodMove, d, r.ParentID)
	if err != nil {
		return Category{}, err
	}
	return moved.category(), nil
}

// move puts d under parentID and rewrites the ancestors of its subtree,
// recording action (the request's method: a move, or the delete that
// moves a category's children up) in the log of each category it
// changes. The caller holds s.mu.
func (s *Server) move(ctx context.Context, action string, d categoryDoc, parentID string) (categoryDoc, error) {
	if parentID == d.ParentID {
		return d, nil
	}
	var ancestors []string
	if parentID != "" {
		if parentID == d.ID {
			return categoryDoc{}, shop.Invalid("invalid move", "parent_id", "a category cannot be its own parent")
		}
		parent, err := s.load(ctx, parentID)
		if errors.Is(err, shop.ErrNotFound) {
			return categoryDoc{}, shop.Invalid("invalid move", "parent_id", "unknown category "+kit.Quote(parentID))
		}
		if err != nil {
			return categoryDoc{}, err
		}
		if slices.Contains(parent.Ancestors, d.ID) {
			return categoryDoc{}, shop.Invalid("invalid move", "parent_id", "the new parent is a descendant of the category: the move would create a cycle")
		}
		ancestors = append(slices.Clone(parent.Ancestors), parent.ID)
	}
	descendants, err := s.find(ctx, bson.D{{Key: "ancestors", Value: d.ID}})
	if err != nil {
		return categoryDoc{}, err
	}
	height := 1
	for _, c := range descendants {
		height = max(height, len(c.Ancestors)-len(d.Ancestors)+1)
	}
	if len(ancestors)+height > MaxDepth {
		return categoryDoc{}, shop.Invalid("invalid move", "parent_id", "categories nest at most 16 deep")
	}
	if ancestors == nil {
		ancestors = []string{}
	}

	next := d
	next.ParentID = parentID
	next.Ancestors = ancestors
	next, err = s.save(ctx, action, d, next, shop.EventCategoryUpdated, "")
	if err != nil {
		return categoryDoc{}, err
	}

	// Rewrite the subtree top-down, so that a reader never sees a child
	// moved before its parent. Without transactions a crash here leaves
	// the rest of the subtree with stale ancestors; moving the category
	// again repairs them.
	slices.SortFunc(descendants, func(a, b categoryDoc) int { return len(a.Ancestors) - len(b.Ancestors) })
	for _, c := range descendants {
		i := slices.Index(c.Ancestors, d.ID)
		if i < 0 {
			continue
		}
		cn := c
		cn.Ancestors = append(append(slices.Clone(ancestors), d.ID), c.Ancestors[i+1:]...)
		if _, err = s.save(ctx, action, c, cn, shop.EventCategoryUpdated, ""); err != nil {
			return categoryDoc{}, err
		}
	}
	return next, nil
}

// Delete implements Service.
func (s *Server) Delete(ctx context.Context, r DeleteRequest) (Category, error) {
	p, err := shop.RequireAdmin(ctx, s.opts.Auth)
	if err != nil {
		return Category{}, err
	}
	ctx = audit.WithActor(ctx, p)
	return idem.Do(ctx, s.requests, MethodDelete, r, func(ctx context.Context) (Category, error) {
		return s.delete(ctx, r)
	})
}

func (s *Server) delete(ctx context.Context, r DeleteRequest) (Category, error) {
	var f kit.Fields
	f.ID("id", r.ID, true)
	if err := f.Err("invalid category id"); err != nil {
		return Category{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.load(ctx, r.ID)
	if err != nil {
		return Category{}, err
	}
	children, err := s.find(ctx, bson.D{{Key: "parent_id", Value: d.ID}})
	if err != nil {
		return Category{}, err
	}
	products, err := s.refs.CountDocuments(ctx, bson.D{{Key: "category_ids", Value: d.ID}})
	if err != nil {
		return Category{}, kit.Internal("count products", err)
	}
	if !r.Reparent {
		switch {
		case len(children) > 0:
			return Category{}, shop.Conflict("category has subcategories: move or delete them first, or delete with reparent")
		case products > 0:
			return Category{}, shop.Conflict("category has products: re-file them first, or delete with reparent")
		}
	}
	for _, c := range children {
		if _, err := s.move(ctx, MethodDelete, c, d.ParentID); err != nil {
			return Category{}, err
		}
	}
	d, err = s.load(ctx, r.ID) // unchanged, but read again to be sure of the version
	if err != nil {
		return Category{}, err
	}
	next := d
	next.Deleted = true
	next, err = s.save(ctx, MethodDelete, d, next, shop.EventCategoryDeleted, "")
	if err != nil {
		return Category{}, err
	}
	s.releaseSlug(ctx, d.Slug, d.ID)
	return next.category(), nil
}

// save stores next in place of cur if cur is still the stored version,
// with the version bumped, the change's audit entry (action, by ctx's
// actor) and its event (key; oldSlug if the slug changed) in the same
// write, then publishes the event. A delete keeps the category's log
// first (see audit.Retired). A concurrent change is a conflict.
func (s *Server) save(ctx context.Context, action string, cur, next categoryDoc, key, oldSlug string) (categoryDoc, error) {
	unlock := s.locks.Lock(cur.ID)
	defer unlock()
	next.Version = cur.Version + 1
	next.UpdatedAt = s.now()
	next.Events.Pending = slices.Clone(cur.Events.Pending)
	if next.Deleted {
		next.Record(ctx, action, next.UpdatedAt, nil)
		if err := s.retired.Keep(ctx, ServiceName, next.ID, next.Log); err != nil {
			return categoryDoc{}, shop.StorageFailure(ctx, "keep the history of category "+next.ID, err)
		}
	} else {
		next.Record(ctx, action, next.UpdatedAt, audit.Changed(cur, next))
	}
	s.addEvent(&next, key, oldSlug)
	err := kit.Replace(ctx, s.cats, "category", cur.ID, cur.Version, next)
	s.live.Changed(ctx)
	if err != nil {
		return categoryDoc{}, err
	}
	s.announce(ctx, next)
	return next, nil
}

// History implements Service.
func (s *Server) History(ctx context.Context, r shop.HistoryRequest) (shop.History, error) {
	if _, err := shop.RequireAdmin(ctx, s.opts.Auth); err != nil {
		return shop.History{}, err
	}
	if err := kit.CheckHistory(r, ServiceName); err != nil {
		return shop.History{}, err
	}
	return audit.Read(ctx, s.cats, s.retired, ServiceName, r.ID)
}

// releaseSlug frees slug if id holds it.
func (s *Server) releaseSlug(ctx context.Context, slug, id string) {
	if err := s.slugs.Release(ctx, slug, id); err != nil {
		s.logger.Error("category: cannot release slug", "slug", slug, "category", id, "err", err)
	}
}

// ---- events ----

// addEvent records in d the event announcing its current version.
func (s *Server) addEvent(d *categoryDoc, key, oldSlug string) {
	if s.opts.Events == nil {
		return
	}
	d.Events.Add(kit.EventID(key, d.ID, d.Version), key, shop.CategoryChanged{
		Category: d.category().Snapshot(),
		OldSlug:  oldSlug,
		Deleted:  d.Deleted,
		Occurred: d.UpdatedAt,
	}, d.UpdatedAt)
}

// announce publishes the events just stored with d (and removes the
// tombstone of a deletion). The caller holds the category's lock. A
// failure is logged: the events wait in the document for the relay.
func (s *Server) announce(ctx context.Context, d categoryDoc) {
	err := s.relay.Flush(ctx, outbox.Doc{ID: d.ID, Version: d.Version, Deleted: d.Deleted, Events: d.Events})
	if err != nil {
		s.logger.Warn("category: event not published yet; the relay will retry", "category", d.ID, "version", d.Version, "err", err)
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
