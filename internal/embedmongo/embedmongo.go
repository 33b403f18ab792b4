// Package embedmongo runs an embedded MongoDB-wire-protocol server:
// FerretDB v1 used as a library, storing data in SQLite files in a local
// directory. It is pure Go (no cgo) and starts in milliseconds.
//
// It serves the all-in-one binary (data kept in a local directory) and
// tests. FerretDB supports only a subset of MongoDB; see ARCHITECTURE.md
// for what works and what does not. Measured with mongo-driver v2:
//   - it reports itself as a standalone MongoDB 7.0 (no replica set, so
//     the driver does no retryable writes);
//   - duplicate keys (on _id or a unique index) give the usual code 11000,
//     so mongo.IsDuplicateKeyError works, also for InsertMany;
//   - creating a unique index over existing duplicates fails with an
//     InternalError (a SQLite constraint message), not code 11000;
//   - StartSession succeeds but a transaction fails (FailedToParse:
//     unknown field "startTransaction");
//   - TTL indexes fail with NotImplemented;
//   - its own _id index is never used (see idindex.go): Start adds one
//     that is, to every collection, within about 100 ms of its creation;
//   - by default it needs no authentication; WithAuth turns on FerretDB's
//     SCRAM authentication, which authenticates but does not authorise.
//
// FerretDB adds about 60 modules and 25 MB to a binary, so import this
// package only from programs and tests that start a server, never from
// service packages.
package embedmongo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// Server is a running embedded FerretDB instance.
type Server struct {
	uri    string
	cancel context.CancelFunc
	done   chan struct{}
	stop   sync.Once
}

// Option configures Start.
type Option func(*options)

type options struct {
	logger *slog.Logger
	addr   string
	// noIDIndexes leaves FerretDB's tables as it makes them (benchmarks
	// compare).
	noIDIndexes bool
	fullSync    bool
	// auth: WithAuth.
	auth                   bool
	authUser, authPassword string
}

// WithFullSync makes every commit wait until SQLite has synced it to disk
// (synchronous=FULL), so that not even an OS crash or a power loss loses
// an acknowledged write. By default commits use synchronous=NORMAL in WAL
// mode: a crash of the process (kill -9 included) loses nothing, an OS
// crash or power loss may lose the last transactions; measured on the
// 2-core VM, product.create takes 23-26 ms that way against 55 ms.
func WithFullSync() Option {
	return func(o *options) { o.fullSync = true }
}

// WithLogger makes FerretDB log to l. By default it logs nothing;
// FerretDB is chatty (every connection at INFO).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// WithAddr sets the TCP address to listen on, e.g. "127.0.0.1:27017".
// The default, "127.0.0.1:0", picks a free port on loopback.
func WithAddr(addr string) Option {
	return func(o *options) { o.addr = addr }
}

// sqlitePragmas returns the query of FerretDB's SQLite URL (FerretDB adds
// WAL mode and a busy timeout to it).
//
// temp_store(memory) keeps statement journals in memory. FerretDB inserts
// and updates one document per statement inside a transaction, so SQLite
// journals each statement's pages for its rollback; past 64 KiB in a
// transaction that journal spills to a temporary file, and writing it cost
// 10% of the CPU of a seed (a 20,000-product seed: 53-54 s against
// 63-67 s). Each statement changes one document, so the journal stays
// small. FerretDB sorts in Go, not with SQL temporary tables.
func sqlitePragmas(fullSync bool) string {
	q := "_pragma=temp_store(memory)"
	if !fullSync {
		q += "&_pragma=synchronous(normal)"
	}
	return q
}

// Start starts FerretDB with its SQLite backend storing data in dir, which
// is created if missing (each database is one SQLite file in dir).
// The server runs until ctx is canceled or Stop is called.
func Start(ctx context.Context, dir string, opts ...Option) (*Server, error) {
	o := options{
		logger: slog.New(slog.DiscardHandler),
		addr:   "127.0.0.1:0",
	}
	for _, opt := range opts {
		opt(&o)
	}
	if dir == "" {
		return nil, errors.New("embedmongo: empty data directory")
	}
	if o.auth && (o.authUser == "" || o.authPassword == "") {
		return nil, errors.New("embedmongo: WithAuth needs a user and a password")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("embedmongo: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("embedmongo: %w", err)
	}
	// FerretDB wants a "file:" URI naming an existing directory with a
	// trailing slash. It later re-joins the path unescaped, so characters
	// that are special in a URI cannot be used.
	if strings.ContainsAny(abs, "?#%") {
		return nil, fmt.Errorf("embedmongo: data directory %q contains one of ?#%%", abs)
	}
	sqliteURL := "file:" + filepath.ToSlash(abs) + "/?" + sqlitePragmas(o.fullSync)

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: o.addr},
		Handler:   "sqlite",
		SQLiteURL: sqliteURL,
		Logger:    o.logger,
	})
	if err != nil {
		return nil, fmt.Errorf("embedmongo: %w", err)
	}
	if o.auth {
		// Before Run: no connection has been served yet.
		if err := enableAuth(f, o.authUser, o.authPassword); err != nil {
			// Run with a canceled context closes the backend.
			stopped, cancel := context.WithCancel(ctx)
			cancel()
			_ = f.Run(stopped)
			return nil, err
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	s := &Server{cancel: cancel, done: make(chan struct{})}
	var indexer sync.WaitGroup
	if !o.noIDIndexes {
		x := &idIndexer{dir: abs, logger: o.logger, checked: map[string]fileState{}, quietUntil: map[string]time.Time{}}
		indexer.Go(func() { x.run(ctx) })
	}
	go func() {
		defer close(s.done)
		_ = f.Run(ctx) // always nil; returns once listeners, connections and backend are closed
		indexer.Wait()
	}()
	// Run must be started before MongoDBURI, which waits for the listener.
	s.uri = f.MongoDBURI()
	return s, nil
}

// URI returns the MongoDB connection string, e.g. "mongodb://127.0.0.1:41234/".
func (s *Server) URI() string { return s.uri }

// Done is closed once the server has stopped.
func (s *Server) Done() <-chan struct{} { return s.done }

// Stop shuts the server down, closing all client connections, and waits
// until it has stopped and its files are closed. FerretDB gives connected
// clients up to 3 s to leave, so disconnect them first for a quick stop.
// Stop is safe to call more than once.
func (s *Server) Stop() {
	s.stop.Do(s.cancel)
	<-s.done
}
