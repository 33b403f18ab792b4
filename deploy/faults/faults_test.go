package faults_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestCartReplicaKilled runs the load while a killer kills one of the two
// cart replicas with SIGKILL every killEvery (alternating) and starts it
// again at once. The requests the dead replica held are redelivered to the
// other one; retries carry the same request id. No acknowledged add may be
// lost or applied twice.
func TestCartReplicaKilled(t *testing.T) {
	const (
		loadFor   = 35 * time.Second
		killEvery = 3 * time.Second
	)
	c := newCluster(t)
	l := newLoad(t, c.shopURL)

	stop := make(chan struct{})
	killerDone := make(chan struct{})
	kills := 0
	var killErr error
	var killTimes []string
	l.began = time.Now()
	go func() {
		defer close(killerDone)
		replicas := []string{"a", "b"}
		tick := time.NewTicker(killEvery)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			r := replicas[i%2]
			c.killCart(r)
			kills++
			killTimes = append(killTimes, fmt.Sprintf("%s+%.2fs", r, time.Since(l.began).Seconds()))
			c.startCart(r)
			if err := c.waitCart(r); err != nil {
				killErr = fmt.Errorf("restart %d of replica %s: %w", kills, r, err)
				return
			}
		}
	}()
	start := l.began
	go func() {
		time.Sleep(loadFor)
		close(stop)
	}()
	l.run(stop)
	<-killerDone
	t.Logf("kills: %s", strings.Join(killTimes, " "))
	loadTook := time.Since(start)
	if killErr != nil {
		t.Error(killErr)
	}
	r := l.verify(c.mongoURI)
	r.check(t, c, fmt.Sprintf("kills=%d", kills))
	t.Logf("load %.1fs (adds stop after %v, then finish their retries), %d accounts, %d items each, total %.1fs",
		loadTook.Seconds(), loadFor, r.accounts, len(l.items), time.Since(start).Seconds())
	if kills < 5 {
		t.Errorf("only %d kills", kills)
	}
}

// TestBrokerRestart runs the load while the broker's application is
// stopped (rabbitmqctl stop_app) for stopFor in the middle and started
// again. Adds in flight fail or wait; shoppers retry with the same
// Idempotency-Key. No acknowledged add may be lost or applied twice, and
// none may land in a cart that is not the shopper's (a shopper whose
// session cannot be checked must not become a guest).
func TestBrokerRestart(t *testing.T) {
	const (
		loadFor   = 30 * time.Second
		stopAfter = 10 * time.Second
		stopFor   = 5 * time.Second
	)
	c := newCluster(t)
	l := newLoad(t, c.shopURL)

	stop := make(chan struct{})
	faultDone := make(chan struct{})
	var outage string
	var faultErr error
	stopped := false
	t.Cleanup(func() {
		if stopped {
			_, _ = rabbitctl("start_app")
		}
	})
	l.began = time.Now()
	start := l.began
	go func() {
		defer close(faultDone)
		time.Sleep(stopAfter)
		t0 := time.Now()
		if out, err := rabbitctl("stop_app"); err != nil {
			faultErr = fmt.Errorf("stop_app: %v\n%s", err, out)
			return
		}
		stopped = true
		t1 := time.Now()
		time.Sleep(stopFor)
		t2 := time.Now()
		if out, err := rabbitctl("start_app"); err != nil {
			faultErr = fmt.Errorf("start_app: %v\n%s", err, out)
			return
		}
		stopped = false
		t3 := time.Now()
		outage = fmt.Sprintf("stop_app at +%.1fs (took %.1fs), start_app at +%.1fs (took %.1fs)",
			t0.Sub(start).Seconds(), t1.Sub(t0).Seconds(), t2.Sub(start).Seconds(), t3.Sub(t2).Seconds())
	}()
	go func() {
		time.Sleep(loadFor)
		close(stop)
	}()
	l.run(stop)
	<-faultDone
	loadTook := time.Since(start)
	if faultErr != nil {
		t.Fatal(faultErr)
	}
	r := l.verify(c.mongoURI)
	r.check(t, c, "kills=0 broker-restarts=1")
	t.Logf("%s; load %.1fs, %d accounts, %d items each, total %.1fs", outage, loadTook.Seconds(), r.accounts, len(l.items), time.Since(start).Seconds())
}
