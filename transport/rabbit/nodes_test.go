package rabbit_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/rabbit"
	"github.com/shopbus/shopbus/transport/transporttest"
)

// TestConformanceQuorum runs the conformance suite with quorum queues.
func TestConformanceQuorum(t *testing.T) {
	url := testenv.AMQPURL(t)
	transporttest.Run(t, func(t testing.TB) (transport.Bus, transport.Bus) {
		return dialOpts(t, rabbit.Options{URL: url, QueueType: rabbit.QueueQuorum}), dialOpts(t, rabbit.Options{URL: url, QueueType: rabbit.QueueQuorum})
	})
}

func dialOpts(t testing.TB, o rabbit.Options) *rabbit.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o.Name = t.Name()
	o.MinBackoff, o.MaxBackoff = 20*time.Millisecond, 200*time.Millisecond
	if o.ExpireUnused == 0 {
		o.ExpireUnused = 10 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	b, err := rabbit.Dial(ctx, o)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestQueueTypeMismatchIsAClearError: a service whose queue exists as a
// classic queue cannot start with quorum queues, and says why and how to
// migrate.
func TestQueueTypeMismatchIsAClearError(t *testing.T) {
	url := testenv.AMQPURL(t)
	ns := bustest.Namespace()
	classic := dialOpts(t, rabbit.Options{URL: url, Namespace: ns})
	sub, err := classic.Serve("svc", transport.HandlerFunc(func(context.Context, *transport.Request) ([]byte, error) { return nil, nil }))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	quorum := dialOpts(t, rabbit.Options{URL: url, Namespace: ns, QueueType: rabbit.QueueQuorum})
	_, err = quorum.Serve("svc", transport.HandlerFunc(func(context.Context, *transport.Request) ([]byte, error) { return nil, nil }))
	if err == nil {
		t.Fatal("a quorum bus served a classic queue")
	}
	for _, want := range []string{ns + ".svc", "x-queue-type", "delete_queue"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := rabbit.Dial(context.Background(), rabbit.Options{URL: url, QueueType: "mirrored"}); transport.CodeOf(err) != transport.CodeInvalid {
		t.Errorf("unknown queue type: %v, want invalid", err)
	}
}

// proxy is a TCP proxy standing in for one node of a cluster: every node
// forwards to the same broker, and Kill drops a node with its connections.
type proxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	dead  atomic.Bool
	used  atomic.Int32 // connections accepted
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln}
	t.Cleanup(p.Kill)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.used.Add(1)
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

func (p *proxy) Kill() {
	p.dead.Store(true)
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

func (p *proxy) url(broker string) string {
	u, _ := url.Parse(broker)
	u.Host = p.ln.Addr().String()
	return u.String()
}

// TestFailoverToAnotherNode: a bus given several nodes connects to one
// that answers, and when that node goes away it moves to another,
// re-attaches its consumers, and callers see latency, not errors.
func TestFailoverToAnotherNode(t *testing.T) {
	broker := testenv.AMQPURL(t)
	u, _ := url.Parse(broker)
	a, b := newProxy(t, u.Host), newProxy(t, u.Host)
	down := "amqp://guest:guest@127.0.0.1:1/" // a node that never answers
	ns := bustest.Namespace()
	nodes := []string{down, a.url(broker), b.url(broker)}
	server := dialOpts(t, rabbit.Options{URLs: nodes, Namespace: ns})
	client := dialOpts(t, rabbit.Options{URLs: nodes, Namespace: ns})
	var served atomic.Int32
	if _, err := server.Serve("echo", transport.HandlerFunc(func(ctx context.Context, req *transport.Request) ([]byte, error) {
		served.Add(1)
		return req.Body, nil
	})); err != nil {
		t.Fatal(err)
	}
	call := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		got, err := transport.Invoke[int](ctx, client, "echo.x", 7)
		if err == nil && got != 7 {
			t.Errorf("echo answered %d", got)
		}
		return err
	}
	if err := call(); err != nil {
		t.Fatal(err)
	}
	// Kill whichever proxy carries connections, while calls go on.
	var errs atomic.Int32
	var calls atomic.Int32
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				calls.Add(1)
				if err := call(); err != nil {
					errs.Add(1)
					t.Logf("call failed: %v", err)
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	victim := a
	if a.used.Load() == 0 {
		victim = b
	}
	victim.Kill()
	waitUntil(t, "the buses to reconnect through the other node", func() bool { return server.Ready() == nil && client.Ready() == nil })
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if errs.Load() != 0 {
		t.Errorf("%d of %d calls failed during the failover, want 0", errs.Load(), calls.Load())
	}
	other := b
	if victim == b {
		other = a
	}
	if other.used.Load() == 0 {
		t.Error("nothing connected through the surviving node")
	}
	t.Logf("failover: %d calls, %d failed", calls.Load(), errs.Load())
}
