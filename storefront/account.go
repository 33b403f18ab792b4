package storefront

import (
	"errors"
	"net/http"
	"strings"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/cart"
)

// login logs in, sets the session cookie, renews the CSRF token and
// merges the guest cart. With an idempotency key, logging in and merging
// carry request ids of their own derived from the request's.
func (s *Storefront) login(w http.ResponseWriter, r *http.Request, email, password string) (shop.Principal, auth.Session, error) {
	if err := s.limits.admitLogin(r, email); err != nil {
		return shop.Principal{}, auth.Session{}, err
	}
	ctx := accountContext(r, email)
	v := s.identify(w, r)
	sess, err := s.auth.Login(anotherCall(ctx, auth.MethodLogin), auth.LoginRequest{Email: email, Password: password})
	if err != nil {
		return shop.Principal{}, auth.Session{}, err
	}
	s.setCookie(w, r, SessionCookie, sess.Token, sess.ExpiresAt)
	if !isAPI(r) {
		s.renewCSRF(w, r)
	}
	ctx = shop.WithToken(ctx, sess.Token)
	p, err := s.auth.Authenticate(ctx, sess.Token)
	if err != nil {
		return shop.Principal{}, auth.Session{}, err
	}
	if v.guestID != "" {
		if _, err := s.cart.Merge(anotherCall(ctx, cart.MethodMerge), cart.MergeRequest{GuestCartID: v.guestID}); err != nil && !errors.Is(err, shop.ErrNotFound) {
			// The guest cart stays; the next login merges it.
			s.log.WarnContext(ctx, "storefront: merge guest cart", "service", cart.ServiceName, "err", err)
		} else {
			s.forgetGuestCart(w, r, v)
		}
	}
	v.token, v.user = sess.Token, &p
	return p, sess, nil
}

// logout ends the session, clears the cookie and renews the CSRF token.
// A form's logout clears the cookie even if auth did not answer (the
// shopper leaves a shared computer logged out); the API's keeps it then,
// so that a retry can end the session.
func (s *Storefront) logout(w http.ResponseWriter, r *http.Request) error {
	v := s.identify(w, r)
	token := v.token
	if token == "" {
		token = v.cookie // not checked (auth silent): end it anyway
	}
	var err error
	if token != "" {
		err = s.auth.Logout(r.Context(), token)
	}
	if err != nil && isAPI(r) {
		return err
	}
	s.clearCookie(w, r, SessionCookie)
	if !isAPI(r) {
		s.renewCSRF(w, r)
	}
	v.token, v.user, v.unsure = "", nil, false
	return err
}

type formView struct {
	Email string
	Next  string
}

// nextPath returns the local path to go to after a form, "/" by default.
func nextPath(r *http.Request) string {
	n := r.FormValue("next")
	if !localPath(n) || strings.HasPrefix(n, "/login") || strings.HasPrefix(n, "/register") {
		return "/"
	}
	return n
}

func (s *Storefront) loginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "login", meta{Title: "Log in", Robots: "noindex"}, "", formView{Next: nextPath(r)})
}

func (s *Storefront) loginForm(w http.ResponseWriter, r *http.Request) {
	email := r.PostFormValue("email")
	_, _, err := s.login(w, r, email, r.PostFormValue("password"))
	if err != nil {
		if StatusOf(err) >= 500 {
			s.fail(w, r, err)
			return
		}
		setRetryAfter(w.Header(), err)
		s.render(w, r, StatusOf(err), "login", meta{Title: "Log in", Robots: "noindex"}, message(r, err), formView{Email: email, Next: nextPath(r)})
		return
	}
	http.Redirect(w, r, nextPath(r), http.StatusSeeOther)
}

func (s *Storefront) registerPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "register", meta{Title: "Create an account", Robots: "noindex"}, "", formView{Next: nextPath(r)})
}

func (s *Storefront) registerForm(w http.ResponseWriter, r *http.Request) {
	email, password := r.PostFormValue("email"), r.PostFormValue("password")
	err := s.limits.admitRegister(r)
	if err == nil {
		_, err = s.auth.Register(accountContext(r, email), auth.RegisterRequest{Email: email, Password: password})
	}
	if err == nil {
		_, _, err = s.login(w, r, email, password)
	}
	if err != nil {
		if StatusOf(err) >= 500 {
			s.fail(w, r, err)
			return
		}
		setRetryAfter(w.Header(), err)
		s.render(w, r, StatusOf(err), "register", meta{Title: "Create an account", Robots: "noindex"}, message(r, err), formView{Email: email, Next: nextPath(r)})
		return
	}
	http.Redirect(w, r, nextPath(r), http.StatusSeeOther)
}

func (s *Storefront) logoutForm(w http.ResponseWriter, r *http.Request) {
	if err := s.logout(w, r); err != nil {
		s.log.WarnContext(r.Context(), "storefront: logout", "service", "auth", "err", err)
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
