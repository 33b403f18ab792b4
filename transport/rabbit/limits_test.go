package rabbit_test

import (
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/shopbus/shopbus/transport"
)

// shippedLimits is the broker configuration deploy/ ships
// (deploy/rabbitmq/limits.conf); TestHardenedBroker runs a node with it.
func shippedLimits(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../../deploy/rabbitmq/limits.conf")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestShippedBrokerLimitsMatchTheTransport: every broker configuration we
// ship sets max_message_size to the transport's own limit, so the broker
// refuses exactly the bodies the services would refuse after reading.
func TestShippedBrokerLimitsMatchTheTransport(t *testing.T) {
	setting := regexp.MustCompile(`(?m)^\s*max_message_size\s*=\s*(\d+)\s*$`)
	for file, text := range map[string]string{
		"deploy/rabbitmq/limits.conf": shippedLimits(t),
		"deploy/k8s/base/broker.yaml": readFile(t, "../../deploy/k8s/base/broker.yaml"),
	} {
		m := setting.FindAllStringSubmatch(text, -1)
		if len(m) != 1 {
			t.Errorf("%s: %d max_message_size settings, want 1", file, len(m))
			continue
		}
		if n, _ := strconv.Atoi(m[0][1]); n != transport.DefaultMaxMessageSize {
			t.Errorf("%s: max_message_size = %d, want the transport's limit %d", file, n, transport.DefaultMaxMessageSize)
		}
	}
	mount := regexp.MustCompile(`(?m)^\s*- \./rabbitmq/limits\.conf:/etc/rabbitmq/conf\.d/[\w.-]+\.conf:ro\s*$`)
	for _, file := range []string{"deploy/compose.yaml", "deploy/compose.cluster.yaml"} {
		if !mount.MatchString(readFile(t, "../../"+file)) {
			t.Errorf("%s does not mount deploy/rabbitmq/limits.conf into the broker's conf.d", file)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
