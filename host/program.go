package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/shopbus/shopbus/supervise"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/inproc"
	"github.com/shopbus/shopbus/transport/rabbit"
)

// Timeouts of Program.
const (
	// ConnectTimeout bounds connecting to RabbitMQ and the first MongoDB ping.
	ConnectTimeout = 30 * time.Second
	// ReadyWait is how long Run waits for the node to be ready before it
	// announces its URL anyway.
	ReadyWait = time.Minute
	// ShutdownTimeout bounds the HTTP server's graceful shutdown.
	ShutdownTimeout = 10 * time.Second
	// ReadHeaderTimeout bounds how long a client may take to send a
	// request's headers.
	ReadHeaderTimeout = 10 * time.Second
)

// MaxHeaderBytes bounds the size of a request's headers.
const MaxHeaderBytes = 64 << 10

// SiteEnv is what Program.Site is given to build the web site.
type SiteEnv struct {
	// Bus reaches the services (through their bus clients).
	Bus transport.Bus
	// Config is the program's configuration, defaults filled in.
	Config Config
	// BaseURL is the site's public URL: Config.Settings.BaseURL, or the
	// URL the program listens on.
	BaseURL string
	// Logger is the program's logger.
	Logger *slog.Logger
}

// Program runs a node the way a deployable binary does: it connects to the
// bus (RabbitMQ, or the in-process bus) and to MongoDB, hosts the
// configured services in a Node, serves the node's health endpoints (and a
// web site) over HTTP, prints the URL it serves once the node is ready,
// and shuts everything down gracefully when its context ends.
//
// It sets up OpenTelemetry's SDK from the standard OTEL_* variables when
// an OTLP endpoint is set (see the package doc) and flushes the spans
// when it stops.
//
// With Config.Workers > 1 the process becomes the primary of a
// supervise.Cluster that re-executes the binary as that many workers, each
// running the whole program; the workers share the HTTP port
// (SO_REUSEPORT).
type Program struct {
	// Config is the configuration; ConfigFromEnv reads it. MongoURI must
	// be set: a program that wants an embedded server (deploy/shop) starts
	// it and sets the URI.
	Config Config
	// Services overrides the services to host; nil means those named by
	// Config.Services.
	Services []Service
	// Site, if set, builds the handler served at "/" next to the health
	// endpoints, e.g. the storefront.
	Site func(env SiteEnv) (http.Handler, error)
	// Stdout receives the "shopbus serving on <url>" line. Nil means
	// os.Stdout.
	Stdout io.Writer
	// Logger receives the logs. Nil means a text logger on stderr at
	// Config.LogLevel.
	Logger *slog.Logger
	// Supervisor sets the restart policy of the node (see Node.Supervisor).
	Supervisor *supervise.Supervisor
}

// Run runs the program until ctx ends, then shuts down gracefully and
// returns nil; it returns an error if the program cannot start or a
// service fails for good.
func (p *Program) Run(ctx context.Context) error {
	cfg := p.Config
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := p.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	}
	if cfg.Workers > 1 && !supervise.IsWorker() {
		log.Info("host: starting worker processes", "workers", cfg.Workers)
		c := &supervise.Cluster{Workers: cfg.Workers, Logger: log}
		return c.Run(ctx)
	}
	if cfg.MongoURI == "" {
		return &ConfigError{Var: EnvMongoURI, Reason: "must be set"}
	}
	services := p.Services
	if services == nil {
		var err error
		if services, err = Lookup(cfg.Services...); err != nil {
			return err
		}
	}
	// Tracing first, so that it is shut down (its last spans flushed)
	// after everything else.
	tel, err := startTelemetry(ctx, ServiceName(services, p.Site != nil), log)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		defer cancel()
		tel.stop(sctx)
	}()

	// Listen first, so that the URL is known before anything starts.
	ln, err := listen(ctx, cfg.HTTPAddr, cfg.Workers > 1)
	if err != nil {
		return fmt.Errorf("host: listen on %s: %w", cfg.HTTPAddr, err)
	}
	defer ln.Close()
	siteURL := urlOf(ln.Addr())
	baseURL := cfg.Settings.BaseURL
	if baseURL == "" {
		baseURL = siteURL
	}

	bus, err := dialBus(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer bus.Close()

	client, err := mongo.Connect(MongoClientOptions(cfg.MongoURI, "shopbus"))
	if err != nil {
		return fmt.Errorf("host: MongoDB: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		defer cancel()
		_ = client.Disconnect(dctx)
	}()
	pctx, cancel := context.WithTimeout(ctx, ConnectTimeout)
	err = client.Ping(pctx, nil)
	cancel()
	if err != nil {
		return fmt.Errorf("host: MongoDB does not answer: %s", redact(err.Error(), cfg.MongoURI))
	}

	settings := cfg.Settings
	settings.BaseURL = baseURL
	if id := supervise.WorkerID(); id > 0 {
		// Worker processes are replicas of each other.
		settings.Replica = strings.TrimPrefix(settings.Replica+"-"+strconv.Itoa(id), "-")
	}
	node := &Node{
		Bus:         bus,
		Mongo:       client,
		DBPrefix:    cfg.DBPrefix,
		Services:    services,
		Concurrency: cfg.Concurrency,
		Settings:    settings,
		Logger:      log,
		Supervisor:  p.Supervisor,
	}
	health := node.Handler()
	mux := http.NewServeMux()
	// The operations endpoints are served on a listener of their own when
	// one is configured or a site is public; the site's port keeps only
	// /healthz (liveness tells nothing about the shop).
	opsAddr := cfg.OpsAddr
	if opsAddr == "" && p.Site != nil {
		opsAddr = "127.0.0.1:0"
	}
	var opsLn net.Listener
	var opsSrv *http.Server
	if opsAddr != "" {
		if opsLn, err = listen(ctx, opsAddr, cfg.Workers > 1); err != nil {
			return fmt.Errorf("host: listen on %s: %w", opsAddr, err)
		}
		defer opsLn.Close()
		opsMux := http.NewServeMux()
		for _, path := range HealthPaths {
			opsMux.Handle(path, health)
		}
		opsSrv = newHTTPServer(opsMux, log)
		mux.Handle("/healthz", health)
	} else {
		for _, path := range HealthPaths {
			mux.Handle(path, health)
		}
	}
	if p.Site != nil {
		site, err := p.Site(SiteEnv{Bus: bus, Config: cfg, BaseURL: baseURL, Logger: log})
		if err != nil {
			return fmt.Errorf("host: site: %w", err)
		}
		mux.Handle("/", site)
	}
	srv := newHTTPServer(mux, log)

	nodeCtx, stopNode := context.WithCancel(context.WithoutCancel(ctx))
	defer stopNode()
	nodeDone := make(chan error, 1)
	go func() { nodeDone <- node.Run(nodeCtx) }()
	httpDone := make(chan error, 2)
	go func() { httpDone <- srv.Serve(ln) }()
	opsURL := siteURL
	if opsSrv != nil {
		opsURL = urlOf(opsLn.Addr())
		go func() { httpDone <- opsSrv.Serve(opsLn) }()
	}
	announced := make(chan struct{})
	go func() {
		defer close(announced)
		p.announce(ctx, node, siteURL, opsURL, log)
	}()

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("host: shutting down")
	case err := <-nodeDone:
		nodeDone <- err
		runErr = err
		if runErr == nil {
			runErr = errors.New("host: every service finished")
		}
	case err := <-httpDone:
		runErr = fmt.Errorf("host: HTTP server: %w", err)
	}
	// Stop taking requests, then stop the services, then (deferred)
	// close the bus and the MongoDB client.
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("host: HTTP shutdown", "err", err)
	}
	if opsSrv != nil {
		if err := opsSrv.Shutdown(sctx); err != nil {
			log.Warn("host: HTTP shutdown (operations)", "err", err)
		}
	}
	cancel()
	stopNode()
	if err := <-nodeDone; err != nil && runErr == nil {
		runErr = err
	}
	<-announced
	return runErr
}

// newHTTPServer returns a server of handler with the limits every listener
// of a program has.
func newHTTPServer(handler http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler: handler,
		// Slow clients cannot hold connections or memory: headers within
		// 10 s and 64 KB, a whole request within 30 s, an answer within
		// 60 s, idle keep-alive connections closed after 2 minutes.
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// announce waits until node is ready (or ReadyWait passed) and prints the
// URLs: the operations endpoints' first (when they have a listener of their
// own), then the site's.
func (p *Program) announce(ctx context.Context, node *Node, siteURL, opsURL string, log *slog.Logger) {
	out := p.Stdout
	if out == nil {
		out = os.Stdout
	}
	deadline := time.Now().Add(ReadyWait)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		st := node.Status(ctx)
		if st.Ready {
			break
		}
		if time.Now().After(deadline) {
			log.Warn("host: not ready yet, serving anyway", "bus", st.Bus, "database", st.Database)
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
	if opsURL != siteURL {
		fmt.Fprintf(out, "shopbus operations on %s\n", opsURL)
	}
	fmt.Fprintf(out, "shopbus serving on %s\n", siteURL)
}

// dialBus connects to RabbitMQ, or returns an in-process bus.
func dialBus(ctx context.Context, cfg Config, log *slog.Logger) (transport.Bus, error) {
	if cfg.AMQPURL == "" {
		return inproc.New(inproc.Options{Logger: log}), nil
	}
	tlsConfig, err := cfg.AMQPTLS()
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, ConnectTimeout)
	defer cancel()
	name, _ := os.Hostname()
	bus, err := rabbit.Dial(dctx, rabbit.Options{
		TLS:          tlsConfig,
		URLs:         cfg.AMQPURLs(),
		QueueType:    cfg.AMQPQueueType,
		Namespace:    cfg.AMQPNamespace,
		ExpireUnused: cfg.AMQPExpire,
		Name:         fmt.Sprintf("shopbus %s pid %d", name, os.Getpid()),
		Logger:       log,
	})
	if err != nil {
		msg := err.Error()
		for _, u := range cfg.AMQPURLs() {
			msg = redact(msg, u)
		}
		return nil, fmt.Errorf("host: RabbitMQ: %s", msg)
	}
	return bus, nil
}

// urlOf returns the http URL of a listener, with an unspecified IP
// replaced by the loopback one so that the URL can be opened.
func urlOf(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String()
	}
	ip := tcp.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return "http://" + net.JoinHostPort(ip.String(), fmt.Sprint(tcp.Port))
}
