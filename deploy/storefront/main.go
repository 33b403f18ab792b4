// Command storefront serves the web shop (HTML pages and the JSON API) and
// hosts no service: it reaches every service over RabbitMQ. It is one
// container of the standard topology (deploy/compose.yaml), configured from
// the environment (see host.ConfigFromEnv, and deploy/internal/site for the
// rate limits and the client address behind a proxy).
package main

import (
	"github.com/shopbus/shopbus/deploy/internal/runner"
	"github.com/shopbus/shopbus/deploy/internal/site"
)

func main() { runner.Main(nil, site.Storefront) }
