package order_test

import (
	"testing"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/shop/order"
)

// TestMethods checks that Handler serves exactly the package's Method
// constants: a method added without a handler, or served without a
// constant, fails here.
func TestMethods(t *testing.T) {
	bustest.CheckMethods(t, order.Handler(order.NewClient(nil)),
		order.MethodPlace,
		order.MethodQuote,
		order.MethodGet,
		order.MethodList,
		order.MethodCancel,
		order.MethodSetStatus,
		order.MethodShippingMethods,
		order.MethodHistory,
	)
}
