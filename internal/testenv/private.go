package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// Broker is a RabbitMQ node owned by one test: tests may stop and start it
// without disturbing the shared broker other test processes use.
type Broker struct {
	// URL is the node's AMQP URL.
	URL  string
	node string
	dir  string
	tb   testing.TB
}

// PrivateRabbit starts a RabbitMQ node of its own for tb (about 5 s) on free
// ports, with no plugins, and stops it when tb ends. It needs
// rabbitmq-server installed locally; it skips (fails in CI) otherwise.
func PrivateRabbit(tb testing.TB) *Broker {
	tb.Helper()
	return PrivateRabbitWith(tb, PrivateConfig{})
}

// PrivateConfig configures the node PrivateRabbitWith starts.
type PrivateConfig struct {
	// Conf is the node's rabbitmq.conf (the default settings when empty);
	// "{dir}" in it is replaced by the node's directory, which holds Files.
	Conf string
	// Files are written to the node's directory before it starts, owned
	// by the user the node runs as (and readable only by it): certificates
	// and keys, say.
	Files map[string][]byte
}

// PrivateRabbitWith is PrivateRabbit with a configuration of the test's own.
func PrivateRabbitWith(tb testing.TB, cfg PrivateConfig) *Broker {
	tb.Helper()
	server, ctl := lookSbin("rabbitmq-server"), lookSbin("rabbitmqctl")
	if server == "" || ctl == "" {
		SkipOrFatal(tb, "testenv: rabbitmq-server is not installed; run ./scripts/rabbitmq.sh")
	}
	// In /tmp, not $TMPDIR (which may be private): Debian's scripts run the
	// node as the rabbitmq user, which must reach the directory.
	dir, err := os.MkdirTemp("/tmp", "shop-rabbit-")
	if err != nil {
		tb.Fatal(err)
	}
	for _, sub := range []string{"mnesia", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "plugins"), []byte("[].\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	for name, data := range cfg.Files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	var env []string
	if cfg.Conf != "" {
		conf := filepath.Join(dir, "rabbitmq.conf")
		if err := os.WriteFile(conf, []byte(strings.ReplaceAll(cfg.Conf, "{dir}", dir)), 0o644); err != nil {
			tb.Fatal(err)
		}
		env = append(env, "RABBITMQ_CONFIG_FILE="+conf)
	}
	// Debian's scripts run the node as the rabbitmq user: it must own the files.
	if u, err := user.Lookup("rabbitmq"); err == nil && os.Geteuid() == 0 {
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, uid, gid) })
	}
	port, distPort := freePort(tb), freePort(tb)
	b := &Broker{
		URL:  fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", port),
		node: "shoptest-" + uuid.NewString()[:8] + "@localhost",
		dir:  dir,
		tb:   tb,
	}
	cmd := exec.Command(server, "-detached")
	cmd.Env = append(os.Environ(),
		"RABBITMQ_NODENAME="+b.node,
		"RABBITMQ_NODE_PORT="+strconv.Itoa(port),
		"RABBITMQ_DIST_PORT="+strconv.Itoa(distPort),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(dir, "plugins"),
		"RABBITMQ_PID_FILE="+filepath.Join(dir, "pid"),
	)
	cmd.Env = append(cmd.Env, env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("testenv: starting a private broker: %v\n%s", err, out)
	}
	tb.Cleanup(func() {
		run(time.Minute, ctl, "-q", "-n", b.node, "stop")
		os.RemoveAll(dir)
	})
	b.await(90 * time.Second)
	return b
}

// StopApp stops the broker application, as `rabbitmqctl stop_app` does:
// every client connection is closed with CONNECTION_FORCED.
func (b *Broker) StopApp() { b.ctl("stop_app") }

// StartApp starts the broker application again and waits until it serves.
func (b *Broker) StartApp() {
	b.ctl("start_app")
	b.await(60 * time.Second)
}

func (b *Broker) ctl(args ...string) {
	b.tb.Helper()
	out, err := run(time.Minute, lookSbin("rabbitmqctl"), append([]string{"-q", "-n", b.node}, args...)...)
	if err != nil {
		b.tb.Fatalf("testenv: rabbitmqctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// await retries `rabbitmqctl await_startup`, which fails at once while the
// node is still booting.
func (b *Broker) await(limit time.Duration) {
	b.tb.Helper()
	deadline := time.Now().Add(limit)
	for {
		out, err := run(30*time.Second, lookSbin("rabbitmqctl"), "-q", "-n", b.node, "await_startup")
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			logs, _ := filepath.Glob(filepath.Join(b.dir, "log", "*.log"))
			tail := ""
			for _, l := range logs {
				data, _ := os.ReadFile(l)
				if len(data) > 2000 {
					data = data[len(data)-2000:]
				}
				tail += string(data)
			}
			b.tb.Fatalf("testenv: private broker %s did not start: %v\n%s\n%s", b.node, err, out, tail)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func freePort(tb testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
