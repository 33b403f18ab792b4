package seed_test

import (
	"testing"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/shop/seed"
)

// TestMethods checks that Handler serves exactly the package's Method
// constants: a method added without a handler, or served without a
// constant, fails here.
func TestMethods(t *testing.T) {
	bustest.CheckMethods(t, seed.Handler(seed.NewClient(nil)),
		seed.MethodRun,
		seed.MethodRuns,
	)
}
