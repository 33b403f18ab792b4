// Package runner is the body shared by the deployable binaries in deploy/:
// each main names the services it hosts and calls Main.
package runner

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/shopbus/shopbus/host"
)

// Main runs a binary that hosts services (and, if site is set, a web
// site), configured from the environment (host.ConfigFromEnv), until SIGINT
// or SIGTERM. SHOP_SERVICES, if set, must not contradict services.
//
// Run as "<binary> healthcheck" it instead asks the running binary's
// /readyz on SHOP_OPS_ADDR (or SHOP_HTTP_ADDR, where a binary without a
// site serves it) and exits 0 if it is ready: images built FROM scratch
// have no shell or curl for a container health check. A binary with a site
// and no SHOP_OPS_ADDR has its operations endpoints on a free port nobody
// knows in advance: it is checked with /healthz on SHOP_HTTP_ADDR.
func Main(services []string, site func(host.SiteEnv) (http.Handler, error)) {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(healthcheck(site != nil))
	}
	if err := run(services, site); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(services []string, site func(host.SiteEnv) (http.Handler, error)) error {
	cfg, err := host.ConfigFromEnv()
	if err != nil {
		return err
	}
	if cfg.MongoURI == "" && len(services) > 0 {
		return fmt.Errorf("%s must be set: only deploy/shop embeds a database", host.EnvMongoURI)
	}
	cfg.Services = services
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p := &host.Program{Config: cfg, Site: site}
	if len(services) == 0 {
		p.Services = []host.Service{} // a site alone hosts no service
	}
	return p.Run(ctx)
}

func healthcheck(hasSite bool) int {
	addr, path := os.Getenv(host.EnvOpsAddr), "/readyz"
	if addr == "" {
		addr = cmp.Or(os.Getenv(host.EnvHTTPAddr), host.DefaultHTTPAddr)
		if hasSite {
			path = "/healthz"
		}
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		return 1
	}
	client := http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get("http://127.0.0.1:" + port + path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "healthcheck:", path, "answered", resp.Status)
		return 1
	}
	return 0
}
