package seo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/shopbus/shopbus/internal/audit"
	"github.com/shopbus/shopbus/internal/docstore"
	"github.com/shopbus/shopbus/internal/idem"
	"github.com/shopbus/shopbus/internal/indexes"
	"github.com/shopbus/shopbus/shop"
)

// Collection names in the service's database.
const (
	collEntities = "entities" // _id "<kind>:<entity id>"
	collPaths    = "paths"    // _id the path; points at an entity
	// collRedirects (redirects.go) holds the admin's redirects.
)

// Sitemap defaults.
const (
	// DefaultSitemapMaxURLs is the protocol's limit of URLs per file.
	DefaultSitemapMaxURLs = 50_000
	// DefaultSitemapMaxBytes keeps one file well inside a bus message
	// (transport.DefaultMaxMessageSize) once base64-encoded in the reply.
	DefaultSitemapMaxBytes = 512 << 10
	// maxSitemapBytes is the protocol's limit of bytes per file.
	maxSitemapBytes = 50 << 20
)

// maxWriteAttempts bounds the retries of a write that races another one.
const maxWriteAttempts = 8

// Options configure a Server. The zero value works: paths get the default
// prefixes and canonical URLs are paths; the sitemap needs BaseURL.
type Options struct {
	// Auth authenticates the caller's session token for writes and for
	// reading drafts' metadata (usually auth's bus client).
	Auth shop.Authenticator
	// BaseURL is the storefront's absolute URL, e.g. "https://shop.example"
	// (a trailing slash is ignored). Canonical URLs and the sitemap use it.
	BaseURL string
	// ProductPrefix, CategoryPrefix and ArticlePrefix start the paths of
	// products, categories and articles; defaults "/products/",
	// "/categories/" and "/blog/".
	ProductPrefix  string
	CategoryPrefix string
	ArticlePrefix  string
	// TitleSuffix is appended to default titles, e.g. " | Example Shop".
	TitleSuffix string
	// SitemapMaxURLs is the most URLs in one sitemap file;
	// DefaultSitemapMaxURLs (the protocol's limit) when 0.
	SitemapMaxURLs int
	// SitemapMaxBytes is the largest sitemap file; DefaultSitemapMaxBytes
	// when 0.
	SitemapMaxBytes int
	// SitemapMaxAge bounds how stale the sitemap may be with respect to
	// writes made by other replicas of the service (DefaultSitemapMaxAge
	// when 0). The sitemap is served from memory: built once, kept up to
	// date with this replica's own writes, and rebuilt in the background
	// when a request finds it older than this (that request and those
	// during the rebuild get the previous one).
	SitemapMaxAge time.Duration
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
	// Logger logs events that are ignored; slog.Default() when nil.
	Logger *slog.Logger
}

// Server is the MongoDB implementation of Service. It is also the
// transport.EventHandler of the events it learns defaults from.
type Server struct {
	entities *mongo.Collection
	paths    *mongo.Collection
	opts     Options
	// requests holds the requests handled (see package idem).
	requests *idem.Store
	// sitemap is the sitemap, kept in memory.
	sitemap *sitemapCache
	// retired keeps the audit logs of deleted pages and redirects (see
	// History).
	retired audit.Retired
}

var _ Service = (*Server)(nil)

// New returns a Server keeping its metadata in db. It fails if the options
// are malformed.
func New(db *mongo.Database, opts Options) (*Server, error) {
	if db == nil {
		return nil, errors.New("seo: nil database")
	}
	if opts.BaseURL != "" {
		u, err := url.Parse(opts.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("seo: BaseURL %q must be an absolute http(s) URL", opts.BaseURL)
		}
		opts.BaseURL = strings.TrimRight(opts.BaseURL, "/")
	}
	for _, p := range []struct {
		v   *string
		def string
	}{{&opts.ProductPrefix, "/products/"}, {&opts.CategoryPrefix, "/categories/"}, {&opts.ArticlePrefix, "/blog/"}} {
		if *p.v == "" {
			*p.v = p.def
		}
		if !strings.HasPrefix(*p.v, "/") || checkPath(*p.v) != "" {
			return nil, fmt.Errorf("seo: path prefix %q must be a path starting with '/'", *p.v)
		}
		if !strings.HasSuffix(*p.v, "/") {
			*p.v += "/"
		}
	}
	switch {
	case opts.SitemapMaxURLs == 0:
		opts.SitemapMaxURLs = DefaultSitemapMaxURLs
	case opts.SitemapMaxURLs < 0 || opts.SitemapMaxURLs > DefaultSitemapMaxURLs:
		return nil, fmt.Errorf("seo: SitemapMaxURLs must be 1-%d", DefaultSitemapMaxURLs)
	}
	switch {
	case opts.SitemapMaxBytes == 0:
		opts.SitemapMaxBytes = DefaultSitemapMaxBytes
	case opts.SitemapMaxBytes < 4096 || opts.SitemapMaxBytes > maxSitemapBytes:
		return nil, fmt.Errorf("seo: SitemapMaxBytes must be 4096-%d", maxSitemapBytes)
	}
	switch {
	case opts.SitemapMaxAge == 0:
		opts.SitemapMaxAge = DefaultSitemapMaxAge
	case opts.SitemapMaxAge < 0:
		return nil, errors.New("seo: negative SitemapMaxAge")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{entities: db.Collection(collEntities), paths: db.Collection(collPaths), opts: opts,
		requests: idem.New(db, idem.Options{Logger: opts.Logger}), retired: audit.NewRetired(db)}
	s.sitemap = &sitemapCache{s: s, items: map[string]*sitemapItem{}, dirty: map[string]*sitemapItem{}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The sitemap scans published entities; lookups are all by _id.
	if err := indexes.Ensure(ctx, s.entities, bson.D{{Key: "published", Value: 1}}); err != nil {
		return nil, fmt.Errorf("seo: %w", err)
	}
	return s, nil
}

// entityDoc is what the service knows about one entity.
type entityDoc struct {
	ID       string `bson:"_id"` // entityKey(kind, id)
	Kind     Kind   `bson:"kind"`
	EntityID string `bson:"entity_id"`
	// Path is the current path, "" while unknown.
	Path string `bson:"path"`
	// Version is the Version of the last event applied (0: none yet).
	Version   int64 `bson:"version"`
	Deleted   bool  `bson:"deleted"`
	Published bool  `bson:"published"`
	// VisibleFrom delays the visibility of a published article.
	VisibleFrom *time.Time `bson:"visible_from,omitempty"`
	Defaults    fieldsDoc  `bson:"defaults"`
	Explicit    fieldsDoc  `bson:"explicit"`
	// LastMod is when the entity last changed (the sitemap's lastmod).
	LastMod   time.Time `bson:"last_mod"`
	UpdatedAt time.Time `bson:"updated_at"`
	// Rev grows with every write of this document (optimistic locking).
	Rev int64 `bson:"rev"`
	// Log is the audit log of the admin's writes of the overrides,
	// written with each of them (see internal/audit and History).
	audit.Log `bson:",inline"`
}

// fieldsDoc holds metadata fields; "" means unset.
type fieldsDoc struct {
	Title         string `bson:"title,omitempty"`
	Description   string `bson:"description,omitempty"`
	Canonical     string `bson:"canonical,omitempty"`
	Robots        string `bson:"robots,omitempty"`
	OGTitle       string `bson:"og_title,omitempty"`
	OGDescription string `bson:"og_description,omitempty"`
	OGType        string `bson:"og_type,omitempty"`
	OGURL         string `bson:"og_url,omitempty"`
	OGImage       string `bson:"og_image,omitempty"`
}

// pathDoc points a path at an entity. The entity lives there when its
// current Path is this path, and redirects from it otherwise.
type pathDoc struct {
	Path      string    `bson:"_id"`
	Entity    string    `bson:"entity"` // entityKey
	UpdatedAt time.Time `bson:"updated_at"`
}

func entityKey(kind Kind, id string) string { return string(kind) + ":" + id }

func (s *Server) now() time.Time { return s.opts.Now().UTC().Truncate(time.Millisecond) }

// visible reports whether the public may see d's metadata.
func (s *Server) visible(d *entityDoc) bool {
	return !d.Deleted && d.Published && d.Path != "" && (d.VisibleFrom == nil || !d.VisibleFrom.After(s.opts.Now()))
}

// absolute makes a path absolute with the base URL, if there is one.
func (s *Server) absolute(u string) string {
	if strings.HasPrefix(u, "/") && s.opts.BaseURL != "" {
		return s.opts.BaseURL + escapePath(u)
	}
	return u
}

// escapePath percent-escapes each segment of a path.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return strings.Join(segs, "/")
}

// metadata merges d's explicit fields over its defaults.
func (s *Server) metadata(d *entityDoc) Metadata {
	e, def := d.Explicit, d.Defaults
	pick := func(explicit, fallback string) string {
		if explicit != "" {
			return explicit
		}
		return fallback
	}
	m := Metadata{
		Kind: d.Kind, EntityID: d.EntityID, Path: d.Path,
		Title:       pick(e.Title, def.Title),
		Description: pick(e.Description, def.Description),
		Robots:      pick(e.Robots, "index, follow"),
		Published:   s.visible(d),
		UpdatedAt:   d.UpdatedAt.UTC(),
	}
	if e.Canonical != "" {
		m.Canonical = s.absolute(e.Canonical)
	} else if d.Path != "" {
		m.Canonical = s.absolute(d.Path)
	}
	ogType := "website"
	switch d.Kind {
	case KindProduct:
		ogType = "product"
	case KindArticle:
		ogType = "article"
	}
	m.OpenGraph = OpenGraph{
		Title:       pick(e.OGTitle, m.Title),
		Description: pick(e.OGDescription, m.Description),
		Type:        pick(e.OGType, ogType),
		URL:         pick(s.absolute(e.OGURL), m.Canonical),
		Image:       pick(s.absolute(e.OGImage), s.absolute(def.OGImage)),
	}
	for _, f := range []struct{ name, v string }{
		{"title", e.Title}, {"description", e.Description}, {"canonical", e.Canonical}, {"robots", e.Robots},
		{"og.title", e.OGTitle}, {"og.description", e.OGDescription}, {"og.type", e.OGType},
		{"og.url", e.OGURL}, {"og.image", e.OGImage},
	} {
		if f.v != "" {
			m.Explicit = append(m.Explicit, f.name)
		}
	}
	return m
}

// load returns the entity document with key, or nil.
func (s *Server) load(ctx context.Context, key string) (*entityDoc, error) {
	var d entityDoc
	err := s.entities.FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, shop.StorageFailure(ctx, "seo: load "+key, err)
	}
	return &d, nil
}

// save writes d: an insert when prev is nil, else a replacement of prev's
// revision. It reports false when another write got there first.
func (s *Server) save(ctx context.Context, prev, d *entityDoc) (bool, error) {
	if prev == nil {
		d.Rev = 1
		_, err := s.entities.InsertOne(ctx, d)
		if mongo.IsDuplicateKeyError(err) {
			return false, nil
		}
		if err != nil {
			return false, shop.StorageFailure(ctx, "seo: insert "+d.ID, err)
		}
		s.sitemap.note(d)
		return true, nil
	}
	d.Rev = prev.Rev + 1
	replaced, err := docstore.Replace(ctx, s.entities, d.ID, d, false, docstore.Equal("rev", prev.Rev))
	if err != nil {
		return false, shop.StorageFailure(ctx, "seo: update "+d.ID, err)
	}
	if replaced {
		s.sitemap.note(d)
	}
	return replaced, nil
}

// isAdmin reports whether the caller is an admin; any failure (no token,
// bad token, auth unreachable) means no.
func (s *Server) isAdmin(ctx context.Context) bool {
	if shop.TokenFrom(ctx) == "" || s.opts.Auth == nil {
		return false
	}
	p, err := shop.Caller(ctx, s.opts.Auth)
	return err == nil && p.Has(shop.RoleAdmin)
}

// ---- reads ----

// Get implements Service.
func (s *Server) Get(ctx context.Context, r GetRequest) (Metadata, error) {
	if err := checkKey(r.Kind, r.EntityID); err != nil {
		return Metadata{}, err
	}
	d, err := s.load(ctx, entityKey(r.Kind, r.EntityID))
	if err != nil {
		return Metadata{}, err
	}
	if d == nil || d.Deleted || !s.visible(d) && !s.isAdmin(ctx) {
		return Metadata{}, shop.NotFound("metadata")
	}
	return s.metadata(d), nil
}

// Resolve implements Service.
func (s *Server) Resolve(ctx context.Context, r ResolveRequest) (Resolution, error) {
	p := r.Path
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	if len(p) > 1 {
		p = strings.TrimRight(p, "/")
		if p == "" {
			p = "/"
		}
	}
	if msg := checkPath(p); msg != "" {
		return Resolution{}, shop.Invalid("invalid request", "path", msg)
	}
	// In order: the entity living at p, the admin's redirect from p (see
	// redirects.go), the automatic redirect of an entity's old path.
	var pd pathDoc
	var d *entityDoc
	err := s.paths.FindOne(ctx, bson.D{{Key: "_id", Value: p}}).Decode(&pd)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
	case err != nil:
		return Resolution{}, shop.StorageFailure(ctx, "seo: resolve", err)
	default:
		if d, err = s.load(ctx, pd.Entity); err != nil {
			return Resolution{}, err
		}
		if d == nil || d.Deleted || d.Path == "" || !s.visible(d) && !s.isAdmin(ctx) {
			d = nil
		}
	}
	if d != nil && d.Path == p {
		m := s.metadata(d)
		return Resolution{Metadata: &m}, nil
	}
	rd, err := s.redirectAt(ctx, p)
	if err != nil {
		return Resolution{}, err
	}
	if rd != nil {
		return Resolution{Redirect: rd.To, Status: rd.Status}, nil
	}
	if d != nil {
		return Resolution{Redirect: d.Path, Status: StatusMovedPermanently}, nil
	}
	return Resolution{}, shop.NotFound("path")
}

// ---- writes ----

// Put implements Service.
func (s *Server) Put(ctx context.Context, r PutRequest) (Metadata, error) {
	p, err := shop.RequireAdmin(ctx, s.opts.Auth)
	if err != nil {
		return Metadata{}, err
	}
	ctx = audit.WithActor(ctx, p)
	return idem.Do(ctx, s.requests, MethodPut, r, func(ctx context.Context) (Metadata, error) {
		return s.put(ctx, r)
	})
}

func (s *Server) put(ctx context.Context, r PutRequest) (Metadata, error) {
	if err := checkKey(r.Kind, r.EntityID); err != nil {
		return Metadata{}, err
	}
	fields, err := checkFields(r)
	if err != nil {
		return Metadata{}, err
	}
	key := entityKey(r.Kind, r.EntityID)
	path := r.Path
	if path != "" {
		if r.Kind != KindPage {
			return Metadata{}, shop.Invalid("invalid metadata", "path", "only pages take a path; other kinds follow their slug")
		}
		if msg := checkPath(path); msg != "" {
			return Metadata{}, shop.Invalid("invalid metadata", "path", msg)
		}
	}
	for range maxWriteAttempts {
		prev, err := s.load(ctx, key)
		if err != nil {
			return Metadata{}, err
		}
		d := &entityDoc{ID: key, Kind: r.Kind, EntityID: r.EntityID}
		if prev != nil {
			cp := *prev
			d = &cp
		}
		now := s.now()
		d.Explicit = fields
		d.UpdatedAt = now
		if r.Kind == KindPage {
			if path == "" && (d.Path == "" || d.Deleted) {
				return Metadata{}, shop.Invalid("invalid metadata", "path", "is required for a new page")
			}
			if path != "" && path != d.Path {
				if err := s.claimPath(ctx, path, key, false); err != nil {
					return Metadata{}, err
				}
				d.Path = path
			}
			d.Published, d.Deleted = true, false
			d.LastMod = now
		}
		if fields := overrideChanges(prev, d); len(fields) > 0 {
			d.Record(ctx, MethodPut, now, fields)
		}
		ok, err := s.save(ctx, prev, d)
		if err != nil {
			return Metadata{}, err
		}
		if ok {
			return s.metadata(d), nil
		}
	}
	return Metadata{}, shop.Conflict("metadata is being changed concurrently; try again")
}

// Delete implements Service.
func (s *Server) Delete(ctx context.Context, r DeleteRequest) (Deleted, error) {
	p, err := shop.RequireAdmin(ctx, s.opts.Auth)
	if err != nil {
		return Deleted{}, err
	}
	ctx = audit.WithActor(ctx, p)
	return idem.Do(ctx, s.requests, MethodDelete, r, func(ctx context.Context) (Deleted, error) {
		return s.delete(ctx, r)
	})
}

func (s *Server) delete(ctx context.Context, r DeleteRequest) (Deleted, error) {
	if err := checkKey(r.Kind, r.EntityID); err != nil {
		return Deleted{}, err
	}
	key := entityKey(r.Kind, r.EntityID)
	for range maxWriteAttempts {
		prev, err := s.load(ctx, key)
		if err != nil {
			return Deleted{}, err
		}
		if prev == nil || (r.Kind == KindPage && prev.Deleted) || (r.Kind != KindPage && prev.Explicit == (fieldsDoc{})) {
			return Deleted{}, shop.NotFound("explicit metadata")
		}
		d := *prev
		d.Explicit = fieldsDoc{}
		d.UpdatedAt = s.now()
		if r.Kind == KindPage {
			// A tombstone: its paths answer not found, and its id and
			// paths can be written again. Its log is kept first, with
			// the delete on top (see audit.Retired).
			d.Deleted, d.Published = true, false
			d.Record(ctx, MethodDelete, d.UpdatedAt, nil)
			if err := s.retired.Keep(ctx, HistoryOverride, key, d.Log); err != nil {
				return Deleted{}, shop.StorageFailure(ctx, "seo: keep the history of "+key, err)
			}
		} else {
			d.Record(ctx, MethodDelete, d.UpdatedAt, overrideChanges(prev, &d))
		}
		ok, err := s.save(ctx, prev, &d)
		if err != nil {
			return Deleted{}, err
		}
		if ok {
			return Deleted(r), nil
		}
	}
	return Deleted{}, shop.Conflict("metadata is being changed concurrently; try again")
}

// overrideView is what the audit log compares of an entity's overrides:
// the explicit fields and, for a page, its path.
type overrideView struct {
	Path     string    `bson:"path,omitempty"`
	Explicit fieldsDoc `bson:",inline"`
}

// overrideChanges returns the fields of the overrides that next changes
// from prev (nil, or a deleted page: nothing): the explicit fields by
// their stored names ("title", "og_title", ...) and a page's "path".
func overrideChanges(prev, next *entityDoc) []string {
	view := func(d *entityDoc) any {
		if d == nil || d.Kind == KindPage && d.Deleted {
			return nil
		}
		v := overrideView{Explicit: d.Explicit}
		if d.Kind == KindPage {
			v.Path = d.Path
		}
		return v
	}
	return audit.Changed(view(prev), view(next))
}

// History implements Service.
func (s *Server) History(ctx context.Context, r shop.HistoryRequest) (shop.History, error) {
	if _, err := shop.RequireAdmin(ctx, s.opts.Auth); err != nil {
		return shop.History{}, err
	}
	switch r.Kind {
	case "", HistoryOverride:
		kind, id, _ := strings.Cut(r.ID, ":")
		if checkKey(Kind(kind), id) != nil {
			return shop.History{}, shop.Invalid("invalid history request", "id", `must be "<kind>:<entity id>", e.g. "page:about"`)
		}
		return audit.Read(ctx, s.entities, s.retired, HistoryOverride, r.ID)
	case HistoryRedirect:
		from, msg := normalizePath(r.ID)
		if msg != "" {
			return shop.History{}, shop.Invalid("invalid history request", "id", msg)
		}
		return audit.Read(ctx, s.redirectColl(), s.retired, HistoryRedirect, from)
	}
	return shop.History{}, shop.Invalid("invalid history request", "kind", `must be empty, "`+HistoryOverride+`" or "`+HistoryRedirect+`"`)
}

// claimPath points path at the entity key. With takeover, it takes the
// path from whatever held it (the owning service decides slugs); without,
// it fails with a conflict when another live entity lives there.
func (s *Server) claimPath(ctx context.Context, path, key string, takeover bool) error {
	if !takeover {
		var pd pathDoc
		err := s.paths.FindOne(ctx, bson.D{{Key: "_id", Value: path}}).Decode(&pd)
		if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
			return shop.StorageFailure(ctx, "seo: claim path", err)
		}
		if err == nil && pd.Entity != key {
			owner, err := s.load(ctx, pd.Entity)
			if err != nil {
				return err
			}
			if owner != nil && !owner.Deleted && owner.Path == path {
				return shop.Conflict("path is taken", "path", strconv.Quote(path)+" belongs to "+pd.Entity)
			}
		}
	}
	_, err := s.paths.UpdateOne(ctx, bson.D{{Key: "_id", Value: path}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "entity", Value: key}, {Key: "updated_at", Value: s.now()}}}},
		updateUpsert)
	if err != nil {
		return shop.StorageFailure(ctx, "seo: claim path", err)
	}
	return nil
}

// keepPath points an old path at the entity key unless something else
// holds it already.
func (s *Server) keepPath(ctx context.Context, path, key string) error {
	_, err := s.paths.InsertOne(ctx, pathDoc{Path: path, Entity: key, UpdatedAt: s.now()})
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return shop.StorageFailure(ctx, "seo: keep old path", err)
	}
	return nil
}

// ---- validation ----

func checkKey(kind Kind, id string) error {
	var bad []string
	switch kind {
	case KindProduct, KindCategory, KindArticle, KindPage:
	default:
		bad = append(bad, "kind", `must be "product", "category", "article" or "page"`)
	}
	if msg := checkID(id); msg != "" {
		bad = append(bad, "entity_id", msg)
	}
	if len(bad) > 0 {
		return shop.Invalid("invalid request", bad...)
	}
	return nil
}

// checkID accepts 1 to MaxIDLen letters, digits, '-', '_' and '.'.
func checkID(id string) string {
	if id == "" || len(id) > MaxIDLen || strings.ContainsFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}) {
		return fmt.Sprintf("must be 1-%d letters, digits, '-', '_' or '.'", MaxIDLen)
	}
	return ""
}

// checkPath returns what is wrong with a path, or "".
func checkPath(p string) string {
	switch {
	case p == "" || p[0] != '/' || strings.HasPrefix(p, "//"):
		return "must start with a single '/'"
	case len(p) > MaxPathLen:
		return fmt.Sprintf("must be at most %d bytes", MaxPathLen)
	case !utf8.ValidString(p) || strings.ContainsFunc(p, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '\\' || r == '?' || r == '#' }):
		return "must not contain spaces, control characters, '\\', '?' or '#'"
	}
	return ""
}

// checkFields validates explicit metadata.
func checkFields(r PutRequest) (fieldsDoc, error) {
	var bad []string
	text := func(field string, v string, max int) string {
		v = strings.TrimSpace(v)
		switch {
		case !utf8.ValidString(v):
			bad = append(bad, field, "must be valid UTF-8")
		case utf8.RuneCountInString(v) > max:
			bad = append(bad, field, fmt.Sprintf("must be at most %d characters", max))
		case strings.ContainsFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f }):
			bad = append(bad, field, "must not contain control characters")
		}
		return v
	}
	link := func(field, v string) string {
		v = strings.TrimSpace(v)
		if v != "" && !validLink(v) {
			bad = append(bad, field, "must be an http(s) URL or a path starting with '/'")
		}
		return v
	}
	f := fieldsDoc{
		Title:         text("title", r.Title, MaxTitleLen),
		Description:   text("description", r.Description, MaxDescriptionLen),
		Canonical:     link("canonical", r.Canonical),
		OGTitle:       text("open_graph.title", r.OpenGraph.Title, MaxTitleLen),
		OGDescription: text("open_graph.description", r.OpenGraph.Description, MaxDescriptionLen),
		OGURL:         link("open_graph.url", r.OpenGraph.URL),
		OGImage:       link("open_graph.image", r.OpenGraph.Image),
	}
	f.OGType = strings.TrimSpace(r.OpenGraph.Type)
	if len(f.OGType) > 50 || strings.ContainsFunc(f.OGType, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == ':')
	}) {
		bad = append(bad, "open_graph.type", "must be an Open Graph type such as website, article or product")
	}
	robots, msg := normalizeRobots(r.Robots)
	if msg != "" {
		bad = append(bad, "robots", msg)
	}
	f.Robots = robots
	if len(bad) > 0 {
		return fieldsDoc{}, shop.Invalid("invalid metadata", bad...)
	}
	return f, nil
}

// validLink accepts absolute http(s) URLs and absolute paths.
func validLink(s string) bool {
	if len(s) > MaxURLLen || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '\\' }) {
		return false
	}
	if strings.HasPrefix(s, "/") {
		return !strings.HasPrefix(s, "//") && utf8.ValidString(s)
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

var robotsWords = []string{"all", "index", "noindex", "follow", "nofollow", "none", "noarchive", "nosnippet",
	"noimageindex", "notranslate", "indexifembedded", "noodp", "noydir"}

// normalizeRobots validates a robots directive list and writes it as
// lower-case directives separated by ", ".
func normalizeRobots(s string) (string, string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", ""
	}
	if len(s) > 200 {
		return "", "must be at most 200 characters"
	}
	var out []string
	for _, d := range strings.Split(strings.ToLower(s), ",") {
		d = strings.TrimSpace(d)
		name, value, hasValue := strings.Cut(d, ":")
		ok := false
		switch {
		case !hasValue:
			ok = slices.Contains(robotsWords, d)
		case name == "max-snippet" || name == "max-video-preview":
			n, err := strconv.Atoi(strings.TrimSpace(value))
			ok = err == nil && n >= -1
			d = name + ":" + strconv.Itoa(n)
		case name == "max-image-preview":
			v := strings.TrimSpace(value)
			ok = v == "none" || v == "standard" || v == "large"
			d = name + ":" + v
		}
		if !ok {
			return "", "unknown directive " + strconv.Quote(d) + "; use index, noindex, follow, nofollow, none, noarchive, nosnippet, max-snippet:N, ..."
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return strings.Join(out, ", "), ""
}

// noindex reports whether effective robots directives keep a URL out of
// search indexes.
func noindex(robots string) bool {
	for _, d := range strings.Split(robots, ",") {
		if d = strings.TrimSpace(d); d == "noindex" || d == "none" {
			return true
		}
	}
	return false
}
