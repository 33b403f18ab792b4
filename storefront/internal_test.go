package storefront

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/inproc"
)

// TestStatusOf maps every error code to its HTTP status, and tells
// clients nothing of failures inside the shop.
func TestStatusOf(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
		code   transport.Code
		leaks  string // what must not reach the client
	}{
		{nil, 200, "", ""},
		{shop.Invalid("bad", "email", "must be an address"), 400, transport.CodeInvalid, ""},
		{shop.Unauthenticated("no"), 401, transport.CodeUnauthenticated, ""},
		{shop.Forbidden("no"), 403, transport.CodeForbidden, ""},
		{shop.NotFound("product"), 404, transport.CodeNotFound, ""},
		{shop.Conflict("taken"), 409, transport.CodeConflict, ""},
		{transport.Errorf(transport.CodeUnavailable, "rabbit: channel 7 closed at 10.0.0.3"), 503, transport.CodeUnavailable, "10.0.0.3"},
		{transport.Errorf(transport.CodeDeadlineExceeded, "no answer from product.get_by_slug"), 503, transport.CodeDeadlineExceeded, "get_by_slug"},
		{context.DeadlineExceeded, 503, transport.CodeDeadlineExceeded, ""},
		{transport.Errorf(transport.CodeInternal, "mongo: password=hunter2"), 500, transport.CodeInternal, "hunter2"},
		{fmt.Errorf("decode: secret-table"), 500, transport.CodeInternal, "secret-table"},
		{formError(&http.MaxBytesError{Limit: MaxBodyBytes}), 413, transport.CodeInvalid, ""},
	} {
		if got := StatusOf(c.err); got != c.status {
			t.Errorf("StatusOf(%v) = %d, want %d", c.err, got, c.status)
		}
		if c.err == nil {
			continue
		}
		e := publicError(nil, c.err)
		if e.Code != c.code || e.Message == "" {
			t.Errorf("publicError(%v) = %+v, want code %s", c.err, e, c.code)
		}
		if c.leaks != "" && strings.Contains(e.Error()+message(nil, c.err), c.leaks) {
			t.Errorf("publicError(%v) leaks %q: %+v", c.err, c.leaks, e)
		}
		if c.status == 413 && e.Field("body") == "" {
			t.Errorf("413 without a field error: %+v", e)
		}
		if c.status == 400 && e.Field("email") != "must be an address" {
			t.Errorf("400 lost its field errors: %+v", e)
		}
	}
}

// step is a fake lookup: it finishes after d with err (nil: found).
type step struct {
	d   time.Duration
	err error
}

func (st step) start() *future[int] {
	return async(context.Background(), time.Minute, func(context.Context) (int, error) {
		time.Sleep(st.d)
		return 0, st.err
	})
}

// TestDecide picks the lookup of highest precedence that found the slug,
// waiting for those before it, or only for a grace when they are silent.
func TestDecide(t *testing.T) {
	nf := shop.NotFound("x")
	down := transport.Errorf(transport.CodeDeadlineExceeded, "no answer")
	const grace = 300 * time.Millisecond
	ms := time.Millisecond
	for _, c := range []struct {
		name     string
		steps    []step
		want     int
		min, max time.Duration
	}{
		{"first found at once", []step{{0, nil}, {time.Second, nil}, {time.Second, nil}}, 0, 0, 150 * ms},
		{"second waits for the first", []step{{50 * ms, nf}, {0, nil}, {time.Second, nf}}, 1, 50 * ms, 250 * ms},
		{"the first wins when it answers within the grace", []step{{50 * ms, nil}, {0, nil}, {0, nf}}, 0, 50 * ms, 250 * ms},
		{"a silent first costs only the grace", []step{{2 * time.Second, down}, {0, nf}, {0, nil}}, 2, grace, grace + 150*ms},
		{"a slow first costs only the grace", []step{{time.Second, nil}, {0, nil}, {0, nf}}, 1, grace, grace + 150*ms},
		{"nobody", []step{{0, nf}, {20 * ms, nf}, {0, down}}, -1, 20 * ms, 150 * ms},
	} {
		t.Run(c.name, func(t *testing.T) {
			ws := make([]waiter, len(c.steps))
			for i, st := range c.steps {
				ws[i] = st.start()
			}
			start := time.Now()
			got := decide(ws, grace)
			took := time.Since(start)
			if got != c.want || took < c.min || took > c.max {
				t.Errorf("decide = %d after %v, want %d after %v to %v", got, took, c.want, c.min, c.max)
			}
		})
	}
}

func TestSEOPaths(t *testing.T) {
	bus := inproc.New(inproc.Options{})
	defer bus.Close()
	s, err := New(Options{Bus: bus})
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"/products/red-shoe": "/red-shoe", "/categories/shoes": "/shoes", "/blog/news": "/news",
		"/about": "/about", "/products/a/b": "/products/a/b", "//evil.example": "", "https://x.example/y": "",
	} {
		if got := s.pagePath(in); got != want {
			t.Errorf("pagePath(%q) = %q, want %q", in, got, want)
		}
	}
	in := `<?xml version="1.0"?><urlset><url><loc>https://shop.example/products/red-shoe</loc></url>` +
		`<url><loc>https://shop.example/blog/news</loc></url><url><loc>https://shop.example/about</loc></url></urlset>`
	want := `<?xml version="1.0"?><urlset><url><loc>https://shop.example/red-shoe</loc></url>` +
		`<url><loc>https://shop.example/news</loc></url><url><loc>https://shop.example/about</loc></url></urlset>`
	if got := string(s.rewriteSitemap([]byte(in))); got != want {
		t.Errorf("rewriteSitemap:\n got %s\nwant %s", got, want)
	}
	if !errors.Is(publicError(nil, errCSRF), shop.ErrForbidden) {
		t.Error("the CSRF error is not forbidden")
	}
}

// TestCache loads once per DefinitionsTTL, keeps the old value when a load
// fails, and does not retry a failed load at once.
func TestCache(t *testing.T) {
	var c cache[int]
	now := time.Unix(1000, 0)
	loads := 0
	load := func(v int, err error) func() (int, error) {
		return func() (int, error) { loads++; return v, err }
	}
	if v, err := c.get(now, load(1, nil)); v != 1 || err != nil {
		t.Fatalf("first load: %d %v", v, err)
	}
	if v, _ := c.get(now.Add(DefinitionsTTL/2), load(2, nil)); v != 1 || loads != 1 {
		t.Errorf("within the TTL: %d after %d loads", v, loads)
	}
	if v, err := c.get(now.Add(DefinitionsTTL), load(3, errors.New("down"))); v != 1 || err == nil {
		t.Errorf("failed reload: %d %v", v, err)
	}
	if v, _ := c.get(now.Add(DefinitionsTTL+time.Second), load(4, nil)); v != 1 || loads != 2 {
		t.Errorf("right after a failure: %d after %d loads", v, loads)
	}
	if v, _ := c.get(now.Add(DefinitionsTTL+SEOBackoff), load(5, nil)); v != 5 || loads != 3 {
		t.Errorf("after the back-off: %d after %d loads", v, loads)
	}
}

// TestLocalPath: only paths on this site are redirect targets; the ways
// browsers turn a path into another site's URL are refused.
func TestLocalPath(t *testing.T) {
	for p, want := range map[string]bool{
		"/": true, "/cart": true, "/red-runner?x=1": true, "/café": true,
		"": false, "//evil": false, "/\\evil": false, "/\t/evil.example": false, "/%09/evil.example": true, // %09 stays encoded in a Location
		"https://evil": false, "javascript:alert(1)": false, "/\n/evil": false, "/ /evil": false, "\\evil": false,
	} {
		if got := localPath(p); got != want {
			t.Errorf("localPath(%q) = %v, want %v", p, got, want)
		}
	}
}

// TestNextAfterLogin: the next parameter of /login, decoded as the form
// reader decodes it, never leads off the site.
func TestNextAfterLogin(t *testing.T) {
	for _, next := range []string{"/%09/evil.example", "//evil", "/%5Cevil", "https://evil", "javascript:alert(1)", "/%0A/evil"} {
		r := httptest.NewRequest("GET", "/login?next="+next, nil)
		if got := nextPath(r); got != "/" {
			t.Errorf("next=%s: %q, want /", next, got)
		}
	}
	r := httptest.NewRequest("GET", "/login?next=/cart", nil)
	if got := nextPath(r); got != "/cart" {
		t.Errorf("next=/cart: %q", got)
	}
}

// TestUnavailableMessages: a 503 tells a client whether something may
// have changed: a read may simply be tried again, a change whose session
// could not be checked changed nothing, and a change whose service went
// silent has an unknown outcome, safe to repeat only with its key.
func TestUnavailableMessages(t *testing.T) {
	req := func(method, path string, keyed bool) *http.Request {
		r := httptest.NewRequest(method, path, nil)
		return r.WithContext(context.WithValue(r.Context(), visitorKey{}, &visitor{keyed: keyed}))
	}
	silent := transport.Errorf(transport.CodeDeadlineExceeded, "no answer from cart.add_item")
	for _, c := range []struct {
		r         *http.Request
		err       error
		want, not string // in the API's message
		page      string // in the page's message
	}{
		{nil, silent, "try again", "outcome", "try again in a moment"},
		{req("GET", "/api/cart", false), errSessionUnknown, "try again", "nothing was changed", "temporarily unavailable"},
		{req("POST", "/api/cart/items", true), errSessionUnknown, "nothing was changed", "outcome", "nothing was changed"},
		{req("POST", "/api/filter", false), silent, "try again", "outcome", "try again in a moment"},
		{req("POST", "/api/cart/items", true), silent, "repeat the request with the same Idempotency-Key", "try again", "cannot tell whether your change was made"},
		{req("DELETE", "/api/cart/items/x", false), silent, "check before repeating", "try again", "cannot tell whether your change was made"},
	} {
		e := publicError(c.r, c.err)
		if StatusOf(c.err) != 503 || !strings.Contains(e.Message, c.want) || strings.Contains(e.Message, c.not) {
			t.Errorf("%v %v: %q; want %q, not %q", c.r, c.err, e.Message, c.want, c.not)
		}
		if m := message(c.r, c.err); !strings.Contains(m, c.page) {
			t.Errorf("%v %v: page message %q; want %q", c.r, c.err, m, c.page)
		}
	}
}

// A limit remembers at most MaxRateKeys clients, however many come.
func TestRateKeysBounded(t *testing.T) {
	l := newKeyedLimiter(Rate{Burst: 1, Per: time.Hour}, Rate{})
	now := time.Now()
	for i := range MaxRateKeys + 5000 {
		if _, ok := l.allow(fmt.Sprint("client-", i), now); !ok {
			t.Fatalf("client %d refused its first attempt", i)
		}
	}
	if n := len(l.keys); n > MaxRateKeys {
		t.Errorf("%d keys held, want at most %d", n, MaxRateKeys)
	}
	// A client still remembered is still limited.
	if _, ok := l.allow(fmt.Sprint("client-", MaxRateKeys+4999), now); ok {
		t.Error("the last client's second attempt allowed")
	}
}

// A shared cache is loaded neither with the cancellation nor with the
// session of the visitor whose request triggered the load: a visitor who
// leaves (or an admin) cannot decide what everyone else sees.
func TestSharedLoadsOwnContext(t *testing.T) {
	bus := inproc.New(inproc.Options{})
	defer bus.Close()
	var sawToken []string
	mux := transport.NewMux()
	mux.HandleFunc(category.MethodListChildren, func(ctx context.Context, req *transport.Request) ([]byte, error) {
		sawToken = append(sawToken, shop.TokenFrom(ctx))
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return []byte(`[{"id":"c1","name":"Shoes","slug":"shoes"}]`), nil
	})
	if _, err := bus.Serve(category.ServiceName, mux); err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Bus: bus})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(shop.WithToken(context.Background(), "admin-token"))
	cancel() // the visitor has gone
	roots, err := s.roots(ctx)
	if err != nil || len(roots) != 1 || roots[0].Slug != "shoes" {
		t.Fatalf("roots for a visitor who left: %v, %v", roots, err)
	}
	if len(sawToken) != 1 || sawToken[0] != "" {
		t.Errorf("the service saw tokens %q, want one load without a session", sawToken)
	}
}
