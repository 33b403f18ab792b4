package option_test

import (
	"fmt"

	"github.com/shopbus/shopbus/shop/catalog/option"
	"github.com/shopbus/shopbus/shop/shoptest"
)

// Example defines a Size group and generates the variants of a product.
func Example() {
	t, done := shoptest.ExampleTB() // in a test: the test's *testing.T
	defer done()
	s := shoptest.Start(t, shoptest.Options{Services: []string{option.ServiceName}})

	opts := option.NewClient(s.Bus)
	admin := s.Admin(t)
	if _, err := opts.CreateGroup(admin, option.CreateGroupRequest{Code: "size", Name: "Size", Values: []option.Value{
		{Code: "s", Label: "Small"}, {Code: "m", Label: "Medium"},
	}}); err != nil {
		t.Fatal(err)
	}
	pv, err := opts.GenerateVariants(admin, option.GenerateRequest{ProductID: "p1", SKU: "TEE", Groups: []string{"size"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range pv.Variants {
		fmt.Println(v.SKU)
	}
	// Output:
	// TEE-S
	// TEE-M
}

func ExampleVariantSKU() {
	fmt.Println(option.VariantSKU("TEE", []string{"m", "red"}))
	// Output: TEE-M-RED
}
