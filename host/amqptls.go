package host

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Environment variables of TLS to the broker, read by ConfigFromEnv.
const (
	EnvAMQPCAFile     = "SHOP_AMQP_CA_FILE"     // PEM CAs that sign the broker's certificate (amqps://; default the system's)
	EnvAMQPCertFile   = "SHOP_AMQP_CERT_FILE"   // PEM client certificate for the broker (with SHOP_AMQP_KEY_FILE)
	EnvAMQPKeyFile    = "SHOP_AMQP_KEY_FILE"    // its PEM private key
	EnvAMQPServerName = "SHOP_AMQP_SERVER_NAME" // name to verify in the broker's certificate (default each URL's host)
)

// hasAMQPTLS reports whether any of the broker's TLS settings is set.
func (c Config) hasAMQPTLS() bool {
	return c.AMQPCAFile != "" || c.AMQPCertFile != "" || c.AMQPKeyFile != "" || c.AMQPServerName != ""
}

// AMQPTLS returns the TLS configuration of the connections to the broker,
// built from AMQPCAFile, AMQPCertFile, AMQPKeyFile and AMQPServerName, or
// nil when none is set (amqps:// URLs then trust the system's CAs). The
// files are read when it is called; a file that cannot be used is a
// *ConfigError naming its variable.
func (c Config) AMQPTLS() (*tls.Config, error) {
	if !c.hasAMQPTLS() {
		return nil, nil
	}
	var errs []error
	bad := func(v, reason string) { errs = append(errs, &ConfigError{Var: v, Reason: reason}) }
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.AMQPServerName}
	if c.AMQPCAFile != "" {
		data, err := os.ReadFile(c.AMQPCAFile)
		switch {
		case err != nil:
			bad(EnvAMQPCAFile, "cannot read the CA file: "+fileError(err))
		default:
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(data) {
				bad(EnvAMQPCAFile, fmt.Sprintf("%s holds no PEM certificate", c.AMQPCAFile))
			}
		}
	}
	switch {
	case c.AMQPCertFile != "" && c.AMQPKeyFile == "":
		bad(EnvAMQPKeyFile, "must be set with "+EnvAMQPCertFile+": the client certificate's private key")
	case c.AMQPCertFile == "" && c.AMQPKeyFile != "":
		bad(EnvAMQPCertFile, "must be set with "+EnvAMQPKeyFile+": the client certificate")
	case c.AMQPCertFile != "":
		pair, err := loadKeyPair(c.AMQPCertFile, c.AMQPKeyFile)
		if err != nil {
			errs = append(errs, err)
		} else {
			cfg.Certificates = []tls.Certificate{pair}
		}
	}
	if n := c.AMQPServerName; n != "" && (len(n) > 253 || strings.ContainsAny(n, " \t\r\n/:@")) {
		bad(EnvAMQPServerName, fmt.Sprintf("%q is not a host name", n))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

// loadKeyPair loads the client certificate and its key, blaming the file
// at fault.
func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	if _, err := os.ReadFile(certFile); err != nil {
		return tls.Certificate{}, &ConfigError{Var: EnvAMQPCertFile, Reason: "cannot read the client certificate: " + fileError(err)}
	}
	if _, err := os.ReadFile(keyFile); err != nil {
		return tls.Certificate{}, &ConfigError{Var: EnvAMQPKeyFile, Reason: "cannot read the client key: " + fileError(err)}
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		// crypto/tls's messages name the problem, never the key's bytes.
		return tls.Certificate{}, &ConfigError{Var: EnvAMQPCertFile, Reason: fmt.Sprintf("%s and %s are not a certificate and its private key in PEM: %v", certFile, keyFile, err)}
	}
	return pair, nil
}

// fileError is err's message without Go's "open " prefix.
func fileError(err error) string {
	var pathErr *os.PathError
	if errors.As(err, &pathErr) {
		return pathErr.Path + ": " + pathErr.Err.Error()
	}
	return err.Error()
}

// validateAMQPTLS checks the broker's TLS settings: usable files, and
// amqps:// URLs only, since TLS settings with an amqp:// URL would leave
// the connection unencrypted while the operator believes otherwise.
func (c Config) validateAMQPTLS() []error {
	if !c.hasAMQPTLS() {
		return nil
	}
	var errs []error
	if c.AMQPURL == "" {
		errs = append(errs, &ConfigError{Var: EnvAMQPURL, Reason: "must be set (amqps://...) when the broker's TLS settings are"})
	}
	for i, u := range c.AMQPURLs() {
		if uri, err := amqp.ParseURI(u); err == nil && uri.Scheme != "amqps" {
			errs = append(errs, &ConfigError{Var: EnvAMQPURL, Reason: fmt.Sprintf("URL %d is amqp://, but TLS settings (%s...) are set: use amqps://, or the connection is not encrypted", i+1, "SHOP_AMQP_*_FILE")})
		}
	}
	if _, err := c.AMQPTLS(); err != nil {
		errs = append(errs, err)
	}
	return errs
}
