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
	var url string
	select {
	case line := <-lines:
		var ok bool
		if url, ok = strings.CutPrefix(line, "shopbus serving on "); !ok || !strings.HasPrefix(url, "http://127.0.0.1:") || strings.HasSuffix(url, ":0") {
			t.Fatalf("printed %q", line)
		}
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no URL printed")
	}
	if site.BaseURL != url || site.Bus == nil || site.Config.DBPrefix != cfg.DBPrefix {
		t.Errorf("site env: %+v (url %s)", site, url)
	}

	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200, "/stats": 200} {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
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
	resp, err = http.Get(url + "/metrics")
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
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Error("still serving after Run returned")
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
