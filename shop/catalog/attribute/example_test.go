package attribute_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/attribute"
	"github.com/shopbus/shopbus/shop/shoptest"
)

// Example defines an attribute and validates product values against it.
func Example() {
	t, done := shoptest.ExampleTB() // in a test: the test's *testing.T
	defer done()
	s := shoptest.Start(t, shoptest.Options{Services: []string{attribute.ServiceName}})

	attrs := attribute.NewClient(s.Bus)
	if _, err := attrs.Create(s.Admin(t), attribute.CreateRequest{Code: "width", Name: "Width", Type: attribute.TypeNumber, Unit: "cm"}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fmt.Println(attrs.Validate(ctx, map[string]any{"width": 42}))
	err := attrs.Validate(ctx, map[string]any{"width": "wide"})
	var e *shop.Error
	if errors.As(err, &e) {
		fmt.Println(e.Code, e.Field("attributes.width"))
	}
	// Output:
	// <nil>
	// invalid must be a number
}
