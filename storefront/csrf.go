package storefront

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/shopbus/shopbus/shop"
)

// csrfTokenLen is the length of a CSRF token: 32 random bytes, base64url.
const csrfTokenLen = 43

func validToken(t string) bool { return len(t) == csrfTokenLen && validCookieValue(t) }

func newToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// csrfToken returns the visitor's CSRF token, issuing one (with its
// cookie) if the visitor has none.
func (s *Storefront) csrfToken(w http.ResponseWriter, r *http.Request) string {
	v := visitorOf(r)
	if v.csrf == "" {
		s.renewCSRF(w, r)
	}
	return v.csrf
}

// renewCSRF gives the visitor a new CSRF token, at log in and log out.
func (s *Storefront) renewCSRF(w http.ResponseWriter, r *http.Request) {
	v := visitorOf(r)
	v.csrf = newToken()
	s.setCookie(w, r, CSRFCookie, v.csrf, time.Time{})
}

// errCSRF is the answer to a form without the visitor's CSRF token.
var errCSRF = shop.Forbidden("This form has expired or did not come from this shop. Please go back, reload the page and try again.")

// checkCSRF checks a form post: the CSRFField must equal the CSRF cookie.
// It reads the form, so a body over MaxBodyBytes fails here (413).
func (s *Storefront) checkCSRF(r *http.Request, v *visitor) error {
	if err := r.ParseForm(); err != nil {
		return formError(err)
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		if err := r.ParseMultipartForm(MaxBodyBytes); err != nil {
			return formError(err)
		}
	}
	got := r.PostFormValue(CSRFField)
	if v.csrf == "" || len(got) != len(v.csrf) || subtle.ConstantTimeCompare([]byte(got), []byte(v.csrf)) != 1 {
		return errCSRF
	}
	return nil
}

// sameOrigin reports whether a state-changing request comes from this site:
// its Origin header (or, without one, Sec-Fetch-Site) must not name another
// origin. The Origin may be the shop's public one (Options.BaseURL, what a
// browser sends behind a proxy that rewrites Host) or the request's own
// host. Requests from non-browser clients carry neither and pass.
func (s *Storefront) sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		if s.origin != "" {
			return o == s.origin || o == s.origin+"/" || sameHost(o, r.Host)
		}
		return sameHost(o, r.Host)
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return true
	}
	return false
}

// sameHost reports whether the origin o names host.
func sameHost(o, host string) bool {
	u, err := url.Parse(o)
	return err == nil && u.Host != "" && u.Host == host
}
