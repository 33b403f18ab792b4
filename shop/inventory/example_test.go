package inventory_test

import (
	"context"
	"fmt"

	"github.com/shopbus/shopbus/shop/inventory"
	"github.com/shopbus/shopbus/shop/shoptest"
)

// Example stocks a SKU, holds units of it for an order as checkout does,
// and commits them when the order is paid: the units leave the warehouse.
func Example() {
	t, done := shoptest.ExampleTB() // in a test: the test's *testing.T
	defer done()
	s := shoptest.Start(t, shoptest.Options{Services: []string{inventory.ServiceName}})

	stock := inventory.NewClient(s.Bus)
	admin := s.Admin(t)
	if _, err := stock.SetStock(admin, inventory.SetStockRequest{SKU: "MUG-BLUE", OnHand: 5}); err != nil {
		t.Fatal(err)
	}
	show := func() {
		st, err := stock.Get(context.Background(), inventory.GetRequest{SKU: "MUG-BLUE"})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("on hand %d, reserved %d, available %d\n", st.OnHand, st.Reserved, st.Available)
	}

	r, err := stock.Reserve(admin, inventory.ReserveRequest{OrderID: "order-1", Lines: []inventory.Line{{SKU: "MUG-BLUE", Quantity: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(r.State)
	show()
	if r, err = stock.Commit(admin, inventory.OrderRequest{OrderID: "order-1"}); err != nil {
		t.Fatal(err)
	}
	fmt.Println(r.State)
	show()
	// Output:
	// reserved
	// on hand 5, reserved 2, available 3
	// committed
	// on hand 3, reserved 0, available 3
}
