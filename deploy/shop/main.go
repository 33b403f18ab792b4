// Command shop runs the whole shop in one process: every service, the
// storefront and the health endpoints, on the in-process bus and an
// embedded MongoDB-compatible database (FerretDB) that keeps its files in
// ./shopdata, or $SHOP_DATA_DIR.
//
//	go run ./deploy/shop
//	shopbus serving on http://127.0.0.1:8080
//
// With SHOP_AMQP_URL set it uses RabbitMQ instead of the in-process bus, and
// with SHOP_MONGO_URI set a MongoDB server instead of the embedded one; the
// other variables are those of host.ConfigFromEnv (SHOP_HTTP_ADDR,
// SHOP_SERVICES, SHOP_WORKERS, ...). On the embedded database without
// SHOP_ADMIN_EMAIL, the admin account is admin@shopbus.local with a random
// password generated on first start and kept in the data directory
// (admin-password), and the shop is filled with sample data on first
// start unless SHOP_SEED=false. SIGINT or SIGTERM shuts it down
// gracefully; it exits non-zero if it cannot start or a service fails for
// good.
//
// On the embedded database, unless GOGC is set, the garbage collector runs
// at GOGC=400: the embedded server allocates for every document it
// converts, and collecting a fourth as often made the 20,000-product seed
// 6-8% faster for twice the peak memory (about 500 MB instead of 260 MB;
// 1.8 GB at 100,000 products). GOGC=100 in the environment restores the
// runtime's default.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/shopbus/shopbus/deploy/internal/site"
	"github.com/shopbus/shopbus/host"
	"github.com/shopbus/shopbus/internal/embedmongo"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "shop:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := host.ConfigFromEnv()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	p := &host.Program{Config: cfg, Site: site.Storefront}
	if cfg.MongoURI == "" {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return err
		}
		lessGC()
		if cfg.Settings.AdminEmail == "" {
			if p.Config.Settings, err = localAdmin(cfg.Settings, cfg.DataDir); err != nil {
				return err
			}
		}
		if os.Getenv(host.EnvSeed) == "" {
			p.Config.Settings.Seed = true // a local shop starts with sample data
		}
		// A developer's shop (embedded database) has the demo customer; a
		// shop on a real MongoDB never gets an account with a public password.
		p.Config.Settings.SeedDemo = true
		// The embedded server outlives the program's shutdown, so that the
		// services can finish their last writes.
		db, err := embedmongo.Start(context.Background(), cfg.DataDir)
		if err != nil {
			return err
		}
		defer db.Stop()
		p.Config.MongoURI = db.URI()
	}
	return p.Run(ctx)
}

// lessGC sets GOGC=400 unless the environment chose a value.
func lessGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(400)
	}
}

// Local admin account of a shop on the embedded database, when
// SHOP_ADMIN_EMAIL is not set.
const (
	localAdminEmail = "admin@shopbus.local"
	passwordFile    = "admin-password"
)

// localAdmin sets up the admin account of a local shop: localAdminEmail,
// with a random password generated on first start and kept in the data
// directory (readable by the owner only), so that the admin can log in and
// the seeder can write.
func localAdmin(s host.Settings, dir string) (host.Settings, error) {
	path := filepath.Join(dir, passwordFile)
	pw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		b := make([]byte, 18)
		_, _ = rand.Read(b)
		pw = []byte(base64.RawURLEncoding.EncodeToString(b))
		err = os.WriteFile(path, append(pw, '\n'), 0o600)
	}
	if err != nil {
		return s, fmt.Errorf("admin password: %w", err)
	}
	s.AdminEmail, s.AdminPassword = localAdminEmail, strings.TrimSpace(string(pw))
	fmt.Fprintf(os.Stderr, "admin account %s; its password is in %s\n", localAdminEmail, path)
	return s, nil
}
