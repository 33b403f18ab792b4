package seo_test

import (
	"testing"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/shop/content/seo"
)

// TestMethods checks that Handler serves exactly the package's Method
// constants: a method added without a handler, or served without a
// constant, fails here.
func TestMethods(t *testing.T) {
	bustest.CheckMethods(t, seo.Handler(seo.NewClient(nil)),
		seo.MethodGet,
		seo.MethodResolve,
		seo.MethodPut,
		seo.MethodDelete,
		seo.MethodSitemap,
		seo.MethodListRedirects,
		seo.MethodPutRedirect,
		seo.MethodDeleteRedirect,
		seo.MethodHistory,
	)
}
