// Package faults holds the fault-injection tests of exactly-once effects,
// run as an outside tester would: they build the deploy binaries
// (deploy/ferretdb, deploy/shop, deploy/cart), run them as separate
// processes on a RabbitMQ node of their own (scripts/rabbitmq.sh, node
// shopbus-faults@localhost, never the shared test broker) and drive the
// storefront's JSON API with virtual shoppers while cart replicas are
// killed (TestCartReplicaKilled) or the broker is stopped and started
// (TestBrokerRestart). Every acknowledged add must be in the shopper's
// cart exactly once, and nothing else may be anywhere.
//
// The package has no code of its own; the tests are in package faults_test.
// They take about a minute each and are skipped with -short.
//
//	go test ./deploy/faults/ -count=1 -v
package faults
