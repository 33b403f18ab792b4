package seo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/transport"
)

var updateUpsert = options.UpdateOne().SetUpsert(true)

// The event patterns SEO subscribes to.
var eventPatterns = []string{"product.product.*", "category.category.*", "article.article.*"}

// Subscribe delivers the product, category and article events to srv on
// the durable subscription "seo". A repeat is ignored by its version (see
// HandleEvent), not looked up in a store of handled event ids, which would
// cost two commands for every event to spare one for a rare repeat.
// Close the result to stop.
func Subscribe(bus transport.Bus, srv *Server, opts ...transport.ConsumerOption) (transport.Subscription, error) {
	var subs multiSub
	for _, p := range eventPatterns {
		sub, err := bus.Subscribe(ServiceName, p, srv, transport.BatchDefaults(EventBatch, opts)...)
		if err != nil {
			_ = subs.Close()
			return nil, err
		}
		subs = append(subs, sub)
	}
	return subs, nil
}

// multiSub closes several subscriptions as one.
type multiSub []transport.Subscription

func (m multiSub) Close() error {
	var errs []error
	for _, s := range m {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// entityUpdate is what an event says about an entity.
type entityUpdate struct {
	kind        Kind
	id          string
	version     int64
	deleted     bool
	slug        string
	oldSlug     string
	published   bool
	visibleFrom *time.Time
	title       string
	description string
	image       string
	lastMod     time.Time
}

// HandleEvent applies a product, category or article event to the
// metadata defaults. Events whose Version is not newer than the one
// applied are ignored, so redeliveries are harmless. A body that cannot be
// decoded, or lacks an id or version, is an error: the bus retries it and
// then parks it in the dead-letter queue. Events of other kinds are ignored.
func (s *Server) HandleEvent(ctx context.Context, ev transport.Event) error {
	u, err := s.update(ev)
	if err != nil || u == nil {
		return err
	}
	return s.apply(ctx, *u)
}

// update reads what ev says about an entity: nil for an event of another
// kind (ignored), an error for one that is malformed.
func (s *Server) update(ev transport.Event) (*entityUpdate, error) {
	occurred := func(t time.Time) time.Time {
		switch {
		case !t.IsZero():
			return t
		case !ev.Time.IsZero():
			return ev.Time
		}
		return s.opts.Now()
	}
	var u entityUpdate
	switch {
	case transport.MatchTopic("product.product.*", ev.Key):
		var e shop.ProductChanged
		if err := decodeEvent(ev, &e); err != nil {
			return nil, err
		}
		p := e.Product
		u = entityUpdate{kind: KindProduct, id: p.ID, version: p.Version, slug: p.Slug, oldSlug: e.OldSlug,
			deleted: e.Deleted || ev.Key == shop.EventProductDeleted, published: p.Status == shop.StatusPublished,
			title: p.Title, description: p.Description, lastMod: p.UpdatedAt}
		if u.lastMod.IsZero() {
			u.lastMod = occurred(e.Occurred)
		}
		if len(p.Images) > 0 && validLink(p.Images[0]) {
			u.image = p.Images[0]
		}
	case transport.MatchTopic("category.category.*", ev.Key):
		var e shop.CategoryChanged
		if err := decodeEvent(ev, &e); err != nil {
			return nil, err
		}
		c := e.Category
		u = entityUpdate{kind: KindCategory, id: c.ID, version: c.Version, slug: c.Slug, oldSlug: e.OldSlug,
			deleted: e.Deleted || ev.Key == shop.EventCategoryDeleted, published: true,
			title: c.Name, description: c.Description, lastMod: occurred(e.Occurred)}
	case transport.MatchTopic("article.article.*", ev.Key):
		var e shop.ArticleChanged
		if err := decodeEvent(ev, &e); err != nil {
			return nil, err
		}
		a := e.Article
		u = entityUpdate{kind: KindArticle, id: a.ID, version: a.Version, slug: a.Slug, oldSlug: e.OldSlug,
			deleted: e.Deleted || ev.Key == shop.EventArticleDeleted, published: a.Status == shop.StatusPublished,
			title: a.Title, description: a.Excerpt, lastMod: occurred(e.Occurred)}
		if u.published && !a.PublishedAt.IsZero() {
			t := a.PublishedAt.UTC()
			u.visibleFrom = &t
		}
	default:
		s.opts.Logger.Debug("seo: ignoring event", "key", ev.Key, "id", ev.ID)
		return nil, nil
	}
	if msg := checkID(u.id); msg != "" || u.version <= 0 {
		return nil, fmt.Errorf("seo: malformed %s event %s: needs an id and a positive version", ev.Key, ev.ID)
	}
	if !u.deleted && (u.slug == "" || checkPath(s.prefix(u.kind)+u.slug) != "") {
		return nil, fmt.Errorf("seo: malformed %s event %s: bad slug %q", ev.Key, ev.ID, u.slug)
	}
	return &u, nil
}

// decodeEvent decodes an event body, with an error naming the event.
func decodeEvent(ev transport.Event, v any) error {
	if err := json.Unmarshal(ev.Body, v); err != nil {
		return fmt.Errorf("seo: undecodable %s event %s: %w", ev.Key, ev.ID, err)
	}
	return nil
}

func (s *Server) prefix(k Kind) string {
	switch k {
	case KindProduct:
		return s.opts.ProductPrefix
	case KindCategory:
		return s.opts.CategoryPrefix
	case KindArticle:
		return s.opts.ArticlePrefix
	}
	return "/"
}

// apply stores what an event says, unless a newer event was applied.
func (s *Server) apply(ctx context.Context, u entityUpdate) error {
	key := entityKey(u.kind, u.id)
	for range maxWriteAttempts {
		prev, err := s.load(ctx, key)
		if err != nil {
			return err
		}
		if prev != nil && prev.Version >= u.version {
			return nil // already applied, or older than what was
		}
		d := &entityDoc{ID: key, Kind: u.kind, EntityID: u.id}
		if prev != nil {
			cp := *prev
			d = &cp
		}
		d.Version = u.version
		d.UpdatedAt = s.now()
		d.LastMod = u.lastMod.UTC().Truncate(time.Millisecond)
		if u.deleted {
			// Keep the path: it answers not found now. Keep the explicit
			// metadata too, in case the entity comes back.
			d.Deleted, d.Published = true, false
		} else {
			path := s.prefix(u.kind) + u.slug
			// Paths first: a crash after them leaves paths pointing at the
			// entity, which the event's redelivery completes.
			if u.oldSlug != "" && u.oldSlug != u.slug {
				if old := s.prefix(u.kind) + u.oldSlug; checkPath(old) == "" {
					if err := s.keepPath(ctx, old, key); err != nil {
						return err
					}
				}
			}
			if path != d.Path {
				if err := s.claimPath(ctx, path, key, true); err != nil {
					return err
				}
			}
			s.fill(d, u)
		}
		ok, err := s.save(ctx, prev, d)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
	}
	return fmt.Errorf("seo: %s: too many concurrent updates", key)
}

// fill sets what u says of a live entity in d: its path, visibility and
// default metadata.
func (s *Server) fill(d *entityDoc, u entityUpdate) {
	d.Path = s.prefix(u.kind) + u.slug
	d.Deleted = false
	d.Published = u.published
	d.VisibleFrom = u.visibleFrom
	d.Defaults = fieldsDoc{
		Title:       trimText(plainText(u.title)+s.opts.TitleSuffix, MaxTitleLen),
		Description: trimText(plainText(u.description), DefaultDescLen),
		OGImage:     u.image,
	}
}

// plainText turns a description that may hold HTML tags or Markdown
// markers into one line of text.
func plainText(s string) string {
	var b strings.Builder
	inTag := false
	for _, r := range s {
		switch {
		case r == '<':
			inTag = true
		case r == '>' && inTag:
			inTag = false
			b.WriteByte(' ')
		case inTag:
		case r == '*' || r == '`' || r == '#' || r == '\uFFFD':
		case unicode.IsSpace(r) || unicode.IsControl(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return strings.Join(strings.Fields(html.UnescapeString(b.String())), " ")
}

// trimText shortens s to at most max characters: it cuts at the last word
// boundary that leaves room for an ellipsis, and appends one.
func trimText(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	runes := []rune(s)
	cut := string(runes[:max-1]) // room for "…"
	// Unless the cut falls at a word boundary already, drop the cut word.
	if !unicode.IsSpace(runes[max-1]) {
		if i := strings.LastIndexFunc(cut, unicode.IsSpace); i > 0 {
			cut = cut[:i]
		}
	}
	cut = strings.TrimRightFunc(cut, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsPunct(r) })
	return cut + "…"
}
