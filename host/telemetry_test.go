package host_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/proto"

	"github.com/shopbus/shopbus/host"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/storefront"
)

// receivedSpan is a span as an OTLP receiver got it, with the service
// name of its resource.
type receivedSpan struct {
	*tracepb.Span
	service string
	scope   string
}

func (s receivedSpan) attr(key string) string {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			switch v := kv.Value.Value.(type) {
			case *commonpb.AnyValue_StringValue:
				return v.StringValue
			case *commonpb.AnyValue_IntValue:
				return strconv.FormatInt(v.IntValue, 10)
			}
			return kv.Value.String()
		}
	}
	return ""
}

// otlpReceiver is an OTLP/HTTP trace receiver: what a collector is to a
// program, decoding the protobuf export requests.
type otlpReceiver struct {
	*httptest.Server
	mu       sync.Mutex
	spans    []receivedSpan
	requests int
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("OTLP receiver: %s %s (%s)", req.Method, req.URL.Path, req.Header.Get("Content-Type"))
			http.Error(w, "unexpected", http.StatusBadRequest)
			return
		}
		var body io.Reader = req.Body
		if req.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(req.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, err := io.ReadAll(io.LimitReader(body, 16<<20))
		var export coltracepb.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(b, &export)
		}
		if err != nil {
			t.Errorf("OTLP receiver: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.requests++
		for _, rs := range export.ResourceSpans {
			var service string
			for _, kv := range rs.GetResource().GetAttributes() {
				if kv.Key == "service.name" {
					service = kv.Value.GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					r.spans = append(r.spans, receivedSpan{s, service, ss.GetScope().GetName()})
				}
			}
		}
		r.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *otlpReceiver) received() ([]receivedSpan, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receivedSpan(nil), r.spans...), r.requests
}

// pageServices are the services a storefront's home page asks.
var pageServices = []string{"category", "product", "filter", "article", "seo", "auth"}

// runShop runs a program hosting pageServices and the storefront on cfg's
// bus, asks for the home page and stops the program: the spans are
// flushed by then. sawProvider reports whether the program installed an
// SDK TracerProvider.
func runShop(t *testing.T, cfg host.Config) (sawProvider bool) {
	t.Helper()
	cfg.Services = pageServices
	cfg.MongoURI = testenv.MongoURI(t)
	cfg.DBPrefix = testenv.UniqueName("otel")
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.Settings.BcryptCost = bcrypt.MinCost
	services, err := host.Lookup(pageServices...)
	if err != nil {
		t.Fatal(err)
	}
	dropDatabases(t, &host.Node{Mongo: testenv.MongoClient(t), DBPrefix: cfg.DBPrefix}, services)
	out, stdout := io.Pipe()
	p := &host.Program{
		Config: cfg,
		Stdout: stdout,
		Logger: quiet,
		Site: func(env host.SiteEnv) (http.Handler, error) {
			_, sawProvider = otel.GetTracerProvider().(*sdktrace.TracerProvider)
			return storefront.New(storefront.Options{Bus: env.Bus, BaseURL: env.BaseURL, Logger: quiet})
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	urls := make(chan string, 2)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			if u, ok := strings.CutPrefix(s.Text(), "shopbus serving on "); ok {
				urls <- u
			}
		}
	}()
	var url string
	select {
	case url = <-urls:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("no URL printed")
	}
	resp, err := http.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
	stdout.Close()
	return sawProvider
}

// TestTracesOfAPage runs the shop with an OTLP endpoint and checks that
// the home page is one trace across services: the request's span as the
// root, the storefront's bus calls its children, each service's handler
// span the child of its call.
func TestTracesOfAPage(t *testing.T) {
	for _, bus := range []string{"inproc", "rabbit"} {
		t.Run(bus, func(t *testing.T) {
			recv := newOTLPReceiver(t)
			t.Setenv(host.EnvOTelEndpoint, recv.URL)
			t.Setenv(host.EnvOTelServiceName, "")
			var cfg host.Config
			if bus == "rabbit" {
				cfg.AMQPURL = testenv.AMQPURL(t)
				cfg.AMQPNamespace = testenv.UniqueName("otel")
				cfg.AMQPExpire = time.Minute
			}
			if !runShop(t, cfg) {
				t.Error("no SDK TracerProvider installed while the program ran")
			}
			if _, ok := otel.GetTracerProvider().(*sdktrace.TracerProvider); ok {
				t.Error("the SDK TracerProvider is still installed after Run")
			}
			spans, _ := recv.received()
			checkPageTrace(t, spans)
		})
	}
}

func checkPageTrace(t *testing.T, spans []receivedSpan) {
	t.Helper()
	var root *receivedSpan
	for i, s := range spans {
		if s.Kind == tracepb.Span_SPAN_KIND_SERVER && s.attr("http.route") == "/{$}" {
			root = &spans[i]
		}
	}
	if root == nil {
		t.Fatalf("no span of GET / among %d spans", len(spans))
	}
	if root.Name != "GET /{$}" || len(root.ParentSpanId) != 0 || root.attr("http.response.status_code") != "200" {
		t.Errorf("page span: %q parent %x status %q", root.Name, root.ParentSpanId, root.attr("http.response.status_code"))
	}
	if root.service != "shopbus-shop" {
		t.Errorf("service.name %q, want shopbus-shop", root.service)
	}
	byID := map[string]receivedSpan{}
	for _, s := range spans {
		// Only the shop's own spans: the embedded database's (an unnamed
		// tracer, one root span per command) are not exported.
		if s.scope != storefront.TracerName && s.scope != "github.com/shopbus/shopbus/transport" {
			t.Errorf("span %q of scope %q exported", s.Name, s.scope)
		}
		if bytes.Equal(s.TraceId, root.TraceId) {
			byID[string(s.SpanId)] = s
		}
	}
	handlers := map[string]bool{} // services whose handler span is in the trace
	var calls int
	for _, s := range byID {
		if s.SpanId == nil || bytes.Equal(s.SpanId, root.SpanId) {
			continue
		}
		parent, ok := byID[string(s.ParentSpanId)]
		if !ok {
			t.Errorf("%s %s: parent %x is not in the trace", s.Kind, s.Name, s.ParentSpanId)
			continue
		}
		switch s.Kind {
		case tracepb.Span_SPAN_KIND_CLIENT:
			calls++
			if parent.Kind != tracepb.Span_SPAN_KIND_SERVER {
				t.Errorf("call %s: parent is a %s span, want the page's or a handler's", s.Name, parent.Kind)
			}
			if s.attr("messaging.message.conversation_id") == "" {
				t.Errorf("call %s has no correlation id", s.Name)
			}
		case tracepb.Span_SPAN_KIND_SERVER:
			if parent.Kind != tracepb.Span_SPAN_KIND_CLIENT || parent.Name != s.Name {
				t.Errorf("handler %s: parent %s %s, want its call", s.Name, parent.Kind, parent.Name)
			}
			if s.attr("messaging.message.conversation_id") != parent.attr("messaging.message.conversation_id") {
				t.Errorf("handler %s: correlation id differs from its call's", s.Name)
			}
			svc, _, _ := strings.Cut(s.Name, ".")
			handlers[svc] = true
		}
	}
	if calls == 0 || len(handlers) < 2 {
		t.Errorf("trace %s: %d calls, handlers of %v; want calls and the handlers of at least two services", hex.EncodeToString(root.TraceId), calls, handlers)
	}
	for _, svc := range []string{"category", "filter", "article", "seo"} {
		if !handlers[svc] {
			t.Errorf("no handler span of %s in the page's trace (have %v)", svc, handlers)
		}
	}
}

// TestNoTracesWhenDisabled runs the shop without an OTLP endpoint, or
// with one but OTEL_SDK_DISABLED or OTEL_TRACES_EXPORTER=none: no SDK is
// installed and nothing reaches the receiver.
func TestNoTracesWhenDisabled(t *testing.T) {
	for name, env := range map[string][2]string{
		"no variables":  {},
		"sdk disabled":  {host.EnvOTelSDKDisabled, "true"},
		"exporter none": {host.EnvOTelTracesExporter, "none"},
	} {
		t.Run(name, func(t *testing.T) {
			recv := newOTLPReceiver(t)
			t.Setenv(host.EnvOTelTracesEndpoint, "")
			t.Setenv(host.EnvOTelEndpoint, "")
			if env[0] != "" {
				t.Setenv(host.EnvOTelEndpoint, recv.URL)
				t.Setenv(env[0], env[1])
			}
			if runShop(t, host.Config{}) {
				t.Error("an SDK TracerProvider was installed")
			}
			if spans, requests := recv.received(); requests != 0 || len(spans) != 0 {
				t.Errorf("the receiver got %d requests, %d spans", requests, len(spans))
			}
		})
	}
}

func TestTelemetryConfigErrors(t *testing.T) {
	for name, c := range map[string]struct{ env, value string }{
		"grpc":            {host.EnvOTelProtocol, "grpc"},
		"traces protocol": {host.EnvOTelTracesProtocol, "thrift"},
		"exporter":        {host.EnvOTelTracesExporter, "zipkin"},
		"endpoint":        {host.EnvOTelEndpoint, "collector:4318"},
		"traces endpoint": {host.EnvOTelTracesEndpoint, "ftp://collector/v1/traces"},
		"propagator":      {host.EnvOTelPropagators, "tracecontext,b3"},
	} {
		t.Run(name, func(t *testing.T) {
			if c.env != host.EnvOTelEndpoint {
				t.Setenv(host.EnvOTelEndpoint, "http://127.0.0.1:1")
			}
			t.Setenv(c.env, c.value)
			err := (&host.Program{Config: host.Config{MongoURI: "mongodb://127.0.0.1:1/", HTTPAddr: "127.0.0.1:0"}, Logger: quiet}).Run(context.Background())
			var ce *host.ConfigError
			if !errors.As(err, &ce) || ce.Var != c.env {
				t.Errorf("Run with %s=%s: %v, want a ConfigError naming %s", c.env, c.value, err, c.env)
			}
		})
	}
}

func TestServiceName(t *testing.T) {
	one, _ := host.Lookup("auth")
	two, _ := host.Lookup("auth", "cart")
	for _, c := range []struct {
		services []host.Service
		site     bool
		want     string
	}{
		{one, false, "shopbus-auth"},
		{one, true, "shopbus-shop"},
		{nil, true, "shopbus-storefront"},
		{two, false, "shopbus-shop"},
		{host.Catalogue(), true, "shopbus-shop"},
	} {
		if got := host.ServiceName(c.services, c.site); got != c.want {
			t.Errorf("ServiceName(%d services, site %v) = %q, want %q", len(c.services), c.site, got, c.want)
		}
	}
}
