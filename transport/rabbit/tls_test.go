package rabbit_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/rabbit"
)

// testPKI is a CA made for one test, with a server certificate for
// 127.0.0.1 and localhost and a client certificate, all signed by it.
type testPKI struct {
	caPEM                 []byte
	roots                 *x509.CertPool
	serverCert, serverKey []byte
	clientCert, clientKey []byte
	clientPair            tls.Certificate
	otherPair             tls.Certificate // a client certificate another CA signed
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{}
	caKey, caCert, caPEM := makeCA(t, "shopbus test CA")
	p.caPEM = caPEM
	p.roots = x509.NewCertPool()
	p.roots.AddCert(caCert)
	p.serverCert, p.serverKey, _ = makeLeaf(t, caCert, caKey, "broker", x509.ExtKeyUsageServerAuth, []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	p.clientCert, p.clientKey, p.clientPair = makeLeaf(t, caCert, caKey, "shopbus client", x509.ExtKeyUsageClientAuth, nil, nil)
	otherKey, otherCA, _ := makeCA(t, "another CA")
	_, _, p.otherPair = makeLeaf(t, otherCA, otherKey, "stranger", x509.ExtKeyUsageClientAuth, nil, nil)
	return p
}

func makeCA(t *testing.T, name string) (*ecdsa.PrivateKey, *x509.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func makeLeaf(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, name string, usage x509.ExtKeyUsage, dns []string, ips []net.IP) (certPEM, keyPEM []byte, pair tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		DNSNames:     dns,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	pair, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM, pair
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestHardenedBroker runs a broker of its own with the limits deploy/
// ships (deploy/rabbitmq/limits.conf: max_message_size = the transport's
// limit) and a TLS listener that requires a client certificate signed by
// the test's CA.
func TestHardenedBroker(t *testing.T) {
	pki := newTestPKI(t)
	tlsPort := freeTCPPort(t)
	broker := testenv.PrivateRabbitWith(t, testenv.PrivateConfig{
		Conf: shippedLimits(t) + fmt.Sprintf(`
listeners.ssl.default = 127.0.0.1:%d
ssl_options.cacertfile = {dir}/ca.pem
ssl_options.certfile = {dir}/server.pem
ssl_options.keyfile = {dir}/server.key
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = true
`, tlsPort),
		Files: map[string][]byte{"ca.pem": pki.caPEM, "server.pem": pki.serverCert, "server.key": pki.serverKey},
	})
	secure := func(host string) string {
		return fmt.Sprintf("amqps://guest:guest@%s:%d/", host, tlsPort)
	}
	t.Run("TLS", func(t *testing.T) { testTLS(t, pki, secure) })
	t.Run("MaxMessageSize", func(t *testing.T) { testMaxMessageSize(t, broker.URL) })
}

func dialTest(t *testing.T, opts rabbit.Options) (*rabbit.Bus, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	opts.MinBackoff, opts.MaxBackoff = 50*time.Millisecond, 500*time.Millisecond
	b, err := rabbit.Dial(ctx, opts)
	if err == nil {
		t.Cleanup(func() { b.Close() })
	}
	return b, err
}

func testTLS(t *testing.T, pki *testPKI, secure func(host string) string) {
	good := &tls.Config{RootCAs: pki.roots, Certificates: []tls.Certificate{pki.clientPair}, MinVersion: tls.VersionTLS12}

	// A request and an event over amqps, to a cluster named by two URLs
	// (both this node), with CA, client certificate and default server names.
	server, err := dialTest(t, rabbit.Options{URLs: []string{secure("127.0.0.1"), secure("localhost")}, TLS: good, Name: "tls server"})
	if err != nil {
		t.Fatalf("dial over TLS: %v", err)
	}
	client, err := dialTest(t, rabbit.Options{URL: secure("localhost"), TLS: good, Name: "tls client"})
	if err != nil {
		t.Fatalf("dial over TLS: %v", err)
	}
	mux := transport.NewMux()
	mux.HandleFunc("tls.echo", func(ctx context.Context, req *transport.Request) ([]byte, error) { return req.Body, nil })
	if _, err := server.Serve("tls", mux); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	if _, err := server.Subscribe("tls-sub", "tls.#", transport.EventHandlerFunc(func(ctx context.Context, ev transport.Event) error {
		got <- string(ev.Body)
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if reply, err := client.Call(ctx, "tls.echo", []byte(`"over tls"`)); err != nil || string(reply) != `"over tls"` {
		t.Fatalf("call over TLS = %s, %v", reply, err)
	}
	if err := client.Publish(ctx, transport.Event{Key: "tls.thing.done", Body: []byte(`"event over tls"`)}); err != nil {
		t.Fatalf("publish over TLS: %v", err)
	}
	select {
	case body := <-got:
		if body != `"event over tls"` {
			t.Fatalf("event body %s", body)
		}
	case <-ctx.Done():
		t.Fatal("event over TLS not received")
	}

	// The same with amqp091's URL parameters alone, no tls.Config.
	dir := t.TempDir()
	for name, data := range map[string][]byte{"ca.pem": pki.caPEM, "client.pem": pki.clientCert, "client.key": pki.clientKey} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	q := url.Values{"cacertfile": {filepath.Join(dir, "ca.pem")}, "certfile": {filepath.Join(dir, "client.pem")}, "keyfile": {filepath.Join(dir, "client.key")}}
	byURL, err := dialTest(t, rabbit.Options{URL: secure("localhost") + "?" + q.Encode()})
	if err != nil {
		t.Fatalf("dial with TLS files in the URL: %v", err)
	}
	if reply, err := byURL.Call(ctx, "tls.echo", []byte(`"by url"`)); err != nil || string(reply) != `"by url"` {
		t.Fatalf("call over TLS configured by URL = %s, %v", reply, err)
	}

	refused := func(name string, opts rabbit.Options, target any, words string) {
		t.Helper()
		_, err := dialTest(t, opts)
		if err == nil {
			t.Errorf("%s: connected, want a TLS error", name)
			return
		}
		t.Logf("%s: %v", name, err)
		if transport.CodeOf(err) != transport.CodeUnavailable || !errors.As(err, target) || !strings.Contains(err.Error(), words) {
			t.Errorf("%s: error %v (%T), want one saying %q", name, err, errors.Unwrap(err), words)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: Dial waited for its deadline instead of failing at once: %v", name, err)
		}
	}
	// Without the CA: the system roots do not know the test's CA.
	var unknownCA x509.UnknownAuthorityError
	refused("without the CA", rabbit.Options{URL: secure("127.0.0.1"), TLS: &tls.Config{Certificates: []tls.Certificate{pki.clientPair}}}, &unknownCA, "not signed by a trusted CA")
	// The wrong server name.
	var hostname x509.HostnameError
	refused("wrong server name", rabbit.Options{URL: secure("127.0.0.1"), TLS: &tls.Config{RootCAs: pki.roots, Certificates: []tls.Certificate{pki.clientPair}, ServerName: "broker.example"}}, &hostname, `server name "broker.example"`)
	// No client certificate, or one the broker's CA did not sign: the broker
	// refuses (TLS 1.3 tells the client after its handshake, on first read).
	var amqpErr *amqp.Error
	refused("no client certificate", rabbit.Options{URL: secure("127.0.0.1"), TLS: &tls.Config{RootCAs: pki.roots}}, &amqpErr, "refused the handshake")
	refused("client certificate of another CA", rabbit.Options{URL: secure("127.0.0.1"), TLS: &tls.Config{RootCAs: pki.roots, Certificates: []tls.Certificate{pki.otherPair}}}, &amqpErr, "refused the handshake")

	// TLS settings with a plain URL are a mistake, not a silent downgrade.
	_, err = dialTest(t, rabbit.Options{URL: strings.Replace(secure("127.0.0.1"), "amqps", "amqp", 1), TLS: good})
	if transport.CodeOf(err) != transport.CodeInvalid {
		t.Errorf("TLS config with an amqp:// URL: %v, want invalid", err)
	}
}

func testMaxMessageSize(t *testing.T, brokerURL string) {
	// The bus accepts bodies up to 2 MiB, the broker 1 MiB.
	server, err := dialTest(t, rabbit.Options{URL: brokerURL, Name: "size server"})
	if err != nil {
		t.Fatal(err)
	}
	client, err := dialTest(t, rabbit.Options{URL: brokerURL, Name: "size client", MaxMessageSize: 2 << 20})
	if err != nil {
		t.Fatal(err)
	}
	var served atomic.Int32
	mux := transport.NewMux()
	mux.HandleFunc("size.echo", func(ctx context.Context, req *transport.Request) ([]byte, error) {
		served.Add(1)
		return []byte(`"ok"`), nil
	})
	if _, err := server.Serve("size", mux); err != nil {
		t.Fatal(err)
	}
	body := func(n int) []byte { return []byte(`"` + strings.Repeat("x", n-2) + `"`) }
	call := func(b *rabbit.Bus, n int) error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err := b.Call(ctx, "size.echo", body(n))
		return err
	}
	// A body of exactly the transport's default limit passes the broker:
	// the two limits agree.
	if err := call(client, transport.DefaultMaxMessageSize); err != nil {
		t.Fatalf("call with a %d-byte body: %v", transport.DefaultMaxMessageSize, err)
	}

	// A raw client's oversize request is refused by the broker itself:
	// its channel is closed with PRECONDITION_FAILED.
	conn, err := amqp.Dial(brokerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	if err := ch.PublishWithContext(context.Background(), "", "shop.size", false, false, amqp.Publishing{
		ContentType: "application/json", CorrelationId: "big", ReplyTo: "amq.rabbitmq.reply-to", Type: "size.echo", Body: body(transport.DefaultMaxMessageSize + 1),
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-closed:
		if e == nil || e.Code != amqp.PreconditionFailed || !strings.Contains(e.Reason, "max size") {
			t.Fatalf("raw oversize publish: channel closed with %v, want PRECONDITION_FAILED naming the max size", e)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the broker accepted an oversize message")
	}

	// The bus, allowed 2 MiB, is refused by the broker: the call fails
	// with a typed error naming the broker's limit, and the next oversize
	// one is refused before publishing.
	for i := range 2 {
		err := call(client, transport.DefaultMaxMessageSize+512<<10)
		if transport.CodeOf(err) != transport.CodeInvalid || !strings.Contains(err.Error(), "max_message_size") {
			t.Fatalf("oversize call %d: %v, want invalid naming max_message_size", i+1, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = client.Publish(ctx, transport.Event{Key: "size.thing.done", Body: body(transport.DefaultMaxMessageSize + 1)})
	if transport.CodeOf(err) != transport.CodeInvalid {
		t.Fatalf("oversize event: %v, want invalid", err)
	}

	// The consumer never saw an oversize request and stays healthy; the
	// client works again for bodies within the limit.
	if err := server.Ready(); err != nil {
		t.Errorf("server after oversize messages: %v", err)
	}
	if err := call(client, 100); err != nil {
		t.Fatalf("call after oversize messages: %v", err)
	}
	if n := served.Load(); n != 2 {
		t.Errorf("handler served %d requests, want 2 (the oversize ones never reach it)", n)
	}
}
