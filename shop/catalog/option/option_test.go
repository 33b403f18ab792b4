package option_test

import (
	"context"
	"slices"
	"testing"

	"github.com/shopbus/shopbus/internal/bustest"
	ct "github.com/shopbus/shopbus/shop/catalog/internal/catalogtest"
	"github.com/shopbus/shopbus/shop/catalog/option"
	"github.com/shopbus/shopbus/transport"
)

func groups(t *testing.T, c *ct.Catalog) {
	t.Helper()
	ct.Must(c.Options.CreateGroup(c.Admin, option.CreateGroupRequest{Code: "size", Name: "Size", Values: []option.Value{
		{Code: "s", Label: "Small"}, {Code: "m", Label: "Medium"}, {Code: "l", Label: "Large"},
	}}))(t)
	ct.Must(c.Options.CreateGroup(c.Admin, option.CreateGroupRequest{Code: "colour", Name: "Colour", Position: -1, Values: []option.Value{
		{Code: "red", Label: "Red"}, {Code: "blue", Label: "Blue"},
	}}))(t)
}

func skus(pv option.ProductVariants) []string {
	var out []string
	for _, v := range pv.Variants {
		out = append(out, v.SKU)
	}
	return out
}

func TestGroupsAndValues(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		opts := c.Options
		groups(t, c)
		ctx := context.Background()

		list := ct.Must(opts.ListGroups(ctx, option.ListGroupsRequest{}))(t)
		if len(list) != 2 || list[0].Code != "colour" || list[1].Code != "size" || len(list[1].Values) != 3 {
			t.Fatalf("groups = %+v", list)
		}
		_, err := opts.CreateGroup(c.Admin, option.CreateGroupRequest{Code: "size", Name: "Again"})
		ct.WantCode(t, err, transport.CodeConflict)
		_, err = opts.CreateGroup(c.Admin, option.CreateGroupRequest{Code: "x", Name: "X", Values: []option.Value{{Code: "a", Label: "A"}, {Code: "a", Label: "B"}}})
		ct.WantField(t, err, "values[1].code")
		_, err = opts.CreateGroup(c.Admin, option.CreateGroupRequest{Code: "x", Name: "X", Values: []option.Value{{Code: "$a", Label: "A"}}})
		ct.WantField(t, err, "values[0].code")
		_, err = opts.CreateGroup(c.Admin, option.CreateGroupRequest{Code: "x", Name: "X", Values: []option.Value{{Code: "a"}}})
		ct.WantField(t, err, "values[0].label")

		g := ct.Must(opts.AddValue(c.Admin, option.ValueRequest{Group: "size", Code: "xl", Label: "Extra large"}))(t)
		if len(g.Values) != 4 || g.Values[3].Code != "xl" || g.Version != 2 {
			t.Fatalf("after add %+v", g)
		}
		_, err = opts.AddValue(c.Admin, option.ValueRequest{Group: "size", Code: "xl", Label: "Again"})
		ct.WantCode(t, err, transport.CodeConflict)
		_, err = opts.AddValue(c.Admin, option.ValueRequest{Group: "nope", Code: "xl", Label: "X"})
		ct.WantCode(t, err, transport.CodeNotFound)
		g = ct.Must(opts.UpdateValue(c.Admin, option.ValueRequest{Group: "size", Code: "xl", Label: "XL"}))(t)
		if g.Values[3].Label != "XL" {
			t.Fatalf("after relabel %+v", g)
		}
		g = ct.Must(opts.RemoveValue(c.Admin, option.ValueRequest{Group: "size", Code: "xl"}))(t)
		if len(g.Values) != 3 {
			t.Fatalf("after remove %+v", g)
		}
		_, err = opts.RemoveValue(c.Admin, option.ValueRequest{Group: "size", Code: "xl"})
		ct.WantCode(t, err, transport.CodeNotFound)
		name := "Größe"
		g = ct.Must(opts.UpdateGroup(c.Admin, option.UpdateGroupRequest{Code: "size", Name: &name}))(t)
		if g.Name != name {
			t.Fatalf("rename %+v", g)
		}
		ct.Must(opts.CreateGroup(c.Admin, option.CreateGroupRequest{Code: "unused", Name: "Unused"}))(t)
		ct.Must(opts.DeleteGroup(c.Admin, option.GroupRequest{Code: "unused"}))(t)
		_, err = opts.GetGroup(ctx, option.GroupRequest{Code: "unused"})
		ct.WantCode(t, err, transport.CodeNotFound)
	})
}

func TestGenerateVariants(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{MaxVariants: 6})
		opts := c.Options
		groups(t, c)

		pv := ct.Must(opts.GenerateVariants(c.Admin, option.GenerateRequest{ProductID: "p1", SKU: "TEE", Groups: []string{"size", "colour"}}))(t)
		want := []string{"TEE-S-RED", "TEE-S-BLUE", "TEE-M-RED", "TEE-M-BLUE", "TEE-L-RED", "TEE-L-BLUE"}
		if !slices.Equal(skus(pv), want) {
			t.Fatalf("skus = %v, want %v", skus(pv), want)
		}
		seen := map[string]bool{}
		for _, v := range pv.Variants {
			key := v.Options["size"] + "/" + v.Options["colour"]
			if seen[key] || v.ID == "" || len(v.Options) != 2 {
				t.Fatalf("variant %+v repeats a combination or lacks an id", v)
			}
			seen[key] = true
		}
		got := ct.Must(opts.GetVariants(context.Background(), option.ProductRequest{ProductID: "p1"}))(t)
		if !slices.Equal(skus(got), want) || got.Version != 1 {
			t.Fatalf("stored %+v", got)
		}

		// Regenerating with a subset keeps the ids of surviving combinations.
		sub := ct.Must(opts.GenerateVariants(c.Admin, option.GenerateRequest{ProductID: "p1", SKU: "TEE", Groups: []string{"size", "colour"},
			Values: map[string][]string{"size": {"m"}}}))(t)
		if !slices.Equal(skus(sub), []string{"TEE-M-RED", "TEE-M-BLUE"}) || sub.Variants[0].ID != pv.Variants[2].ID {
			t.Fatalf("subset %+v", sub)
		}

		// The cap: 3 sizes x 2 colours x 2 = 12 > 6.
		ct.Must(opts.CreateGroup(c.Admin, option.CreateGroupRequest{Code: "sleeve", Name: "Sleeve", Values: []option.Value{{Code: "short", Label: "Short"}, {Code: "long", Label: "Long"}}}))(t)
		_, err := opts.GenerateVariants(c.Admin, option.GenerateRequest{ProductID: "p2", SKU: "SHIRT", Groups: []string{"size", "colour", "sleeve"}})
		ct.WantField(t, err, "groups")

		// SKUs are unique across products.
		_, err = opts.GenerateVariants(c.Admin, option.GenerateRequest{ProductID: "p3", SKU: "TEE", Groups: []string{"size", "colour"}})
		ct.WantCode(t, err, transport.CodeConflict)
		// ... but the SKUs p1 gave up are free.
		p3 := ct.Must(opts.GenerateVariants(c.Admin, option.GenerateRequest{ProductID: "p3", SKU: "TEE", Groups: []string{"size"},
			Values: map[string][]string{"size": {"s"}}}))(t)
		if !slices.Equal(skus(p3), []string{"TEE-S"}) {
			t.Fatalf("p3 %+v", p3)
		}

		for _, tc := range []struct {
			req   option.GenerateRequest
			field string
		}{
			{option.GenerateRequest{SKU: "X", Groups: []string{"size"}}, "product_id"},
			{option.GenerateRequest{ProductID: "p4", SKU: "lower", Groups: []string{"size"}}, "sku"},
			{option.GenerateRequest{ProductID: "p4", SKU: "X"}, "groups"},
			{option.GenerateRequest{ProductID: "p4", SKU: "X", Groups: []string{"size", "size"}}, "groups[1]"},
			{option.GenerateRequest{ProductID: "p4", SKU: "X", Groups: []string{"weight"}}, "groups[0]"},
			{option.GenerateRequest{ProductID: "p4", SKU: "X", Groups: []string{"size"}, Values: map[string][]string{"size": {"xxl"}}}, "values.size"},
			{option.GenerateRequest{ProductID: "p4", SKU: "X", Groups: []string{"size"}, Values: map[string][]string{"colour": {"red"}}}, "values.colour"},
		} {
			_, err := opts.GenerateVariants(c.Admin, tc.req)
			ct.WantField(t, err, tc.field)
		}
	})
}

func TestAddRemoveVariantsAndValuesInUse(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		opts := c.Options
		groups(t, c)
		ctx := context.Background()

		pv := ct.Must(opts.AddVariant(c.Admin, option.AddVariantRequest{ProductID: "p1", SKU: "MUG", Options: map[string]string{"colour": "red"}}))(t)
		if !slices.Equal(skus(pv), []string{"MUG-RED"}) {
			t.Fatalf("first variant %+v", pv)
		}
		// A combination the product has already is a conflict.
		_, err := opts.AddVariant(c.Admin, option.AddVariantRequest{ProductID: "p1", Options: map[string]string{"colour": "red"}})
		ct.WantCode(t, err, transport.CodeConflict)
		_, err = opts.AddVariant(c.Admin, option.AddVariantRequest{ProductID: "p1", Options: map[string]string{"colour": "green"}})
		ct.WantField(t, err, "options.colour")
		_, err = opts.AddVariant(c.Admin, option.AddVariantRequest{ProductID: "p1", Options: map[string]string{"colour": "blue", "size": "s"}})
		ct.WantField(t, err, "options.size")
		pv = ct.Must(opts.AddVariant(c.Admin, option.AddVariantRequest{ProductID: "p1", Options: map[string]string{"colour": "blue"}}))(t)
		if !slices.Equal(skus(pv), []string{"MUG-RED", "MUG-BLUE"}) {
			t.Fatalf("second variant %+v", pv)
		}

		// Values and groups in use cannot go.
		_, err = opts.RemoveValue(c.Admin, option.ValueRequest{Group: "colour", Code: "red"})
		ct.WantCode(t, err, transport.CodeConflict)
		_, err = opts.DeleteGroup(c.Admin, option.GroupRequest{Code: "colour"})
		ct.WantCode(t, err, transport.CodeConflict)
		ct.Must(opts.RemoveValue(c.Admin, option.ValueRequest{Group: "size", Code: "l"}))(t) // unused

		pv = ct.Must(opts.RemoveVariant(c.Admin, option.RemoveVariantRequest{ProductID: "p1", VariantID: pv.Variants[0].ID}))(t)
		if !slices.Equal(skus(pv), []string{"MUG-BLUE"}) {
			t.Fatalf("after remove %+v", pv)
		}
		// red is free now; blue is not.
		ct.Must(opts.RemoveValue(c.Admin, option.ValueRequest{Group: "colour", Code: "red"}))(t)
		_, err = opts.RemoveValue(c.Admin, option.ValueRequest{Group: "colour", Code: "blue"})
		ct.WantCode(t, err, transport.CodeConflict)

		// Deleting a product's variants frees its values and SKUs.
		old := ct.Must(opts.DeleteVariants(c.Admin, option.ProductRequest{ProductID: "p1"}))(t)
		if len(old.Variants) != 1 {
			t.Fatalf("deleted %+v", old)
		}
		_, err = opts.GetVariants(ctx, option.ProductRequest{ProductID: "p1"})
		ct.WantCode(t, err, transport.CodeNotFound)
		ct.Must(opts.DeleteVariants(c.Admin, option.ProductRequest{ProductID: "p1"}))(t) // again: fine
		ct.Must(opts.RemoveValue(c.Admin, option.ValueRequest{Group: "colour", Code: "blue"}))(t)
		ct.Must(opts.DeleteGroup(c.Admin, option.GroupRequest{Code: "colour"}))(t)
		ct.Must(opts.AddVariant(c.Admin, option.AddVariantRequest{ProductID: "p2", SKU: "MUG", Options: map[string]string{"size": "s"}}))(t)
	})
}

func TestAdminRequired(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		opts := c.Options
		groups(t, c)
		name := "x"
		for _, tc := range []struct {
			ctx  context.Context
			code transport.Code
		}{
			{context.Background(), transport.CodeUnauthenticated},
			{c.Customer, transport.CodeForbidden},
		} {
			_, err := opts.CreateGroup(tc.ctx, option.CreateGroupRequest{Code: "x", Name: "X"})
			ct.WantCode(t, err, tc.code)
			_, err = opts.UpdateGroup(tc.ctx, option.UpdateGroupRequest{Code: "size", Name: &name})
			ct.WantCode(t, err, tc.code)
			_, err = opts.DeleteGroup(tc.ctx, option.GroupRequest{Code: "size"})
			ct.WantCode(t, err, tc.code)
			_, err = opts.AddValue(tc.ctx, option.ValueRequest{Group: "size", Code: "xl", Label: "XL"})
			ct.WantCode(t, err, tc.code)
			_, err = opts.RemoveValue(tc.ctx, option.ValueRequest{Group: "size", Code: "s"})
			ct.WantCode(t, err, tc.code)
			_, err = opts.GenerateVariants(tc.ctx, option.GenerateRequest{ProductID: "p", SKU: "P", Groups: []string{"size"}})
			ct.WantCode(t, err, tc.code)
			_, err = opts.GenerateVariantsMany(tc.ctx, option.GenerateManyRequest{Items: []option.GenerateRequest{{ProductID: "p", SKU: "P", Groups: []string{"size"}}}})
			ct.WantCode(t, err, tc.code)
			_, err = opts.AddVariant(tc.ctx, option.AddVariantRequest{ProductID: "p", SKU: "P", Options: map[string]string{"size": "s"}})
			ct.WantCode(t, err, tc.code)
			_, err = opts.DeleteVariants(tc.ctx, option.ProductRequest{ProductID: "p"})
			ct.WantCode(t, err, tc.code)
		}
		if g := ct.Must(opts.GetGroup(c.Customer, option.GroupRequest{Code: "size"}))(t); g.Version != 1 {
			t.Fatalf("refused writes changed %+v", g)
		}
	})
}

func TestDefaultCap(t *testing.T) {
	c := ct.Start(t, bustest.New(t, "inproc"), ct.Config{})
	vals := func(n int) []option.Value {
		out := make([]option.Value, n)
		for i := range out {
			out[i] = option.Value{Code: "v" + string(rune('a'+i/26)) + string(rune('a'+i%26)), Label: "V"}
		}
		return out
	}
	ct.Must(c.Options.CreateGroup(c.Admin, option.CreateGroupRequest{Code: "a", Name: "A", Values: vals(40)}))(t)
	ct.Must(c.Options.CreateGroup(c.Admin, option.CreateGroupRequest{Code: "b", Name: "B", Values: vals(26)}))(t)
	// 40 x 26 = 1040 > 1000.
	_, err := c.Options.GenerateVariants(c.Admin, option.GenerateRequest{ProductID: "p", SKU: "P", Groups: []string{"a", "b"}})
	if msg := ct.WantField(t, err, "groups"); msg == "" {
		t.Fatal("no message")
	}
	// Exactly the cap is fine: 40 x 25 = 1000.
	pv := ct.Must(c.Options.GenerateVariants(c.Admin, option.GenerateRequest{ProductID: "p", SKU: "P", Groups: []string{"a", "b"},
		Values: map[string][]string{"b": codes(vals(25))}}))(t)
	if len(pv.Variants) != option.DefaultMaxVariants {
		t.Fatalf("%d variants", len(pv.Variants))
	}
}

func codes(vs []option.Value) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Code
	}
	return out
}
