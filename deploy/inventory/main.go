// Command inventory runs the inventory service alone, as one container of
// the standard topology (deploy/compose.yaml). It is configured from the
// environment (see host.ConfigFromEnv): SHOP_AMQP_URL and SHOP_MONGO_URI
// are required.
package main

import "github.com/shopbus/shopbus/deploy/internal/runner"

func main() { runner.Main([]string{"inventory"}, nil) }
