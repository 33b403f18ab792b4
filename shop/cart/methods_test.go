package cart_test

import (
	"testing"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/shop/cart"
)

// TestMethods checks that Handler serves exactly the package's Method
// constants: a method added without a handler, or served without a
// constant, fails here.
func TestMethods(t *testing.T) {
	bustest.CheckMethods(t, cart.Handler(cart.NewClient(nil)),
		cart.MethodGet,
		cart.MethodAddItem,
		cart.MethodUpdateItem,
		cart.MethodRemoveItem,
		cart.MethodClear,
		cart.MethodMerge,
	)
}
