package shoptest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"

	"github.com/shopbus/shopbus/internal/testenv"
)

// Environment variables AMQPURL reads.
const (
	// EnvAMQPURL names a RabbitMQ broker to use instead of a container.
	EnvAMQPURL = testenv.EnvAMQPURL // "SHOP_AMQP_URL"
	// EnvRabbitMQImage names the image AMQPURL starts instead of
	// DefaultRabbitMQImage.
	EnvRabbitMQImage = "SHOP_RABBITMQ_IMAGE"
)

// DefaultRabbitMQImage is the image AMQPURL starts when SHOP_AMQP_URL and
// SHOP_RABBITMQ_IMAGE are unset: RabbitMQ built from Debian packages by the
// shopbus repository's scripts/images.sh, without any image registry.
const DefaultRabbitMQImage = "shopbus/rabbitmq:local"

// BrokerStartTimeout bounds how long AMQPURL waits for a RabbitMQ
// container to accept connections (a node boots in about 6 s).
const BrokerStartTimeout = 90 * time.Second

// AMQPURL returns the URL of a RabbitMQ broker for tb: SHOP_AMQP_URL if it
// is set; otherwise it starts a RabbitMQ container with testcontainers-go
// for tb alone, and terminates it when tb ends (tb.Cleanup). Pass the URL
// to Options.AMQPURL to run a Shop on it, or dial it yourself.
//
// The container runs SHOP_RABBITMQ_IMAGE, or DefaultRabbitMQImage, which
// must be present in the local Docker engine: AMQPURL never pulls an
// image. Build the default one, offline but for Debian's package mirror,
// from a checkout of the shopbus repository with
//
//	./scripts/images.sh   # builds shopbus/rabbitmq:local (and the other images)
//
// or use any RabbitMQ 3.x or 4.x image with the guest account open to
// remote connections, such as the official one:
//
//	docker pull rabbitmq:4
//	SHOP_RABBITMQ_IMAGE=rabbitmq:4 go test ./...
//
// tb is skipped, with a message saying why, where Docker is not running or
// cannot be reached; and where the image is missing, with a message saying
// how to build it — except under continuous integration (CI set), where a
// missing image fails tb: a pipeline is expected to build its images, and
// a test skipped there would hide what it checks. Any other failure (the
// container does not start, the broker does not answer within
// BrokerStartTimeout) fails tb.
//
// A container costs tb the broker's boot: about 6 s on an idle 2-core
// machine, 25 s or more on a loaded one; tests that can share a broker
// should share one URL, e.g. as subtests of one test.
// testcontainers' reaper (Ryuk) needs an image of its own, which AMQPURL
// will not pull: unless TESTCONTAINERS_RYUK_DISABLED is set, AMQPURL
// sets it to "true" for the process before its first use of
// testcontainers-go, and terminates its containers itself. A test process
// killed before its cleanups ran leaves its container behind (labelled
// org.testcontainers=true).
func AMQPURL(tb testing.TB) string {
	tb.Helper()
	if u := os.Getenv(EnvAMQPURL); u != "" {
		return u
	}
	image := os.Getenv(EnvRabbitMQImage)
	if image == "" {
		image = DefaultRabbitMQImage
	}

	ctx, cancel := context.WithTimeout(context.Background(), BrokerStartTimeout)
	defer cancel()
	present, err := imagePresent(ctx, image)
	if err != nil {
		tb.Skipf("shoptest: AMQPURL: no broker: %s is not set and Docker is not available (%v)", EnvAMQPURL, err)
	}
	if !present {
		msg := fmt.Sprintf("shoptest: AMQPURL: no broker: %s is not set and the image %s is not in the local Docker engine; build it with ./scripts/images.sh in the shopbus repository, or set %s to a RabbitMQ image you have (e.g. rabbitmq:4 after docker pull rabbitmq:4)", EnvAMQPURL, image, EnvRabbitMQImage)
		testenv.SkipOrFatal(tb, msg)
	}

	c, err := testcontainers.Run(ctx, image,
		testcontainers.WithLogger(tclog.TestLogger(tb)), // in tb's log, not on stderr
		testcontainers.WithExposedPorts("5672/tcp"),
		testcontainers.WithLabels(map[string]string{"org.shopbus.shoptest": "rabbitmq"}),
	)
	tb.Cleanup(func() {
		// The broker's data dies with it: no need to let it stop cleanly.
		if err := testcontainers.TerminateContainer(c, testcontainers.StopTimeout(0)); err != nil {
			tb.Errorf("shoptest: AMQPURL: terminate the RabbitMQ container: %v", err)
		}
	})
	if err != nil {
		tb.Fatalf("shoptest: AMQPURL: start %s: %v", image, err)
	}
	port, err := c.MappedPort(ctx, "5672/tcp")
	if err != nil {
		tb.Fatalf("shoptest: AMQPURL: the container's AMQP port: %v", err)
	}
	host, err := dockerHost(ctx, c)
	if err != nil {
		tb.Fatalf("shoptest: AMQPURL: the container's host: %v", err)
	}
	u := (&url.URL{Scheme: "amqp", User: url.UserPassword("guest", "guest"), Host: net.JoinHostPort(host, port.Port()), Path: "/"}).String()
	if err := awaitBroker(ctx, u); err != nil {
		tb.Fatalf("shoptest: AMQPURL: the broker in %s does not answer on %s within %v: %v", image, net.JoinHostPort(host, port.Port()), BrokerStartTimeout, err)
	}
	return u
}

// imagePresent reports whether the local Docker engine has image. An
// error means Docker cannot be reached.
func imagePresent(ctx context.Context, image string) (ok bool, err error) {
	noReaper()
	defer func() { // testcontainers panics where it finds no Docker at all
		if r := recover(); r != nil {
			ok, err = false, fmt.Errorf("%v", r)
		}
	}()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return false, err
	}
	defer cli.Close()
	if _, err := cli.ImageInspect(ctx, image); err != nil {
		if errdefs.IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// noReaper disables testcontainers' reaper unless
// TESTCONTAINERS_RYUK_DISABLED says otherwise. testcontainers reads its
// configuration once, at its first use in the process: call noReaper
// before anything of testcontainers.
func noReaper() {
	if _, set := os.LookupEnv("TESTCONTAINERS_RYUK_DISABLED"); !set {
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
}

// dockerHost returns the host on which the container's published ports
// are reached: 127.0.0.1 for a local Docker engine (testcontainers' own
// guess, from the default gateway, can be an address nothing listens on
// when the test itself runs in a container), else what testcontainers says.
func dockerHost(ctx context.Context, c *testcontainers.DockerContainer) (string, error) {
	if h := os.Getenv("TESTCONTAINERS_HOST_OVERRIDE"); h != "" {
		return h, nil
	}
	if dh := os.Getenv("DOCKER_HOST"); dh == "" || strings.HasPrefix(dh, "unix://") {
		return "127.0.0.1", nil
	}
	return c.Host(ctx)
}

// awaitBroker dials u until the broker completes an AMQP handshake or ctx
// ends: the published port accepts connections before the node is up.
func awaitBroker(ctx context.Context, u string) error {
	var last error
	for {
		conn, err := amqp.DialConfig(u, amqp.Config{Dial: amqp.DefaultDial(2 * time.Second)})
		if err == nil {
			return conn.Close()
		}
		last = err
		select {
		case <-ctx.Done():
			return last
		case <-time.After(200 * time.Millisecond):
		}
	}
}
