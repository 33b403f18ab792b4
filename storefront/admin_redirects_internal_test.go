package storefront

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/shopbus/shopbus/shop/content/seo"
	"github.com/shopbus/shopbus/transport/inproc"
)

// TestRedirectOf: the shop follows a seo answer's redirect to a path of
// its own (an entity's path becoming /{slug}, a query kept) or to an
// http(s) URL, and nothing else, whatever the seo service says: no other
// scheme, no "//host", no user information, no control characters or
// backslashes; a redirect keeps the request's query when it has none and
// answers 302 only for a temporary redirect.
func TestRedirectOf(t *testing.T) {
	bus := inproc.New(inproc.Options{})
	defer bus.Close()
	s, err := New(Options{Bus: bus})
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"/products/red-shoe":               "/red-shoe",
		"/search?q=red":                    "/search?q=red",
		"/café":                            "/caf%C3%A9",
		"https://partner.example/x?src=1":  "https://partner.example/x?src=1",
		"http://partner.example":           "http://partner.example",
		"/old":                             "", // back to itself
		"//evil.example/x":                 "",
		"/\\evil.example":                  "",
		"/x?a=\tb":                         "",
		"/x?a#b":                           "",
		"javascript:alert(1)":              "",
		"data:text/html,hi":                "",
		"ftp://files.example/x":            "",
		"https://user:pw@evil.example/":    "",
		"https:///nohost":                  "",
		"https://evil.example/\\x":         "",
		"https://evil.example/ x":          "",
		"mailto:someone@example.com":       "",
		"https:evil.example":               "",
		"\x00https://evil.example":         "",
		"HTTPS://partner.example/y":        "https://partner.example/y",
		"https://partner.example/p#anchor": "https://partner.example/p#anchor",
	} {
		got := ""
		if u := s.redirectOf(&seo.Resolution{Redirect: in, Status: 301}, "/old"); u != nil {
			got = u.String()
		}
		if got != want {
			t.Errorf("redirectOf(%q) = %q, want %q", in, got, want)
		}
	}
	for _, c := range []struct {
		to, query, want string
		status, code    int
	}{
		{"/summer", "utm=1", "/summer?utm=1", 302, 302},
		{"/search?q=red", "utm=1", "/search?q=red", 301, 301},
		{"https://partner.example/x", "a=b", "https://partner.example/x?a=b", 0, 301},
	} {
		r := httptest.NewRequest(http.MethodGet, "/old?"+c.query, nil)
		w := httptest.NewRecorder()
		redirect(w, r, s.redirectOf(&seo.Resolution{Redirect: c.to, Status: c.status}, "/old"), c.status)
		if w.Code != c.code || w.Header().Get("Location") != c.want {
			t.Errorf("redirect to %s: %d %q, want %d %q", c.to, w.Code, w.Header().Get("Location"), c.code, c.want)
		}
	}
}
