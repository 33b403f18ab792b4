package inventory_test

import (
	"testing"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/shop/inventory"
)

// TestMethods checks that Handler serves exactly the package's Method
// constants: a method added without a handler, or served without a
// constant, fails here.
func TestMethods(t *testing.T) {
	bustest.CheckMethods(t, inventory.Handler(inventory.NewClient(nil)),
		inventory.MethodSetStock,
		inventory.MethodSetStockMany,
		inventory.MethodAdjust,
		inventory.MethodGet,
		inventory.MethodGetMany,
		inventory.MethodReserve,
		inventory.MethodCommit,
		inventory.MethodRelease,
		inventory.MethodGetReservation,
		inventory.MethodHistory,
	)
}
