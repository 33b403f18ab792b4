package storefront

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/category"
)

// Cookie names and the CSRF form field.
const (
	SessionCookie = "shop_session"
	CartCookie    = "shop_cart"
	// CSRFCookie holds the visitor's CSRF token (see the package doc).
	CSRFCookie = "shop_csrf"
	// CSRFField is the form field every POST form carries the token in.
	CSRFField = "csrf"
	// HostCookiePrefix prefixes every cookie name when the shop is served
	// over HTTPS (see Storefront.cookieName).
	HostCookiePrefix = "__Host-"
)

type visitorKey struct{}

// visitor is who is calling: a logged-in user (token and principal) or a
// guest, with the guest cart id if there is one, and the CSRF token.
//
// The session cookie is checked with the auth service in the background
// (started by newVisitor); identify waits for the answer. Until then
// token and user must not be read.
type visitor struct {
	guestID    string
	cartOrigin string // the CartOriginCookie: which request started the guest cart
	csrf       string // the CSRF token; "" until one is issued

	key   string // the request's idempotency key; "" without one
	keyed bool   // the request's calls carry the request id made from key

	authDone chan struct{} // closed when the session check has finished; nil without a cookie
	cookie   string        // the session cookie's value
	authErr  error
	checked  bool // identify has run
	// unsure says the session cookie could not be checked (auth did not
	// answer): the visitor is neither logged in nor a guest.
	unsure bool

	token string
	user  *shop.Principal

	nav *future[[]category.Category] // the page's navigation, once started
}

// newVisitor reads the cookies and starts checking the session token.
func (s *Storefront) newVisitor(ctx context.Context, r *http.Request) *visitor {
	v := &visitor{}
	if c, err := r.Cookie(s.cookieName(r, CartCookie)); err == nil && validCookieValue(c.Value) {
		v.guestID = c.Value
		if c, err := r.Cookie(s.cookieName(r, CartOriginCookie)); err == nil && validCookieValue(c.Value) {
			v.cartOrigin = c.Value
		}
	}
	if c, err := r.Cookie(s.cookieName(r, CSRFCookie)); err == nil && validToken(c.Value) {
		v.csrf = c.Value
	}
	if c, err := r.Cookie(s.cookieName(r, SessionCookie)); err == nil && validCookieValue(c.Value) {
		v.cookie = c.Value
		v.authDone = make(chan struct{})
		go func() {
			defer close(v.authDone)
			actx, cancel := context.WithTimeout(ctx, SessionTimeout)
			defer cancel()
			p, err := s.auth.Authenticate(actx, v.cookie)
			if err == nil {
				v.user = &p
			}
			v.authErr = err
		}()
	}
	return v
}

// identify waits for the session check and returns the visitor: a token
// the auth service rejected is dropped, with its cookie; when the auth
// service cannot answer (unavailable, deadline exceeded, internal error)
// the visitor is unsure: neither logged in nor a guest, it keeps the
// cookie for when auth is back, and whatever needs the session answers
// errSessionUnknown.
func (s *Storefront) identify(w http.ResponseWriter, r *http.Request) *visitor {
	v := visitorOf(r)
	if v.checked || v.authDone == nil {
		v.checked = true
		return v
	}
	<-v.authDone
	v.checked = true
	switch err := v.authErr; {
	case err == nil:
		v.token = v.cookie
	case errors.Is(err, shop.ErrUnauthenticated) || errors.Is(err, shop.ErrInvalid):
		s.clearCookie(w, r, SessionCookie)
	default:
		v.unsure = true
		s.log.WarnContext(r.Context(), "storefront: authenticate", "service", "auth", "err", err)
	}
	return v
}

// userContext identifies the visitor and returns the request's context
// carrying the session token, for calls made on the visitor's behalf.
func (s *Storefront) userContext(w http.ResponseWriter, r *http.Request) (context.Context, *visitor) {
	v := s.identify(w, r)
	ctx := r.Context()
	if v.token != "" {
		ctx = shop.WithToken(ctx, v.token)
	}
	return ctx, v
}

func visitorOf(r *http.Request) *visitor {
	v, _ := r.Context().Value(visitorKey{}).(*visitor)
	if v == nil {
		return &visitor{checked: true}
	}
	return v
}

// validCookieValue accepts what a token or a cart id can look like.
func validCookieValue(v string) bool {
	if v == "" || len(v) > 256 {
		return false
	}
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// cookieSecure reports whether the shop is served over HTTPS: Options.BaseURL
// is https or the request came over TLS.
func (s *Storefront) cookieSecure(r *http.Request) bool { return s.secure || r.TLS != nil }

// cookieName is the name of the cookie called name: over HTTPS it carries
// the __Host- prefix, so that browsers accept it only Secure, for this host
// and path /, never set by a sibling subdomain or a plain-HTTP page.
func (s *Storefront) cookieName(r *http.Request, name string) string {
	if s.cookieSecure(r) {
		return HostCookiePrefix + name
	}
	return name
}

// setCookie sets an HttpOnly, SameSite=Lax cookie (Secure and __Host-
// over HTTPS); a zero expires makes it a browser-session cookie.
func (s *Storefront) setCookie(w http.ResponseWriter, r *http.Request, name, value string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name: s.cookieName(r, name), Value: value, Path: "/", Expires: expires,
		HttpOnly: true, Secure: s.cookieSecure(r), SameSite: http.SameSiteLaxMode,
	})
}

func (s *Storefront) clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	http.SetCookie(w, &http.Cookie{
		Name: s.cookieName(r, name), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.cookieSecure(r), SameSite: http.SameSiteLaxMode,
	})
}

// publicContext is ctx without the visitor's session token: catalogue
// and content are read as the public sees them (no drafts for admins).
func publicContext(ctx context.Context) context.Context {
	if shop.TokenFrom(ctx) == "" {
		return ctx
	}
	return shop.WithToken(ctx, "")
}
