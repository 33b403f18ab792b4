package site_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shopbus/shopbus/deploy/internal/site"
	"github.com/shopbus/shopbus/host"
	"github.com/shopbus/shopbus/storefront"
	"github.com/shopbus/shopbus/transport/inproc"
)

func TestOptionsFromEnv(t *testing.T) {
	bus := inproc.New(inproc.Options{})
	defer bus.Close()
	env := host.SiteEnv{Bus: bus, BaseURL: "https://shop.example"}

	opts, err := site.Options(env)
	if err != nil || opts.RateLimits != (storefront.RateLimits{}) || opts.ClientIP != nil || opts.BaseURL != env.BaseURL {
		t.Fatalf("no variables: %+v, %v", opts.RateLimits, err)
	}

	t.Setenv(site.EnvLoginRate, "100/1m")
	t.Setenv(site.EnvLoginAccountRate, "off")
	t.Setenv(site.EnvRegisterRate, "3/10s")
	t.Setenv(site.EnvClientIPHeader, "X-Real-IP")
	opts, err = site.Options(env)
	want := storefront.RateLimits{
		Login:        storefront.Rate{Burst: 100, Per: time.Minute},
		LoginAccount: storefront.Rate{Off: true},
		Register:     storefront.Rate{Burst: 3, Per: 10 * time.Second},
	}
	if err != nil || opts.RateLimits != want || opts.ClientIP == nil {
		t.Fatalf("got %+v, %v; want %+v", opts.RateLimits, err, want)
	}
	r, _ := http.NewRequest("GET", "/", nil)
	r.RemoteAddr, r.Header["X-Real-Ip"] = "10.0.0.1:1", []string{"192.0.2.7"}
	if got := opts.ClientIP(r); got != "192.0.2.7" {
		t.Errorf("client IP from X-Real-IP: %q", got)
	}

	t.Setenv(site.EnvLoginRate, "lots")
	t.Setenv(site.EnvClientIPHeader, "X Real IP")
	_, err = site.Storefront(env)
	var ce *host.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), site.EnvLoginRate) || !strings.Contains(err.Error(), site.EnvClientIPHeader) {
		t.Errorf("bad values: %v", err)
	}
}

// TestTraceURLFromEnv: SHOP_TRACE_URL becomes Options.TraceURL; a value
// the storefront refuses is a *host.ConfigError naming the variable.
func TestTraceURLFromEnv(t *testing.T) {
	bus := inproc.New(inproc.Options{})
	defer bus.Close()
	env := host.SiteEnv{Bus: bus}
	t.Setenv(site.EnvTraceURL, " http://jaeger:16686/trace/{trace_id} ")
	if opts, err := site.Options(env); err != nil || opts.TraceURL != "http://jaeger:16686/trace/{trace_id}" {
		t.Fatalf("TraceURL %q, %v", opts.TraceURL, err)
	}
	if _, err := site.Storefront(env); err != nil {
		t.Fatal(err)
	}
	t.Setenv(site.EnvTraceURL, "http://jaeger:16686/trace/")
	_, err := site.Storefront(env)
	var ce *host.ConfigError
	if !errors.As(err, &ce) || ce.Var != site.EnvTraceURL || !strings.Contains(ce.Reason, "{trace_id}") {
		t.Errorf("a TraceURL without {trace_id}: %v", err)
	}
}
