package attribute_test

import (
	"context"
	"testing"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/idem/idemtest"
	"github.com/shopbus/shopbus/shop/catalog/attribute"
	ct "github.com/shopbus/shopbus/shop/catalog/internal/catalogtest"
	"github.com/shopbus/shopbus/transport"
)

// TestRequestsApplyOnce sends every state-changing method twice with one
// request id: the repeat answers the same and changes nothing.
func TestRequestsApplyOnce(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		attrs := c.Attributes
		define(t, c)
		ct.Must(attrs.Create(c.Admin, attribute.CreateRequest{Code: "obsolete", Name: "Obsolete", Type: attribute.TypeText}))(t)
		ct.Must(attrs.CreateGroup(c.Admin, attribute.CreateGroupRequest{Code: "old", Name: "Old", Attributes: []string{"material", "obsolete"}}))(t)
		ct.Must(attrs.CreateGroup(c.Admin, attribute.CreateGroupRequest{Code: "gone", Name: "Gone"}))(t)
		name, members, position := "Breadth", []string{"waterproof", "material"}, 2
		cases := []idemtest.Case{
			{Method: attribute.MethodCreate, Body: ct.JSON(t, attribute.CreateRequest{Code: "colour", Name: "Colour", Type: attribute.TypeEnum, Values: []string{"red", "blue"}})},
			{Method: attribute.MethodUpdate, Body: ct.JSON(t, attribute.UpdateRequest{Code: "width", Name: &name})},
			{Method: attribute.MethodDelete, Body: ct.JSON(t, attribute.CodeRequest{Code: "obsolete"})},
			{Method: attribute.MethodCreateGroup, Body: ct.JSON(t, attribute.CreateGroupRequest{Code: "dims", Name: "Dimensions", Attributes: []string{"width"}})},
			{Method: attribute.MethodUpdateGroup, Body: ct.JSON(t, attribute.UpdateGroupRequest{Code: "old", Attributes: &members, Position: &position})},
			{Method: attribute.MethodDeleteGroup, Body: ct.JSON(t, attribute.CodeRequest{Code: "gone"})},
		}
		for _, cs := range cases {
			cs.Ctx = func(*testing.T) context.Context { return c.Admin }
			t.Run(cs.Method, func(t *testing.T) { ct.ApplyOnce(t, bus, c.AttributeDB, cs) })
		}
		idemtest.Covered(t, attribute.Handler(c.AttributeServer).Methods(), []string{
			attribute.MethodGet, attribute.MethodList, attribute.MethodGetGroup, attribute.MethodListGroups, attribute.MethodValidate,
			attribute.MethodValidateMany, attribute.MethodHistory,
		}, cases)
	})
}
