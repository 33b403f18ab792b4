package host_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/shopbus/shopbus/host"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop/auth"
)

func TestProgram(t *testing.T) {
	cfg := host.Config{
		Services: []string{"auth", "category"},
		MongoURI: testenv.MongoURI(t),
		DBPrefix: testenv.UniqueName("prog"),
		HTTPAddr: "127.0.0.1:0",
		Settings: host.Settings{BcryptCost: bcrypt.MinCost},
	}
	dropDatabases(t, &host.Node{Mongo: testenv.MongoClient(t), DBPrefix: cfg.DBPrefix}, []host.Service{{Name: "auth"}, {Name: "category"}})
	out, stdout := io.Pipe()
	var site host.SiteEnv
	p := &host.Program{
		Config: cfg,
		Stdout: stdout,
		Logger: quiet,
		// A site that registers a user through the bus.
		Site: func(env host.SiteEnv) (http.Handler, error) {
			site = env
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/" {
					http.NotFound(w, r)
					return
				}
				u, err := auth.NewClient(env.Bus).Register(r.Context(), auth.RegisterRequest{Email: "web@host.test", Password: "web-password"})
				if err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				_, _ = io.WriteString(w, "registered "+u.Email)
			}), nil
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	lines := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			lines <- s.Text()
		}
	}()
	// A program with a site serves its operations endpoints on a loopback
	// listener of their own, announced first.
	var url, opsURL string
	for _, want := range []string{"shopbus operations on ", "shopbus serving on "} {
		select {
		case line := <-lines:
			u, ok := strings.CutPrefix(line, want)
			if !ok || !strings.HasPrefix(u, "http://127.0.0.1:") || strings.HasSuffix(u, ":0") {
				t.Fatalf("printed %q, want %q and a URL", line, want)
			}
			url, opsURL = u, url
		case err := <-done:
			t.Fatalf("Run: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatal("no URL printed")
		}
	}
	if url == opsURL {
		t.Fatalf("operations and site on one listener: %s", url)
	}
	if site.BaseURL != url || site.Bus == nil || site.Config.DBPrefix != cfg.DBPrefix {
		t.Errorf("site env: %+v (url %s)", site, url)
	}

	for path, want := range map[string]int{"/healthz": 200, "/readyz": 404, "/metrics": 404, "/stats": 404} {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s on the site's port: %d, want %d", path, resp.StatusCode, want)
		}
	}
	for _, path := range host.HealthPaths {
		resp, err := http.Get(opsURL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s on the operations port: %d", path, resp.StatusCode)
		}
	}
	// Headers are bounded on both listeners (MaxHeaderBytes).
	for _, u := range []string{url, opsURL} {
		req, _ := http.NewRequest(http.MethodGet, u+"/healthz", nil)
		req.Header.Set("X-Junk", strings.Repeat("j", 2*host.MaxHeaderBytes))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("%s with %d KB of headers: %d", u, 2*host.MaxHeaderBytes>>10, resp.StatusCode)
		}
	}
	resp, err := http.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "registered web@host.test" {
		t.Errorf("GET /: %d %s", resp.StatusCode, body)
	}
	resp, err = http.Get(opsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `shopbus_requests_total{method="auth.register"} 1`) {
		t.Errorf("/metrics:\n%s", body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	for _, u := range []string{url, opsURL} {
		if _, err := http.Get(u + "/healthz"); err == nil {
			t.Errorf("%s still serving after Run returned", u)
		}
	}
}

func TestProgramRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]host.Config{
		"no mongo":      {HTTPAddr: "127.0.0.1:0"},
		"bad address":   {MongoURI: "mongodb://127.0.0.1:1/", HTTPAddr: "nowhere"},
		"bad service":   {MongoURI: "mongodb://127.0.0.1:1/", Services: []string{"nope"}},
		"bad amqp":      {MongoURI: "mongodb://127.0.0.1:1/", AMQPURL: "http://x/"},
		"inproc worker": {MongoURI: "mongodb://127.0.0.1:1/", Workers: 2},
	} {
		err := (&host.Program{Config: cfg, Logger: quiet}).Run(context.Background())
		var ce *host.ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("%s: %v, want a ConfigError", name, err)
		}
	}
}

func TestProgramFailsWithoutDatabase(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p := &host.Program{Config: host.Config{MongoURI: "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200", HTTPAddr: "127.0.0.1:0"}, Logger: quiet}
	err := p.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "MongoDB") {
		t.Errorf("Run: %v, want a MongoDB error", err)
	}
}
