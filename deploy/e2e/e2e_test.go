// Package e2e brings the standard topology (deploy/compose.yaml) up from
// images built offline (scripts/images.sh) with testcontainers-go, and
// drives it as a user would. It is a module of its own, so that the
// library's users never download the Docker and compose dependencies.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/modules/compose"
)

func TestMain(m *testing.M) {
	// The reaper image cannot be pulled here; the test removes what it starts.
	os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	// With a local Docker socket the published ports are on this machine;
	// testcontainers' own guess of the host (from the default gateway) can
	// be an address nothing listens on.
	if os.Getenv("TESTCONTAINERS_HOST_OVERRIDE") == "" && os.Getenv("DOCKER_HOST") == "" {
		os.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
	}
	os.Exit(m.Run())
}

// repoRoot is the root of the shopbus module.
func repoRoot(t *testing.T) string {
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// buildImages runs scripts/images.sh unless SHOP_E2E_SKIP_IMAGES is set
// (for a second run against images just built).
func buildImages(t *testing.T) {
	if os.Getenv("SHOP_E2E_SKIP_IMAGES") != "" {
		return
	}
	buildImagesWith(t, "SHOP_IMAGES_CLUSTER=1") // one build for every test
}

var (
	imagesMu    sync.Mutex
	imagesBuilt = map[string]bool{}
)

// buildImagesWith runs scripts/images.sh with env added to its
// environment, once per process for each env.
func buildImagesWith(t *testing.T, env ...string) {
	imagesMu.Lock()
	defer imagesMu.Unlock()
	key := strings.Join(env, " ")
	if imagesBuilt[key] {
		return
	}
	cmd := exec.Command("./scripts/images.sh")
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/images.sh: %v\n%s", err, out)
	}
	imagesBuilt[key] = true
}

// execCommand runs a command and returns its combined output.
func execCommand(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).CombinedOutput()
}

// topology starts deploy/compose.yaml with the local images and returns the
// stack and the storefront's base URL. Compose's own health checks (the
// binaries' /readyz) gate Up.
func topology(t *testing.T) (*compose.DockerCompose, string) {
	ctx := context.Background()
	stack, err := compose.NewDockerComposeWith(
		compose.WithStackFiles(filepath.Join(repoRoot(t), "deploy", "compose.yaml")),
		compose.StackIdentifier(fmt.Sprintf("shopbus-e2e-%d", time.Now().UnixNano()%1e6)),
	)
	if err != nil {
		t.Fatal(err)
	}
	stack.WithEnv(map[string]string{
		"SHOP_TAG":       "local",
		"RABBITMQ_IMAGE": "shopbus/rabbitmq:local",
		"MONGO_IMAGE":    "shopbus/ferretdb:local",
		"MONGO_COMMAND":  "-addr=:27017 -dir=/data/db",
		// One FerretDB (standalone) with a user per service database.
		"SHOP_MONGO_HOSTS":         "mongo1:27017",
		"SHOP_MONGO_OPTIONS":       "directConnection=true",
		"SHOP_MONGO_SECRETS":       mongoSecrets(t),
		"SHOP_HTTP_PORT":           "0",
		"RABBITMQ_MANAGEMENT_PORT": "0",
		"SHOP_ADMIN_EMAIL":         "admin@e2e.test",
		"SHOP_ADMIN_PASSWORD":      "e2e-admin-password",
		"SHOP_BROKER_SECRETS":      brokerSecrets(t),
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if t.Failed() {
			dumpLogs(t, ctx, stack)
		}
		composeDown(t, ctx, stack)
	})
	upCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := stack.Up(upCtx, compose.Wait(true)); err != nil {
		t.Fatalf("compose up: %v", err)
	}
	front, err := stack.ServiceContainer(ctx, "storefront")
	if err != nil {
		t.Fatal(err)
	}
	endpoint, err := front.PortEndpoint(ctx, "8080/tcp", "http")
	if err != nil {
		t.Fatal(err)
	}
	return stack, endpoint
}

// TestShopperJourney brings the standard topology up and drives it as a
// shopper would, then takes parts of it away: browsing survives the seo
// service's absence, and an auth restart costs latency, not errors.
// dumpLogs prints the end of every container's log, for a failed run.
func dumpLogs(t *testing.T, ctx context.Context, stack *compose.DockerCompose) {
	for _, name := range stack.Services() {
		c, err := stack.ServiceContainer(ctx, name)
		if err != nil {
			continue
		}
		r, err := c.Logs(ctx)
		if err != nil {
			continue
		}
		data, _ := io.ReadAll(r)
		r.Close()
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(lines) > 15 {
			lines = lines[len(lines)-15:]
		}
		t.Logf("---- %s ----\n%s", name, strings.Join(lines, "\n"))
	}
}

func TestShopperJourney(t *testing.T) {
	testcontainers.SkipIfProviderIsNotHealthy(t)
	buildImages(t)
	stack, base := topology(t)
	ctx := context.Background()
	t.Logf("storefront at %s", base)
	shopper := newShopper(t, base)

	// The seeder fills the shop on its first start.
	var trees []categoryNode
	var progress string
	waitUntil(t, 3*time.Minute, "the seeded catalogue", func() bool {
		trees = nil
		var products filterResult
		code := shopper.try("GET", "/api/categories", nil, &trees)
		progress = fmt.Sprintf("GET /api/categories: %d, %d trees", code, len(trees))
		if code != 200 || len(trees) == 0 {
			return false
		}
		code = shopper.try("GET", "/api/products?category="+trees[0].Slug, nil, &products)
		progress += fmt.Sprintf("; GET /api/products?category=%s: %d, %d products", trees[0].Slug, code, products.Total)
		return code == 200 && products.Total > 0
	}, &progress)

	// Register and log in (the session travels in an HttpOnly cookie).
	creds := map[string]string{"email": "e2e-shopper@example.com", "password": "e2e-shopper-password"}
	shopper.must("POST", "/api/register", creds, 201, nil)
	shopper.must("POST", "/api/login", creds, 200, nil)
	var me struct {
		Email string `json:"email"`
	}
	shopper.must("GET", "/api/me", nil, 200, &me)
	if me.Email != creds["email"] {
		t.Fatalf("logged in as %q", me.Email)
	}

	// Browse a category, then narrow it with a facet.
	var all filterResult
	shopper.must("GET", "/api/products?category="+trees[0].Slug, nil, 200, &all)
	if all.Total == 0 || len(all.Items) == 0 || len(all.Facets) == 0 {
		t.Fatalf("category %s: %+v", trees[0].Slug, all)
	}
	facet, value := all.Facets[0].Code, all.Facets[0].Values[0]
	var narrowed filterResult
	shopper.must("GET", "/api/products?category="+trees[0].Slug+"&f="+url.QueryEscape(facet+":"+value.Value), nil, 200, &narrowed)
	if narrowed.Total != value.Count || narrowed.Total > all.Total {
		t.Fatalf("filter %s=%s: %d products, the facet promised %d (of %d)", facet, value.Value, narrowed.Total, value.Count, all.Total)
	}

	// Add the first product (its first variant, if it has any) to the cart.
	item := narrowed.Items[0]
	var prod struct {
		ID       string `json:"id"`
		Variants []struct {
			ID string `json:"id"`
		} `json:"variants"`
	}
	shopper.must("GET", "/api/products/"+item.Slug, nil, 200, &prod)
	add := map[string]any{"product_id": prod.ID, "quantity": 2}
	if len(prod.Variants) > 0 {
		add["variant_id"] = prod.Variants[0].ID
	}
	var cart struct {
		Lines []struct {
			ProductID string `json:"product_id"`
			Quantity  int    `json:"quantity"`
		} `json:"lines"`
	}
	shopper.must("POST", "/api/cart/items", add, 200, &cart)
	shopper.must("GET", "/api/cart", nil, 200, &cart)
	if len(cart.Lines) != 1 || cart.Lines[0].ProductID != prod.ID || cart.Lines[0].Quantity != 2 {
		t.Fatalf("cart: %+v", cart)
	}

	// The same through the HTML pages, in a real browser, as another shopper.
	browse(t, base, trees[0].Slug, "e2e-browser@example.com", "e2e-browser-password")

	// Without the seo service, pages still render (without their metadata).
	seo, err := stack.ServiceContainer(ctx, "seo")
	if err != nil {
		t.Fatal(err)
	}
	stopTimeout := 10 * time.Second
	if err := seo.Stop(ctx, &stopTimeout); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/", "/" + trees[0].Slug, "/" + item.Slug, "/" + trees[0].Slug + "?f=" + url.QueryEscape(facet+":"+value.Value)} {
		start := time.Now()
		if code := shopper.page(path); code != 200 {
			t.Errorf("GET %s with seo down: %d", path, code)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("GET %s with seo down took %v", path, took)
		}
	}

	// Restart auth while a stream of authenticated requests flows: they
	// wait in auth's durable queue, so callers see latency, never errors.
	auth, err := stack.ServiceContainer(ctx, "auth")
	if err != nil {
		t.Fatal(err)
	}
	stream := startStream(shopper, "/api/me")
	time.Sleep(time.Second)
	if err := auth.Stop(ctx, &stopTimeout); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // auth is gone: requests wait in its queue
	if err := auth.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 2*time.Minute, "auth to be healthy again", func() bool {
		state, err := auth.State(ctx)
		return err == nil && state.Health != nil && state.Health.Status == "healthy"
	})
	time.Sleep(2 * time.Second)
	calls, failures, slowest := stream.stop()
	t.Logf("auth restart: %d requests, %d failed, slowest %v", calls, len(failures), slowest)
	if len(failures) > 0 {
		t.Errorf("requests failed during the auth restart: %v", failures)
	}
	if calls < 10 {
		t.Errorf("only %d requests during the restart", calls)
	}
	if slowest < time.Second {
		t.Errorf("no request waited for auth (slowest %v): the restart did not happen under the stream", slowest)
	}
}

type categoryNode struct {
	Slug     string         `json:"slug"`
	Children []categoryNode `json:"children"`
}

type filterResult struct {
	Items []struct {
		ID   string `json:"id"`
		Slug string `json:"slug"`
	} `json:"items"`
	Total  int `json:"total"`
	Facets []struct {
		Code   string `json:"code"`
		Values []struct {
			Value string `json:"value"`
			Count int    `json:"count"`
		} `json:"values"`
	} `json:"facets"`
}

// shopper is a browser-like HTTP client with a cookie jar.
type shopper struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newShopper(t *testing.T, base string) *shopper {
	jar, _ := cookiejar.New(nil)
	return &shopper{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// try sends a JSON request and decodes a JSON answer into out; it returns
// the status (0 when the request failed).
func (s *shopper) try(method, path string, in, out any) int {
	return s.tryKey(method, path, in, out, "")
}

// tryKey is try with an Idempotency-Key header, when key is not empty.
func (s *shopper) tryKey(method, path string, in, out any, key string) int {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.base+path, body)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := s.c.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			s.t.Errorf("%s %s: cannot decode %.200s: %v", method, path, data, err)
		}
	}
	return resp.StatusCode
}

func (s *shopper) must(method, path string, in any, want int, out any) {
	s.t.Helper()
	if got := s.try(method, path, in, out); got != want {
		s.t.Fatalf("%s %s = %d, want %d", method, path, got, want)
	}
}

// page fetches an HTML page and returns its status.
func (s *shopper) page(path string) int {
	resp, err := s.c.Get(s.base + path)
	if err != nil {
		s.t.Errorf("GET %s: %v", path, err)
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// stream sends one request after another until stopped, recording
// failures and the slowest answer.
type stream struct {
	done     chan struct{}
	finished chan struct{}
	calls    int
	failures []string
	slowest  time.Duration
}

func startStream(s *shopper, path string) *stream {
	st := &stream{done: make(chan struct{}), finished: make(chan struct{})}
	go func() {
		defer close(st.finished)
		for {
			select {
			case <-st.done:
				return
			default:
			}
			start := time.Now()
			code := s.try("GET", path, nil, nil)
			took := time.Since(start)
			st.calls++
			st.slowest = max(st.slowest, took)
			if code != 200 {
				st.failures = append(st.failures, fmt.Sprintf("%d after %v", code, took.Round(time.Millisecond)))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	return st
}

func (st *stream) stop() (int, []string, time.Duration) {
	close(st.done)
	<-st.finished
	return st.calls, st.failures, st.slowest
}

// waitUntil polls cond every second up to limit; detail, if given, says
// where things stood when it gave up.
func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool, detail ...*string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			last := ""
			if len(detail) > 0 {
				last = " (last: " + *detail[0] + ")"
			}
			t.Fatalf("timed out after %v waiting for %s%s", limit, what, last)
		}
		time.Sleep(time.Second)
	}
}

// composeDown takes stack down with its volumes. Docker may still hold an
// endpoint of a container the test stopped, or disconnected and connected
// again, when compose removes the network ("has active endpoints", seen
// after TestCluster's partition and after TestShopperJourney restarted
// auth): it tries again once the endpoint may be released, and when one
// stays with no container, which no retry removes, it logs that instead of
// failing the test: the network's name is this run's own, so what stays
// behind harms no other run. Other errors fail the test.
func composeDown(t *testing.T, ctx context.Context, stack compose.ComposeStack) {
	t.Helper()
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = stack.Down(ctx, compose.RemoveOrphans(true), compose.RemoveVolumes(true)); err == nil {
			return
		}
		t.Logf("compose down, attempt %d: %v", attempt+1, err)
		time.Sleep(3 * time.Second)
	}
	if strings.Contains(err.Error(), "has active endpoints") {
		t.Logf("compose down left the network behind: %v", err)
		return
	}
	t.Errorf("compose down: %v", err)
}
