// Package host runs shopbus services: several (or all ten) in one process
// on a Node, or the whole shop as a deployable program (Program, used by
// deploy/shop).
//
// A Node hosts a list of Service values. Each names a service and says how
// to start it: build it on its own database ("<prefix>_<name>"), wire it to
// the other services through their bus clients only, and serve it on the
// bus. Catalogue lists the built-in services; Builtin and Lookup find them
// by name. The node runs every service under a supervise.Supervisor: a
// service whose start or background work fails is restarted with backoff,
// and one that fails too often stops the node.
//
// Every request a hosted service serves is counted (transport.Stats, through
// a bus decorator, so the services need not know). Node.Handler serves
// /healthz, /readyz (bus ready, database reachable, every service serving),
// /stats (JSON) and /metrics (Prometheus text format).
//
// Deployable binaries read a Config from the environment (ConfigFromEnv):
//
//	SHOP_SERVICES            comma-separated service names, or "all" (default)
//	SHOP_AMQP_URL            RabbitMQ URL; unset: the in-process bus
//	SHOP_AMQP_NAMESPACE      prefix of RabbitMQ objects (default "shop")
//	SHOP_AMQP_EXPIRE         delete queues unused that long (tests, ephemeral setups)
//	SHOP_MONGO_URI           MongoDB URI; unset: deploy/shop embeds one
//	SHOP_DB_PREFIX           database name prefix (default "shop")
//	SHOP_WORKERS             worker processes (default 1: no cluster)
//	SHOP_WORKERS_<SERVICE>   requests/events one consumer of SERVICE handles
//	                         at once (default transport.DefaultConcurrency)
//	SHOP_ADMIN_EMAIL         admin account ensured by the auth service,
//	SHOP_ADMIN_PASSWORD      with this password (set both or neither)
//	SHOP_BCRYPT_COST         bcrypt work factor, SHOP_SESSION_TTL session lifetime
//	SHOP_AUTH_HASHES         bcrypt runs at once in the auth service (default half the CPUs)
//	SHOP_HTTP_ADDR           HTTP listen address (default 127.0.0.1:8080)
//	SHOP_BASE_URL            public URL of the storefront (default: the listen URL)
//	SHOP_DATA_DIR            embedded MongoDB directory (default ./shopdata)
//	SHOP_LOG_LEVEL           debug, info, warn or error (default info)
//	SHOP_SEED                true: the seeder fills a new shop with sample data
//	SHOP_SEED_PRODUCTS       how many products the sample data has (default 48)
//	SHOP_REPLICA             this node's name when several nodes host the same
//	                         services (worker processes add their id)
//
// Package host never starts a database itself: the embedded FerretDB is
// kept out of it (deploy/shop starts one and passes its URI).
package host
