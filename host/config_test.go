package host_test

import (
	"errors"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shopbus/shopbus/host"
	"github.com/shopbus/shopbus/shop"
)

// clearEnv unsets every SHOP_ variable for the test.
func clearEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "SHOP_") {
			t.Setenv(k, "") // restores it afterwards
			os.Unsetenv(k)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	clearEnv(t)
	c, err := host.ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if c.Services != nil || c.AMQPURL != "" || c.MongoURI != "" || c.DBPrefix != "shop" || c.Workers != 0 ||
		c.HTTPAddr != "127.0.0.1:8080" || c.DataDir != "shopdata" || c.LogLevel != slog.LevelInfo || c.Concurrency != nil ||
		c.Settings != (host.Settings{}) {
		t.Errorf("defaults: %+v", c)
	}
}

func TestConfigFromEnv(t *testing.T) {
	clearEnv(t)
	for k, v := range map[string]string{
		"SHOP_SERVICES":          " Auth, category,auth ,",
		"SHOP_AMQP_URL":          "amqp://guest:secret@rabbit:5672/, amqp://guest:secret@rabbit2:5672/",
		"SHOP_AMQP_QUEUE_TYPE":   "quorum",
		"SHOP_AMQP_NAMESPACE":    "prod",
		"SHOP_AMQP_EXPIRE":       "10m",
		"SHOP_MONGO_URI":         "mongodb://mongo:27017/",
		"SHOP_DB_PREFIX":         "acme",
		"SHOP_WORKERS":           "3",
		"SHOP_WORKERS_AUTH":      "4",
		"SHOP_WORKERS_CATEGORY":  "32",
		"SHOP_ADMIN_EMAIL":       "Boss@Example.com",
		"SHOP_ADMIN_PASSWORD":    "very-secret",
		"SHOP_BCRYPT_COST":       "10",
		"SHOP_SESSION_TTL":       "2h",
		"SHOP_AUTH_HASHES":       "3",
		"SHOP_HTTP_ADDR":         ":9090",
		"SHOP_OPS_ADDR":          "127.0.0.1:9091",
		"SHOP_BASE_URL":          "https://shop.example",
		"SHOP_DATA_DIR":          "/var/lib/shop",
		"SHOP_LOG_LEVEL":         "debug",
		"SHOP_REPLICA":           "node-a",
		"SHOP_SEED":              "true",
		"SHOP_SEED_PRODUCTS":     "12",
		"SHOP_WORKER_ID_IGNORED": "x",
	} {
		t.Setenv(k, v)
	}
	c, err := host.ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	want := host.Config{
		Services:      []string{"auth", "category"},
		AMQPURL:       "amqp://guest:secret@rabbit:5672/, amqp://guest:secret@rabbit2:5672/",
		AMQPQueueType: "quorum",
		AMQPNamespace: "prod",
		MongoURI:      "mongodb://mongo:27017/",
		DBPrefix:      "acme",
		Workers:       3,
		Settings: host.Settings{AdminEmail: "Boss@Example.com", AdminPassword: "very-secret", BcryptCost: 10,
			SessionTTL: 2 * time.Hour, AuthHashes: 3, BaseURL: "https://shop.example", Replica: "node-a", Seed: true, SeedProducts: 12},
		HTTPAddr: ":9090",
		OpsAddr:  "127.0.0.1:9091",
		DataDir:  "/var/lib/shop",
		LogLevel: slog.LevelDebug,
	}
	if strings.Join(c.Services, ",") != "auth,category" || c.Concurrency["auth"] != 4 || c.Concurrency["category"] != 32 || len(c.Concurrency) != 2 {
		t.Errorf("services %v, concurrency %v", c.Services, c.Concurrency)
	}
	c.Services, c.Concurrency, want.Services = nil, nil, nil
	if c.AMQPExpire != 10*time.Minute {
		t.Errorf("AMQPExpire %v", c.AMQPExpire)
	}
	if urls := c.AMQPURLs(); len(urls) != 2 || urls[0] != "amqp://guest:secret@rabbit:5672/" || urls[1] != "amqp://guest:secret@rabbit2:5672/" {
		t.Errorf("AMQPURLs %q", urls)
	}
	if c.AMQPURL != want.AMQPURL || c.AMQPQueueType != want.AMQPQueueType || c.AMQPNamespace != want.AMQPNamespace || c.MongoURI != want.MongoURI ||
		c.DBPrefix != want.DBPrefix || c.Workers != want.Workers || c.Settings != want.Settings ||
		c.HTTPAddr != want.HTTPAddr || c.OpsAddr != want.OpsAddr || c.DataDir != want.DataDir || c.LogLevel != want.LogLevel {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		env     map[string]string
		badVar  string
		secrets []string // must not appear in the message
	}{
		{map[string]string{"SHOP_SERVICES": "auth,nope"}, "SHOP_SERVICES", nil},
		{map[string]string{"SHOP_SERVICES": " , "}, "SHOP_SERVICES", nil},
		{map[string]string{"SHOP_AMQP_URL": "http://guest:hunter2@rabbit/"}, "SHOP_AMQP_URL", []string{"hunter2"}},
		{map[string]string{"SHOP_AMQP_URL": "amqp://guest:hunter2@rabbit/,http://guest:hunter2@rabbit2/"}, "SHOP_AMQP_URL", []string{"hunter2"}},
		{map[string]string{"SHOP_AMQP_QUEUE_TYPE": "mirrored"}, "SHOP_AMQP_QUEUE_TYPE", nil},
		{map[string]string{"SHOP_AMQP_NAMESPACE": "Prod!"}, "SHOP_AMQP_NAMESPACE", nil},
		{map[string]string{"SHOP_MONGO_URI": "mongodb://u:hunter2@mongo:99999999/"}, "SHOP_MONGO_URI", []string{"hunter2"}},
		{map[string]string{"SHOP_MONGO_URI": "postgres://u:hunter2@db/"}, "SHOP_MONGO_URI", []string{"hunter2"}},
		{map[string]string{"SHOP_DB_PREFIX": "shop.prod"}, "SHOP_DB_PREFIX", nil},
		{map[string]string{"SHOP_DB_PREFIX": strings.Repeat("x", 41)}, "SHOP_DB_PREFIX", nil},
		{map[string]string{"SHOP_WORKERS": "many"}, "SHOP_WORKERS", nil},
		{map[string]string{"SHOP_WORKERS": "-2"}, "SHOP_WORKERS", nil},
		{map[string]string{"SHOP_WORKERS": "2"}, "SHOP_WORKERS", nil},                                    // no RabbitMQ
		{map[string]string{"SHOP_WORKERS": "2", "SHOP_AMQP_URL": "amqp://rabbit/"}, "SHOP_WORKERS", nil}, // no MongoDB
		{map[string]string{"SHOP_WORKERS_AUTH": "0"}, "SHOP_WORKERS_AUTH", nil},
		{map[string]string{"SHOP_WORKERS_AUTH": "lots"}, "SHOP_WORKERS_AUTH", nil},
		{map[string]string{"SHOP_WORKERS_AUTH": "100000"}, "SHOP_WORKERS_AUTH", nil},
		{map[string]string{"SHOP_WORKERS_NOPE": "4"}, "SHOP_WORKERS_NOPE", nil},
		{map[string]string{"SHOP_ADMIN_EMAIL": "boss@example.com"}, "SHOP_ADMIN_EMAIL", nil},
		{map[string]string{"SHOP_ADMIN_EMAIL": "not-an-address", "SHOP_ADMIN_PASSWORD": "hunter2-long"}, "SHOP_ADMIN_EMAIL", []string{"hunter2"}},
		{map[string]string{"SHOP_ADMIN_EMAIL": "boss@example.com", "SHOP_ADMIN_PASSWORD": "short"}, "SHOP_ADMIN_PASSWORD", []string{"short"}},
		{map[string]string{"SHOP_BCRYPT_COST": "99"}, "SHOP_BCRYPT_COST", nil},
		{map[string]string{"SHOP_BCRYPT_COST": "twelve"}, "SHOP_BCRYPT_COST", nil},
		{map[string]string{"SHOP_BCRYPT_COST": "3"}, "SHOP_BCRYPT_COST", nil},
		{map[string]string{"SHOP_SESSION_TTL": "forever"}, "SHOP_SESSION_TTL", nil},
		{map[string]string{"SHOP_SESSION_TTL": "-1h"}, "SHOP_SESSION_TTL", nil},
		{map[string]string{"SHOP_AUTH_HASHES": "0"}, "SHOP_AUTH_HASHES", nil},
		{map[string]string{"SHOP_AUTH_HASHES": "all"}, "SHOP_AUTH_HASHES", nil},
		{map[string]string{"SHOP_HTTP_ADDR": "localhost"}, "SHOP_HTTP_ADDR", nil},
		{map[string]string{"SHOP_HTTP_ADDR": "localhost:http"}, "SHOP_HTTP_ADDR", nil},
		{map[string]string{"SHOP_HTTP_ADDR": ":70000"}, "SHOP_HTTP_ADDR", nil},
		{map[string]string{"SHOP_OPS_ADDR": "loopback"}, "SHOP_OPS_ADDR", nil},
		{map[string]string{"SHOP_BASE_URL": "shop.example"}, "SHOP_BASE_URL", nil},
		{map[string]string{"SHOP_BASE_URL": "ftp://shop.example"}, "SHOP_BASE_URL", nil},
		{map[string]string{"SHOP_LOG_LEVEL": "loud"}, "SHOP_LOG_LEVEL", nil},
		{map[string]string{"SHOP_REPLICA": "Node A"}, "SHOP_REPLICA", nil},
		{map[string]string{"SHOP_SEED": "maybe"}, "SHOP_SEED", nil},
		{map[string]string{"SHOP_AMQP_EXPIRE": "soon"}, "SHOP_AMQP_EXPIRE", nil},
		{map[string]string{"SHOP_SEED_PRODUCTS": "0"}, "SHOP_SEED_PRODUCTS", nil},
		{map[string]string{"SHOP_SEED_PRODUCTS": "1000000"}, "SHOP_SEED_PRODUCTS", nil},
	} {
		t.Run(tc.badVar, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, err := host.ConfigFromEnv()
			var ce *host.ConfigError
			if !errors.As(err, &ce) || ce.Var != tc.badVar {
				t.Fatalf("%v: got %v, want a ConfigError for %s", tc.env, err, tc.badVar)
			}
			if !errors.Is(err, shop.ErrInvalid) {
				t.Errorf("errors.Is(%v, shop.ErrInvalid) is false", err)
			}
			if !strings.Contains(err.Error(), tc.badVar) {
				t.Errorf("%q does not name %s", err, tc.badVar)
			}
			for _, s := range tc.secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("%q leaks %q", err, s)
				}
			}
		})
	}
}

func TestConfigReportsEveryError(t *testing.T) {
	clearEnv(t)
	t.Setenv("SHOP_WORKERS", "x")
	t.Setenv("SHOP_LOG_LEVEL", "loud")
	_, err := host.ConfigFromEnv()
	for _, v := range []string{"SHOP_WORKERS", "SHOP_LOG_LEVEL"} {
		if err == nil || !strings.Contains(err.Error(), v) {
			t.Errorf("error %v does not name %s", err, v)
		}
	}
}

func TestMongoClientOptions(t *testing.T) {
	o := host.MongoClientOptions("mongodb://a:27017,b:27017,c:27017/?replicaSet=rs0", "shopbus")
	if o.WriteConcern == nil || o.WriteConcern.W != "majority" {
		t.Errorf("write concern %+v, want majority", o.WriteConcern)
	}
	if o.ReadPreference == nil || o.ReadPreference.Mode() != readpref.PrimaryMode {
		t.Errorf("read preference %v, want primary", o.ReadPreference)
	}
	if o.AppName == nil || *o.AppName != "shopbus" {
		t.Errorf("app name %v", o.AppName)
	}
	// The URI's own choice wins.
	o = host.MongoClientOptions("mongodb://a:27017/?w=1&readPreference=secondaryPreferred", "shopbus")
	if o.WriteConcern == nil || o.WriteConcern.W != 1 {
		t.Errorf("URI w=1: write concern %+v", o.WriteConcern)
	}
	if o.ReadPreference == nil || o.ReadPreference.Mode() != readpref.SecondaryPreferredMode {
		t.Errorf("URI readPreference: %v", o.ReadPreference)
	}
}
