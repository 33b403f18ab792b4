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

// TestImageLimitsFromEnv: SHOP_MAX_IMAGE_UPLOAD and SHOP_MAX_IMAGE_PIXELS
// set the console's upload limits, with units; malformed or out-of-range
// values are *host.ConfigErrors naming the variable, never a silent
// default.
func TestImageLimitsFromEnv(t *testing.T) {
	bus := inproc.New(inproc.Options{})
	defer bus.Close()
	env := host.SiteEnv{Bus: bus}
	if opts, err := site.Options(env); err != nil || opts.MaxImageUpload != 0 || opts.MaxImagePixels != 0 {
		t.Fatalf("unset: %d, %d, %v (want the storefront's defaults)", opts.MaxImageUpload, opts.MaxImagePixels, err)
	}
	for _, tc := range []struct {
		upload, pixels string
		bytes          int64
		px             int
	}{
		{"10MB", "24M", 10 << 20, 24_000_000},
		{" 512 kb ", "12000000", 512 << 10, 12_000_000},
		{"2000000", "64m", 2_000_000, 64_000_000},
		{"64MB", "10000", 64 << 20, 10_000},
	} {
		t.Setenv(site.EnvMaxImageUpload, tc.upload)
		t.Setenv(site.EnvMaxImagePixels, tc.pixels)
		opts, err := site.Options(env)
		if err != nil || opts.MaxImageUpload != tc.bytes || opts.MaxImagePixels != tc.px {
			t.Errorf("%q, %q: %d, %d, %v; want %d, %d", tc.upload, tc.pixels, opts.MaxImageUpload, opts.MaxImagePixels, err, tc.bytes, tc.px)
		}
	}
	for _, tc := range []struct{ name, value string }{
		{site.EnvMaxImageUpload, "lots"},
		{site.EnvMaxImageUpload, "10GB"},
		{site.EnvMaxImageUpload, "-1"},
		{site.EnvMaxImageUpload, "65MB"},
		{site.EnvMaxImageUpload, "1KB"},
		{site.EnvMaxImageUpload, "99999999999999999999"},
		{site.EnvMaxImageUpload, "9223372036854775807MB"},
		{site.EnvMaxImageUpload, "MB"},
		{site.EnvMaxImagePixels, "1.5M"},
		{site.EnvMaxImagePixels, "65M"},
		{site.EnvMaxImagePixels, "9999"},
		{site.EnvMaxImagePixels, "24MB"},
	} {
		t.Setenv(site.EnvMaxImageUpload, "10MB")
		t.Setenv(site.EnvMaxImagePixels, "24M")
		t.Setenv(tc.name, tc.value)
		_, err := site.Storefront(env)
		var ce *host.ConfigError
		if !errors.As(err, &ce) || ce.Var != tc.name {
			t.Errorf("%s=%q: %v, want a ConfigError naming it", tc.name, tc.value, err)
		}
	}
}
