// Command order runs the order service alone, as one container of the
// standard topology (deploy/compose.yaml). It is configured from the
// environment (see host.ConfigFromEnv): SHOP_AMQP_URL and SHOP_MONGO_URI
// are required; SHOP_ADMIN_EMAIL and SHOP_ADMIN_PASSWORD give it the
// operator session it recovers interrupted checkouts and restocks
// cancelled orders with. It uses the fake payment provider: a program
// that charges for real embeds host with Settings.Payment.
package main

import "github.com/shopbus/shopbus/deploy/internal/runner"

func main() { runner.Main([]string{"order"}, nil) }
