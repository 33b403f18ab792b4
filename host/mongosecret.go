package host

import (
	"strings"
)

// EnvMongoPasswordFile names a file holding the service's database
// password (a Docker secret, say), read by ConfigFromEnv: it becomes the
// password in SHOP_MONGO_URI, which then names the service's user and no
// password, e.g. mongodb://shop_product@mongo1:27017,mongo2:27017/?replicaSet=rs0.
// A trailing newline is dropped.
const EnvMongoPasswordFile = "SHOP_MONGO_PASSWORD_FILE"

// withMongoPassword returns the MongoDB URI with the password read from
// file put into its user information, or a *ConfigError. The URI is
// edited as text: a MongoDB URI may list several hosts, which net/url
// does not parse.
func withMongoPassword(uri, file string) (string, error) {
	password, err := readSecretFile(EnvMongoPasswordFile, file)
	if err != nil {
		return "", err
	}
	if uri == "" {
		return "", &ConfigError{Var: EnvMongoPasswordFile, Reason: "is set, but " + EnvMongoURI + " is not"}
	}
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok || (scheme != "mongodb" && scheme != "mongodb+srv") {
		return "", &ConfigError{Var: EnvMongoURI, Reason: "not a mongodb:// or mongodb+srv:// URI"}
	}
	authority := rest
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority = rest[:i]
	}
	at := strings.LastIndex(authority, "@")
	if at <= 0 {
		return "", &ConfigError{Var: EnvMongoURI, Reason: "names no user, but " + EnvMongoPasswordFile + " gives a password: name the service's user, e.g. mongodb://shop_product@mongo1:27017/"}
	}
	if strings.Contains(authority[:at], ":") {
		return "", &ConfigError{Var: EnvMongoURI, Reason: "has a password, and " + EnvMongoPasswordFile + " gives another: keep one"}
	}
	return scheme + "://" + authority[:at] + ":" + escapeUserInfo(password) + rest[at:], nil
}

// escapeUserInfo percent-encodes all but RFC 3986's unreserved characters,
// as the MongoDB URI format wants of a password.
func escapeUserInfo(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
