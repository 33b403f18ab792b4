package option_test

import (
	"testing"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/shop/catalog/option"
)

// TestMethods checks that Handler serves exactly the package's Method
// constants: a method added without a handler, or served without a
// constant, fails here.
func TestMethods(t *testing.T) {
	bustest.CheckMethods(t, option.Handler(option.NewClient(nil)),
		option.MethodCreateGroup,
		option.MethodGetGroup,
		option.MethodListGroups,
		option.MethodUpdateGroup,
		option.MethodDeleteGroup,
		option.MethodAddValue,
		option.MethodUpdateValue,
		option.MethodRemoveValue,
		option.MethodGenerateVariants,
		option.MethodAddVariant,
		option.MethodRemoveVariant,
		option.MethodGetVariants,
		option.MethodDeleteVariants,
		option.MethodHistory,
		option.MethodGenerateVariantsMany,
	)
}
