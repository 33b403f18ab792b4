// Package site builds the storefront of the deploy binaries (deploy/shop,
// deploy/storefront) from a host.SiteEnv and the storefront's own
// environment variables.
package site

import (
	"errors"
	"net/http"
	"os"
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
	return opts, errors.Join(errs...)
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
