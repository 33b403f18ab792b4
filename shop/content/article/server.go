package article

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/internal/audit"
	"github.com/shopbus/shopbus/internal/docstore"
	"github.com/shopbus/shopbus/internal/idem"
	"github.com/shopbus/shopbus/internal/indexes"
	"github.com/shopbus/shopbus/internal/keylock"
	"github.com/shopbus/shopbus/internal/outbox"
	"github.com/shopbus/shopbus/shop"
)

// Collection names in the service's database.
const (
	collArticles = "articles"
	collSlugs    = "slugs"
)

// staleClaim is how old a slug reservation whose article does not hold the
// slug must be before another article may take it over (a writer that
// crashed between reserving the slug and writing the article).
const staleClaim = time.Minute

// cleanupTimeout bounds the clean-up after a write (releasing a slug).
const cleanupTimeout = 10 * time.Second

// maxUpdateAttempts bounds the retries of an update that races another one.
const maxUpdateAttempts = 5

// Options configure a Server. The zero value works, but without Auth every
// write fails and nobody sees drafts, and without Events no event is published.
type Options struct {
	// Auth authenticates the caller's session token (usually auth's bus client).
	Auth shop.Authenticator
	// Events receives article.article.* events (usually the bus).
	Events shop.Publisher
	// SharedSlugs are the other services whose pages share the articles'
	// addresses (the storefront's /{slug}): a slug one of them holds is
	// refused, or skipped when generated. Nil: slugs are unique among
	// articles only.
	SharedSlugs shop.SlugSpace
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
	// Logger logs failures to publish events; slog.Default() when nil.
	Logger *slog.Logger
}

// Server is the MongoDB implementation of Service. Its collections:
// articles (by id, each with its audit log), slugs (slug → article),
// requests (the writes handled, see package idem) and audit_deleted (the
// audit logs of deleted articles, see History).
type Server struct {
	articles *mongo.Collection
	slugs    *mongo.Collection
	opts     Options
	locks    keylock.Map
	relay    *outbox.Relay
	requests *idem.Store   // the requests handled (see package idem)
	retired  audit.Retired // the audit logs of deleted articles
}

var _ Service = (*Server)(nil)

// New returns a Server storing its articles in db, creating the indexes it
// needs. Slugs are unique through a collection keyed by the slug.
func New(db *mongo.Database, opts Options) (*Server, error) {
	if db == nil {
		return nil, errors.New("article: nil database")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{articles: db.Collection(collArticles), slugs: db.Collection(collSlugs), opts: opts,
		requests: idem.New(db, idem.Options{Logger: opts.Logger}), retired: audit.NewRetired(db)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := indexes.Ensure(ctx, s.articles,
		bson.D{{Key: "status", Value: 1}, {Key: "sort_at", Value: -1}, {Key: "_id", Value: -1}},
		bson.D{{Key: "tags", Value: 1}, {Key: "sort_at", Value: -1}},
	); err != nil {
		return nil, fmt.Errorf("article: %w", err)
	}
	relay, err := outbox.New(ctx, outbox.Config{Collection: s.articles, Publisher: opts.Events, Locks: &s.locks, Name: "article", Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	s.relay = relay
	return s, nil
}

// articleDoc is an article as stored.
type articleDoc struct {
	ID          string     `bson:"_id"`
	Slug        string     `bson:"slug"`
	Title       string     `bson:"title"`
	Body        string     `bson:"body"`
	Excerpt     string     `bson:"excerpt"`
	Author      string     `bson:"author"`
	Tags        []string   `bson:"tags"`
	CoverImage  string     `bson:"cover_image"`
	Status      string     `bson:"status"`
	PublishedAt *time.Time `bson:"published_at,omitempty"`
	// SortAt orders listings: PublishedAt, or CreatedAt while there is none.
	SortAt    time.Time `bson:"sort_at"`
	CreatedAt time.Time `bson:"created_at"`
	UpdatedAt time.Time `bson:"updated_at"`
	Version   int64     `bson:"version"`
	// Deleted marks a tombstone whose deleted event is not yet published.
	Deleted bool `bson:"deleted,omitempty"`
	// Events holds the events of changes the broker has not confirmed yet,
	// stored in the same write as the change (see internal/outbox).
	outbox.Events `bson:",inline"`
	// Log is the article's audit log, written with each change (see
	// internal/audit).
	audit.Log `bson:",inline"`
}

// derivedFields are stored fields derived from others, left out of the
// audit log's list of changed fields.
var derivedFields = []string{"sort_at"}

// slugDoc reserves a slug for an article.
type slugDoc struct {
	Slug      string    `bson:"_id"`
	ArticleID string    `bson:"article_id"`
	ClaimedAt time.Time `bson:"claimed_at"`
}

func (d *articleDoc) article() Article {
	a := Article{
		ID: d.ID, Slug: d.Slug, Title: d.Title, Body: d.Body, Excerpt: d.Excerpt, Author: d.Author,
		Tags: slices.Clone(d.Tags), CoverImage: d.CoverImage, Status: d.Status,
		CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(), Version: d.Version,
	}
	if d.PublishedAt != nil {
		a.PublishedAt = d.PublishedAt.UTC()
	}
	return a
}

func (d *articleDoc) snapshot() shop.ArticleSnapshot {
	a := d.article()
	return shop.ArticleSnapshot{
		ID: a.ID, Slug: a.Slug, Title: a.Title, Excerpt: a.Excerpt, Status: a.Status,
		Tags: a.Tags, PublishedAt: a.PublishedAt, Version: a.Version,
	}
}

func (s *Server) now() time.Time { return s.opts.Now().UTC().Truncate(time.Millisecond) }

// ---- writes ----

// Create implements Service.
func (s *Server) Create(ctx context.Context, r CreateRequest) (Article, error) {
	p, err := shop.RequireAdmin(ctx, s.opts.Auth)
	if err != nil {
		return Article{}, err
	}
	ctx = audit.WithActor(ctx, p)
	return idem.Do(ctx, s.requests, MethodCreate, r, func(ctx context.Context) (Article, error) {
		return s.create(ctx, r)
	})
}

// create stores the article of r. Its id derives from the request id, so
// that a run of the request that crashed before its outcome was remembered
// is found again (see package idem) and answered instead of a second
// article.
func (s *Server) create(ctx context.Context, r CreateRequest) (Article, error) {
	now := s.now()
	d := &articleDoc{
		ID: idem.NewID(ctx, "article"), Title: r.Title, Body: r.Body, Excerpt: r.Excerpt, Author: r.Author,
		Tags: r.Tags, CoverImage: r.CoverImage, Status: r.Status,
		CreatedAt: now, UpdatedAt: now, Version: 1,
	}
	if d.Status == "" {
		d.Status = StatusDraft
	}
	if !r.PublishedAt.IsZero() {
		t := r.PublishedAt.UTC().Truncate(time.Millisecond)
		d.PublishedAt = &t
	}
	slug := strings.TrimSpace(r.Slug)
	if err := normalize(d); err != nil {
		return Article{}, err
	}
	if slug != "" {
		if !validSlug(slug) {
			return Article{}, shop.Invalid("invalid article", "slug", fmt.Sprintf("must be 1-%d of a-z and 0-9 in words joined by '-'", MaxSlugLen))
		}
		if err := s.claimSlug(ctx, slug, d.ID); err != nil {
			return Article{}, err
		}
	} else {
		var err error
		if slug, err = s.claimGenerated(ctx, d.Title, d.ID); err != nil {
			return Article{}, err
		}
	}
	d.Slug = slug
	s.settle(d, now)
	d.Record(ctx, MethodCreate, now, audit.Changed(nil, d, derivedFields...))
	s.addEvent(d, shop.EventArticleCreated, "", now)
	unlock := s.locks.Lock(d.ID)
	defer unlock()
	if _, err := s.articles.InsertOne(ctx, d); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return s.created(ctx, d.ID, slug)
		}
		s.releaseSlug(ctx, slug, d.ID)
		return Article{}, shop.StorageFailure(ctx, "article: insert", err)
	}
	s.announce(ctx, d)
	return d.article(), nil
}

// created returns the article id that an earlier run of the request under
// way inserted, and frees slug if this run reserved it for id in vain. The
// caller holds the article's lock.
func (s *Server) created(ctx context.Context, id, slug string) (Article, error) {
	var d articleDoc
	if err := s.articles.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d); err != nil {
		return Article{}, shop.StorageFailure(ctx, "article: insert", err)
	}
	if d.Slug != slug {
		s.releaseSlug(ctx, slug, id)
	}
	return d.article(), nil
}

// Update implements Service.
func (s *Server) Update(ctx context.Context, r UpdateRequest) (Article, error) {
	p, err := shop.RequireAdmin(ctx, s.opts.Auth)
	if err != nil {
		return Article{}, err
	}
	ctx = audit.WithActor(ctx, p)
	return idem.Do(ctx, s.requests, MethodUpdate, r, func(ctx context.Context) (Article, error) {
		return s.update(ctx, r)
	})
}

func (s *Server) update(ctx context.Context, r UpdateRequest) (Article, error) {
	if err := checkID(r.ID); err != nil {
		return Article{}, err
	}
	// Within this process, changes of one article take turns; the retries
	// below catch changes made by other processes.
	unlock := s.locks.Lock(r.ID)
	defer unlock()
	for range maxUpdateAttempts {
		old, err := s.loadVersion(ctx, r.ID, r.Version)
		if err != nil {
			return Article{}, err
		}
		d := old.clone()
		setIf(&d.Title, r.Title)
		setIf(&d.Body, r.Body)
		setIf(&d.Excerpt, r.Excerpt)
		setIf(&d.Author, r.Author)
		setIf(&d.CoverImage, r.CoverImage)
		setIf(&d.Status, r.Status)
		if r.Tags != nil {
			d.Tags = *r.Tags
		}
		if r.PublishedAt != nil {
			if r.PublishedAt.IsZero() {
				d.PublishedAt = nil
			} else {
				t := r.PublishedAt.UTC().Truncate(time.Millisecond)
				d.PublishedAt = &t
			}
		}
		if err := normalize(&d); err != nil {
			return Article{}, err
		}
		now := s.now()
		s.settle(&d, now)

		// The slug: a new one is reserved before the article is written and
		// the old one released after.
		newSlug, claimed := old.Slug, false
		if r.Slug != nil {
			want := strings.TrimSpace(*r.Slug)
			switch {
			case want == "":
				if !generatedFrom(old.Slug, slugBase(d.Title)) {
					if newSlug, err = s.claimGenerated(ctx, d.Title, d.ID); err != nil {
						return Article{}, err
					}
					claimed = newSlug != old.Slug
				}
			case !validSlug(want):
				return Article{}, shop.Invalid("invalid article", "slug", fmt.Sprintf("must be 1-%d of a-z and 0-9 in words joined by '-'", MaxSlugLen))
			case want != old.Slug:
				if err := s.claimSlug(ctx, want, d.ID); err != nil {
					return Article{}, err
				}
				newSlug, claimed = want, true
			}
		}
		d.Slug = newSlug
		if sameContent(old, &d) {
			return old.article(), nil // nothing changed: no new version, no event
		}
		d.Version = old.Version + 1
		d.UpdatedAt = now
		oldSlug := ""
		if d.Slug != old.Slug {
			oldSlug = old.Slug
		}
		d.Record(ctx, MethodUpdate, now, audit.Changed(old, &d, derivedFields...))
		s.addEvent(&d, shop.EventArticleUpdated, oldSlug, now)
		replaced, err := docstore.Replace(ctx, s.articles, d.ID, &d, false, docstore.Equal("version", old.Version))
		if err != nil || !replaced {
			if claimed {
				s.releaseSlug(ctx, d.Slug, d.ID)
			}
			if err != nil {
				return Article{}, shop.StorageFailure(ctx, "article: update", err)
			}
			if r.Version != 0 {
				return Article{}, staleVersion(0)
			}
			continue // changed meanwhile: start again from the new version
		}
		if oldSlug != "" {
			s.releaseSlug(ctx, oldSlug, d.ID)
		}
		s.announce(ctx, &d)
		return d.article(), nil
	}
	return Article{}, shop.Conflict("article is being changed concurrently; try again")
}

// Delete implements Service.
func (s *Server) Delete(ctx context.Context, r DeleteRequest) (Article, error) {
	p, err := shop.RequireAdmin(ctx, s.opts.Auth)
	if err != nil {
		return Article{}, err
	}
	ctx = audit.WithActor(ctx, p)
	return idem.Do(ctx, s.requests, MethodDelete, r, func(ctx context.Context) (Article, error) {
		return s.delete(ctx, r)
	})
}

func (s *Server) delete(ctx context.Context, r DeleteRequest) (Article, error) {
	if err := checkID(r.ID); err != nil {
		return Article{}, err
	}
	// Within this process, changes of one article take turns; the retries
	// below catch changes made by other processes.
	unlock := s.locks.Lock(r.ID)
	defer unlock()
	for range maxUpdateAttempts {
		old, err := s.loadVersion(ctx, r.ID, r.Version)
		if err != nil {
			return Article{}, err
		}
		now := s.now()
		d := old.clone()
		d.Deleted = true
		d.Version = old.Version + 1
		d.UpdatedAt = now
		s.addEvent(&d, shop.EventArticleDeleted, "", now)
		// The log, with the delete on top, is kept before the article goes.
		d.Record(ctx, MethodDelete, now, nil)
		if err := s.retired.Keep(ctx, ServiceName, d.ID, d.Log); err != nil {
			return Article{}, shop.StorageFailure(ctx, "article: keep the history", err)
		}
		atVersion := docstore.Equal("version", old.Version)
		var done bool
		if s.opts.Events == nil {
			done, err = docstore.Delete(ctx, s.articles, d.ID, atVersion)
		} else {
			// A tombstone keeps the deleted event until it is published.
			done, err = docstore.Replace(ctx, s.articles, d.ID, &d, false, atVersion)
		}
		if err != nil {
			return Article{}, shop.StorageFailure(ctx, "article: delete", err)
		}
		if !done {
			if r.Version != 0 {
				return Article{}, staleVersion(0)
			}
			continue
		}
		s.releaseSlug(ctx, d.Slug, d.ID)
		s.announce(ctx, &d)
		return old.article(), nil
	}
	return Article{}, shop.Conflict("article is being changed concurrently; try again")
}

// History implements Service.
func (s *Server) History(ctx context.Context, r shop.HistoryRequest) (shop.History, error) {
	if _, err := shop.RequireAdmin(ctx, s.opts.Auth); err != nil {
		return shop.History{}, err
	}
	if err := checkID(r.ID); err != nil {
		return shop.History{}, err
	}
	if r.Kind != "" && r.Kind != ServiceName {
		return shop.History{}, shop.Invalid("invalid history request", "kind", "must be empty or "+ServiceName)
	}
	return audit.Read(ctx, s.articles, s.retired, ServiceName, r.ID)
}

// loadVersion returns the live article id if it is at version (0: any
// version); at another version it is a conflict.
func (s *Server) loadVersion(ctx context.Context, id string, version int64) (*articleDoc, error) {
	d, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if version != 0 && version != d.Version {
		return nil, staleVersion(d.Version)
	}
	return d, nil
}

// clone returns a copy of d that shares no slice with it.
func (d *articleDoc) clone() articleDoc {
	c := *d
	c.Tags = slices.Clone(d.Tags)
	c.Events.Pending = slices.Clone(d.Events.Pending)
	c.Entries = slices.Clone(d.Entries)
	return c
}

func staleVersion(current int64) error {
	if current == 0 {
		return shop.Conflict("article was changed concurrently; reload it and try again")
	}
	return shop.Conflict(fmt.Sprintf("article was changed concurrently: its version is now %d", current))
}

func setIf(dst *string, v *string) {
	if v != nil {
		*dst = *v
	}
}

// sameContent reports whether b changes nothing a reader sees in a.
func sameContent(a, b *articleDoc) bool {
	return a.Slug == b.Slug && a.Title == b.Title && a.Body == b.Body && a.Excerpt == b.Excerpt &&
		a.Author == b.Author && slices.Equal(a.Tags, b.Tags) && a.CoverImage == b.CoverImage &&
		a.Status == b.Status && equalTime(a.PublishedAt, b.PublishedAt)
}

func equalTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// settle fills in what follows from the other fields: the publication time
// of an article being published, and the listing order.
func (s *Server) settle(d *articleDoc, now time.Time) {
	if d.Status == StatusPublished && d.PublishedAt == nil {
		t := now
		d.PublishedAt = &t
	}
	d.SortAt = d.CreatedAt
	if d.PublishedAt != nil {
		d.SortAt = *d.PublishedAt
	}
}

// addEvent records the event for d's new version in d itself.
func (s *Server) addEvent(d *articleDoc, key, oldSlug string, now time.Time) {
	if s.opts.Events == nil {
		return
	}
	d.Events.Add(uuid.NewString(), key, shop.ArticleChanged{Article: d.snapshot(), OldSlug: oldSlug, Deleted: d.Deleted, Occurred: now}, now)
}

// announce publishes the events just stored with d (and removes the
// tombstone of a deletion). The caller holds the article's lock. A
// failure is logged: the events wait in the document for the relay.
func (s *Server) announce(ctx context.Context, d *articleDoc) {
	err := s.relay.Flush(ctx, outbox.Doc{ID: d.ID, Version: d.Version, Deleted: d.Deleted, Events: d.Events})
	if err != nil {
		s.opts.Logger.Warn("article: event not published yet; the relay will retry", "article", d.ID, "version", d.Version, "err", err)
	}
}

// PublishPending publishes every event stored with a change but not yet
// confirmed by the broker (the bus was down, or the process stopped right
// after the write) and returns how many it published. RunRelay does this
// by itself; events keep their ids, so a repeat is harmless.
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

// ---- slugs ----

// claimSlug reserves slug for article id, or fails with a conflict when
// another article or another kind of page holds it. It claims the slug
// here first and then checks the services sharing the slug space,
// releasing it when one of them holds it (see shop.SlugSpace.Check).
func (s *Server) claimSlug(ctx context.Context, slug, id string) error {
	if err := s.claimHere(ctx, slug, id); err != nil {
		return err
	}
	if err := s.opts.SharedSlugs.Check(ctx, slug); err != nil {
		s.releaseSlug(ctx, slug, id)
		return err
	}
	return nil
}

// claimHere reserves slug for article id among the articles.
func (s *Server) claimHere(ctx context.Context, slug, id string) error {
	for attempt := 0; attempt < 2; attempt++ {
		_, err := s.slugs.InsertOne(ctx, slugDoc{Slug: slug, ArticleID: id, ClaimedAt: s.now()})
		if err == nil {
			return nil
		}
		if !mongo.IsDuplicateKeyError(err) {
			return shop.StorageFailure(ctx, "article: reserve slug", err)
		}
		var cur slugDoc
		err = s.slugs.FindOne(ctx, bson.D{{Key: "_id", Value: slug}}).Decode(&cur)
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue // released meanwhile
		}
		if err != nil {
			return shop.StorageFailure(ctx, "article: reserve slug", err)
		}
		if cur.ArticleID == id {
			return nil
		}
		// A reservation whose article does not hold the slug, and old enough
		// not to belong to a write in progress, is left over by a crash.
		if s.now().Sub(cur.ClaimedAt) < staleClaim {
			return slugTaken(slug)
		}
		owner, err := s.load(ctx, cur.ArticleID)
		if err == nil && owner.Slug == slug {
			return slugTaken(slug)
		}
		if err != nil && !errors.Is(err, shop.ErrNotFound) {
			return err
		}
		if _, err := docstore.Delete(ctx, s.slugs, slug, docstore.Equal("article_id", cur.ArticleID)); err != nil {
			return shop.StorageFailure(ctx, "article: reserve slug", err)
		}
	}
	return slugTaken(slug)
}

func slugTaken(slug string) error {
	return shop.Conflict("slug is taken by another article", "slug", strconv.Quote(slug)+" is taken")
}

// claimGenerated reserves a slug made from title: the title's slug, or
// that with "-2" or "-3" appended when it is taken, or else with eight
// random hex digits: a bounded number of claims however many articles
// share the title.
func (s *Server) claimGenerated(ctx context.Context, title, id string) (string, error) {
	base := slugBase(title)
	for n := 1; n <= 6; n++ {
		slug := base
		switch {
		case n == 2 || n == 3:
			slug = base + "-" + strconv.Itoa(n)
		case n > 3:
			slug = base + "-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:8]
		}
		err := s.claimSlug(ctx, slug, id)
		if err == nil {
			return slug, nil
		}
		if !errors.Is(err, shop.ErrConflict) {
			return "", err
		}
	}
	return "", shop.Conflict("no free slug for this title; give one")
}

// slugBase is the slug claimGenerated starts from: the title's slug (see
// shop.Slugify), short enough for a suffix of up to eight characters, or
// "article".
func slugBase(title string) string {
	base := shop.Slugify(title)
	if len(base) > MaxSlugLen-9 {
		base = strings.TrimSuffix(shop.WithSlugSuffix(base, "00000000"), "-00000000")
	}
	if base == "" {
		base = "article"
	}
	return base
}

// generatedFrom reports whether claimGenerated could have made slug from base.
func generatedFrom(slug, base string) bool {
	if slug == base {
		return true
	}
	rest, ok := strings.CutPrefix(slug, base+"-")
	return ok && rest != "" && (strings.Trim(rest, "0123456789") == "" || len(rest) == 8 && strings.Trim(rest, "0123456789abcdef") == "")
}

// releaseSlug frees slug if article id holds it.
func (s *Server) releaseSlug(ctx context.Context, slug, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if _, err := docstore.Delete(ctx, s.slugs, slug, docstore.Equal("article_id", id)); err != nil {
		// Left over: claimSlug takes over stale reservations.
		s.opts.Logger.Warn("article: release slug", "slug", slug, "err", err)
	}
}

// ---- reads ----

// load returns the live article with id, or not found.
func (s *Server) load(ctx context.Context, id string) (*articleDoc, error) {
	var d articleDoc
	err := s.articles.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) || err == nil && d.Deleted {
		return nil, shop.NotFound("article")
	}
	if err != nil {
		return nil, shop.StorageFailure(ctx, "article: load", err)
	}
	return &d, nil
}

// public reports whether everybody may see d now.
func (s *Server) public(d *articleDoc) bool {
	return d.Status == StatusPublished && d.PublishedAt != nil && !d.PublishedAt.After(s.opts.Now())
}

// isAdmin reports whether the caller is an admin. A missing or invalid
// token, or an unreachable auth service, makes the caller the public.
func (s *Server) isAdmin(ctx context.Context) bool {
	if shop.TokenFrom(ctx) == "" || s.opts.Auth == nil {
		return false
	}
	p, err := shop.Caller(ctx, s.opts.Auth)
	return err == nil && p.Has(shop.RoleAdmin)
}

// visible returns d if the caller may see it, and not found otherwise.
func (s *Server) visible(ctx context.Context, d *articleDoc) (Article, error) {
	if !s.public(d) && !s.isAdmin(ctx) {
		return Article{}, shop.NotFound("article")
	}
	return d.article(), nil
}

// Get implements Service.
func (s *Server) Get(ctx context.Context, r GetRequest) (Article, error) {
	if err := checkID(r.ID); err != nil {
		return Article{}, err
	}
	d, err := s.load(ctx, r.ID)
	if err != nil {
		return Article{}, err
	}
	return s.visible(ctx, d)
}

// HoldsSlug implements Service: a reservation counts, whatever the
// article's status. A malformed slug is held by nobody.
func (s *Server) HoldsSlug(ctx context.Context, r shop.SlugRequest) (shop.SlugHeld, error) {
	if !validSlug(r.Slug) {
		return shop.SlugHeld{}, nil
	}
	// A find by _id, not a count: FerretDB counts with an aggregation,
	// which reads the whole collection.
	err := s.slugs.FindOne(ctx, bson.D{{Key: "_id", Value: r.Slug}}, options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return shop.SlugHeld{}, nil
	case err != nil:
		return shop.SlugHeld{}, shop.StorageFailure(ctx, "article: find slug", err)
	}
	return shop.SlugHeld{Held: true}, nil
}

// HoldsSlugs implements Service: HoldsSlug for many slugs, with one find.
func (s *Server) HoldsSlugs(ctx context.Context, r shop.SlugsRequest) (shop.SlugsHeld, error) {
	slugs, err := shop.CheckSlugsRequest(r, validSlug)
	if err != nil {
		return shop.SlugsHeld{}, err
	}
	held := make([]string, 0, len(slugs))
	if len(slugs) == 0 {
		return shop.SlugsHeld{Held: held}, nil
	}
	cur, err := s.slugs.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: slugs}}}},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return shop.SlugsHeld{}, shop.StorageFailure(ctx, "article: find slugs", err)
	}
	var found []slugDoc
	if err := cur.All(ctx, &found); err != nil {
		return shop.SlugsHeld{}, shop.StorageFailure(ctx, "article: find slugs", err)
	}
	in := make(map[string]bool, len(found))
	for _, d := range found {
		in[d.Slug] = true
	}
	for _, slug := range slugs {
		if in[slug] {
			held = append(held, slug)
		}
	}
	return shop.SlugsHeld{Held: held}, nil
}

// GetBySlug implements Service.
func (s *Server) GetBySlug(ctx context.Context, r GetBySlugRequest) (Article, error) {
	slug := r.Slug
	if slug == "" || len(slug) > 4*MaxSlugLen || !utf8.ValidString(slug) || strings.ContainsFunc(slug, isControl) {
		return Article{}, shop.Invalid("invalid request", "slug", fmt.Sprintf("must be 1-%d characters without control characters", MaxSlugLen))
	}
	if !validSlug(slug) {
		return Article{}, shop.NotFound("article") // no article can have it
	}
	var sd slugDoc
	err := s.slugs.FindOne(ctx, bson.D{{Key: "_id", Value: slug}}).Decode(&sd)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Article{}, shop.NotFound("article")
	}
	if err != nil {
		return Article{}, shop.StorageFailure(ctx, "article: find slug", err)
	}
	d, err := s.load(ctx, sd.ArticleID)
	if err != nil {
		return Article{}, err
	}
	if d.Slug != slug { // a reservation in progress or left over
		return Article{}, shop.NotFound("article")
	}
	return s.visible(ctx, d)
}

// List implements Service.
func (s *Server) List(ctx context.Context, r ListRequest) (ListResult, error) {
	limit := r.Limit
	switch {
	case limit == 0:
		limit = DefaultLimit
	case limit < 0 || limit > MaxLimit:
		return ListResult{}, shop.Invalid("invalid request", "limit", fmt.Sprintf("must be 0-%d", MaxLimit))
	}
	conds := bson.A{bson.D{{Key: "deleted", Value: bson.D{{Key: "$ne", Value: true}}}}}
	switch r.Status {
	case "", StatusPublished:
		conds = append(conds,
			bson.D{{Key: "status", Value: StatusPublished}},
			bson.D{{Key: "published_at", Value: bson.D{{Key: "$lte", Value: s.opts.Now()}}}})
	case StatusDraft, "any":
		if _, err := shop.RequireAdmin(ctx, s.opts.Auth); err != nil {
			return ListResult{}, err
		}
		if r.Status == StatusDraft {
			conds = append(conds, bson.D{{Key: "status", Value: StatusDraft}})
		}
	default:
		return ListResult{}, shop.Invalid("invalid request", "status", `must be "", "published", "draft" or "any"`)
	}
	if r.Tag != "" {
		tag := shop.Slugify(r.Tag)
		if tag == "" || len(r.Tag) > 4*MaxTagLen {
			return ListResult{}, shop.Invalid("invalid request", "tag", "must hold letters or digits")
		}
		conds = append(conds, bson.D{{Key: "tags", Value: tag}})
	}
	if !r.Since.IsZero() {
		conds = append(conds, bson.D{{Key: "sort_at", Value: bson.D{{Key: "$gte", Value: r.Since}}}})
	}
	if !r.Until.IsZero() {
		conds = append(conds, bson.D{{Key: "sort_at", Value: bson.D{{Key: "$lt", Value: r.Until}}}})
	}
	if r.Cursor != "" {
		at, id, ok := decodeCursor(r.Cursor)
		if !ok {
			return ListResult{}, shop.Invalid("invalid request", "cursor", "is not a cursor this service returned")
		}
		conds = append(conds, bson.D{{Key: "$or", Value: bson.A{
			bson.D{{Key: "sort_at", Value: bson.D{{Key: "$lt", Value: at}}}},
			bson.D{{Key: "sort_at", Value: at}, {Key: "_id", Value: bson.D{{Key: "$lt", Value: id}}}},
		}}})
	}
	opts := options.Find().
		SetSort(bson.D{{Key: "sort_at", Value: -1}, {Key: "_id", Value: -1}}).
		SetLimit(int64(limit + 1)).
		SetProjection(bson.D{{Key: "pending", Value: 0}, {Key: audit.Field, Value: 0}})
	cur, err := s.articles.Find(ctx, bson.D{{Key: "$and", Value: conds}}, opts)
	if err != nil {
		return ListResult{}, shop.StorageFailure(ctx, "article: list", err)
	}
	var docs []articleDoc
	if err := cur.All(ctx, &docs); err != nil {
		return ListResult{}, shop.StorageFailure(ctx, "article: list", err)
	}
	res := ListResult{Articles: make([]Article, 0, min(len(docs), limit))}
	for i := range docs {
		if i == limit {
			last := docs[i-1]
			res.NextCursor = encodeCursor(last.SortAt, last.ID)
			break
		}
		res.Articles = append(res.Articles, docs[i].article())
	}
	return res, nil
}

func encodeCursor(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixMilli(), 10) + ":" + id))
}

func decodeCursor(c string) (time.Time, string, bool) {
	if len(c) > 200 {
		return time.Time{}, "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", false
	}
	ms, id, ok := strings.Cut(string(raw), ":")
	n, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil || checkID(id) != nil {
		return time.Time{}, "", false
	}
	return time.UnixMilli(n).UTC(), id, true
}

// ---- validation ----

// checkID accepts the ids this service makes (UUIDs) and similar: 1 to 64
// letters, digits, '-' and '_'.
func checkID(id string) error {
	if id == "" || len(id) > 64 || strings.ContainsFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) {
		return shop.Invalid("invalid request", "id", "must be an article id")
	}
	return nil
}

func isControl(r rune) bool { return r < ' ' || r == 0x7f || r >= 0x80 && r < 0xa0 }

// normalize trims and validates d's editable fields, reporting every bad
// field at once.
func normalize(d *articleDoc) error {
	var bad []string
	text := func(field string, v *string, max int, required, multiline bool) {
		if !multiline {
			*v = strings.TrimSpace(*v)
		}
		switch {
		case !utf8.ValidString(*v):
			bad = append(bad, field, "must be valid UTF-8")
		case required && strings.TrimSpace(*v) == "":
			bad = append(bad, field, "is required")
		case utf8.RuneCountInString(*v) > max:
			bad = append(bad, field, fmt.Sprintf("must be at most %d characters", max))
		case strings.ContainsFunc(*v, func(r rune) bool {
			return isControl(r) && !(multiline && (r == '\n' || r == '\t' || r == '\r'))
		}):
			bad = append(bad, field, "must not contain control characters")
		}
	}
	text("title", &d.Title, MaxTitleLen, true, false)
	text("excerpt", &d.Excerpt, MaxExcerptLen, false, true)
	text("author", &d.Author, MaxAuthorLen, false, false)
	if len(d.Body) > MaxBodyLen {
		bad = append(bad, "body", fmt.Sprintf("must be at most %d bytes", MaxBodyLen))
	} else {
		text("body", &d.Body, MaxBodyLen, false, true)
	}
	d.Excerpt = strings.TrimSpace(d.Excerpt)
	d.Status = strings.TrimSpace(d.Status)
	if d.Status != StatusDraft && d.Status != StatusPublished {
		bad = append(bad, "status", `must be "draft" or "published"`)
	}
	if len(d.Tags) > MaxTags {
		bad = append(bad, "tags", fmt.Sprintf("must be at most %d", MaxTags))
	} else {
		tags := make([]string, 0, len(d.Tags))
		for i, t := range d.Tags {
			n := shop.Slugify(t)
			switch {
			case n == "" || len(t) > 4*MaxTagLen:
				bad = append(bad, fmt.Sprintf("tags[%d]", i), "must hold letters or digits")
			case len(n) > MaxTagLen:
				bad = append(bad, fmt.Sprintf("tags[%d]", i), fmt.Sprintf("must be at most %d characters", MaxTagLen))
			case !slices.Contains(tags, n):
				tags = append(tags, n)
			}
		}
		d.Tags = tags
	}
	d.CoverImage = strings.TrimSpace(d.CoverImage)
	if d.CoverImage != "" && !imageURL(d.CoverImage) {
		bad = append(bad, "cover_image", "must be an http(s) URL or a path starting with '/'")
	}
	if d.PublishedAt != nil && (d.PublishedAt.Year() < 1970 || d.PublishedAt.Year() > 9999) {
		bad = append(bad, "published_at", "must be between 1970 and 9999")
	}
	if len(bad) > 0 {
		return shop.Invalid("invalid article", bad...)
	}
	return nil
}

// imageURL accepts absolute http(s) URLs and absolute paths.
func imageURL(s string) bool {
	if len(s) > MaxURLLen || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '\\' }) {
		return false
	}
	if strings.HasPrefix(s, "/") {
		return !strings.HasPrefix(s, "//")
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
