package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/supervise"
	"github.com/shopbus/shopbus/transport"
)

// DefaultDBPrefix is the database name prefix when Node.DBPrefix is empty:
// service "auth" gets database "shop_auth".
const DefaultDBPrefix = "shop"

// Node hosts services in one process: it starts each on its own database,
// serves it on the bus, restarts it when it fails (see package supervise),
// counts every request it serves, and reports its health (see Handler).
//
// Fill in the fields, then call Run. Fields must not change after Run has
// been called.
type Node struct {
	// Bus is the bus the services serve on and call each other through.
	// The caller owns it: Run does not close it.
	Bus transport.Bus
	// Mongo is the client the services' databases come from. The caller
	// owns it: Run does not disconnect it.
	Mongo *mongo.Client
	// DBPrefix prefixes database names: "<prefix>_<service>". Empty means
	// DefaultDBPrefix.
	DBPrefix string
	// Services are the services to host. Nil means Catalogue(); an empty
	// slice hosts none (a node serving only a web site).
	Services []Service
	// Concurrency maps a service name to how many requests and events each
	// of its consumers handles at once. A missing entry means
	// transport.DefaultConcurrency.
	Concurrency map[string]int
	// Settings are passed to every service.
	Settings Settings
	// Logger receives the node's and the services' logs. Nil means
	// slog.Default().
	Logger *slog.Logger
	// Supervisor, if set, sets the restart policy (its Logger and OnEvent
	// are kept; services must not have been added). Nil means the
	// defaults: at most 5 restarts of one service within a minute, then
	// the node stops and Run reports it.
	Supervisor *supervise.Supervisor

	once  sync.Once
	bus   transport.Bus // Bus, with every served handler counted in stats
	stats transport.Stats

	mu       sync.Mutex
	state    map[string]*ServiceStatus
	backlogs map[string]func(context.Context) (shop.EventBacklog, error)
	// subscribers are the event subscribers of each service (ops.go);
	// authn the authenticators of their operations methods.
	subscribers map[string]map[string]bool
	authn       map[string]shop.Authenticator
	running     bool
	stopped     bool
	runErr      error
}

// Service states, as ServiceStatus.State reports them.
const (
	StateStopped  = "stopped"  // not started yet, or stopped
	StateStarting = "starting" // Start is running
	StateServing  = "serving"  // consumers attached
	StateFailed   = "failed"   // Start or the background work failed; a restart may follow
)

// ServiceStatus is what a node knows about one of its services.
type ServiceStatus struct {
	// State is StateStopped, StateStarting, StateServing or StateFailed.
	State string `json:"state"`
	// Error is the last failure, if any.
	Error string `json:"error,omitempty"`
	// Starts counts how often the service was started (1 + restarts).
	Starts int `json:"starts"`
	// Since is when the service entered State.
	Since time.Time `json:"since"`
}

func (n *Node) init() {
	n.once.Do(func() {
		n.bus = &metricsBus{Bus: n.Bus, stats: &n.stats}
		n.state = map[string]*ServiceStatus{}
		for _, svc := range n.services() {
			n.state[svc.Name] = &ServiceStatus{State: StateStopped, Since: time.Now()}
		}
	})
}

func (n *Node) services() []Service {
	if n.Services == nil {
		return Catalogue()
	}
	return n.Services
}

func (n *Node) logger() *slog.Logger {
	if n.Logger == nil {
		return slog.Default()
	}
	return n.Logger
}

func (n *Node) prefix() string {
	if n.DBPrefix == "" {
		return DefaultDBPrefix
	}
	return n.DBPrefix
}

// Database returns the database of the named service: "<prefix>_<name>".
func (n *Node) Database(name string) *mongo.Database {
	return n.Mongo.Database(n.prefix() + "_" + name)
}

// Stats returns the statistics of the requests the node's services have
// served.
func (n *Node) Stats() *transport.Stats {
	n.init()
	return &n.stats
}

// Run starts every service and keeps them running until ctx is cancelled;
// then it stops them (closing their consumers) and returns nil. A service
// whose Start or background work fails is restarted after a backoff; if
// it fails too often, Run stops the others and returns the
// *supervise.RestartLimitError. Run may be called once.
func (n *Node) Run(ctx context.Context) error {
	if err := n.check(); err != nil {
		return err
	}
	n.init()
	n.mu.Lock()
	if n.running || n.stopped {
		n.mu.Unlock()
		return errors.New("host: Node.Run called twice")
	}
	n.running = true
	n.mu.Unlock()

	sup := n.Supervisor
	if sup == nil {
		sup = &supervise.Supervisor{}
	}
	if sup.Logger == nil {
		sup.Logger = n.logger()
	}
	for _, svc := range n.services() {
		sup.Add(svc.Name, supervise.ServiceFunc(func(ctx context.Context) error { return n.serve(ctx, svc) }))
	}
	n.logger().Info("host: starting services", "services", len(n.services()), "db_prefix", n.prefix())
	var err error
	if len(n.services()) == 0 {
		<-ctx.Done() // a node hosting nothing (a web site alone) still runs
	} else {
		err = sup.Run(ctx)
	}

	n.mu.Lock()
	n.running, n.stopped, n.runErr = false, true, err
	n.mu.Unlock()
	return err
}

// check validates the node's fields.
func (n *Node) check() error {
	if n.Bus == nil {
		return errors.New("host: Node.Bus is nil")
	}
	if n.Mongo == nil {
		return errors.New("host: Node.Mongo is nil")
	}
	if msg := checkPrefix(n.prefix()); msg != "" {
		return fmt.Errorf("host: Node.DBPrefix %q %s", n.DBPrefix, msg)
	}
	seen := map[string]bool{}
	for _, svc := range n.services() {
		if err := transport.CheckName("service", svc.Name); err != nil {
			return fmt.Errorf("host: %w", err)
		}
		if svc.Start == nil {
			return fmt.Errorf("host: service %s has no Start function", svc.Name)
		}
		if seen[svc.Name] {
			return fmt.Errorf("host: service %s listed twice", svc.Name)
		}
		seen[svc.Name] = true
	}
	for name, c := range n.Concurrency {
		if c < 0 {
			return fmt.Errorf("host: negative concurrency %d for %s", c, name)
		}
	}
	return nil
}

// serve runs one service until ctx ends: it is the supervise.Service of svc.
func (n *Node) serve(ctx context.Context, svc Service) error {
	log := n.logger().With("service", svc.Name)
	n.setState(svc.Name, StateStarting, nil)
	var consumer []transport.ConsumerOption
	if c := n.Concurrency[svc.Name]; c > 0 {
		consumer = append(consumer, transport.WithConcurrency(c))
	}
	stopping, giveUp := context.WithCancel(context.Background())
	defer giveUp()
	started, err := svc.Start(ctx, Env{
		Name:     svc.Name,
		Bus:      &serviceBus{Bus: n.bus, node: n, service: svc.Name, stopping: stopping},
		DB:       n.Database(svc.Name),
		Consumer: consumer,
		Settings: n.Settings,
		Logger:   log,
	})
	if err == nil && started == nil {
		err = errors.New("start returned no Started")
	}
	if err != nil {
		if ctx.Err() != nil {
			n.setState(svc.Name, StateStopped, nil)
			return nil
		}
		err = fmt.Errorf("starting %s: %w", svc.Name, err)
		n.setState(svc.Name, StateFailed, err)
		return err
	}
	n.setState(svc.Name, StateServing, nil)
	n.setBacklog(svc.Name, started.Backlog)
	defer n.setBacklog(svc.Name, nil)
	n.setAuthenticator(svc.Name, started.Authenticator)
	defer n.setAuthenticator(svc.Name, nil)

	var runErr error
	if started.Run != nil {
		runErr = started.Run(ctx)
	}
	if runErr == nil {
		<-ctx.Done()
	}
	grace := time.AfterFunc(HandlerGrace, giveUp)
	defer grace.Stop()
	if cerr := closeAll(started.Subscriptions); cerr != nil {
		log.Warn("host: closing consumers", "err", cerr)
	}
	if ctx.Err() != nil {
		n.setState(svc.Name, StateStopped, nil)
		return nil
	}
	runErr = fmt.Errorf("%s: %w", svc.Name, runErr)
	n.setState(svc.Name, StateFailed, runErr)
	return runErr
}

func (n *Node) setState(name, state string, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.state[name]
	if state == StateStarting {
		s.Starts++
	}
	s.State, s.Since = state, time.Now()
	if err != nil {
		s.Error = err.Error()
	} else if state == StateServing {
		s.Error = ""
	}
}

// setBacklog records (or, with nil, forgets) how to read a service's
// event backlog.
func (n *Node) setBacklog(name string, backlog func(context.Context) (shop.EventBacklog, error)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.backlogs == nil {
		n.backlogs = map[string]func(context.Context) (shop.EventBacklog, error){}
	}
	if backlog == nil {
		delete(n.backlogs, name)
		return
	}
	n.backlogs[name] = backlog
}

// EventBacklogs reports, for every running service that stores its events
// with its changes, the events the broker has not confirmed yet. A
// service whose store does not answer within ReadyTimeout is left out.
func (n *Node) EventBacklogs(ctx context.Context) map[string]shop.EventBacklog {
	n.mu.Lock()
	funcs := maps.Clone(n.backlogs)
	n.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	defer cancel()
	out := make(map[string]shop.EventBacklog, len(funcs))
	for name, f := range funcs {
		if b, err := f(ctx); err == nil {
			out[name] = b
		}
	}
	return out
}

// services returns a copy of the status of every hosted service, by name.
func (n *Node) serviceStatus() map[string]ServiceStatus {
	n.init()
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[string]ServiceStatus, len(n.state))
	for name, s := range n.state {
		out[name] = *s
	}
	return out
}

// metricsBus is a transport.Bus whose served handlers are counted in stats,
// so that every service gets statistics without knowing about them.
type metricsBus struct {
	transport.Bus
	stats *transport.Stats
}

// Serve serves h wrapped in transport.Metrics.
func (b *metricsBus) Serve(service string, h transport.Handler, opts ...transport.ConsumerOption) (transport.Subscription, error) {
	return b.Bus.Serve(service, transport.Metrics(b.stats)(h), opts...)
}
