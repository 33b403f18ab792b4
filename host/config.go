package host

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

	"github.com/shopbus/shopbus/shop/seeder"
	"github.com/shopbus/shopbus/supervise"
	"github.com/shopbus/shopbus/transport"
)

// Environment variables read by ConfigFromEnv.
const (
	EnvServices      = "SHOP_SERVICES"        // comma-separated service names, or "all" (the default)
	EnvAMQPURL       = "SHOP_AMQP_URL"        // RabbitMQ URL, or the comma-separated URLs of a cluster's nodes; unset means the in-process bus
	EnvAMQPQueueType = "SHOP_AMQP_QUEUE_TYPE" // classic (default) or quorum (clusters)
	EnvAMQPNamespace = "SHOP_AMQP_NAMESPACE"  // prefix of RabbitMQ object names (default "shop")
	EnvAMQPExpire    = "SHOP_AMQP_EXPIRE"     // delete queues unused that long (ephemeral environments)
	EnvMongoURI      = "SHOP_MONGO_URI"       // MongoDB URI; unset means the embedded server (deploy/shop)
	EnvDBPrefix      = "SHOP_DB_PREFIX"       // database name prefix (default "shop")
	EnvWorkers       = supervise.EnvWorkers   // worker processes; unset, 0 or 1 means one process
	EnvWorkersPrefix = "SHOP_WORKERS_"        // + service name: its consumer concurrency
	EnvAdminEmail    = "SHOP_ADMIN_EMAIL"     // admin account to ensure (with EnvAdminPassword)
	EnvAdminPassword = "SHOP_ADMIN_PASSWORD"  // its password
	EnvBcryptCost    = "SHOP_BCRYPT_COST"     // bcrypt work factor, 4 to 31
	EnvSessionTTL    = "SHOP_SESSION_TTL"     // session lifetime, a Go duration
	EnvAuthHashes    = "SHOP_AUTH_HASHES"     // bcrypt runs at once in the auth service (default half the CPUs)
	EnvHTTPAddr      = "SHOP_HTTP_ADDR"       // HTTP listen address (default 127.0.0.1:8080)
	EnvOpsAddr       = "SHOP_OPS_ADDR"        // operations endpoints' address (default: SHOP_HTTP_ADDR without a site, a free loopback port with one)
	EnvBaseURL       = "SHOP_BASE_URL"        // public URL of the storefront (default from the address)
	EnvDataDir       = "SHOP_DATA_DIR"        // embedded MongoDB's data directory (default ./shopdata)
	EnvLogLevel      = "SHOP_LOG_LEVEL"       // debug, info, warn or error (default info)
	EnvReplica       = "SHOP_REPLICA"         // this node's name among replicas of the same services
	EnvSeed          = "SHOP_SEED"            // true: seed sample data on first start (needs the admin account)
	EnvSeedProducts  = "SHOP_SEED_PRODUCTS"   // products of the sample data (default 48)
)

// Defaults of ConfigFromEnv.
const (
	DefaultHTTPAddr = "127.0.0.1:8080"
	DefaultDataDir  = "shopdata"
	// MaxConcurrency is the largest per-service concurrency accepted.
	MaxConcurrency = 1024
)

// Config is how a deployable binary is configured; ConfigFromEnv reads it
// from the environment. Fields left zero mean the defaults.
type Config struct {
	// Services names the services to host; nil means all of them.
	Services []string
	// AMQPURL is the RabbitMQ broker to use: one AMQP URL, or the
	// comma-separated URLs of the nodes of one cluster; empty means the
	// in-process bus.
	AMQPURL string
	// AMQPQueueType is the type of the durable queues: "classic" (the
	// default) or "quorum" (replicated across a cluster's nodes).
	AMQPQueueType string
	// AMQPNamespace prefixes RabbitMQ queue and exchange names; empty
	// means the rabbit package's default.
	AMQPNamespace string
	// AMQPExpire, when set, makes the broker delete this shop's queues
	// once they have had no consumer for that long: for tests and
	// ephemeral environments, never production.
	AMQPExpire time.Duration
	// AMQPCAFile, AMQPCertFile, AMQPKeyFile and AMQPServerName configure
	// TLS to the broker (amqps:// URLs only): the PEM file of the CAs that
	// sign the broker's certificate (empty: the system's), a client
	// certificate and its key, and the name to verify in the broker's
	// certificate (empty: each URL's host). See AMQPTLS.
	AMQPCAFile, AMQPCertFile, AMQPKeyFile, AMQPServerName string
	// MongoURI is the MongoDB server; empty means an embedded one (which
	// only deploy/shop can start).
	MongoURI string
	// DBPrefix prefixes database names: "<prefix>_<service>".
	DBPrefix string
	// Workers is the number of worker processes (supervise.Cluster); 0 or
	// 1 means everything runs in this process. More than one needs
	// RabbitMQ and MongoDB: the in-process bus and the embedded database
	// cannot be shared between processes.
	Workers int
	// Concurrency maps a service name to its consumers' concurrency.
	Concurrency map[string]int
	// Settings are passed to every service (admin account, ...).
	Settings Settings
	// HTTPAddr is where the web site (the storefront) listens, with
	// /healthz; without a site, the operations endpoints too.
	HTTPAddr string
	// OpsAddr is where the operations endpoints (/readyz, /stats,
	// /metrics, /healthz) listen when it differs from HTTPAddr. Empty
	// means HTTPAddr for a node without a site and a free port on the
	// loopback interface for one with a site, so that a public site never
	// serves its operations endpoints.
	OpsAddr string
	// DataDir is where the embedded MongoDB keeps its files.
	DataDir string
	// LogLevel is the minimum level logged.
	LogLevel slog.Level
}

// ConfigError reports an invalid configuration value. errors.Is(err,
// shop.ErrInvalid) holds for it.
type ConfigError struct {
	// Var is the environment variable (or Config field) at fault.
	Var string
	// Reason says what is wrong; it never repeats a secret.
	Reason string
}

// Error names the variable and the problem.
func (e *ConfigError) Error() string { return "host: invalid " + e.Var + ": " + e.Reason }

// Is makes errors.Is(err, shop.ErrInvalid) true.
func (e *ConfigError) Is(target error) bool {
	t, ok := target.(*transport.Error)
	return ok && t.Code == transport.CodeInvalid
}

// ConfigFromEnv reads the configuration from the environment variables
// named by the Env constants, fills in the defaults and validates it. Every
// bad value is reported as a *ConfigError (several are joined).
func ConfigFromEnv() (Config, error) {
	var errs []error
	bad := func(v, reason string) { errs = append(errs, &ConfigError{Var: v, Reason: reason}) }
	// Secrets may come from files (SecretVars, FileSuffix).
	secrets := map[string]string{}
	for _, name := range SecretVars {
		v, err := secretFromEnv(name)
		if err != nil {
			errs = append(errs, err)
		}
		secrets[name] = v
	}
	c := Config{
		AMQPURL:       secrets[EnvAMQPURL],
		AMQPNamespace: os.Getenv(EnvAMQPNamespace),
		AMQPQueueType: os.Getenv(EnvAMQPQueueType),
		MongoURI:      secrets[EnvMongoURI],
		DBPrefix:      os.Getenv(EnvDBPrefix),
		HTTPAddr:      os.Getenv(EnvHTTPAddr),
		OpsAddr:       os.Getenv(EnvOpsAddr),
		DataDir:       os.Getenv(EnvDataDir),
	}
	c.Settings.BaseURL = os.Getenv(EnvBaseURL)
	c.Settings.Replica = os.Getenv(EnvReplica)
	c.AMQPCAFile, c.AMQPCertFile = os.Getenv(EnvAMQPCAFile), os.Getenv(EnvAMQPCertFile)
	c.AMQPKeyFile, c.AMQPServerName = os.Getenv(EnvAMQPKeyFile), os.Getenv(EnvAMQPServerName)
	if f := os.Getenv(EnvAMQPPasswordFile); f != "" {
		if urls, err := withAMQPPassword(c.AMQPURL, f); err != nil {
			errs = append(errs, err)
		} else {
			c.AMQPURL = urls
		}
	}
	if f := os.Getenv(EnvMongoPasswordFile); f != "" {
		if uri, err := withMongoPassword(c.MongoURI, f); err != nil {
			errs = append(errs, err)
		} else {
			c.MongoURI = uri
		}
	}

	if v := strings.TrimSpace(os.Getenv(EnvServices)); v != "" && !strings.EqualFold(v, "all") {
		for _, name := range strings.Split(v, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			if name != "" && !slices.Contains(c.Services, name) {
				c.Services = append(c.Services, name)
			}
		}
		if len(c.Services) == 0 {
			bad(EnvServices, "lists no service")
		}
	}

	if v := os.Getenv(EnvWorkers); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			bad(EnvWorkers, fmt.Sprintf("%q is not a number of worker processes", v))
		} else {
			c.Workers = n
		}
	}

	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, EnvWorkersPrefix) {
			continue
		}
		name := strings.ToLower(strings.TrimPrefix(k, EnvWorkersPrefix))
		if !slices.Contains(Names, name) {
			bad(k, fmt.Sprintf("there is no service %q (services: %s)", name, strings.Join(Names, ", ")))
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxConcurrency {
			bad(k, fmt.Sprintf("%q is not a concurrency from 1 to %d", v, MaxConcurrency))
			continue
		}
		if c.Concurrency == nil {
			c.Concurrency = map[string]int{}
		}
		c.Concurrency[name] = n
	}

	c.Settings.AdminEmail, c.Settings.AdminPassword = os.Getenv(EnvAdminEmail), secrets[EnvAdminPassword]
	if v := os.Getenv(EnvBcryptCost); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			bad(EnvBcryptCost, fmt.Sprintf("%q is not an integer", v))
		}
		c.Settings.BcryptCost = n
	}
	if v := os.Getenv(EnvSessionTTL); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			bad(EnvSessionTTL, fmt.Sprintf("%q is not a positive duration such as 168h", v))
		}
		c.Settings.SessionTTL = d
	}
	if v := os.Getenv(EnvAuthHashes); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxConcurrency {
			bad(EnvAuthHashes, fmt.Sprintf("%q is not a number from 1 to %d", v, MaxConcurrency))
		}
		c.Settings.AuthHashes = n
	}

	if v := os.Getenv(EnvAMQPExpire); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			bad(EnvAMQPExpire, fmt.Sprintf("%q is not a duration of a second or more, such as 10m", v))
		}
		c.AMQPExpire = d
	}
	if v := os.Getenv(EnvSeed); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad(EnvSeed, fmt.Sprintf("%q is not true or false", v))
		}
		c.Settings.Seed = b
	}
	if v := os.Getenv(EnvSeedProducts); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > seeder.MaxProducts {
			bad(EnvSeedProducts, fmt.Sprintf("%q is not a number of products from 1 to %d", v, seeder.MaxProducts))
		}
		c.Settings.SeedProducts = n
	}

	if v := os.Getenv(EnvLogLevel); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			bad(EnvLogLevel, fmt.Sprintf("%q is not one of debug, info, warn, error", v))
		}
	}

	if len(errs) == 0 {
		c.setDefaults()
		if err := c.Validate(); err != nil {
			return c, err
		}
	}
	return c, errors.Join(errs...)
}

// setDefaults fills in the defaults of empty fields.
func (c *Config) setDefaults() {
	if c.DBPrefix == "" {
		c.DBPrefix = DefaultDBPrefix
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = DefaultHTTPAddr
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
}

// Validate checks c, naming the environment variable of each bad field
// in a *ConfigError. Empty fields are valid: they mean the defaults.
func (c Config) Validate() error {
	var errs []error
	bad := func(v, reason string) { errs = append(errs, &ConfigError{Var: v, Reason: reason}) }
	for _, name := range c.Services {
		if _, ok := Builtin(name); !ok {
			bad(EnvServices, fmt.Sprintf("there is no service %q (available: %s)", name, strings.Join(available(), ", ")))
		}
	}
	for i, u := range c.AMQPURLs() {
		if _, err := amqp.ParseURI(u); err != nil {
			bad(EnvAMQPURL, fmt.Sprintf("URL %d is not an amqp:// or amqps:// URL (percent-encode reserved characters in the user name and password; separate nodes with commas)", i+1))
		}
	}
	errs = append(errs, c.validateAMQPTLS()...)
	if err := c.Settings.authOptions().Validate(); err != nil {
		bad(authVar(err))
	}
	switch c.AMQPQueueType {
	case "", "classic", "quorum":
	default:
		bad(EnvAMQPQueueType, fmt.Sprintf("%q is not a queue type: use classic or quorum", c.AMQPQueueType))
	}
	if c.AMQPNamespace != "" {
		if err := transport.CheckName("namespace", c.AMQPNamespace); err != nil {
			bad(EnvAMQPNamespace, "use 1-64 of a-z, 0-9, '-', '_'")
		}
	}
	if c.MongoURI != "" {
		if err := options.Client().ApplyURI(c.MongoURI).Validate(); err != nil {
			bad(EnvMongoURI, "not a valid mongodb:// or mongodb+srv:// URI: "+redact(err.Error(), c.MongoURI))
		}
	}
	if c.DBPrefix != "" {
		if msg := checkPrefix(c.DBPrefix); msg != "" {
			bad(EnvDBPrefix, fmt.Sprintf("%q %s", c.DBPrefix, msg))
		}
	}
	switch {
	case c.Workers < 0:
		bad(EnvWorkers, "must not be negative")
	case c.Workers > 1 && c.AMQPURL == "":
		bad(EnvWorkers, fmt.Sprintf("%d worker processes need RabbitMQ (%s): the in-process bus cannot be shared", c.Workers, EnvAMQPURL))
	case c.Workers > 1 && c.MongoURI == "":
		bad(EnvWorkers, fmt.Sprintf("%d worker processes need MongoDB (%s): the embedded server cannot be shared", c.Workers, EnvMongoURI))
	}
	for name, n := range c.Concurrency {
		if n < 0 || n > MaxConcurrency {
			bad(EnvWorkersPrefix+strings.ToUpper(name), fmt.Sprintf("%d is not a concurrency from 1 to %d", n, MaxConcurrency))
		}
	}
	if c.HTTPAddr != "" {
		if msg := checkAddr(c.HTTPAddr); msg != "" {
			bad(EnvHTTPAddr, fmt.Sprintf("%q %s", c.HTTPAddr, msg))
		}
	}
	if c.OpsAddr != "" {
		if msg := checkAddr(c.OpsAddr); msg != "" {
			bad(EnvOpsAddr, fmt.Sprintf("%q %s", c.OpsAddr, msg))
		}
	}
	if u := c.Settings.BaseURL; u != "" {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.User != nil {
			bad(EnvBaseURL, fmt.Sprintf("%q is not an absolute http:// or https:// URL", u))
		}
	}
	if n := c.Settings.SeedProducts; n < 0 || n > seeder.MaxProducts {
		bad(EnvSeedProducts, fmt.Sprintf("%d is not a number of products from 1 to %d", n, seeder.MaxProducts))
	}
	if r := c.Settings.Replica; r != "" && (len(r) > 40 || transport.CheckName("replica", r) != nil) {
		bad(EnvReplica, fmt.Sprintf("%q is not 1-40 of a-z, 0-9, '-', '_'", r))
	}
	return errors.Join(errs...)
}

// checkPrefix returns what is wrong with a database name prefix, or "".
func checkPrefix(p string) string {
	if p == "" || len(p) > 40 {
		return "must be 1 to 40 characters"
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return "may hold only letters, digits, '_' and '-'"
		}
	}
	return ""
}

// checkAddr returns what is wrong with a host:port listen address, or "".
func checkAddr(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "is not a host:port address"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "has no port number from 0 to 65535"
	}
	return ""
}

// MongoClientOptions returns the driver options for uri: write concern
// "majority" and read preference "primary", set explicitly so that an
// acknowledged write survives the loss of the replica set's primary and
// every read sees the writes before it, unless the URI chooses otherwise
// (w=..., readPreference=...). The driver retries single-document writes
// and reads once after a failover (retryWrites and retryReads are on by
// default); multi-document writes (UpdateMany, DeleteMany) are not
// retried, so every such write in the services is safe to repeat (expiry
// sweeps, ending a user's sessions).
func MongoClientOptions(uri, appName string) *options.ClientOptions {
	o := options.Client().ApplyURI(uri).SetAppName(appName)
	q := url.Values{}
	if u, err := url.Parse(uri); err == nil {
		q = u.Query()
	}
	if !hasParam(q, "w") {
		o.SetWriteConcern(writeconcern.Majority())
	}
	if !hasParam(q, "readPreference") {
		o.SetReadPreference(readpref.Primary())
	}
	return o
}

// hasParam reports whether the query has key, in any letter case (the
// driver reads URI option names case-insensitively).
func hasParam(q url.Values, key string) bool {
	for k := range q {
		if strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}

// AMQPURLs returns the broker nodes named by AMQPURL.
func (c Config) AMQPURLs() []string {
	var urls []string
	for _, u := range strings.Split(c.AMQPURL, ",") {
		if u = strings.TrimSpace(u); u != "" {
			urls = append(urls, u)
		}
	}
	return urls
}

// redact removes a URI, and the password in it, from an error message.
func redact(msg, uri string) string {
	msg = strings.ReplaceAll(msg, uri, "<uri>")
	if _, rest, ok := strings.Cut(uri, "://"); ok {
		if userinfo, _, ok := strings.Cut(rest, "@"); ok {
			if _, pw, ok := strings.Cut(userinfo, ":"); ok && pw != "" {
				msg = strings.ReplaceAll(msg, pw, "***")
			}
		}
	}
	return msg
}

// authVar names the variable behind an invalid auth option, and what is
// wrong with it.
func authVar(err error) (string, string) {
	vars := map[string]string{
		"AdminEmail": EnvAdminEmail, "AdminPassword": EnvAdminPassword,
		"BcryptCost": EnvBcryptCost, "SessionTTL": EnvSessionTTL,
		"MaxConcurrentHashes": EnvAuthHashes,
	}
	te := transport.AsError(err)
	if len(te.Fields) == 0 {
		return EnvAdminEmail, te.Message
	}
	v, ok := vars[te.Fields[0].Field]
	if !ok {
		v = EnvAdminEmail
	}
	return v, te.Fields[0].Message
}
