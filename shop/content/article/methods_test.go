package article_test

import (
	"testing"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/shop/content/article"
)

// TestMethods checks that Handler serves exactly the package's Method
// constants: a method added without a handler, or served without a
// constant, fails here.
func TestMethods(t *testing.T) {
	bustest.CheckMethods(t, article.Handler(article.NewClient(nil)),
		article.MethodCreate,
		article.MethodUpdate,
		article.MethodDelete,
		article.MethodGet,
		article.MethodGetBySlug,
		article.MethodHoldsSlug,
		article.MethodHoldsSlugs,
		article.MethodList,
		article.MethodHistory,
	)
}
