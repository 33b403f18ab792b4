package host_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopbus/shopbus/host"
	"github.com/shopbus/shopbus/shop"
)

// writeSelfSigned writes a self-signed certificate and its key as PEM
// files in dir and returns their paths and the key's PEM.
func writeSelfSigned(t *testing.T, dir, name string) (certFile, keyFile string, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, keyPEM
}

func TestConfigAMQPTLS(t *testing.T) {
	dir := t.TempDir()
	caFile, _, _ := writeSelfSigned(t, dir, "ca")
	certFile, keyFile, keyPEM := writeSelfSigned(t, dir, "client")
	_, otherKey, _ := writeSelfSigned(t, dir, "other")
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	const secure = "amqps://shop:pw@rabbit1:5671/,amqps://shop:pw@rabbit2:5671/"

	clearEnv(t)
	t.Setenv("SHOP_AMQP_URL", secure)
	t.Setenv("SHOP_AMQP_CA_FILE", caFile)
	t.Setenv("SHOP_AMQP_CERT_FILE", certFile)
	t.Setenv("SHOP_AMQP_KEY_FILE", keyFile)
	t.Setenv("SHOP_AMQP_SERVER_NAME", "rabbit.internal")
	c, err := host.ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := c.AMQPTLS()
	if err != nil || cfg == nil || cfg.RootCAs == nil || len(cfg.Certificates) != 1 || cfg.ServerName != "rabbit.internal" {
		t.Fatalf("AMQPTLS = %+v, %v", cfg, err)
	}
	if cfg, err := (host.Config{AMQPURL: secure}).AMQPTLS(); cfg != nil || err != nil {
		t.Errorf("no TLS settings: AMQPTLS = %v, %v; want nil (amqp091's defaults)", cfg, err)
	}

	for _, tc := range []struct {
		name    string
		env     map[string]string
		wantVar string
		words   string
	}{
		{"missing CA file", map[string]string{"SHOP_AMQP_CA_FILE": filepath.Join(dir, "nope.pem")}, "SHOP_AMQP_CA_FILE", "no such file"},
		{"CA file without PEM", map[string]string{"SHOP_AMQP_CA_FILE": notPEM}, "SHOP_AMQP_CA_FILE", "no PEM certificate"},
		{"certificate without key", map[string]string{"SHOP_AMQP_CERT_FILE": certFile}, "SHOP_AMQP_KEY_FILE", "must be set with"},
		{"key without certificate", map[string]string{"SHOP_AMQP_KEY_FILE": keyFile}, "SHOP_AMQP_CERT_FILE", "must be set with"},
		{"missing key file", map[string]string{"SHOP_AMQP_CERT_FILE": certFile, "SHOP_AMQP_KEY_FILE": filepath.Join(dir, "nope.key")}, "SHOP_AMQP_KEY_FILE", "no such file"},
		{"key of another certificate", map[string]string{"SHOP_AMQP_CERT_FILE": certFile, "SHOP_AMQP_KEY_FILE": otherKey}, "SHOP_AMQP_CERT_FILE", "private key does not match"},
		{"key file as certificate", map[string]string{"SHOP_AMQP_CERT_FILE": keyFile, "SHOP_AMQP_KEY_FILE": keyFile}, "SHOP_AMQP_CERT_FILE", "not a certificate"},
		{"bad server name", map[string]string{"SHOP_AMQP_CA_FILE": caFile, "SHOP_AMQP_SERVER_NAME": "rabbit:5671"}, "SHOP_AMQP_SERVER_NAME", "not a host name"},
		{"TLS with an amqp:// URL", map[string]string{"SHOP_AMQP_URL": "amqps://a:b@r1/,amqp://a:b@r2/", "SHOP_AMQP_CA_FILE": caFile}, "SHOP_AMQP_URL", "URL 2 is amqp://"},
		{"TLS without a broker", map[string]string{"SHOP_AMQP_URL": "", "SHOP_AMQP_CA_FILE": caFile}, "SHOP_AMQP_URL", "must be set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			t.Setenv("SHOP_AMQP_URL", secure)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, err := host.ConfigFromEnv()
			var ce *host.ConfigError
			if !errors.As(err, &ce) || !errors.Is(err, shop.ErrInvalid) {
				t.Fatalf("error %v, want a *host.ConfigError", err)
			}
			if !strings.Contains(err.Error(), tc.wantVar) || !strings.Contains(err.Error(), tc.words) {
				t.Errorf("error %q, want it to name %s and say %q", err, tc.wantVar, tc.words)
			}
			if strings.Contains(err.Error(), strings.Split(string(keyPEM), "\n")[1]) {
				t.Errorf("error repeats the private key: %v", err)
			}
		})
	}
}
