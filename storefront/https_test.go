package storefront_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/shopbus/shopbus/storefront"
)

// Over HTTPS every cookie carries the __Host- prefix (Secure, path /, no
// domain) and every answer an HSTS header; over plain HTTP neither.
func TestServedOverHTTPS(t *testing.T) {
	f := newShop(t, storefront.Options{})
	srv := httptest.NewTLSServer(f.front)
	t.Cleanup(srv.Close)
	b := newBrowser(t, srv.URL)
	b.c.Transport = srv.Client().Transport

	resp, _ := b.do(http.MethodGet, "/", nil)
	if got := resp.Header.Get("Strict-Transport-Security"); got != storefront.HSTS {
		t.Errorf("HSTS over HTTPS = %q, want %q", got, storefront.HSTS)
	}
	for _, c := range resp.Cookies() {
		if !strings.HasPrefix(c.Name, storefront.HostCookiePrefix) || !c.Secure || c.Path != "/" || c.Domain != "" {
			t.Errorf("cookie over HTTPS: %s", c)
		}
	}
	if b.cookie(storefront.HostCookiePrefix+storefront.CSRFCookie) == nil {
		t.Fatal("no __Host- CSRF cookie over HTTPS")
	}
	// The prefixed cookies are the ones read back: logging in works.
	code, _, _ := b.submit("/login", "/login", nil, url.Values{"email": {adminEmail}, "password": {adminPassword}})
	if code != http.StatusSeeOther {
		t.Fatalf("login over HTTPS: %d", code)
	}
	if b.cookie(storefront.HostCookiePrefix+storefront.SessionCookie) == nil {
		t.Fatal("no __Host- session cookie after logging in")
	}
	if _, html := b.page("/"); !strings.Contains(html, adminEmail) {
		t.Error("not logged in over HTTPS")
	}

	plain := f.browser(t)
	resp, _ = plain.do(http.MethodGet, "/", nil)
	if got := resp.Header.Get("Strict-Transport-Security"); got != "" {
		t.Errorf("HSTS over plain HTTP: %q", got)
	}
	if plain.cookie(storefront.CSRFCookie) == nil {
		t.Error("no CSRF cookie over plain HTTP")
	}

	// A shop whose public URL is https (TLS ends at a proxy) behaves the
	// same, though the request itself is plain HTTP.
	_, proxied, _ := f.newFront(t, storefront.Options{BaseURL: "https://shop.example"})
	resp, _ = newBrowser(t, proxied.URL).do(http.MethodGet, "/", nil)
	if got := resp.Header.Get("Strict-Transport-Security"); got != storefront.HSTS {
		t.Errorf("HSTS behind a TLS proxy = %q", got)
	}
	for _, c := range resp.Cookies() {
		if !strings.HasPrefix(c.Name, storefront.HostCookiePrefix) || !c.Secure {
			t.Errorf("cookie behind a TLS proxy: %s", c)
		}
	}
}

// Behind a proxy that rewrites Host, a browser's Origin is the shop's
// public one: state changes from it pass, others are refused.
func TestOriginBehindProxy(t *testing.T) {
	f := newShop(t, storefront.Options{})
	_, srv, _ := f.newFront(t, storefront.Options{BaseURL: "http://shop.example"})
	b := newBrowser(t, srv.URL)
	red := f.products["red-runner"]
	for origin, want := range map[string]int{
		"http://shop.example":              http.StatusOK, // the public origin
		srv.URL:                            http.StatusOK, // the request's own host
		"https://evil.example":             http.StatusForbidden,
		"http://shop.example.evil.example": http.StatusForbidden,
		"null":                             http.StatusForbidden,
	} {
		resp, body := b.do("POST", "/api/cart/items", storefront.CartItem{ProductID: red.ID, Quantity: 1}, "Origin", origin)
		if resp.StatusCode != want {
			t.Errorf("Origin %q: %d %s, want %d", origin, resp.StatusCode, body, want)
		}
	}
}

// robots.txt names the configured public URL, never the Host header a
// client sent.
func TestRobotsUsesBaseURL(t *testing.T) {
	f := newShop(t, storefront.Options{})
	_, srv, _ := f.newFront(t, storefront.Options{BaseURL: "https://shop.example/"})
	for name, tc := range map[string]struct {
		base, want string
	}{
		"configured": {srv.URL, "Sitemap: https://shop.example/sitemap.xml\n"},
		"unset":      {f.srv.URL, ""},
	} {
		req, _ := http.NewRequest(http.MethodGet, tc.base+"/robots.txt", nil)
		req.Host = "evil.example"
		resp, body := newBrowser(t, tc.base).doRequest(req)
		text := string(body)
		if resp.StatusCode != http.StatusOK || strings.Contains(text, "evil.example") ||
			(tc.want != "" && !strings.Contains(text, tc.want)) || (tc.want == "" && strings.Contains(text, "Sitemap:")) {
			t.Errorf("%s: robots.txt = %d\n%s", name, resp.StatusCode, text)
		}
	}
}
