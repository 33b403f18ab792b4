package host

import (
	"fmt"
	"net/url"
	"strings"
)

// EnvAMQPPasswordFile names a file holding the service's broker password
// (a Docker secret, say), read by ConfigFromEnv: it becomes the password
// of every SHOP_AMQP_URL, which then names the account's user and no
// password, e.g. amqp://shop-product@rabbitmq:5672/. A trailing newline is
// dropped.
const EnvAMQPPasswordFile = "SHOP_AMQP_PASSWORD_FILE"

// withAMQPPassword returns the comma-separated AMQP URLs with the password
// read from file put into each, or a *ConfigError.
func withAMQPPassword(urls, file string) (string, error) {
	password, err := readSecretFile(EnvAMQPPasswordFile, file)
	if err != nil {
		return "", err
	}
	var out []string
	for i, raw := range strings.Split(urls, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil {
			return "", &ConfigError{Var: EnvAMQPURL, Reason: fmt.Sprintf("URL %d is malformed", i+1)}
		}
		if u.User == nil || u.User.Username() == "" {
			return "", &ConfigError{Var: EnvAMQPURL, Reason: fmt.Sprintf("URL %d names no user, but %s gives a password: name the account, e.g. amqp://shop-product@host:5672/", i+1, EnvAMQPPasswordFile)}
		}
		if _, set := u.User.Password(); set {
			return "", &ConfigError{Var: EnvAMQPURL, Reason: fmt.Sprintf("URL %d has a password, and %s gives another: keep one", i+1, EnvAMQPPasswordFile)}
		}
		u.User = url.UserPassword(u.User.Username(), password)
		out = append(out, u.String())
	}
	if len(out) == 0 {
		return "", &ConfigError{Var: EnvAMQPPasswordFile, Reason: "is set, but " + EnvAMQPURL + " is not"}
	}
	return strings.Join(out, ","), nil
}
