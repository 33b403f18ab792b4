package host

import (
	"context"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/shop/catalog/attribute"
	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/shop/catalog/filter"
	"github.com/shopbus/shopbus/shop/catalog/option"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/content/article"
	"github.com/shopbus/shopbus/shop/content/seo"
	"github.com/shopbus/shopbus/shop/inventory"
	"github.com/shopbus/shopbus/shop/order"
	"github.com/shopbus/shopbus/shop/seeder"
)

// builtin maps a service name to its Service. Every entry reaches the
// other services only through their bus clients on env.Bus.
var builtin = map[string]Service{
	"auth":      {Name: "auth", Start: startAuth},
	"category":  {Name: "category", Start: startCategory},
	"attribute": {Name: "attribute", Start: startAttribute},
	"option":    {Name: "option", Start: startOption},
	"product":   {Name: "product", Start: startProduct},
	"filter":    {Name: "filter", Start: startFilter},
	"cart":      {Name: "cart", Start: startCart},
	"inventory": {Name: "inventory", Start: startInventory},
	"order":     {Name: "order", Start: startOrder},
	"article":   {Name: "article", Start: startArticle},
	"seo":       {Name: "seo", Start: startSEO},
	"seeder":    {Name: "seeder", Start: startSeeder},
}

// DefaultSeed is the seed of the sample data a node seeds (Settings.Seed).
const DefaultSeed = seeder.DefaultSeed

func startAuth(_ context.Context, env Env) (*Started, error) {
	opts := env.Settings.authOptions()
	opts.Logger = env.Logger
	srv, err := auth.New(env.DB, opts)
	if err != nil {
		return nil, err
	}
	var a Attach
	a.Add(auth.Bind(env.Bus, srv, env.Consumer...))
	st, err := a.Started(srv.Run) // Run deletes expired sessions periodically
	if err != nil {
		return nil, err
	}
	st.Authenticator = srv
	return st, nil
}

func startCategory(_ context.Context, env Env) (*Started, error) {
	srv, err := category.New(env.DB, category.Options{
		Auth:        auth.NewClient(env.Bus),
		Events:      env.Bus,
		SharedSlugs: shop.SlugSpace{"product": product.NewClient(env.Bus), "article": article.NewClient(env.Bus)},
		Logger:      env.Logger,
	})
	if err != nil {
		return nil, err
	}
	var a Attach
	a.Add(category.Bind(env.Bus, srv, env.Consumer...))
	a.Add(category.Subscribe(env.Bus, srv, env.Consumer...))
	return withRelay(&a, srv)
}

func startAttribute(_ context.Context, env Env) (*Started, error) {
	srv, err := attribute.New(env.DB, attribute.Options{Auth: auth.NewClient(env.Bus)})
	if err != nil {
		return nil, err
	}
	var a Attach
	a.Add(attribute.Bind(env.Bus, srv, env.Consumer...))
	return a.Started(nil)
}

func startOption(_ context.Context, env Env) (*Started, error) {
	srv, err := option.New(env.DB, option.Options{Auth: auth.NewClient(env.Bus), Logger: env.Logger})
	if err != nil {
		return nil, err
	}
	var a Attach
	a.Add(option.Bind(env.Bus, srv, env.Consumer...))
	return a.Started(nil)
}

func startProduct(_ context.Context, env Env) (*Started, error) {
	srv, err := product.New(env.DB, product.Options{
		Auth:        auth.NewClient(env.Bus),
		Events:      env.Bus,
		Categories:  category.NewClient(env.Bus),
		Attributes:  attribute.NewClient(env.Bus),
		Variants:    option.NewClient(env.Bus),
		SharedSlugs: shop.SlugSpace{"category": category.NewClient(env.Bus), "article": article.NewClient(env.Bus)},
		Logger:      env.Logger,
	})
	if err != nil {
		return nil, err
	}
	var a Attach
	a.Add(product.Bind(env.Bus, srv, env.Consumer...))
	a.Add(product.Subscribe(env.Bus, srv, env.Consumer...))
	return withRelay(&a, srv)
}

func startFilter(_ context.Context, env Env) (*Started, error) {
	subscriber := ""
	if env.Settings.Replica != "" {
		// Each replica keeps its own in-memory model and needs every event.
		subscriber = filter.ServiceName + "-" + env.Settings.Replica
	}
	srv, err := filter.New(env.DB, filter.Options{
		Auth:       auth.NewClient(env.Bus),
		Products:   filter.FromProductService(product.NewClient(env.Bus)),
		Categories: filter.FromCategoryService(category.NewClient(env.Bus)),
		Logger:     env.Logger,
		Subscriber: subscriber,
	})
	if err != nil {
		return nil, err
	}
	var a Attach
	a.Add(filter.Bind(env.Bus, srv, env.Consumer...))
	a.Add(filter.Subscribe(env.Bus, srv, env.Consumer...))
	return a.Started(nil)
}

func startCart(_ context.Context, env Env) (*Started, error) {
	srv, err := cart.New(env.DB, cart.Options{
		Auth:     auth.NewClient(env.Bus),
		Products: product.NewClient(env.Bus),
		Logger:   env.Logger,
	})
	if err != nil {
		return nil, err
	}
	var a Attach
	a.Add(cart.Bind(env.Bus, srv, env.Consumer...))
	a.Add(cart.Subscribe(env.Bus, srv, env.Consumer...))
	a.Add(cart.SubscribeOrders(env.Bus, srv, env.Consumer...))
	return a.Started(srv.Run) // Run deletes expired guest carts periodically
}

func startInventory(_ context.Context, env Env) (*Started, error) {
	srv, err := inventory.New(env.DB, inventory.Options{
		Auth:   auth.NewClient(env.Bus),
		Events: env.Bus,
		Logger: env.Logger,
	})
	if err != nil {
		return nil, err
	}
	var a Attach
	a.Add(inventory.Bind(env.Bus, srv, env.Consumer...))
	// Run relays the stock events and sweeps expired reservations.
	st, err := a.Started(srv.Run)
	if err != nil {
		return nil, err
	}
	st.Backlog = srv.EventBacklog
	return st, nil
}

func startOrder(_ context.Context, env Env) (*Started, error) {
	pay := env.Settings.Payment
	if pay == nil {
		env.Logger.Warn("host: the order service uses the fake payment provider: every payment is approved and nothing is charged")
		pay = order.NewFakePayment()
	}
	var operator func(ctx context.Context) (string, error)
	if env.Settings.AdminEmail != "" && env.Settings.AdminPassword != "" {
		operator = order.AdminSession(auth.NewClient(env.Bus), env.Settings.AdminEmail, env.Settings.AdminPassword)
	} else {
		env.Logger.Warn("host: the order service has no admin account (" + EnvAdminEmail + "): interrupted checkouts are not recovered and cancelled orders not restocked")
	}
	srv, err := order.New(env.DB, order.Options{
		Auth:     auth.NewClient(env.Bus),
		Carts:    cart.NewClient(env.Bus),
		Products: product.NewClient(env.Bus),
		Stock:    inventory.NewClient(env.Bus),
		Payment:  pay,
		Operator: operator,
		Events:   env.Bus,
		Logger:   env.Logger,
	})
	if err != nil {
		return nil, err
	}
	var a Attach
	a.Add(order.Bind(env.Bus, srv, env.Consumer...))
	// Run relays the order events and recovers interrupted checkouts.
	st, err := a.Started(srv.Run)
	if err != nil {
		return nil, err
	}
	st.Backlog = srv.EventBacklog
	return st, nil
}

func startArticle(_ context.Context, env Env) (*Started, error) {
	srv, err := article.New(env.DB, article.Options{
		Auth:        auth.NewClient(env.Bus),
		Events:      env.Bus,
		SharedSlugs: shop.SlugSpace{"product": product.NewClient(env.Bus), "category": category.NewClient(env.Bus)},
		Logger:      env.Logger,
	})
	if err != nil {
		return nil, err
	}
	var a Attach
	a.Add(article.Bind(env.Bus, srv, env.Consumer...))
	return withRelay(&a, srv)
}

func startSEO(_ context.Context, env Env) (*Started, error) {
	srv, err := seo.New(env.DB, seo.Options{
		Auth:    auth.NewClient(env.Bus),
		BaseURL: env.Settings.BaseURL,
		Logger:  env.Logger,
	})
	if err != nil {
		return nil, err
	}
	srv.BuildSitemap() // not at the first request: see its doc
	var a Attach
	a.Add(seo.Bind(env.Bus, srv, env.Consumer...))
	a.Add(seo.Subscribe(env.Bus, srv, env.Consumer...))
	return a.Started(nil)
}

func startSeeder(_ context.Context, env Env) (*Started, error) {
	srv, err := seeder.New(env.DB, seeder.Options{
		Bus:           env.Bus,
		AdminEmail:    env.Settings.AdminEmail,
		AdminPassword: env.Settings.AdminPassword,
		Demo:          env.Settings.SeedDemo,
		Logger:        env.Logger,
	})
	if err != nil {
		return nil, err
	}
	var a Attach
	a.Add(seeder.Bind(env.Bus, srv, env.Consumer...))
	if !env.Settings.Seed {
		return a.Started(nil)
	}
	return a.Started(func(ctx context.Context) error {
		if env.Settings.AdminEmail == "" {
			env.Logger.Warn("host: not seeding sample data: no admin account configured (" + EnvAdminEmail + ")")
			return nil
		}
		// Seeding is a convenience: a failure is logged and the shop
		// runs on (an error here would restart the seeder's consumers).
		// At shutdown the run is abandoned rather than waited for: its
		// last calls (ending its admin session, recording the run) may
		// wait for services that have already stopped. The next start
		// finds no completed run and seeds again, idempotently.
		done := make(chan struct{})
		go func() {
			defer close(done)
			rep, seeded, err := srv.Ensure(ctx, seeder.RunRequest{Seed: DefaultSeed, Products: env.Settings.SeedProducts})
			switch {
			case err != nil:
				if ctx.Err() == nil {
					env.Logger.Error("host: seeding sample data failed", "err", err)
				}
			case seeded:
				env.Logger.Info("host: seeded sample data", "created", rep.Created(), "existing", rep.Existing(), "products", rep.Products)
			default:
				env.Logger.Info("host: sample data already seeded", "run", rep.RunID, "products", rep.Products)
			}
		}()
		select {
		case <-done:
		case <-ctx.Done():
		}
		return nil
	})
}

// relayer is a service that stores its events with its changes and
// relays them to the bus (see internal/outbox).
type relayer interface {
	RunRelay(ctx context.Context) error
	EventBacklog(ctx context.Context) (shop.EventBacklog, error)
}

// withRelay returns the Started of such a service: its relay as the
// background work, and its backlog in the node's statistics.
func withRelay(a *Attach, srv relayer) (*Started, error) {
	st, err := a.Started(srv.RunRelay)
	if err != nil {
		return nil, err
	}
	st.Backlog = srv.EventBacklog
	return st, nil
}

// authOptions are the auth service's options these settings give.
func (s Settings) authOptions() auth.Options {
	return auth.Options{
		BcryptCost: s.BcryptCost, SessionTTL: s.SessionTTL,
		AdminEmail: s.AdminEmail, AdminPassword: s.AdminPassword,
		MaxConcurrentHashes: s.AuthHashes,
	}
}
