// Package testenv gives tests the infrastructure they need: a RabbitMQ
// broker and a MongoDB-compatible database.
//
// By default everything is local and automatic: AMQPURL starts the
// machine's RabbitMQ broker if it is installed but not running, and
// MongoURI starts an embedded FerretDB (see internal/embedmongo) once per
// test process. Environment variables point tests elsewhere:
//
//	SHOP_AMQP_URL   an AMQP URL, e.g. amqp://guest:guest@rabbit:5672/
//	SHOP_MONGO_URI  a MongoDB URI, e.g. mongodb://localhost:27017/
//	CI              when set (and not "false" or "0"), a missing broker
//	                fails the test instead of skipping it
//
// ./scripts/test.sh installs and starts RabbitMQ before running the tests.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/internal/embedmongo"
)

// Environment variables read by this package.
const (
	// EnvAMQPURL names the variable holding the AMQP URL of an existing broker.
	EnvAMQPURL = "SHOP_AMQP_URL"
	// EnvMongoURI names the variable holding the URI of an existing MongoDB server.
	EnvMongoURI = "SHOP_MONGO_URI"
	// EnvRabbitNode names the variable holding the name of the local
	// RabbitMQ node that $SHOP_AMQP_URL reaches (scripts/rabbitmq.sh sets
	// it), so that RabbitCtl can control it.
	EnvRabbitNode = "SHOP_RABBIT_NODE"
)

// LocalAMQPURL is the URL of the local broker that AMQPURL starts.
const LocalAMQPURL = "amqp://guest:guest@127.0.0.1:5672/"

const (
	localAMQPAddr  = "127.0.0.1:5672"
	rabbitStartMax = 60 * time.Second
)

// inCI reports whether the tests run in continuous integration, where
// skipping for lack of infrastructure would hide missing coverage.
func inCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "false" && v != "0"
}

// SkipOrFatal skips the test for lack of infrastructure, or fails it when
// CI is set (not "false" or "0"): there a skip would hide missing coverage.
func SkipOrFatal(tb testing.TB, msg string) {
	tb.Helper()
	if inCI() {
		tb.Fatal(msg + " (CI is set, so this is a failure, not a skip)")
	}
	tb.Skip(msg)
}

// ---- RabbitMQ ----

var rabbit struct {
	once sync.Once
	skip string // non-empty: no broker and none can be started
	err  error  // the broker could not be started
}

// AMQPURL returns the URL of a RabbitMQ broker for tests: $SHOP_AMQP_URL if
// set, otherwise LocalAMQPURL after making sure the local broker is running
// (starting it with `rabbitmq-server -detached` if needed, which requires
// root or the rabbitmq user). Concurrent test processes coordinate through
// a lock file so that only one of them starts the broker.
//
// The test is skipped if there is neither $SHOP_AMQP_URL, nor a broker
// answering on 127.0.0.1:5672, nor rabbitmq-server installed; with $CI set
// it fails instead.
func AMQPURL(tb testing.TB) string {
	tb.Helper()
	if u := os.Getenv(EnvAMQPURL); u != "" {
		return u
	}
	rabbit.once.Do(func() { rabbit.skip, rabbit.err = ensureLocalRabbit() })
	if rabbit.skip != "" {
		SkipOrFatal(tb, rabbit.skip)
	}
	if rabbit.err != nil {
		tb.Fatalf("testenv: local RabbitMQ: %v", rabbit.err)
	}
	return LocalAMQPURL
}

// ensureLocalRabbit makes sure the local broker runs. It returns a skip
// reason if there is none and none can be started, or an error if starting
// it failed.
func ensureLocalRabbit() (skip string, err error) {
	server, ctl := lookSbin("rabbitmq-server"), lookSbin("rabbitmqctl")
	if server == "" || ctl == "" {
		if amqpAnswers() { // e.g. a broker in a container
			return "", nil
		}
		return fmt.Sprintf("testenv: no RabbitMQ: set %s, or install rabbitmq-server (./scripts/rabbitmq.sh does)", EnvAMQPURL), nil
	}

	unlock, err := lockFile("shopbus-testenv-rabbitmq.lock")
	if err != nil {
		return "", err
	}
	defer unlock()

	if amqpAnswers() {
		return "", nil
	}
	// The port may be closed because the node is still booting (started by
	// someone else): await_startup waits for that, and fails at once if no
	// node runs.
	if awaitStartup(ctl, 2*rabbitStartMax) == nil && amqpAnswers() {
		return "", nil
	}
	if out, err := run(30*time.Second, server, "-detached"); err != nil {
		return "", fmt.Errorf("rabbitmq-server -detached: %v: %s", err, out)
	}
	deadline := time.Now().Add(rabbitStartMax)
	for {
		err := awaitStartup(ctl, rabbitStartMax)
		if err == nil && amqpAnswers() {
			return "", nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("broker not ready %v after rabbitmq-server -detached: %v", rabbitStartMax, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// awaitStartup runs `rabbitmqctl -q await_startup`, which waits while the
// node boots and fails at once if no node runs.
func awaitStartup(ctl string, timeout time.Duration) error {
	out, err := run(timeout, ctl, "-q", "await_startup")
	if err != nil {
		return fmt.Errorf("rabbitmqctl await_startup: %v: %s", err, lastLine(out))
	}
	return nil
}

// amqpAnswers reports whether something accepts TCP connections on the
// local AMQP port.
func amqpAnswers() bool {
	c, err := net.DialTimeout("tcp", localAMQPAddr, time.Second)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// RabbitCtl runs `rabbitmqctl args...` against the local broker (the node
// named by $SHOP_RABBIT_NODE when set), e.g. RabbitCtl(t, "stop_app") then
// RabbitCtl(t, "start_app") to test reconnection, and returns its output.
// It fails the test on error, and skips it (fails in CI) where rabbitmqctl
// is not installed or $SHOP_AMQP_URL points at another broker without
// $SHOP_RABBIT_NODE, since rabbitmqctl controls only local nodes.
//
// The local broker is shared by every test process: stopping it breaks
// AMQP tests running concurrently in other packages. Keep such tests few
// and short, and bring the broker back (start_app) in the same test, e.g.
// with tb.Cleanup.
func RabbitCtl(tb testing.TB, args ...string) string {
	tb.Helper()
	node := os.Getenv(EnvRabbitNode)
	if os.Getenv(EnvAMQPURL) != "" && node == "" {
		SkipOrFatal(tb, "testenv: RabbitCtl controls only a local node, but "+EnvAMQPURL+" is set without "+EnvRabbitNode)
	}
	ctl := lookSbin("rabbitmqctl")
	if ctl == "" {
		SkipOrFatal(tb, "testenv: rabbitmqctl is not installed")
	}
	if node != "" {
		args = append([]string{"-n", node}, args...)
	}
	out, err := run(2*time.Minute, ctl, args...)
	if err != nil {
		tb.Fatalf("testenv: rabbitmqctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// lookSbin finds a command in $PATH or in /usr/sbin, which is often
// missing from a non-root user's $PATH.
func lookSbin(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	p := filepath.Join("/usr/sbin", name)
	if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
		return p
	}
	return ""
}

// run runs a command with a timeout and returns its combined output. The
// command runs in its own process group, which is killed on timeout (the
// RabbitMQ scripts run su, sh and an Erlang VM below it).
func run(timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v: %w", timeout, err)
	}
	return string(out), err
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// lockFile takes an exclusive lock on a file in the temporary directory,
// shared by all processes on the machine, and returns its release.
func lockFile(name string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), name), os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return func() { _ = f.Close() }, nil // closing releases the lock
}

// ---- MongoDB ----

var mongoState struct {
	once   sync.Once
	uri    string
	err    error
	mu     sync.Mutex // guards client
	client *mongo.Client
}

// MongoURI returns the URI of a MongoDB-compatible server for tests:
// $SHOP_MONGO_URI if set, otherwise an embedded FerretDB started once per
// test process, with its data in a temporary directory and its logging
// silenced. The embedded server lives until the process exits.
func MongoURI(tb testing.TB) string {
	tb.Helper()
	if u := os.Getenv(EnvMongoURI); u != "" {
		return u
	}
	mongoState.once.Do(func() {
		// Not tb.TempDir: the server outlives this test. The directory is
		// left behind when the process exits (SQLite files of a few KB).
		dir, err := os.MkdirTemp("", "shopbus-testenv-ferretdb-")
		if err != nil {
			mongoState.err = err
			return
		}
		srv, err := embedmongo.Start(context.Background(), dir)
		if err != nil {
			mongoState.err = err
			return
		}
		mongoState.uri = srv.URI()
	})
	if mongoState.err != nil {
		tb.Fatalf("testenv: embedded FerretDB: %v", mongoState.err)
	}
	return mongoState.uri
}

// MongoClient returns a client connected to MongoURI, shared by all tests
// in the process. Do not disconnect it.
func MongoClient(tb testing.TB) *mongo.Client {
	tb.Helper()
	uri := MongoURI(tb)
	mongoState.mu.Lock()
	defer mongoState.mu.Unlock()
	if mongoState.client == nil {
		c, err := mongo.Connect(options.Client().ApplyURI(uri))
		if err != nil {
			tb.Fatalf("testenv: connect to %s: %v", uri, err)
		}
		mongoState.client = c
	}
	return mongoState.client
}

// MongoDB returns a fresh database for this test and drops it when the
// test ends. Its name is name, with characters other than ASCII letters,
// digits, '_' and '-' replaced by '_' (so t.Name() works) and shortened to
// fit FerretDB's limit of 63 characters, plus a random suffix so that tests
// and test processes sharing a server never collide.
func MongoDB(tb testing.TB, name string) *mongo.Database {
	tb.Helper()
	db := MongoClient(tb).Database(UniqueName(dbSafe(name)))
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := db.Drop(ctx); err != nil {
			tb.Errorf("testenv: drop database %s: %v", db.Name(), err)
		}
	})
	return db
}

// dbSafe maps name to characters valid in a database name on both MongoDB
// and FerretDB, leaving room for UniqueName's suffix.
func dbSafe(name string) string {
	b := []byte(name)
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-':
		default:
			b[i] = '_'
		}
	}
	const maxPrefix = 63 - 9 // "_" and 8 hex digits
	if len(b) > maxPrefix {
		b = b[:maxPrefix]
	}
	if len(b) == 0 {
		return "test"
	}
	return string(b)
}

// UniqueName returns prefix followed by "_" and 8 random hex digits,
// e.g. for database, queue or exchange names private to one test.
func UniqueName(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}
