package host_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/shopbus/shopbus/host"
)

func TestAMQPPasswordFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "broker_product")
	if err := os.WriteFile(file, []byte("s3cr3t/pass:word\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(host.EnvAMQPPasswordFile, file)
	t.Setenv(host.EnvAMQPURL, "amqp://shop-product@rabbit1:5672/, amqp://shop-product@rabbit2:5672/")
	cfg, err := host.ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	urls := cfg.AMQPURLs()
	for i, host := range []string{"rabbit1", "rabbit2"} {
		u, err := amqp.ParseURI(urls[i])
		if err != nil || u.Username != "shop-product" || u.Password != "s3cr3t/pass:word" || u.Host != host {
			t.Errorf("URL %d = %q (%+v, %v)", i+1, urls[i], u, err)
		}
	}

	for name, tc := range map[string]struct{ url, file, field string }{
		"no user":       {"amqp://rabbit:5672/", file, host.EnvAMQPURL},
		"two passwords": {"amqp://shop-product:other@rabbit:5672/", file, host.EnvAMQPURL},
		"missing file":  {"amqp://shop-product@rabbit:5672/", file + ".nope", host.EnvAMQPPasswordFile},
		"no URL":        {"", file, host.EnvAMQPPasswordFile},
		"malformed URL": {"amqp://shop-product@[::1:5672/", file, host.EnvAMQPURL},
	} {
		t.Setenv(host.EnvAMQPURL, tc.url)
		t.Setenv(host.EnvAMQPPasswordFile, tc.file)
		_, err := host.ConfigFromEnv()
		var ce *host.ConfigError
		if !errors.As(err, &ce) || ce.Var != tc.field {
			t.Errorf("%s: %v, want a ConfigError on %s", name, err, tc.field)
		}
	}
}
