package seo

// The admin's redirects.
//
// A redirect is a document of the "redirects" collection keyed by `_id` =
// its From path, so Resolve finds it with one `_id` lookup. Listing reads
// a range of `_id`s sorted by `_id`; on the embedded store (FerretDB on
// SQLite) any such query scans the collection, which is acceptable for an
// admin's list of a few thousand redirects, not for a shopper's request
// (Resolve never lists).
//
// Rules:
//
//   - From is normalised: percent-escapes are decoded (the storefront
//     matches decoded request paths), a trailing slash, "." and ".."
//     segments and doubled slashes go (as Go's ServeMux cleans request
//     paths). A query or fragment is refused, not dropped: a redirect
//     matches a path whatever the query.
//   - From may not be one of the storefront's own addresses
//     (reservedPath): "/" and "/blog" exactly, and "/admin", "/api",
//     "/static", "/media", "/search", "/cart", "/checkout", "/orders",
//     "/login", "/register", "/logout", "/sitemap.xml", "/robots.txt"
//     with everything under them, and the sitemap parts "/sitemap-N.xml".
//     The storefront answers those itself, so a redirect from them would
//     never be followed. The old entity URLs (/products/x,
//     /categories/x, /blog/x) are allowed: the storefront sends them to
//     /x, which asks for them.
//   - To is a path of the shop with an optional query, or an absolute
//     http(s) URL with a host and no user information (the storefront
//     follows nothing else). External targets are the operator's
//     choice; only admins write redirects, so they are no open redirect.
//     A query or a non-ASCII byte in a query is percent-escaped.
//   - To must lead somewhere else than From (its path differs).
//   - Chains: when To is a path with a redirect of its own, PutRedirect
//     follows it (up to MaxRedirectHops) and stores where the chain ends,
//     so a shopper gets one hop. A query of a hop carries over to the next
//     when that has none (as the storefront carries a request's query).
//     The stored status is StatusFound if any hop is temporary. A hop
//     stops at a path where an entity lives (its redirect is shadowed,
//     see Resolve), and at an external URL. A chain that comes back to
//     From is refused with a conflict (a loop), and so is one longer than
//     MaxRedirectHops. A redirect put later on the target of existing
//     redirects does not rewrite them (finding them would scan every
//     redirect): those answer with two hops, which browsers follow. Two
//     admins racing to write A→B and B→A at the same instant can still
//     make a loop; the browser gives up on it, and either admin can
//     delete one.
//   - Resolve: the entity living at a path wins over a redirect from it
//     (a redirect never hides a live page; it takes effect once the page
//     is gone: a deleted content page, a product renamed away), and a
//     redirect wins over the automatic redirect of an entity's old path
//     and over not found. An unpublished entity is live only for admins,
//     so the public follows the redirect from a draft's path.
//
// PutRedirect and DeleteRedirect are applied at most once per request id
// (internal/idem), like Put and Delete. Each records its admin and the
// fields it changed ("to", "status") in the redirect's audit log, in the
// same write; a delete keeps the log (audit.Retired) before the redirect
// goes, and a redirect written again from that path carries on with it.

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/internal/audit"
	"github.com/shopbus/shopbus/internal/docstore"
	"github.com/shopbus/shopbus/internal/idem"
	"github.com/shopbus/shopbus/shop"
)

// collRedirects holds the admin's redirects: _id the From path.
const collRedirects = "redirects"

// redirectDoc is an admin's redirect.
type redirectDoc struct {
	From      string    `bson:"_id"`
	To        string    `bson:"to"`
	Status    int       `bson:"status"`
	UpdatedAt time.Time `bson:"updated_at"`
	// Log is the redirect's audit log, written with each change.
	audit.Log `bson:",inline"`
}

func (d *redirectDoc) redirect() Redirect {
	return Redirect{From: d.From, To: d.To, Status: d.Status, UpdatedAt: d.UpdatedAt.UTC()}
}

// redirectColl is the collection of the admin's redirects.
func (s *Server) redirectColl() *mongo.Collection {
	return s.paths.Database().Collection(collRedirects)
}

// reservedPrefixes are the storefront's addresses with everything under
// them; reservedExact its addresses that are only themselves.
var (
	reservedPrefixes = []string{"/admin", "/api", "/static", "/media", "/search", "/cart", "/checkout", "/orders",
		"/login", "/register", "/logout", "/sitemap.xml", "/robots.txt"}
	reservedExact = []string{"/", "/blog"}
)

// reservedPath reports whether the storefront answers p itself, so that a
// redirect from it would never be followed.
func reservedPath(p string) bool {
	for _, e := range reservedExact {
		if p == e {
			return true
		}
	}
	for _, pre := range reservedPrefixes {
		if p == pre || strings.HasPrefix(p, pre+"/") {
			return true
		}
	}
	first, _, _ := strings.Cut(p[1:], "/")
	return strings.HasPrefix(first, "sitemap-") && strings.HasSuffix(first, ".xml")
}

// normalizePath decodes p's percent-escapes and cleans it; msg says what
// is wrong with it otherwise.
func normalizePath(p string) (string, string) {
	p = strings.TrimSpace(p)
	if strings.ContainsAny(p, "?#") {
		return "", "must be a path without a query or fragment"
	}
	if strings.Contains(p, "%") {
		d, err := url.PathUnescape(p)
		if err != nil {
			return "", "has a malformed percent-escape"
		}
		if strings.ContainsAny(d, "?#") {
			return "", "must be a path without a query or fragment"
		}
		p = d
	}
	if msg := checkPath(p); msg != "" {
		return "", msg
	}
	return path.Clean(p), ""
}

// normalizeTarget validates and normalises a redirect's To: a path with
// an optional query, or an absolute http(s) URL.
func normalizeTarget(to string) (string, string) {
	to = strings.TrimSpace(to)
	switch {
	case to == "":
		return "", "is required"
	case len(to) > MaxURLLen:
		return "", fmt.Sprintf("must be at most %d bytes", MaxURLLen)
	case !utf8.ValidString(to) || strings.ContainsFunc(to, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '\\' }):
		return "", "must not contain spaces, control characters or '\\'"
	}
	if strings.HasPrefix(to, "/") && !strings.HasPrefix(to, "//") {
		p, q, hasQuery := strings.Cut(to, "?")
		if strings.Contains(q, "#") {
			return "", "must not have a fragment when it is a path"
		}
		p, msg := normalizePath(p)
		if msg != "" {
			return "", msg
		}
		if q = escapeNonASCII(q); hasQuery && q != "" {
			p += "?" + q
		}
		if len(p) > MaxURLLen {
			return "", fmt.Sprintf("must be at most %d bytes", MaxURLLen)
		}
		return p, ""
	}
	u, err := url.Parse(to)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		return "", "must be a path of the shop starting with '/' or an absolute http(s) URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return "", "must be a path of the shop or an http(s) URL"
	case u.User != nil:
		return "", "must not carry a user name or password"
	case strings.ContainsFunc(u.Host, func(r rune) bool { return r >= utf8.RuneSelf }):
		return "", "must name its host in ASCII (punycode for international names)"
	}
	u.RawQuery = escapeNonASCII(u.RawQuery)
	out := u.String()
	if len(out) > MaxURLLen {
		return "", fmt.Sprintf("must be at most %d bytes", MaxURLLen)
	}
	return out, ""
}

// escapeNonASCII percent-escapes the bytes of s outside ASCII.
func escapeNonASCII(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// localTarget splits a redirect target into its path and query when it is
// a path of the shop; ok is false for an external URL.
func localTarget(to string) (p, query string, ok bool) {
	if !strings.HasPrefix(to, "/") || strings.HasPrefix(to, "//") {
		return "", "", false
	}
	p, query, _ = strings.Cut(to, "?")
	return p, query, true
}

// checkRedirect validates r and returns the normalised redirect.
func checkRedirect(r PutRedirectRequest) (redirectDoc, error) {
	var bad []string
	from, msg := normalizePath(r.From)
	if msg == "" && reservedPath(from) {
		msg = "is one of the storefront's own addresses (" + from + "), which a redirect cannot take over"
	}
	if msg != "" {
		bad = append(bad, "from", msg)
	}
	to, msg := normalizeTarget(r.To)
	if msg != "" {
		bad = append(bad, "to", msg)
	} else if p, _, ok := localTarget(to); ok && p == from && from != "" {
		bad = append(bad, "to", "must lead somewhere other than from")
	}
	status := r.Status
	switch status {
	case 0:
		status = StatusMovedPermanently
	case StatusMovedPermanently, StatusFound:
	default:
		bad = append(bad, "status", "must be 301 (permanent) or 302 (temporary)")
	}
	if len(bad) > 0 {
		return redirectDoc{}, shop.Invalid("invalid redirect", bad...)
	}
	return redirectDoc{From: from, To: to, Status: status}, nil
}

// redirectAt returns the admin's redirect from p, or nil.
func (s *Server) redirectAt(ctx context.Context, p string) (*redirectDoc, error) {
	var d redirectDoc
	err := s.redirectColl().FindOne(ctx, bson.D{{Key: "_id", Value: p}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, shop.StorageFailure(ctx, "seo: load redirect", err)
	}
	return &d, nil
}

// liveAt reports whether an entity lives at the path p of the shop, as
// the storefront sees it: at p itself, or, for a one-segment path /s, at
// the path of the product, category or article with slug s (the
// storefront serves those at /s). Drafts count: the check is for chains,
// which should not jump over a page about to be published.
func (s *Server) liveAt(ctx context.Context, p string) (bool, error) {
	candidates := []string{p}
	if slug := p[1:]; slug != "" && !strings.Contains(slug, "/") {
		candidates = append(candidates, s.opts.ProductPrefix+slug, s.opts.CategoryPrefix+slug, s.opts.ArticlePrefix+slug)
	}
	for _, c := range candidates {
		var pd pathDoc
		err := s.paths.FindOne(ctx, bson.D{{Key: "_id", Value: c}}).Decode(&pd)
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue
		}
		if err != nil {
			return false, shop.StorageFailure(ctx, "seo: look a path up", err)
		}
		d, err := s.load(ctx, pd.Entity)
		if err != nil {
			return false, err
		}
		if d != nil && !d.Deleted && d.Path == c {
			return true, nil
		}
	}
	return false, nil
}

// collapse follows the redirects from d's target and points d where the
// chain ends (see the rules above).
func (s *Server) collapse(ctx context.Context, d *redirectDoc) error {
	for range MaxRedirectHops {
		p, query, ok := localTarget(d.To)
		if !ok {
			return nil
		}
		if p == d.From {
			return shop.Conflict("the redirect would make a loop", "to", "leads back to "+d.From)
		}
		next, err := s.redirectAt(ctx, p)
		if err != nil || next == nil {
			return err
		}
		live, err := s.liveAt(ctx, p)
		if err != nil || live {
			return err
		}
		to := next.To
		if _, _, nextLocal := localTarget(to); query != "" && !strings.Contains(to, "?") {
			if nextLocal {
				to += "?" + query
			} else if u, err := url.Parse(to); err == nil {
				u.RawQuery = query
				to = u.String()
			}
		}
		d.To = to
		if next.Status == StatusFound {
			d.Status = StatusFound
		}
	}
	if p, _, ok := localTarget(d.To); ok {
		if p == d.From {
			return shop.Conflict("the redirect would make a loop", "to", "leads back to "+d.From)
		}
		if next, err := s.redirectAt(ctx, p); err != nil {
			return err
		} else if next != nil {
			return shop.Conflict("the redirect would start a chain of more than "+fmt.Sprint(MaxRedirectHops)+" redirects", "to", "leads on through too many redirects")
		}
	}
	return nil
}

// ---- methods ----

// ListRedirects implements Service.
func (s *Server) ListRedirects(ctx context.Context, r ListRedirectsRequest) (RedirectPage, error) {
	if _, err := shop.RequireAdmin(ctx, s.opts.Auth); err != nil {
		return RedirectPage{}, err
	}
	var bad []string
	limit := r.Limit
	switch {
	case limit == 0:
		limit = DefaultRedirectPageSize
	case limit < 0 || limit > MaxRedirectPageSize:
		bad = append(bad, "limit", fmt.Sprintf("must be 1-%d", MaxRedirectPageSize))
	}
	prefix := strings.TrimSpace(r.Prefix)
	if prefix != "" {
		if d, err := url.PathUnescape(prefix); err == nil {
			prefix = d
		}
		if msg := checkPath(prefix); msg != "" {
			bad = append(bad, "prefix", msg)
		}
	}
	if r.Cursor != "" && checkPath(r.Cursor) != "" {
		bad = append(bad, "cursor", "is not a cursor this method gave")
	}
	if len(bad) > 0 {
		return RedirectPage{}, shop.Invalid("invalid request", bad...)
	}
	// The range of _ids: from the prefix (or after the cursor) up to
	// the first string past the prefix when that is easy to name (an
	// ASCII last byte); the loop below stops at the first _id without
	// the prefix in any case.
	cond := bson.D{}
	if r.Cursor != "" && r.Cursor >= prefix {
		cond = append(cond, bson.E{Key: "$gt", Value: r.Cursor})
	} else if prefix != "" {
		cond = append(cond, bson.E{Key: "$gte", Value: prefix})
	}
	if n := len(prefix); n > 0 && prefix[n-1] < 0x7f {
		cond = append(cond, bson.E{Key: "$lt", Value: prefix[:n-1] + string(prefix[n-1]+1)})
	}
	filter := bson.D{}
	if len(cond) > 0 {
		filter = bson.D{{Key: "_id", Value: cond}}
	}
	cur, err := s.redirectColl().Find(ctx, filter,
		options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit+1)))
	if err != nil {
		return RedirectPage{}, shop.StorageFailure(ctx, "seo: list redirects", err)
	}
	defer cur.Close(ctx)
	page := RedirectPage{Redirects: []Redirect{}}
	for cur.Next(ctx) {
		var d redirectDoc
		if err := cur.Decode(&d); err != nil {
			return RedirectPage{}, shop.StorageFailure(ctx, "seo: list redirects", err)
		}
		if !strings.HasPrefix(d.From, prefix) {
			break
		}
		if len(page.Redirects) == limit {
			page.NextCursor = page.Redirects[limit-1].From
			break
		}
		page.Redirects = append(page.Redirects, d.redirect())
	}
	if err := cur.Err(); err != nil {
		return RedirectPage{}, shop.StorageFailure(ctx, "seo: list redirects", err)
	}
	return page, nil
}

// PutRedirect implements Service.
func (s *Server) PutRedirect(ctx context.Context, r PutRedirectRequest) (Redirect, error) {
	p, err := shop.RequireAdmin(ctx, s.opts.Auth)
	if err != nil {
		return Redirect{}, err
	}
	ctx = audit.WithActor(ctx, p)
	return idem.Do(ctx, s.requests, MethodPutRedirect, r, func(ctx context.Context) (Redirect, error) {
		d, err := checkRedirect(r)
		if err != nil {
			return Redirect{}, err
		}
		if err := s.collapse(ctx, &d); err != nil {
			return Redirect{}, err
		}
		for range maxWriteAttempts {
			prev, err := s.redirectAt(ctx, d.From)
			if err != nil {
				return Redirect{}, err
			}
			next := d
			next.UpdatedAt = s.now()
			var stored bool
			if prev == nil {
				// A redirect deleted before carries on with its log.
				if next.Log, err = s.retiredLog(ctx, HistoryRedirect, d.From); err != nil {
					return Redirect{}, err
				}
				next.Record(ctx, MethodPutRedirect, next.UpdatedAt, audit.Changed(nil, next))
				_, err = s.redirectColl().InsertOne(ctx, next)
				stored = err == nil
				if mongo.IsDuplicateKeyError(err) {
					err = nil // written meanwhile: again, as a change of that one
				}
			} else {
				next.Log = prev.Log
				if fields := audit.Changed(prev, next); len(fields) > 0 {
					next.Record(ctx, MethodPutRedirect, next.UpdatedAt, fields)
				}
				stored, err = docstore.Replace(ctx, s.redirectColl(), d.From, next, false, docstore.Equal("updated_at", prev.UpdatedAt))
			}
			if err != nil {
				return Redirect{}, shop.StorageFailure(ctx, "seo: put redirect", err)
			}
			if stored {
				return next.redirect(), nil
			}
		}
		return Redirect{}, shop.Conflict("the redirect is being changed concurrently; try again")
	})
}

// DeleteRedirect implements Service.
func (s *Server) DeleteRedirect(ctx context.Context, r DeleteRedirectRequest) (RedirectDeleted, error) {
	p, err := shop.RequireAdmin(ctx, s.opts.Auth)
	if err != nil {
		return RedirectDeleted{}, err
	}
	ctx = audit.WithActor(ctx, p)
	return idem.Do(ctx, s.requests, MethodDeleteRedirect, r, func(ctx context.Context) (RedirectDeleted, error) {
		from, msg := normalizePath(r.From)
		if msg != "" {
			return RedirectDeleted{}, shop.Invalid("invalid request", "from", msg)
		}
		for range maxWriteAttempts {
			prev, err := s.redirectAt(ctx, from)
			if err != nil {
				return RedirectDeleted{}, err
			}
			if prev == nil {
				return RedirectDeleted{}, shop.NotFound("redirect")
			}
			// The log, with the delete on top, is kept before the
			// redirect goes (see audit.Retired).
			l := prev.Log
			l.Record(ctx, MethodDeleteRedirect, s.now(), nil)
			if err := s.retired.Keep(ctx, HistoryRedirect, from, l); err != nil {
				return RedirectDeleted{}, shop.StorageFailure(ctx, "seo: keep the history of redirect "+from, err)
			}
			deleted, err := docstore.Delete(ctx, s.redirectColl(), from, docstore.Equal("updated_at", prev.UpdatedAt))
			if err != nil {
				return RedirectDeleted{}, shop.StorageFailure(ctx, "seo: delete redirect", err)
			}
			if deleted {
				return RedirectDeleted{From: from}, nil
			}
		}
		return RedirectDeleted{}, shop.Conflict("the redirect is being changed concurrently; try again")
	})
}

// retiredLog returns the audit log kept of the deleted entity kind/id
// (none if there is none), so that an entity written again at the same
// id carries on with it.
func (s *Server) retiredLog(ctx context.Context, kind, id string) (audit.Log, error) {
	l, _, err := s.retired.Find(ctx, kind, id)
	if err != nil {
		return audit.Log{}, shop.StorageFailure(ctx, "seo: read the history of deleted "+kind+" "+id, err)
	}
	return l, nil
}
