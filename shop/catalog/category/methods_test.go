package category_test

import (
	"testing"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/shop/catalog/category"
)

// TestMethods checks that Handler serves exactly the package's Method
// constants: a method added without a handler, or served without a
// constant, fails here.
func TestMethods(t *testing.T) {
	bustest.CheckMethods(t, category.Handler(category.NewClient(nil)),
		category.MethodCreate,
		category.MethodCreateMany,
		category.MethodGet,
		category.MethodGetBySlug,
		category.MethodHoldsSlug,
		category.MethodHoldsSlugs,
		category.MethodGetMany,
		category.MethodUpdate,
		category.MethodMove,
		category.MethodDelete,
		category.MethodListChildren,
		category.MethodTree,
		category.MethodAncestors,
		category.MethodHistory,
	)
}
