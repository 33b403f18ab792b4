// Command storefront serves the web shop (HTML pages and the JSON API) and
// hosts no service: it reaches every service over RabbitMQ. It is one
// container of the standard topology (deploy/compose.yaml), configured from
// the environment (see host.ConfigFromEnv).
package main

import (
	"net/http"

	"github.com/shopbus/shopbus/deploy/internal/runner"
	"github.com/shopbus/shopbus/host"
	"github.com/shopbus/shopbus/storefront"
)

func main() { runner.Main(nil, site) }

func site(env host.SiteEnv) (http.Handler, error) {
	return storefront.New(storefront.Options{Bus: env.Bus, BaseURL: env.BaseURL, Logger: env.Logger})
}
