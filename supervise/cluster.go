package supervise

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Environment variables of the process mode.
const (
	// EnvWorkers holds the number of worker processes the primary starts
	// when Cluster.Workers is zero; unset or empty means runtime.NumCPU().
	EnvWorkers = "SHOP_WORKERS"
	// EnvWorkerID marks a process as a worker and holds its id (1..N).
	EnvWorkerID = "SHOP_WORKER_ID"
)

// killGrace is how long a worker gets to die after SIGKILL.
const killGrace = 5 * time.Second

// IsWorker reports whether this process was started by a Cluster as a
// worker, that is whether EnvWorkerID is set.
func IsWorker() bool { return os.Getenv(EnvWorkerID) != "" }

// WorkerID returns this worker's id, from 1 to the number of workers, or 0
// if the process is not a worker.
func WorkerID() int {
	id, err := strconv.Atoi(os.Getenv(EnvWorkerID))
	if err != nil || id < 1 {
		return 0
	}
	return id
}

// WorkersFromEnv returns the worker count from EnvWorkers: runtime.NumCPU()
// if it is unset or empty, or an *EnvError unless it is a positive integer.
func WorkersFromEnv() (int, error) {
	v := os.Getenv(EnvWorkers)
	if v == "" {
		return runtime.NumCPU(), nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, &EnvError{Name: EnvWorkers, Value: v, Err: err}
	}
	if n < 1 {
		return 0, &EnvError{Name: EnvWorkers, Value: v, Err: errors.New("must be at least 1")}
	}
	return n, nil
}

// EnvError reports an invalid environment variable.
type EnvError struct {
	Name  string // the variable, e.g. EnvWorkers
	Value string // its value
	Err   error  // why it is invalid
}

// Error names the variable, its value and the problem.
func (e *EnvError) Error() string {
	return fmt.Sprintf("supervise: invalid %s=%q: %v", e.Name, e.Value, e.Err)
}

// Unwrap returns the underlying problem.
func (e *EnvError) Unwrap() error { return e.Err }

// WorkerExitError is the failure recorded when a worker process exits
// without being asked to (non-zero status or killed by a signal).
type WorkerExitError struct {
	ID  int   // the worker's id
	PID int   // its process id
	Err error // from exec.Cmd.Wait, usually an *exec.ExitError
}

// Error names the worker, its pid and how it ended.
func (e *WorkerExitError) Error() string {
	return fmt.Sprintf("worker %d (pid %d) exited: %v", e.ID, e.PID, e.Err)
}

// Unwrap returns the error from exec.Cmd.Wait.
func (e *WorkerExitError) Unwrap() error { return e.Err }

// Cluster is the primary of a primary/worker process group: it starts
// worker processes, respawns those that die under the same restart policy
// as a Supervisor (counted per worker), and drains them when its context is
// cancelled: each worker gets SIGTERM, and SIGKILL if it has not exited
// after StopTimeout. The zero value is ready to use.
//
// Run does not catch signals itself; RunCluster (or Main) turns SIGTERM and
// SIGINT into a cancelled context, so they are forwarded as SIGTERM.
type Cluster struct {
	// Workers is the number of worker processes. Zero means the value of
	// EnvWorkers (see WorkersFromEnv).
	Workers int
	// MaxRestarts, Window, MinBackoff, MaxBackoff and RestartOnExit apply
	// to each worker as the Supervisor fields of the same name do. A
	// worker that exits with status 0 while the cluster is not stopping has
	// finished and is only respawned if RestartOnExit is set.
	MaxRestarts            int
	Window                 time.Duration
	MinBackoff, MaxBackoff time.Duration
	RestartOnExit          bool
	// StopTimeout is how long a worker may take to exit after SIGTERM
	// before it is killed. Zero means DefaultStopTimeout.
	StopTimeout time.Duration
	// Logger and OnEvent are as in Supervisor; workers are named
	// "worker-<id>".
	Logger  *slog.Logger
	OnEvent func(Event)
	// Command, if set, returns the command that starts worker id; it is
	// called for every (re)spawn. By default the primary re-executes its
	// own binary (os.Executable) with the same arguments, stdout and
	// stderr. Either way EnvWorkerID=id is added to the command's
	// environment (os.Environ() if cmd.Env is nil).
	Command func(id int) *exec.Cmd
}

// Run starts the workers and supervises them until ctx is cancelled (then
// drains them and returns nil), a worker exceeds the restart limit (then
// drains the others and returns a *RestartLimitError), or every worker has
// exited with status 0. Workers that had to be killed are reported in a
// *StopTimeoutError. An invalid EnvWorkers yields an *EnvError.
func (c *Cluster) Run(ctx context.Context) error {
	n := c.Workers
	if n == 0 {
		var err error
		if n, err = WorkersFromEnv(); err != nil {
			return err
		}
	}
	if n < 0 {
		return fmt.Errorf("supervise: Cluster.Workers is %d", n)
	}
	sup := &Supervisor{
		MaxRestarts:   c.MaxRestarts,
		Window:        c.Window,
		MinBackoff:    c.MinBackoff,
		MaxBackoff:    c.MaxBackoff,
		RestartOnExit: c.RestartOnExit,
		StopTimeout:   c.stopTimeout() + killGrace,
		Logger:        c.Logger,
		OnEvent:       c.OnEvent,
	}
	var (
		mu     sync.Mutex
		killed []string
	)
	for id := 1; id <= n; id++ {
		name := "worker-" + strconv.Itoa(id)
		sup.Add(name, ServiceFunc(func(ctx context.Context) error {
			wasKilled, err := c.serveWorker(ctx, id)
			if wasKilled {
				sup.emit(Event{Kind: EventStopTimeout, Service: name, Delay: c.stopTimeout()})
				mu.Lock()
				killed = append(killed, name)
				mu.Unlock()
			}
			return err
		}))
	}
	err := sup.Run(ctx)
	mu.Lock()
	defer mu.Unlock()
	if len(killed) > 0 {
		err = errors.Join(err, &StopTimeoutError{Services: killed, Timeout: c.stopTimeout()})
	}
	return err
}

// serveWorker runs one worker process until it exits or ctx is cancelled,
// in which case it sends SIGTERM, then SIGKILL after the stop timeout
// (reported as killed=true).
func (c *Cluster) serveWorker(ctx context.Context, id int) (killed bool, err error) {
	cmd, err := c.command(id)
	if err != nil {
		return false, err
	}
	if err := cmd.Start(); err != nil {
		return false, fmt.Errorf("starting worker %d: %w", id, err)
	}
	pid := cmd.Process.Pid
	exited := func(err error) error {
		if err == nil {
			return nil
		}
		return &WorkerExitError{ID: id, PID: pid, Err: err}
	}
	waitc := make(chan error, 1)
	go func() { waitc <- cmd.Wait() }()

	select {
	case err := <-waitc:
		return false, exited(err)
	case <-ctx.Done():
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(c.stopTimeout())
	defer timer.Stop()
	select {
	case err := <-waitc:
		return false, exited(err)
	case <-timer.C:
	}
	_ = cmd.Process.Kill()
	return true, exited(<-waitc)
}

func (c *Cluster) command(id int) (*exec.Cmd, error) {
	var cmd *exec.Cmd
	if c.Command != nil {
		cmd = c.Command(id)
	} else {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("supervise: finding own executable: %w", err)
		}
		cmd = exec.Command(exe, os.Args[1:]...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	}
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, EnvWorkerID+"="+strconv.Itoa(id))
	return cmd, nil
}

func (c *Cluster) stopTimeout() time.Duration {
	if c.StopTimeout <= 0 {
		return DefaultStopTimeout
	}
	return c.StopTimeout
}

// Main is the entry point of a program that runs as a cluster: in a worker
// process it calls worker; in the primary it runs c. Either way ctx is
// cancelled on SIGTERM or SIGINT, so the primary drains its workers and a
// worker should return soon after ctx is done. Exit non-zero if Main
// returns an error.
func (c *Cluster) Main(ctx context.Context, worker func(ctx context.Context) error) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	if IsWorker() {
		return worker(ctx)
	}
	return c.Run(ctx)
}

// RunCluster is Main with a default Cluster: the number of workers comes
// from EnvWorkers, and the default restart policy applies.
func RunCluster(ctx context.Context, worker func(ctx context.Context) error) error {
	return new(Cluster).Main(ctx, worker)
}
