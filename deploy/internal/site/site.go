// Package site builds the storefront of the deploy binaries (deploy/shop,
// deploy/storefront) from a host.SiteEnv and the storefront's own
// environment variables.
package site

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/shopbus/shopbus/host"
	"github.com/shopbus/shopbus/storefront"
)

// Environment variables of the storefront, read by Storefront.
const (
	EnvLoginRate        = "SHOP_LOGIN_RATE"         // logins per client, "<burst>/<duration>" or "off" (default 20/1m)
	EnvLoginAccountRate = "SHOP_LOGIN_ACCOUNT_RATE" // logins per account (default 10/1m)
	EnvRegisterRate     = "SHOP_REGISTER_RATE"      // registrations per client (default 10/1m)
	EnvClientIPHeader   = "SHOP_CLIENT_IP_HEADER"   // header a trusted proxy puts the client's address in (e.g. X-Forwarded-For); unset: the peer address
	EnvTraceURL         = "SHOP_TRACE_URL"          // a trace viewer's URL of one trace, with {trace_id} (e.g. http://localhost:16686/trace/{trace_id}); see storefront.Options.TraceURL
	EnvMaxImageUpload   = "SHOP_MAX_IMAGE_UPLOAD"   // the largest image file the console accepts: bytes, or with KB or MB (binary: 1 MB = 1,048,576 bytes), 64KB to 64MB (default 10MB)
	EnvMaxImagePixels   = "SHOP_MAX_IMAGE_PIXELS"   // the most pixels (width × height) of an uploaded image: a number, or megapixels with M (e.g. 24M), 10000 to 64M (default 40M)
)

// Bounds of the image upload limits: the console holds an upload in memory
// (twice, while it reads the form) and decodes it at up to 16 bytes a pixel.
const (
	minImageUpload = 64 << 10
	maxImageUpload = 64 << 20
	minImagePixels = 10_000
	maxImagePixels = 64_000_000
)

// Storefront returns the storefront of env, configured from the
// environment variables above; a bad value is a *host.ConfigError naming
// its variable.
func Storefront(env host.SiteEnv) (http.Handler, error) {
	opts, err := Options(env)
	if err != nil {
		return nil, err
	}
	front, err := storefront.New(opts)
	var cerr *storefront.ConfigError
	if errors.As(err, &cerr) && cerr.Field == "TraceURL" {
		return nil, &host.ConfigError{Var: EnvTraceURL, Reason: cerr.Message}
	}
	return front, err
}

// Options returns the storefront options of env and the environment.
func Options(env host.SiteEnv) (storefront.Options, error) {
	opts := storefront.Options{Bus: env.Bus, BaseURL: env.BaseURL, Logger: env.Logger}
	var errs []error
	for _, v := range []struct {
		name string
		rate *storefront.Rate
	}{
		{EnvLoginRate, &opts.RateLimits.Login},
		{EnvLoginAccountRate, &opts.RateLimits.LoginAccount},
		{EnvRegisterRate, &opts.RateLimits.Register},
	} {
		r, err := storefront.ParseRate(os.Getenv(v.name))
		if err != nil {
			errs = append(errs, &host.ConfigError{Var: v.name, Reason: err.Error()})
		}
		*v.rate = r
	}
	if h := strings.TrimSpace(os.Getenv(EnvClientIPHeader)); h != "" {
		if !validHeader(h) {
			errs = append(errs, &host.ConfigError{Var: EnvClientIPHeader, Reason: "not a header name"})
		} else {
			opts.ClientIP = storefront.HeaderIP(h)
		}
	}
	opts.TraceURL = strings.TrimSpace(os.Getenv(EnvTraceURL))
	if v := os.Getenv(EnvMaxImageUpload); v != "" {
		n, err := parseAmount(v, map[string]int64{"B": 1, "KB": 1 << 10, "MB": 1 << 20}, minImageUpload, maxImageUpload)
		if err != nil {
			errs = append(errs, &host.ConfigError{Var: EnvMaxImageUpload, Reason: err.Error() + ` (e.g. "10MB", "512KB" or "2000000")`})
		}
		opts.MaxImageUpload = n
	}
	if v := os.Getenv(EnvMaxImagePixels); v != "" {
		n, err := parseAmount(v, map[string]int64{"": 1, "M": 1_000_000}, minImagePixels, maxImagePixels)
		if err != nil {
			errs = append(errs, &host.ConfigError{Var: EnvMaxImagePixels, Reason: err.Error() + ` (e.g. "24M" or "12000000")`})
		}
		opts.MaxImagePixels = int(n)
	}
	return opts, errors.Join(errs...)
}

// parseAmount reads a whole number with an optional unit (case-insensitive,
// a space allowed before it; a number alone counts in units[""] or
// units["B"]) and checks it is within [lo, hi]. On error it returns 0.
func parseAmount(s string, units map[string]int64, lo, hi int64) (int64, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	mult, ok := units[unit]
	if unit == "" {
		mult, ok = units[""]
		if !ok {
			mult, ok = units["B"]
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if !ok || err != nil || num == "" {
		return 0, fmt.Errorf("%q is not an amount", s)
	}
	if n > hi/mult || n*mult < lo || n*mult > hi {
		return 0, fmt.Errorf("%q is out of range %d to %d", s, lo, hi)
	}
	return n * mult, nil
}

// validHeader reports whether h is a header name (RFC 9110 token).
func validHeader(h string) bool {
	if h == "" || len(h) > 64 {
		return false
	}
	for _, c := range h {
		if !(c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
