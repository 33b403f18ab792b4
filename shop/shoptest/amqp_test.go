package shoptest_test

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopbus/shopbus/host/ops"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/shop/shoptest"
	"github.com/shopbus/shopbus/transport"
)

// TestAMQPURLFromEnvironment: SHOP_AMQP_URL, when set, is the broker, and
// no container starts.
func TestAMQPURLFromEnvironment(t *testing.T) {
	t.Setenv(shoptest.EnvAMQPURL, "amqp://guest:guest@broker.invalid:5672/")
	t.Setenv(shoptest.EnvRabbitMQImage, "shopbus/never-built:never")
	if got := shoptest.AMQPURL(t); got != "amqp://guest:guest@broker.invalid:5672/" {
		t.Errorf("AMQPURL = %q, want SHOP_AMQP_URL", got)
	}
}

// TestAMQPURLContainer starts a broker in a container (the image
// shopbus/rabbitmq:local, or SHOP_RABBITMQ_IMAGE), runs a shop on it and
// calls a service over RabbitMQ; the container is gone once the test ends.
// It is skipped where Docker is not running, and where the image is not
// built except under CI (scripts/test.sh builds the images before the
// tests).
func TestAMQPURLContainer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a RabbitMQ container (6 to 25 s)")
	}
	image := cmp.Or(os.Getenv(shoptest.EnvRabbitMQImage), shoptest.DefaultRabbitMQImage)
	ctx0, cancel0 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel0()
	ok, err := shoptest.ImagePresent(ctx0, image)
	// scripts/test.sh needs Docker and builds the images before the tests:
	// under CI neither is missing, so either is a failure.
	if err != nil {
		testenv.SkipOrFatal(t, fmt.Sprintf("no RabbitMQ container: Docker is not available: %v", err))
	}
	if !ok {
		testenv.SkipOrFatal(t, fmt.Sprintf("no RabbitMQ container: image %s is not built (./scripts/images.sh builds it)", image))
	}
	t.Setenv(shoptest.EnvAMQPURL, "")
	start := time.Now()
	url := shoptest.AMQPURL(t)
	t.Logf("broker at %s ready in %v", url, time.Since(start).Round(time.Millisecond))
	if !strings.HasPrefix(url, "amqp://") {
		t.Fatalf("AMQPURL = %q", url)
	}

	s := shoptest.Start(t, shoptest.Options{Services: []string{"auth"}, AMQPURL: url})
	checkBusKind(t, s.Bus, shoptest.RabbitMQ)
	ctx, cancel := context.WithTimeout(s.NewCustomer(t), 10*time.Second)
	defer cancel()
	p, err := auth.NewClient(s.Bus).Authenticate(ctx, shop.TokenFrom(ctx))
	if err != nil || p.UserID == "" {
		t.Errorf("auth.authenticate over the container's broker: %+v, %v", p, err)
	}
	// Every service describes itself, over RabbitMQ too.
	d, err := transport.Invoke[transport.Description](ctx, s.Bus, "auth.describe", transport.DescribeRequest{})
	if want := hostedMethods("auth", auth.Handler(auth.NewClient(nil))); err != nil || d.Service != "auth" || !slices.Equal(d.Methods, want) || d.Version != shop.ContractVersion {
		t.Errorf("auth.describe = %+v, %v; want the methods %v and version %s", d, err, want, shop.ContractVersion)
	}
}

// TestDescribe: every service of a shop answers <service>.describe with
// the methods its Handler serves and the contract version, without a
// session.
func TestDescribe(t *testing.T) {
	s := shoptest.Start(t, shoptest.Options{Services: []string{"cart"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, name := range s.Services {
		d, err := transport.Invoke[transport.Description](ctx, s.Bus, name+"."+transport.DescribeMethod, transport.DescribeRequest{})
		if err != nil || d.Service != name || d.Version != shop.ContractVersion || !slices.Contains(d.Methods, name+".describe") || !slices.IsSorted(d.Methods) {
			t.Errorf("%s.describe = %+v, %v", name, d, err)
		}
		for _, m := range d.Methods {
			if !strings.HasPrefix(m, name+".") {
				t.Errorf("%s.describe lists %s", name, m)
			}
		}
	}
	// The shop runs under host.Node, which serves its operations methods
	// (package host/ops) on every service's queue, next to the Handler's.
	d, _ := transport.Invoke[transport.Description](ctx, s.Bus, "cart.describe", nil)
	if want := hostedMethods("cart", cart.Handler(cart.NewClient(nil))); !slices.Equal(d.Methods, want) {
		t.Errorf("cart.describe lists %v, want %v (cart.Handler's and the host's operations)", d.Methods, want)
	}
}

// TestAMQPURLMissingImage: with an image that is not built, AMQPURL skips
// the test and says how to build one — or fails it under CI.
func TestAMQPURLMissingImage(t *testing.T) {
	t.Setenv(shoptest.EnvAMQPURL, "")
	t.Setenv(shoptest.EnvRabbitMQImage, "shopbus/never-built:never")
	for _, ci := range []string{"", "true"} {
		t.Run("CI="+ci, func(t *testing.T) {
			t.Setenv("CI", ci)
			r := runTB(t, func(tb testing.TB) { shoptest.AMQPURL(tb) })
			switch {
			case strings.Contains(r.msg, "Docker is not available"):
				if !r.skipped {
					t.Errorf("without Docker: not skipped: %+v", r)
				}
				t.Skip("Docker is not available here: ", r.msg)
			case ci == "" && (!r.skipped || r.failed):
				t.Errorf("without CI: skipped %v, failed %v, want a skip: %s", r.skipped, r.failed, r.msg)
			case ci != "" && (!r.failed || r.skipped):
				t.Errorf("under CI: skipped %v, failed %v, want a failure: %s", r.skipped, r.failed, r.msg)
			}
			if !strings.Contains(r.msg, "shopbus/never-built:never") || !strings.Contains(r.msg, "scripts/images.sh") || !strings.Contains(r.msg, shoptest.EnvRabbitMQImage) {
				t.Errorf("the message does not name the image and how to build one: %s", r.msg)
			}
		})
	}
}

// tbResult is what a function did to a fakeTB.
type tbResult struct {
	skipped, failed bool
	msg             string
}

// runTB runs f with a testing.TB that records Skip and Fatal (and stops
// f there, as testing does), running its cleanups at the end.
func runTB(t *testing.T, f func(tb testing.TB)) tbResult {
	fake := &fakeTB{TB: t}
	func() {
		defer func() {
			if r := recover(); r != nil && r != errStop {
				panic(r)
			}
		}()
		f(fake)
	}()
	for i := len(fake.cleanups) - 1; i >= 0; i-- {
		fake.cleanups[i]()
	}
	return fake.res
}

var errStop = fmt.Errorf("stop")

type fakeTB struct {
	testing.TB
	mu       sync.Mutex
	res      tbResult
	cleanups []func()
}

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) Skip(args ...any) {
	f.res.skipped, f.res.msg = true, fmt.Sprint(args...)
	panic(errStop)
}
func (f *fakeTB) Skipf(format string, args ...any) { f.Skip(fmt.Sprintf(format, args...)) }
func (f *fakeTB) Fatal(args ...any) {
	f.res.failed, f.res.msg = true, fmt.Sprint(args...)
	panic(errStop)
}
func (f *fakeTB) Fatalf(format string, args ...any) { f.Fatal(fmt.Sprintf(format, args...)) }
func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.res.failed, f.res.msg = true, fmt.Sprintf(format, args...)
}

// hostedMethods are the methods a host.Node serves on service's queue:
// its Handler's and the node's operations methods (package host/ops),
// sorted, as <service>.describe lists them.
func hostedMethods(service string, handler *transport.Mux) []string {
	methods := handler.Methods()
	for _, name := range ops.Names {
		methods = append(methods, ops.Method(service, name))
	}
	slices.Sort(methods)
	return methods
}
