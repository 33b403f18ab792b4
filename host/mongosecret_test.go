package host_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"

	"github.com/shopbus/shopbus/host"
)

func TestMongoPasswordFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "mongo_product")
	if err := os.WriteFile(file, []byte("s3cr3t/pass:w@rd%?#\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(host.EnvMongoPasswordFile, file)
	t.Setenv(host.EnvMongoURI, "mongodb://shop_product@mongo1:27017,mongo2:27017,mongo3:27017/?replicaSet=rs0")
	cfg, err := host.ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	cs, err := connstring.ParseAndValidate(cfg.MongoURI)
	if err != nil || cs.Username != "shop_product" || cs.Password != "s3cr3t/pass:w@rd%?#" || len(cs.Hosts) != 3 || cs.ReplicaSet != "rs0" {
		t.Errorf("URI %q: %+v, %v", cfg.MongoURI, cs, err)
	}

	for name, tc := range map[string]struct{ uri, file, field string }{
		"no user":       {"mongodb://mongo1:27017/", file, host.EnvMongoURI},
		"two passwords": {"mongodb://shop_product:other@mongo1:27017/", file, host.EnvMongoURI},
		"missing file":  {"mongodb://shop_product@mongo1:27017/", file + ".nope", host.EnvMongoPasswordFile},
		"no URI":        {"", file, host.EnvMongoPasswordFile},
		"not mongodb":   {"postgres://shop_product@db/", file, host.EnvMongoURI},
	} {
		t.Setenv(host.EnvMongoURI, tc.uri)
		t.Setenv(host.EnvMongoPasswordFile, tc.file)
		_, err := host.ConfigFromEnv()
		var ce *host.ConfigError
		if !errors.As(err, &ce) || ce.Var != tc.field {
			t.Errorf("%s: %v, want a ConfigError on %s", name, err, tc.field)
		}
	}
}
