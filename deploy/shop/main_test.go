package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shopbus/shopbus/internal/testenv"
)

var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
	os.Exit(code)
}

// build compiles the command once per test process.
func build(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	binary.once.Do(func() {
		binary.dir, binary.err = os.MkdirTemp("", "shopbus-deploy-shop-")
		if binary.err != nil {
			return
		}
		binary.path = filepath.Join(binary.dir, "shop")
		out, err := exec.Command("go", "build", "-o", binary.path, ".").CombinedOutput()
		if err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// env returns the environment for the binary: this one without SHOP_
// variables (so that it runs on its embedded defaults), plus extra.
func env(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SHOP_") {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

// shop is a running binary.
type shop struct {
	cmd    *exec.Cmd
	url    string
	opsURL string // where /readyz, /stats and /metrics answer (the first worker's)
	stderr *testenv.Buffer
	done   chan error
	// serving counts the "shopbus serving on" lines (one per worker process).
	serving atomic.Int32
}

// waitLog waits until the binary has logged msg.
func (s *shop) waitLog(t *testing.T, msg string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(s.stderr.String(), msg) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q logged within 60 s; stderr:\n%s", msg, s.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// start starts the binary and waits for the URL it prints.
func start(t *testing.T, bin string, environ []string) *shop {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = environ
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &shop{cmd: cmd, stderr: &testenv.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-s.done
		}
	})
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		s.done <- cmd.Wait()
	}()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("the binary exited before printing its URL: %v\nstderr:\n%s", <-s.done, s.stderr)
			}
			if u, found := strings.CutPrefix(line, "shopbus operations on "); found && s.opsURL == "" {
				s.opsURL = u
			}
			if u, found := strings.CutPrefix(line, "shopbus serving on "); found {
				s.url = u
				s.serving.Add(1)
				go func() {
					for line := range lines { // keep stdout drained
						if strings.HasPrefix(line, "shopbus serving on ") {
							s.serving.Add(1)
						}
					}
				}()
				return s
			}
		case <-deadline:
			t.Fatalf("no URL printed within 60 s; stderr:\n%s", s.stderr)
		}
	}
}

// stop sends SIGTERM and returns the exit error.
func (s *shop) stop(t *testing.T) error {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit within 30 s of SIGTERM; stderr:\n%s", s.stderr)
		return nil
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestShopServesAndStops(t *testing.T) {
	bin := build(t)
	data := filepath.Join(t.TempDir(), "data")
	s := start(t, bin, env("SHOP_HTTP_ADDR=127.0.0.1:0", "SHOP_DATA_DIR="+data, "SHOP_BCRYPT_COST=4"))
	if !strings.HasPrefix(s.url, "http://127.0.0.1:") || strings.HasSuffix(s.url, ":0") {
		t.Fatalf("printed URL %q", s.url)
	}
	// The operations endpoints are on a loopback port of their own; the
	// shop's port has only /healthz of them.
	if !strings.HasPrefix(s.opsURL, "http://127.0.0.1:") || s.opsURL == s.url {
		t.Fatalf("operations URL %q (site %s)", s.opsURL, s.url)
	}
	for _, path := range []string{"/healthz", "/readyz", "/stats", "/metrics"} {
		if code, body := get(t, s.opsURL+path); code != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, code, body)
		}
	}
	for path, want := range map[string]int{"/healthz": http.StatusOK, "/readyz": http.StatusNotFound, "/stats": http.StatusNotFound, "/metrics": http.StatusNotFound} {
		if code, _ := get(t, s.url+path); code != want {
			t.Errorf("GET %s on the shop's port: %d, want %d", path, code, want)
		}
	}
	if _, body := get(t, s.opsURL+"/readyz"); !strings.Contains(body, `"auth"`) || !strings.Contains(body, `"serving"`) {
		t.Errorf("/readyz does not list the services: %s", body)
	}
	// The storefront answers next to the health endpoints.
	if code, body := get(t, s.url+"/"); code != http.StatusOK || !strings.Contains(body, "<html") {
		t.Errorf("GET /: %d %s", code, body)
	}
	if code, body := get(t, s.url+"/api/categories"); code != http.StatusOK || !strings.HasPrefix(body, "[") {
		t.Errorf("GET /api/categories: %d %s", code, body)
	}
	if err := s.stop(t); err != nil {
		t.Fatalf("exit after SIGTERM: %v\nstderr:\n%s", err, s.stderr)
	}
	// The embedded database kept its files in the data directory.
	if entries, err := os.ReadDir(data); err != nil || len(entries) == 0 {
		t.Errorf("data directory %s: %v, %d entries", data, err, len(entries))
	}
}

func TestShopRejectsBadConfig(t *testing.T) {
	bin := build(t)
	cmd := exec.Command(bin)
	cmd.Env = env("SHOP_HTTP_ADDR=nowhere", "SHOP_DATA_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 1 || !strings.Contains(string(out), "SHOP_HTTP_ADDR") {
		t.Errorf("bad SHOP_HTTP_ADDR: %v\n%s", err, out)
	}
}

// post sends a JSON body.
func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestShopKeepsDataAcrossRestarts(t *testing.T) {
	bin := build(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	environ := env("SHOP_HTTP_ADDR=127.0.0.1:0", "SHOP_DATA_DIR="+dataDir, "SHOP_BCRYPT_COST=4")
	creds := `{"email": "keep@shop.test", "password": "keep-password"}`

	s := start(t, bin, environ)
	if code, body := post(t, s.url+"/api/register", creds); code != http.StatusCreated {
		t.Fatalf("register: %d %s", code, body)
	}
	// The first start seeds the sample data.
	s.waitLog(t, "host: seeded sample data")
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := get(t, s.url+"/api/products?limit=1")
		var res struct{ Total int }
		_ = json.Unmarshal([]byte(body), &res)
		if code == http.StatusOK && res.Total == 48 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sample products: %d %s\nstderr:\n%s", code, body, s.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, body := get(t, s.url+"/"); code != http.StatusOK || !strings.Contains(body, `class="card"`) {
		t.Errorf("home page without products: %d %s", code, body)
	}
	if err := s.stop(t); err != nil {
		t.Fatalf("first run: %v\n%s", err, s.stderr)
	}

	s = start(t, bin, environ)
	if code, body := post(t, s.url+"/api/login", creds); code != http.StatusOK || !strings.Contains(body, "keep@shop.test") {
		t.Errorf("login after a restart: %d %s", code, body)
	}
	// The local admin's password was generated on first start, kept in
	// the data directory for its owner only, and still works.
	path := filepath.Join(dataDir, "admin-password")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin password file: %v %v", fi, err)
	}
	pw, _ := os.ReadFile(path)
	admin := fmt.Sprintf(`{"email": "admin@shopbus.local", "password": %q}`, strings.TrimSpace(string(pw)))
	if code, body := post(t, s.url+"/api/login", admin); code != http.StatusOK || !strings.Contains(body, `"admin"`) {
		t.Errorf("admin login: %d %s", code, body)
	}
	s.waitLog(t, "host: sample data already seeded")
	if err := s.stop(t); err != nil {
		t.Fatalf("second run: %v\n%s", err, s.stderr)
	}
	if strings.Count(s.stderr.String(), "seed: run started") != 0 {
		t.Errorf("the second start seeded again:\n%s", s.stderr)
	}
}

// TestShopWorkerProcesses runs the binary as a primary with two worker
// processes on RabbitMQ and MongoDB, sharing one HTTP port.
func TestShopWorkerProcesses(t *testing.T) {
	bin := build(t)
	amqpURL, mongoURI := testenv.AMQPURL(t), testenv.MongoURI(t)
	prefix := testenv.UniqueName("cluster")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, svc := range []string{"auth", "category"} {
			_ = testenv.MongoClient(t).Database(prefix + "_" + svc).Drop(ctx)
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	s := start(t, bin, env("SHOP_WORKERS=2", "SHOP_SERVICES=auth,category", "SHOP_HTTP_ADDR="+addr, "SHOP_BCRYPT_COST=4",
		"SHOP_AMQP_URL="+amqpURL, "SHOP_AMQP_NAMESPACE="+testenv.UniqueName("cluster"), "SHOP_AMQP_EXPIRE=1m",
		"SHOP_MONGO_URI="+mongoURI, "SHOP_DB_PREFIX="+prefix))
	deadline := time.Now().Add(60 * time.Second)
	for s.serving.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 2 workers serving; stderr:\n%s", s.serving.Load(), s.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s.url != "http://"+addr {
		t.Errorf("URL %s, want http://%s", s.url, addr)
	}
	for i := range 6 {
		if code, body := get(t, s.opsURL+"/readyz"); code != http.StatusOK {
			t.Fatalf("/readyz: %d %s", code, body)
		}
		creds := fmt.Sprintf(`{"email": "w%d@shop.test", "password": "worker-password"}`, i)
		if code, body := post(t, s.url+"/api/register", creds); code != http.StatusCreated {
			t.Fatalf("register through a worker: %d %s", code, body)
		}
	}
	for _, w := range []string{"service=worker-1", "service=worker-2"} {
		if !strings.Contains(s.stderr.String(), w) {
			t.Errorf("no %s in the log:\n%s", w, s.stderr)
		}
	}
	if err := s.stop(t); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, s.stderr)
	}
	if n := strings.Count(s.stderr.String(), "host: shutting down"); n != 2 {
		t.Errorf("%d workers shut down gracefully, want 2:\n%s", n, s.stderr)
	}
}
