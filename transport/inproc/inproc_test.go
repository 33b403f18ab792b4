package inproc_test

import (
	"testing"

	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/inproc"
	"github.com/shopbus/shopbus/transport/transporttest"
)

func TestConformance(t *testing.T) {
	transporttest.Run(t, func(t testing.TB) (transport.Bus, transport.Bus) {
		b := inproc.New(inproc.Options{})
		t.Cleanup(func() { b.Close() })
		return b, b
	})
}
