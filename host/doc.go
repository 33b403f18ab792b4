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
// On the request queue of every service it runs, a node also serves the
// operations API of package host/ops, for admins: "<service>.operations"
// (the answering replica's service states, the service's method
// statistics, outbox backlog and dead-letter counts) and the dead-letter
// methods that list, replay and discard what the service's event
// subscribers parked. The node learns a service's subscribers from the
// subscriptions it makes on Env.Bus (Node.Subscribers). The storefront's
// console shows them at /admin/operations.
//
// Deployable binaries read a Config from the environment (ConfigFromEnv):
//
//	SHOP_SERVICES            comma-separated service names, or "all" (default)
//	SHOP_AMQP_URL            RabbitMQ URL; unset: the in-process bus
//	SHOP_AMQP_NAMESPACE      prefix of RabbitMQ objects (default "shop")
//	SHOP_AMQP_EXPIRE         delete queues unused that long (tests, ephemeral setups)
//	SHOP_MONGO_URI           MongoDB URI; unset: deploy/shop embeds one
//	SHOP_MONGO_PASSWORD_FILE the password of the user SHOP_MONGO_URI names (a Docker secret)
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
// Traces: Program sets up OpenTelemetry from its standard variables (see
// the EnvOTel constants). With OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) set it installs the SDK as the
// global TracerProvider, exporting over OTLP/HTTP in batches, and flushes
// the last spans when it stops; without, it installs nothing but the W3C
// propagators (no exporter, no goroutine, no span):
//
//	OTEL_EXPORTER_OTLP_ENDPOINT         collector base URL, e.g. http://otel-collector:4318
//	OTEL_EXPORTER_OTLP_TRACES_ENDPOINT  full traces URL (wins over the above)
//	OTEL_EXPORTER_OTLP_PROTOCOL         http/protobuf (default) or http/json; grpc is refused
//	OTEL_EXPORTER_OTLP_HEADERS          key=value,... sent with every export (e.g. an API key)
//	OTEL_EXPORTER_OTLP_TIMEOUT, _COMPRESSION, _CERTIFICATE, _CLIENT_CERTIFICATE, _CLIENT_KEY
//	OTEL_SERVICE_NAME                   default shopbus-<service> for one service, shopbus-storefront
//	                                    for the storefront alone, shopbus-shop otherwise
//	OTEL_RESOURCE_ATTRIBUTES            key=value,... added to the resource
//	OTEL_TRACES_SAMPLER, _ARG           default parentbased_always_on
//	OTEL_TRACES_EXPORTER                otlp (default) or none
//	OTEL_PROPAGATORS                    tracecontext,baggage (default) or none
//	OTEL_SDK_DISABLED                   true: no SDK and no propagation at all
//	OTEL_BSP_SCHEDULE_DELAY, ...        the batch span processor's settings
//
// The spans are those of the bus (transport: a client span per call, a
// server span per handler run, producer and consumer spans for events)
// and of the storefront (a server span per request), one trace per page
// across every service. The embedded FerretDB's own spans (an unnamed
// tracer, one unlinked root span per database command) are not exported.
//
// Package host never starts a database itself: the embedded FerretDB is
// kept out of it (deploy/shop starts one and passes its URI).
package host
