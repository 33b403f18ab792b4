package attribute_test

import (
	"testing"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/shop/catalog/attribute"
)

// TestMethods checks that Handler serves exactly the package's Method
// constants: a method added without a handler, or served without a
// constant, fails here.
func TestMethods(t *testing.T) {
	bustest.CheckMethods(t, attribute.Handler(attribute.NewClient(nil)),
		attribute.MethodCreate,
		attribute.MethodGet,
		attribute.MethodList,
		attribute.MethodUpdate,
		attribute.MethodDelete,
		attribute.MethodCreateGroup,
		attribute.MethodGetGroup,
		attribute.MethodListGroups,
		attribute.MethodUpdateGroup,
		attribute.MethodDeleteGroup,
		attribute.MethodValidate,
		attribute.MethodHistory,
		attribute.MethodValidateMany,
	)
}
