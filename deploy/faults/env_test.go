package faults_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shopbus/shopbus/internal/testenv"
)

// The private RabbitMQ node: these tests stop and start their broker, so
// they never use the shared one ($SHOP_AMQP_URL).
const (
	rabbitDir      = "/tmp/shopbus-rabbitmq-faults"
	rabbitNodeName = "shopbus-faults@localhost"
)

// The admin account the shop process ensures, so that it can seed.
const (
	adminEmail    = "admin@faults.test"
	adminPassword = "faults-admin-password"
	// seedProducts is the number of sample products: with three variants
	// each, enough distinct lines for a shopper to start over with a new
	// account within the run, and quick to seed.
	seedProducts = 8
)

var (
	binaries struct {
		once sync.Once
		dir  string
		err  error
	}
	broker struct {
		once    sync.Once
		started bool
		url     string
		err     error
	}
)

func TestMain(m *testing.M) {
	code := m.Run()
	if broker.started {
		if out, err := rabbitScript("stop"); err != nil {
			fmt.Fprintf(os.Stderr, "faults: rabbitmq.sh stop: %v\n%s", err, out)
		}
	}
	if binaries.dir != "" {
		os.RemoveAll(binaries.dir)
	}
	os.Exit(code)
}

// build compiles the deploy binaries once per test process and returns
// the directory holding them (ferretdb, cart, shop).
func build(t *testing.T) string {
	t.Helper()
	binaries.once.Do(func() {
		binaries.dir, binaries.err = os.MkdirTemp("", "shopbus-faults-bin-")
		if binaries.err != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", binaries.dir+string(filepath.Separator), "../ferretdb", "../cart", "../shop")
		if out, err := cmd.CombinedOutput(); err != nil {
			binaries.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binaries.err != nil {
		t.Fatal(binaries.err)
	}
	return binaries.dir
}

// rabbitScript runs scripts/rabbitmq.sh action for the private node.
func rabbitScript(action string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "../../scripts/rabbitmq.sh", action)
	cmd.Env = append(os.Environ(), "SHOP_RABBIT_DIR="+rabbitDir, "SHOP_RABBIT_NODENAME="+rabbitNodeName)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// privateBroker starts the private RabbitMQ node once per test process
// (TestMain stops it) and returns its AMQP URL.
func privateBroker(t *testing.T) string {
	t.Helper()
	broker.once.Do(func() {
		broker.started = true
		out, err := rabbitScript("start")
		if err != nil {
			broker.err = fmt.Errorf("rabbitmq.sh start: %v\n%s", err, out)
			return
		}
		b, err := os.ReadFile(filepath.Join(rabbitDir, "env"))
		if err != nil {
			broker.err = err
			return
		}
		for _, line := range strings.Split(string(b), "\n") {
			if u, ok := strings.CutPrefix(line, "SHOP_AMQP_URL="); ok {
				broker.url = strings.TrimSpace(u)
			}
		}
		if broker.url == "" {
			broker.err = fmt.Errorf("no SHOP_AMQP_URL in %s/env:\n%s", rabbitDir, b)
		}
	})
	if broker.err != nil {
		t.Fatal(broker.err)
	}
	return broker.url
}

// rabbitctl runs rabbitmqctl against the private node.
func rabbitctl(args ...string) (string, error) {
	ctl, err := exec.LookPath("rabbitmqctl")
	if err != nil {
		ctl = "/usr/sbin/rabbitmqctl"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ctl, append([]string{"-n", rabbitNodeName}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// ---- child processes ----

// proc is a running child process whose output goes to two files.
type proc struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr string // file paths
	done           chan struct{}
	started        time.Time
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits for the process to end.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// cluster is the shop under test: FerretDB, the shop process (every
// service but the cart, and the storefront) and cart replicas, all on the
// private broker under a namespace of the test's own.
type cluster struct {
	t         *testing.T
	bin       string
	dir       string
	amqpURL   string
	namespace string
	mongoURI  string
	shopURL   string

	mu    sync.Mutex
	procs []*proc
	runs  map[string]int // starts per name, for the log file names
	carts map[string]*proc
}

// childEnv is this process's environment without SHOP_ variables, plus extra.
func childEnv(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SHOP_") {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

// start starts a child; its output goes to files in the cluster's directory.
func (c *cluster) start(name, binary string, env []string, args ...string) *proc {
	t := c.t
	t.Helper()
	c.mu.Lock()
	c.runs[name]++
	n := c.runs[name]
	c.mu.Unlock()
	base := filepath.Join(c.dir, fmt.Sprintf("%s-%d", name, n))
	stdout, err := os.Create(base + ".out")
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.Create(base + ".err")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(c.bin, binary), args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stdout.Close()
	stderr.Close()
	p := &proc{name: fmt.Sprintf("%s-%d", name, n), cmd: cmd, stdout: base + ".out", stderr: base + ".err", done: make(chan struct{}), started: time.Now()}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	return p
}

// waitLine waits until the process has printed a line starting with
// prefix in file (its stdout or stderr) and returns the rest of the line.
func (c *cluster) waitLine(p *proc, file, prefix string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		if b, err := os.ReadFile(file); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if rest, ok := strings.CutPrefix(line, prefix); ok {
					return strings.TrimSpace(rest), nil
				}
			}
		}
		if p.exited() {
			return "", fmt.Errorf("%s exited (%v) before printing %q", p.name, p.cmd.ProcessState, prefix)
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%s printed no %q within %v", p.name, prefix, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fileContains reports whether file contains s.
func fileContains(file, s string) bool {
	b, err := os.ReadFile(file)
	return err == nil && strings.Contains(string(b), s)
}

// tail returns the last n lines of a file.
func tail(file string, n int) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// grepFile returns the lines of file containing any of the strings.
func grepFile(file string, max int, any ...string) []string {
	f, err := os.Open(file)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		for _, s := range any {
			if strings.Contains(sc.Text(), s) {
				out = append(out, sc.Text())
				break
			}
		}
		if len(out) >= max {
			break
		}
	}
	return out
}

// logDir returns a directory for the children's data and logs, removed
// when the test passes and kept for inspection when it fails.
func logDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "shopbus-"+t.Name()+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			os.RemoveAll(dir)
		}
	})
	return dir
}

// newCluster starts FerretDB, the shop process and the cart replicas a and
// b, and waits until the sample products are listed.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the deploy binaries and a RabbitMQ node of its own")
	}
	c := &cluster{
		t:         t,
		bin:       build(t),
		dir:       logDir(t),
		amqpURL:   privateBroker(t),
		namespace: testenv.UniqueName("faults"),
		runs:      map[string]int{},
		carts:     map[string]*proc{},
	}
	t.Cleanup(c.stopAll)
	t.Logf("data and logs in %s (kept if the test fails)", c.dir)

	db := c.start("ferretdb", "ferretdb", childEnv(), "-addr", "127.0.0.1:0", "-dir", filepath.Join(c.dir, "db"))
	line, err := c.waitLine(db, db.stdout, "ferretdb: serving ", 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.mongoURI, _, _ = strings.Cut(line, " ")

	services := "auth,category,attribute,option,product,filter,article,seo,inventory,seeder" // the seeder stocks every SKU
	sh := c.start("shop", "shop", c.env(
		"SHOP_SERVICES="+services,
		"SHOP_ADMIN_EMAIL="+adminEmail, "SHOP_ADMIN_PASSWORD="+adminPassword,
		"SHOP_SEED=true", fmt.Sprintf("SHOP_SEED_PRODUCTS=%d", seedProducts),
	))
	for _, r := range []string{"a", "b"} {
		c.startCart(r)
	}
	if c.shopURL, err = c.waitLine(sh, sh.stdout, "shopbus serving on ", 90*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"a", "b"} {
		if err := c.waitCart(r); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for !fileContains(sh.stderr, "host: seeded sample data") {
		if time.Now().After(deadline) || sh.exited() {
			t.Fatalf("the shop did not seed within 60 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for {
		var res struct{ Total int }
		code, err := getJSON(http.DefaultClient, c.shopURL+"/api/products?limit=1", &res)
		if err == nil && code == http.StatusOK && res.Total == seedProducts {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the storefront lists %d products (%d, %v), want %d", res.Total, code, err, seedProducts)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return c
}

// env is the environment of a shop or cart process of this cluster.
func (c *cluster) env(extra ...string) []string {
	return childEnv(append([]string{
		"SHOP_AMQP_URL=" + c.amqpURL,
		"SHOP_AMQP_NAMESPACE=" + c.namespace,
		"SHOP_AMQP_EXPIRE=10m",
		"SHOP_MONGO_URI=" + c.mongoURI,
		"SHOP_HTTP_ADDR=127.0.0.1:0",
		"SHOP_BCRYPT_COST=4",
		// Every shopper comes from 127.0.0.1: no per-client limit.
		"SHOP_LOGIN_RATE=off", "SHOP_REGISTER_RATE=off",
	}, extra...)...)
}

// startCart starts (or restarts) the cart replica named r, without
// waiting for it to be ready.
func (c *cluster) startCart(r string) {
	p := c.start("cart-"+r, "cart", c.env("SHOP_REPLICA="+r))
	c.mu.Lock()
	c.carts[r] = p
	c.mu.Unlock()
}

// waitCart waits until the cart replica r is ready.
func (c *cluster) waitCart(r string) error {
	c.mu.Lock()
	p := c.carts[r]
	c.mu.Unlock()
	_, err := c.waitLine(p, p.stdout, "shopbus serving on ", 60*time.Second)
	return err
}

// killCart kills the cart replica r with SIGKILL.
func (c *cluster) killCart(r string) {
	c.mu.Lock()
	p := c.carts[r]
	c.mu.Unlock()
	p.kill()
}

// stopAll kills every child and, if the test failed, prints the tail of
// their logs.
func (c *cluster) stopAll() {
	c.mu.Lock()
	procs := c.procs
	c.mu.Unlock()
	for _, p := range procs {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
		}
	}
	for _, p := range procs {
		<-p.done
	}
	if !c.t.Failed() {
		return
	}
	for _, p := range procs {
		n := 15
		if !strings.HasPrefix(p.name, "cart-") {
			n = 40
		}
		c.t.Logf("---- %s (%s): stdout\n%s\n---- %s: stderr (last %d lines)\n%s", p.name, p.cmd.ProcessState, tail(p.stdout, 5), p.name, n, tail(p.stderr, n))
	}
}

// logLines returns the lines of every child's stderr that contain one of
// the strings (at most max per child), for reports.
func (c *cluster) logLines(max int, any ...string) []string {
	c.mu.Lock()
	procs := c.procs
	c.mu.Unlock()
	var out []string
	for _, p := range procs {
		for _, l := range grepFile(p.stderr, max, any...) {
			out = append(out, p.name+": "+l)
		}
	}
	return out
}

// getJSON GETs url and decodes a 200 answer into v.
func getJSON(client *http.Client, url string, v any) (int, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	return resp.StatusCode, json.NewDecoder(resp.Body).Decode(v)
}
