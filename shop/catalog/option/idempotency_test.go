package option_test

import (
	"context"
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/idem"
	"github.com/shopbus/shopbus/internal/idem/idemtest"
	ct "github.com/shopbus/shopbus/shop/catalog/internal/catalogtest"
	"github.com/shopbus/shopbus/shop/catalog/option"
	"github.com/shopbus/shopbus/transport"
)

// TestRequestsApplyOnce sends every state-changing method twice with one
// request id: the repeat answers the same and changes nothing.
func TestRequestsApplyOnce(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		opts := c.Options
		groups(t, c)
		ct.Must(opts.CreateGroup(c.Admin, option.CreateGroupRequest{Code: "unused", Name: "Unused"}))(t)
		ct.Must(opts.AddValue(c.Admin, option.ValueRequest{Group: "colour", Code: "green", Label: "Green"}))(t)
		removed := ct.Must(opts.GenerateVariants(c.Admin, option.GenerateRequest{ProductID: "p-remove", SKU: "REM", Groups: []string{"size"}}))(t)
		ct.Must(opts.GenerateVariants(c.Admin, option.GenerateRequest{ProductID: "p-delete", SKU: "DEL", Groups: []string{"size"}}))(t)
		ct.Must(opts.GenerateVariants(c.Admin, option.GenerateRequest{ProductID: "p-regen", SKU: "REGEN", Groups: []string{"size"}}))(t)
		name, position := "Sizes", 3
		cases := []idemtest.Case{
			{Method: option.MethodCreateGroup, Body: ct.JSON(t, option.CreateGroupRequest{Code: "sleeve", Name: "Sleeve", Values: []option.Value{{Code: "short", Label: "Short"}}})},
			{Method: option.MethodUpdateGroup, Body: ct.JSON(t, option.UpdateGroupRequest{Code: "size", Name: &name, Position: &position})},
			{Method: option.MethodDeleteGroup, Body: ct.JSON(t, option.GroupRequest{Code: "unused"})},
			{Method: option.MethodAddValue, Body: ct.JSON(t, option.ValueRequest{Group: "size", Code: "xl", Label: "XL"})},
			{Method: option.MethodUpdateValue, Body: ct.JSON(t, option.ValueRequest{Group: "size", Code: "s", Label: "Petite"})},
			{Method: option.MethodRemoveValue, Body: ct.JSON(t, option.ValueRequest{Group: "colour", Code: "green"})},
			{Method: option.MethodGenerateVariants, Body: ct.JSON(t, option.GenerateRequest{ProductID: "p-gen", SKU: "GEN", Groups: []string{"size", "colour"}})},
			{Method: option.MethodGenerateVariantsMany, Body: ct.JSON(t, option.GenerateManyRequest{Items: []option.GenerateRequest{
				{ProductID: "p-many-1", SKU: "MANY1", Groups: []string{"size"}},
				{ProductID: "p-many-2", SKU: "MANY2", Groups: []string{"colour"}},
				{ProductID: "p-regen", SKU: "REGEN", Groups: []string{"colour"}}, // has variants: regenerated
			}})},
			{Method: option.MethodAddVariant, Body: ct.JSON(t, option.AddVariantRequest{ProductID: "p-add", SKU: "ADD", Options: map[string]string{"colour": "red"}})},
			{Method: option.MethodRemoveVariant, Body: ct.JSON(t, option.RemoveVariantRequest{ProductID: "p-remove", VariantID: removed.Variants[0].ID})},
			{Method: option.MethodDeleteVariants, Body: ct.JSON(t, option.ProductRequest{ProductID: "p-delete"})},
		}
		for _, cs := range cases {
			cs.Ctx = func(*testing.T) context.Context { return c.Admin }
			t.Run(cs.Method, func(t *testing.T) { ct.ApplyOnce(t, bus, c.OptionDB, cs) })
		}
		idemtest.Covered(t, option.Handler(c.OptionServer).Methods(), []string{
			option.MethodGetGroup, option.MethodListGroups, option.MethodGetVariants, option.MethodHistory,
		}, cases)
	})
}

// TestVariantsAfterCrash: an add or a generation that stored its variants
// but died before remembering its outcome runs again and gives the same
// variants, stored once.
func TestVariantsAfterCrash(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		srv := c.OptionServer
		groups(t, c)
		forget := func() {
			t.Helper()
			if _, err := c.OptionDB.Collection(idem.Collection).DeleteMany(context.Background(), bson.D{}); err != nil {
				t.Fatal(err)
			}
		}

		add := option.AddVariantRequest{ProductID: "p1", SKU: "MUG", Options: map[string]string{"colour": "red"}}
		ctx := transport.WithRequestID(c.Admin, transport.NewRequestID())
		first := ct.Must(srv.AddVariant(ctx, add))(t)
		forget()
		again := ct.Must(srv.AddVariant(ctx, add))(t)
		if len(again.Variants) != 1 || again.Variants[0].ID != first.Variants[0].ID || again.Version != first.Version {
			t.Fatalf("re-run gave %+v, want %+v", again, first)
		}
		// Another request for the same combination is still a conflict.
		_, err := srv.AddVariant(transport.WithRequestID(c.Admin, transport.NewRequestID()), add)
		ct.WantCode(t, err, transport.CodeConflict)

		gen := option.GenerateRequest{ProductID: "p2", SKU: "TEE", Groups: []string{"size"}}
		ctx = transport.WithRequestID(c.Admin, transport.NewRequestID())
		first = ct.Must(srv.GenerateVariants(ctx, gen))(t)
		forget()
		again = ct.Must(srv.GenerateVariants(ctx, gen))(t)
		if !slices.Equal(ids(again), ids(first)) || !slices.Equal(skus(again), skus(first)) {
			t.Fatalf("re-run gave %+v, want %+v", again, first)
		}
		n, err := c.OptionDB.Collection("variant_skus").CountDocuments(ctx, bson.D{{Key: "product_id", Value: "p2"}})
		if err != nil || n != 3 {
			t.Errorf("p2 holds %d SKUs (%v), want 3", n, err)
		}
	})
}

func ids(pv option.ProductVariants) []string {
	var out []string
	for _, v := range pv.Variants {
		out = append(out, v.ID)
	}
	return out
}
