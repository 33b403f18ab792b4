package filter_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop/catalog/filter"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/rabbit"
)

// TestReplicaGoneForGood: on RabbitMQ, a named replica's own queue goes
// away once the replica has been gone longer than ReplicaQueueExpiry; the
// shared subscription keeps the database complete even while every
// replica is away, and a replica started later loads everything.
func TestReplicaGoneForGood(t *testing.T) {
	url := testenv.AMQPURL(t)
	ns := bustest.Namespace()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bus, err := rabbit.Dial(ctx, rabbit.Options{URL: url, Namespace: ns, Logger: quiet(), ExpireUnused: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bus.Close() })
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	exists := func(queue string) bool {
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		defer ch.Close()
		_, err = ch.QueueDeclarePassive(queue, true, false, false, false, nil)
		return err == nil
	}

	db := testenv.MongoDB(t, "filter_gone")
	start := func(name string) (*filter.Server, transport.Subscription) {
		srv, err := filter.New(db, filter.Options{Subscriber: name, ReplicaQueueExpiry: time.Second, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		sub, err := filter.Subscribe(bus, srv)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sub.Close() })
		return srv, sub
	}
	a, subA := start("filter-a")
	b, subB := start("filter-b")
	publishProduct(t, bus, prod("g0", "Mug", 500, nil, nil, 0))
	for _, srv := range []*filter.Server{a, b} {
		eventually(t, srv, filter.Query{}, func(r filter.Result) bool { return r.Total == 1 })
	}

	own := ns + ".events.filter-b"
	subB.Close()
	if !exists(own) {
		t.Fatal("the replica's queue went away at once; a replica back soon would miss events")
	}
	// Looking (a passive declare) counts as using the queue: look once,
	// well after the expiry (classic queues expire on time).
	time.Sleep(3 * time.Second)
	if exists(own) || exists(own+".dead") {
		t.Fatalf("%s still exists after the replica left for good", own)
	}
	for i := 1; i <= 3; i++ {
		publishProduct(t, bus, prod(fmt.Sprint("g", i), "Mug", 500, nil, nil, i))
	}
	eventually(t, a, filter.Query{}, func(r filter.Result) bool { return r.Total == 4 })

	subA.Close() // every replica away: the shared queue holds the next event
	publishProduct(t, bus, prod("g4", "Mug", 500, nil, nil, 4))
	if !exists(ns + ".events.filter") {
		t.Fatal("the shared subscription's queue is gone")
	}
	later, _ := start("filter-c")
	eventually(t, later, filter.Query{}, func(r filter.Result) bool { return r.Total == 5 })
}
