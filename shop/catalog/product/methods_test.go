package product_test

import (
	"testing"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/shop/catalog/product"
)

// TestMethods checks that Handler serves exactly the package's Method
// constants: a method added without a handler, or served without a
// constant, fails here.
func TestMethods(t *testing.T) {
	bustest.CheckMethods(t, product.Handler(product.NewClient(nil)),
		product.MethodCreate,
		product.MethodCreateMany,
		product.MethodGet,
		product.MethodGetBySlug,
		product.MethodHoldsSlug,
		product.MethodHoldsSlugs,
		product.MethodUpdate,
		product.MethodDelete,
		product.MethodPublish,
		product.MethodUnpublish,
		product.MethodList,
		product.MethodPutImage,
		product.MethodImage,
		product.MethodHistory,
	)
}
