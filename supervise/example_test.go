package supervise_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/shopbus/shopbus/supervise"
)

// A service that fails twice is restarted with backoff and then finishes
// cleanly, which ends Run because it was the only service.
func Example() {
	s := &supervise.Supervisor{
		MinBackoff: time.Millisecond,
		MaxBackoff: 10 * time.Millisecond,
		Logger:     slog.New(slog.DiscardHandler),
		OnEvent:    func(e supervise.Event) { fmt.Println(e) },
	}
	attempts := 0
	s.Add("importer", supervise.ServiceFunc(func(ctx context.Context) error {
		attempts++
		if attempts < 3 {
			return fmt.Errorf("attempt %d failed", attempts)
		}
		return nil
	}))
	err := s.Run(context.Background())
	fmt.Println("Run:", err)
	// Output:
	// started importer
	// exited importer: attempt 1 failed
	// restarting importer: attempt 1 failed
	// started importer
	// exited importer: attempt 2 failed
	// restarting importer: attempt 2 failed
	// started importer
	// exited importer
	// Run: <nil>
}

// A program that runs as a primary with SHOP_WORKERS worker processes, each
// serving until SIGTERM.
func ExampleRunCluster() {
	serve := func(ctx context.Context) error {
		slog.Info("worker serving", "id", supervise.WorkerID())
		<-ctx.Done() // SIGTERM, forwarded by the primary
		return nil
	}
	if err := supervise.RunCluster(context.Background(), serve); err != nil {
		slog.Error("cluster failed", "err", err)
		os.Exit(1)
	}
}
