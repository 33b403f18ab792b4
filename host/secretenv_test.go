package host_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shopbus/shopbus/host"
	"github.com/shopbus/shopbus/shop"
)

// secretFile writes content to a new file and returns its path.
func secretFile(t *testing.T, content string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

func TestSecretsFromFiles(t *testing.T) {
	clearEnv(t)
	t.Setenv(host.EnvAdminEmail, "boss@example.com")
	t.Setenv(host.EnvAdminPassword+host.FileSuffix, secretFile(t, "from-a-file\n"))
	t.Setenv(host.EnvMongoURI+host.FileSuffix, secretFile(t, "mongodb://shop:pw@mongo:27017/\r\n"))
	t.Setenv(host.EnvAMQPURL+host.FileSuffix, secretFile(t, "amqps://shop-cart@rabbit:5671/"))
	// The AMQP password may come from a file of its own on top.
	t.Setenv(host.EnvAMQPPasswordFile, secretFile(t, "broker-pw\n"))
	c, err := host.ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if c.Settings.AdminPassword != "from-a-file" || c.Settings.AdminEmail != "boss@example.com" {
		t.Errorf("admin %q / %q", c.Settings.AdminEmail, c.Settings.AdminPassword)
	}
	if c.MongoURI != "mongodb://shop:pw@mongo:27017/" {
		t.Errorf("MongoURI %q", c.MongoURI)
	}
	if c.AMQPURL != "amqps://shop-cart:broker-pw@rabbit:5671/" {
		t.Errorf("AMQPURL %q", c.AMQPURL)
	}
}

func TestSecretFileErrors(t *testing.T) {
	const secret = "do-not-print-me-123"
	for _, name := range host.SecretVars {
		for what, tc := range map[string]struct {
			value, file string
		}{
			"both set":        {value: secret, file: secretFile(t, secret)},
			"unreadable file": {file: filepath.Join(t.TempDir(), "missing")},
			"a directory":     {file: t.TempDir()},
			"empty file":      {file: secretFile(t, "\n")},
		} {
			clearEnv(t)
			if name == host.EnvAdminPassword {
				t.Setenv(host.EnvAdminEmail, "boss@example.com")
			}
			t.Setenv(name, tc.value)
			t.Setenv(name+host.FileSuffix, tc.file)
			_, err := host.ConfigFromEnv()
			var ce *host.ConfigError
			if !errors.As(err, &ce) || ce.Var != name+host.FileSuffix {
				t.Errorf("%s, %s: %v; want a ConfigError on %s", name, what, err, name+host.FileSuffix)
				continue
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s, %s: the error shows the secret: %v", name, what, err)
			}
			if !errors.Is(err, shop.ErrInvalid) {
				t.Errorf("%s, %s: %v is not invalid", name, what, err)
			}
		}
	}
}
