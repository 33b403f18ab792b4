package supervise_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shopbus/shopbus/supervise"
)

// The test binary doubles as the cluster program: a process started with
// SUPERVISE_TEST_CLUSTER set (the primary in TestSIGTERMDrainsWorkers) or
// by a Cluster (EnvWorkerID set) runs testWorker instead of the tests.
const (
	envCluster = "SUPERVISE_TEST_CLUSTER"
	envMode    = "SUPERVISE_TEST_MODE" // block, crash or stubborn
	envDir     = "SUPERVISE_TEST_DIR"  // where workers write pid and term files
)

func TestMain(m *testing.M) {
	if supervise.IsWorker() || os.Getenv(envCluster) != "" {
		if err := supervise.RunCluster(context.Background(), testWorker); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testWorker writes <dir>/<id>.pid holding its pid and then, by mode:
// block waits for ctx (SIGTERM) and writes <dir>/<pid>.term; crash exits 1
// at once; stubborn ignores ctx.
func testWorker(ctx context.Context) error {
	dir, id := os.Getenv(envDir), supervise.WorkerID()
	switch os.Getenv(envMode) {
	case "crash":
		os.Exit(1)
	case "stubborn":
		writeFile(filepath.Join(dir, strconv.Itoa(id)+".pid"), strconv.Itoa(os.Getpid()))
		time.Sleep(time.Hour)
	}
	writeFile(filepath.Join(dir, strconv.Itoa(id)+".pid"), strconv.Itoa(os.Getpid()))
	<-ctx.Done()
	writeFile(filepath.Join(dir, strconv.Itoa(os.Getpid())+".term"), "")
	return nil
}

// writeFile writes atomically, so readers never see a partial pid.
func writeFile(name, data string) {
	if err := os.WriteFile(name+".tmp", []byte(data), 0o644); err != nil {
		panic(err)
	}
	if err := os.Rename(name+".tmp", name); err != nil {
		panic(err)
	}
}

// workerPID returns the pid in <dir>/<id>.pid, or 0.
func workerPID(dir string, id int) int {
	b, err := os.ReadFile(filepath.Join(dir, strconv.Itoa(id)+".pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(string(b))
	return pid
}

func terminated(dir string, pid int) bool {
	_, err := os.Stat(filepath.Join(dir, strconv.Itoa(pid)+".term"))
	return err == nil
}

// setupWorkers makes workers started from this test run in mode and
// returns their directory.
func setupWorkers(t *testing.T, mode string) string {
	if runtime.GOOS == "windows" {
		t.Skip("process mode relies on Unix signals")
	}
	dir := t.TempDir()
	t.Setenv(envMode, mode)
	t.Setenv(envDir, dir)
	// Race-enabled workers would otherwise sleep 1 s at exit.
	t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	return dir
}

func TestKilledWorkerIsRespawned(t *testing.T) {
	dir := setupWorkers(t, "block")
	rec := &recorder{}
	c := &supervise.Cluster{
		Workers:    2,
		MinBackoff: time.Millisecond,
		MaxBackoff: 5 * time.Millisecond,
		Logger:     quiet,
		OnEvent:    rec.hook,
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wait := start(t, func() error { return c.Run(ctx) })

	eventually(t, "both workers up", func() bool { return workerPID(dir, 1) != 0 && workerPID(dir, 2) != 0 })
	old1, pid2 := workerPID(dir, 1), workerPID(dir, 2)
	if err := syscall.Kill(old1, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "worker 1 respawned", func() bool { p := workerPID(dir, 1); return p != 0 && p != old1 })
	new1 := workerPID(dir, 1)

	restarts := rec.matching(supervise.EventRestarting, "worker-1")
	var xerr *supervise.WorkerExitError
	if len(restarts) != 1 || !errors.As(restarts[0].Err, &xerr) || xerr.ID != 1 || xerr.PID != old1 {
		t.Fatalf("restarting events for worker-1 = %v, want one for pid %d", restarts, old1)
	}
	if workerPID(dir, 2) != pid2 || rec.count(supervise.EventStarted, "worker-2") != 1 {
		t.Error("worker 2 was restarted too")
	}

	cancel()
	if err := wait(); err != nil {
		t.Fatalf("Run = %v, want nil after a graceful drain", err)
	}
	for _, pid := range []int{new1, pid2} {
		if !terminated(dir, pid) {
			t.Errorf("worker pid %d did not record SIGTERM", pid)
		}
	}
}

func TestCrashLoopingWorkerMakesPrimaryGiveUp(t *testing.T) {
	setupWorkers(t, "crash")
	rec := &recorder{}
	c := &supervise.Cluster{
		Workers:     1,
		MaxRestarts: 2,
		MinBackoff:  time.Millisecond,
		MaxBackoff:  5 * time.Millisecond,
		Logger:      quiet,
		OnEvent:     rec.hook,
	}
	err := start(t, func() error { return c.Run(context.Background()) })()

	var lerr *supervise.RestartLimitError
	if !errors.As(err, &lerr) || lerr.Service != "worker-1" || lerr.Restarts != 2 {
		t.Fatalf("Run = %v, want *RestartLimitError for worker-1 after 2 restarts", err)
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 {
		t.Errorf("Run error %v does not carry the worker's exit status 1", err)
	}
	if n := rec.count(supervise.EventStarted, "worker-1"); n != 3 {
		t.Errorf("worker started %d times, want 3", n)
	}
}

func TestStubbornWorkerIsKilledAfterStopTimeout(t *testing.T) {
	dir := setupWorkers(t, "stubborn")
	rec := &recorder{}
	c := &supervise.Cluster{
		Workers:     1,
		StopTimeout: 200 * time.Millisecond,
		Logger:      quiet,
		OnEvent:     rec.hook,
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wait := start(t, func() error { return c.Run(ctx) })
	eventually(t, "worker up", func() bool { return workerPID(dir, 1) != 0 })
	pid := workerPID(dir, 1)

	cancel()
	err := wait()
	var serr *supervise.StopTimeoutError
	if !errors.As(err, &serr) || !slices.Equal(serr.Services, []string{"worker-1"}) {
		t.Fatalf("Run = %v, want *StopTimeoutError for worker-1", err)
	}
	if rec.count(supervise.EventStopTimeout, "worker-1") != 1 {
		t.Error("no stop-timeout event for worker-1")
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("worker pid %d still exists after Run returned (kill 0: %v)", pid, err)
	}
}

// TestSIGTERMDrainsWorkers runs a real primary (this test binary through
// RunCluster) with two workers and sends it SIGTERM.
func TestSIGTERMDrainsWorkers(t *testing.T) {
	dir := setupWorkers(t, "block")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envCluster+"=1", supervise.EnvWorkers+"=2")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = waitLimit
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	eventually(t, "two workers up", func() bool { return workerPID(dir, 1) != 0 && workerPID(dir, 2) != 0 })
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("primary exited with %v; output:\n%s", err, &out)
		}
	case <-time.After(waitLimit):
		t.Fatalf("primary did not exit after SIGTERM; output:\n%s", &out)
	}
	for id := 1; id <= 2; id++ {
		if pid := workerPID(dir, id); !terminated(dir, pid) {
			t.Errorf("worker %d (pid %d) did not record SIGTERM", id, pid)
		}
	}
}

func TestWorkersFromEnv(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  int
		bad   bool
	}{
		{"", runtime.NumCPU(), false},
		{"4", 4, false},
		{"abc", 0, true},
		{"-3", 0, true},
		{"0", 0, true},
		{" 2", 0, true},
	} {
		t.Setenv(supervise.EnvWorkers, tc.value)
		n, err := supervise.WorkersFromEnv()
		var envErr *supervise.EnvError
		switch {
		case tc.bad && (!errors.As(err, &envErr) || envErr.Name != supervise.EnvWorkers || envErr.Value != tc.value):
			t.Errorf("%s=%q: got %d, %v; want an *EnvError", supervise.EnvWorkers, tc.value, n, err)
		case !tc.bad && (err != nil || n != tc.want):
			t.Errorf("%s=%q: got %d, %v; want %d", supervise.EnvWorkers, tc.value, n, err, tc.want)
		}
	}
}

func TestClusterRejectsBadWorkerEnv(t *testing.T) {
	t.Setenv(supervise.EnvWorkers, "abc")
	err := (&supervise.Cluster{Logger: quiet}).Run(context.Background())
	var envErr *supervise.EnvError
	if !errors.As(err, &envErr) {
		t.Fatalf("Run = %v, want *EnvError", err)
	}
}

func TestWorkerIdentity(t *testing.T) {
	t.Setenv(supervise.EnvWorkerID, "")
	if supervise.IsWorker() || supervise.WorkerID() != 0 {
		t.Error("a process without SHOP_WORKER_ID looks like a worker")
	}
	t.Setenv(supervise.EnvWorkerID, "3")
	if !supervise.IsWorker() || supervise.WorkerID() != 3 {
		t.Errorf("with SHOP_WORKER_ID=3: IsWorker %v, WorkerID %d", supervise.IsWorker(), supervise.WorkerID())
	}
}
