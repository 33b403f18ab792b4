package storefront_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopbus/shopbus/internal/spantest"
	"github.com/shopbus/shopbus/storefront"
	"github.com/shopbus/shopbus/transport/inproc"
)

// TestRequestSpans checks the server span of a request: named after the
// route, with its status code, the child of a caller's traceparent, and
// the parent of the bus calls the page makes.
func TestRequestSpans(t *testing.T) {
	rec := spantest.Record(t)
	// No service answers: a search fails with 503 once the filter
	// service's budget is spent.
	bus := inproc.New(inproc.Options{Logger: quiet})
	t.Cleanup(func() { bus.Close() })
	front, err := storefront.New(storefront.Options{Bus: bus, Logger: quiet, FilterTimeout: 50 * time.Millisecond, CallTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(front)
	t.Cleanup(srv.Close)

	get := func(path, traceparent string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if traceparent != "" {
			req.Header.Set("Traceparent", traceparent)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// A span ends once its handler returns, which may be just after the
	// client has read the whole response.
	spanOf := func(path string) sdktrace.ReadOnlySpan {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			for _, s := range rec.Ended() {
				for _, kv := range s.Attributes() {
					if kv.Key == "url.path" && kv.Value.AsString() == path {
						return s
					}
				}
			}
		}
		t.Fatalf("no span of %s", path)
		return nil
	}
	attr := spantest.Attr

	if code := get("/static/shop.css", ""); code != 200 {
		t.Fatalf("GET /static/shop.css: %d", code)
	}
	css := spanOf("/static/shop.css")
	if css.Name() != "GET /static/" || css.SpanKind() != trace.SpanKindServer || css.Parent().IsValid() ||
		attr(css, "http.route") != "/static/" || attr(css, "http.response.status_code") != "200" || css.Status().Code != codes.Unset {
		t.Errorf("span of a static file: %s %s parent %v route %q status %q %v", css.SpanKind(), css.Name(), css.Parent().IsValid(), attr(css, "http.route"), attr(css, "http.response.status_code"), css.Status())
	}

	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	if code := get("/search?q=shoe", traceparent); code != http.StatusServiceUnavailable {
		t.Fatalf("GET /search without a filter service: %d, want 503", code)
	}
	search := spanOf("/search")
	if search.Name() != "GET /search" || attr(search, "http.response.status_code") != "503" || search.Status().Code != codes.Error {
		t.Errorf("span of a failed search: %s status %q %v", search.Name(), attr(search, "http.response.status_code"), search.Status())
	}
	if p := search.Parent(); p.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || p.SpanID().String() != "00f067aa0ba902b7" || !p.IsRemote() {
		t.Errorf("span of a request with a traceparent: parent %v", p)
	}
	var calls int
	for _, s := range rec.Ended() {
		if s.SpanKind() != trace.SpanKindClient || s.Parent().SpanID() != search.SpanContext().SpanID() {
			continue
		}
		calls++
		if s.SpanContext().TraceID() != search.SpanContext().TraceID() {
			t.Errorf("call %s is in another trace", s.Name())
		}
		if s.Name() == "filter.query" && (s.Status().Code != codes.Error || attr(s, "error.type") != "deadline_exceeded") {
			t.Errorf("unanswered call %s: status %v error.type %q", s.Name(), s.Status(), attr(s, "error.type"))
		}
	}
	if calls == 0 {
		t.Error("the search's bus calls are not children of its span")
	}
}

// TestTraceReference: a traced request's console page shows its trace id
// at its foot, linked to Options.TraceURL; an error page gives the id as a
// reference (never the viewer's address); untraced pages show none; a
// TraceURL without the placeholder or not http(s) is refused.
func TestTraceReference(t *testing.T) {
	for _, bad := range []string{"http://jaeger:16686/trace/", "ftp://x/{trace_id}", "/trace/{trace_id}", "http://%zz/{trace_id}"} {
		if _, err := storefront.New(storefront.Options{Bus: inproc.New(inproc.Options{Logger: quiet}), TraceURL: bad}); err == nil {
			t.Errorf("TraceURL %q accepted", bad)
		}
	}
	const viewer = "http://jaeger.test:16686/trace/{trace_id}"
	f := newShop(t, storefront.Options{TraceURL: viewer})
	admin := adminBrowser(t, f)

	spantest.Record(t)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	getFlags := func(b *browser, path, flags string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, f.srv.URL+path, nil)
		req.Header.Set("Traceparent", "00-"+traceID+"-00f067aa0ba902b7-"+flags)
		resp, body := b.doRequest(req)
		return resp.StatusCode, string(body)
	}
	get := func(b *browser, path string) (int, string) { return getFlags(b, path, "01") }

	// Not sampled (the caller's flags say so): no trace on the page.
	if code, body := getFlags(admin, "/admin", "00"); code != 200 || strings.Contains(body, "admin-trace") {
		t.Fatalf("untraced /admin: %d, trace footer %v", code, strings.Contains(body, "admin-trace"))
	}
	code, body := get(admin, "/admin")
	if link := `<a class="trace-link" href="http://jaeger.test:16686/trace/` + traceID + `">` + traceID + `</a>`; code != 200 || !strings.Contains(body, link) {
		t.Errorf("traced /admin: %d, no %s in the page", code, link)
	}
	code, body = get(f.browser(t), "/no-such-page-anywhere")
	if code != http.StatusNotFound || !strings.Contains(body, `Reference: <code class="trace-id">`+traceID+`</code>`) || strings.Contains(body, "jaeger.test") {
		t.Errorf("traced error page: %d, reference shown %v, viewer address leaked %v", code,
			strings.Contains(body, traceID), strings.Contains(body, "jaeger.test"))
	}
}
