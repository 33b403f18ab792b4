package attribute_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/shop/catalog/attribute"
	ct "github.com/shopbus/shopbus/shop/catalog/internal/catalogtest"
	"github.com/shopbus/shopbus/shop/catalog/internal/kit"
	"github.com/shopbus/shopbus/transport"
)

// define creates the attributes most tests use.
func define(t *testing.T, c *ct.Catalog) {
	t.Helper()
	for _, r := range []attribute.CreateRequest{
		{Code: "width", Name: "Width", Type: attribute.TypeNumber, Unit: "cm"},
		{Code: "material", Name: "Material", Type: attribute.TypeText},
		{Code: "waterproof", Name: "Waterproof", Type: attribute.TypeBoolean},
		{Code: "fit", Name: "Fit", Type: attribute.TypeEnum, Values: []string{"slim", "regular", "loose"}},
	} {
		ct.Must(c.Attributes.Create(c.Admin, r))(t)
	}
}

func TestDefinitions(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		attrs := c.Attributes
		define(t, c)

		got := ct.Must(attrs.Get(context.Background(), attribute.CodeRequest{Code: "fit"}))(t)
		if got.Type != attribute.TypeEnum || !slices.Equal(got.Values, []string{"slim", "regular", "loose"}) || got.Version != 1 {
			t.Fatalf("get %+v", got)
		}
		list := ct.Must(attrs.List(context.Background(), attribute.ListRequest{}))(t)
		var codes []string
		for _, a := range list {
			codes = append(codes, a.Code)
		}
		if !slices.Equal(codes, []string{"fit", "material", "waterproof", "width"}) {
			t.Fatalf("list = %v", codes)
		}
		_, err := attrs.Create(c.Admin, attribute.CreateRequest{Code: "width", Name: "Again", Type: attribute.TypeText})
		ct.WantCode(t, err, transport.CodeConflict)
		_, err = attrs.Get(context.Background(), attribute.CodeRequest{Code: "height"})
		ct.WantCode(t, err, transport.CodeNotFound)

		for _, tc := range []struct {
			req   attribute.CreateRequest
			field string
		}{
			{attribute.CreateRequest{Name: "x", Type: attribute.TypeText}, "code"},
			{attribute.CreateRequest{Code: "$gt", Name: "x", Type: attribute.TypeText}, "code"},
			{attribute.CreateRequest{Code: "Upper", Name: "x", Type: attribute.TypeText}, "code"},
			{attribute.CreateRequest{Code: "a.b", Name: "x", Type: attribute.TypeText}, "code"},
			{attribute.CreateRequest{Code: "ok", Type: attribute.TypeText}, "name"},
			{attribute.CreateRequest{Code: "ok", Name: "x"}, "type"},
			{attribute.CreateRequest{Code: "ok", Name: "x", Type: "date"}, "type"},
			{attribute.CreateRequest{Code: "ok", Name: "x", Type: attribute.TypeText, Unit: "cm"}, "unit"},
			{attribute.CreateRequest{Code: "ok", Name: "x", Type: attribute.TypeEnum}, "values"},
			{attribute.CreateRequest{Code: "ok", Name: "x", Type: attribute.TypeEnum, Values: []string{"a", "a"}}, "values[1]"},
			{attribute.CreateRequest{Code: "ok", Name: "x", Type: attribute.TypeBoolean, Values: []string{"a"}}, "values"},
		} {
			_, err := attrs.Create(c.Admin, tc.req)
			ct.WantField(t, err, tc.field)
		}

		// Update: name, unit, enum values; the type stays.
		name, unit := "Breite", "mm"
		upd := ct.Must(attrs.Update(c.Admin, attribute.UpdateRequest{Code: "width", Name: &name, Unit: &unit}))(t)
		if upd.Name != name || upd.Unit != unit || upd.Type != attribute.TypeNumber || upd.Version != 2 {
			t.Fatalf("update %+v", upd)
		}
		vals := []string{"slim", "regular"}
		ct.Must(attrs.Update(c.Admin, attribute.UpdateRequest{Code: "fit", Values: &vals}))(t)
		empty := []string{}
		_, err = attrs.Update(c.Admin, attribute.UpdateRequest{Code: "fit", Values: &empty})
		ct.WantField(t, err, "values")
		_, err = attrs.Update(c.Admin, attribute.UpdateRequest{Code: "material", Unit: &unit})
		ct.WantField(t, err, "unit")
		_, err = attrs.Update(c.Admin, attribute.UpdateRequest{Code: "nope", Name: &name})
		ct.WantCode(t, err, transport.CodeNotFound)
	})
}

func TestGroups(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		attrs := c.Attributes
		define(t, c)
		ct.Must(attrs.Create(c.Admin, attribute.CreateRequest{Code: "height", Name: "Height", Type: attribute.TypeNumber, Unit: "cm"}))(t)

		dims := ct.Must(attrs.CreateGroup(c.Admin, attribute.CreateGroupRequest{
			Code: "dimensions", Name: "Dimensions", Attributes: []string{"width", "height"}, Position: 2,
		}))(t)
		if !slices.Equal(dims.Attributes, []string{"width", "height"}) {
			t.Fatalf("group %+v", dims)
		}
		ct.Must(attrs.CreateGroup(c.Admin, attribute.CreateGroupRequest{Code: "care", Name: "Care", Attributes: []string{"material", "waterproof"}, Position: 1}))(t)
		_, err := attrs.CreateGroup(c.Admin, attribute.CreateGroupRequest{Code: "dimensions", Name: "Again"})
		ct.WantCode(t, err, transport.CodeConflict)
		_, err = attrs.CreateGroup(c.Admin, attribute.CreateGroupRequest{Code: "bad", Name: "Bad", Attributes: []string{"width", "depth"}})
		ct.WantField(t, err, "attributes[1]")
		_, err = attrs.CreateGroup(c.Admin, attribute.CreateGroupRequest{Code: "bad", Name: "Bad", Attributes: []string{"width", "width"}})
		ct.WantField(t, err, "attributes[1]")

		groups := ct.Must(attrs.ListGroups(context.Background(), attribute.ListRequest{}))(t)
		if len(groups) != 2 || groups[0].Code != "care" || groups[1].Code != "dimensions" {
			t.Fatalf("groups = %+v", groups)
		}
		// Reorder the attributes of a group.
		order := []string{"height", "width"}
		re := ct.Must(attrs.UpdateGroup(c.Admin, attribute.UpdateGroupRequest{Code: "dimensions", Attributes: &order}))(t)
		if !slices.Equal(re.Attributes, order) || re.Version != 2 {
			t.Fatalf("reordered %+v", re)
		}
		// Deleting an attribute removes it from its groups.
		ct.Must(attrs.Delete(c.Admin, attribute.CodeRequest{Code: "height"}))(t)
		got := ct.Must(attrs.GetGroup(context.Background(), attribute.CodeRequest{Code: "dimensions"}))(t)
		if !slices.Equal(got.Attributes, []string{"width"}) {
			t.Fatalf("after delete: %+v", got)
		}
		_, err = attrs.Get(context.Background(), attribute.CodeRequest{Code: "height"})
		ct.WantCode(t, err, transport.CodeNotFound)

		ct.Must(attrs.DeleteGroup(c.Admin, attribute.CodeRequest{Code: "care"}))(t)
		_, err = attrs.GetGroup(context.Background(), attribute.CodeRequest{Code: "care"})
		ct.WantCode(t, err, transport.CodeNotFound)
		ct.Must(attrs.Get(context.Background(), attribute.CodeRequest{Code: "material"}))(t) // its attributes stay
	})
}

func TestValidate(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		attrs := c.Attributes
		define(t, c)
		ctx := context.Background()

		good := map[string]any{"width": 12.5, "material": "cotton", "waterproof": true, "fit": "slim"}
		if err := attrs.Validate(ctx, good); err != nil {
			t.Fatalf("valid values: %v", err)
		}
		if err := attrs.Validate(ctx, nil); err != nil {
			t.Fatalf("no values: %v", err)
		}
		if err := attrs.Validate(ctx, map[string]any{"width": 3}); err != nil { // an int is a number
			t.Fatalf("int width: %v", err)
		}

		bad := map[string]any{
			"width":      "wide",
			"material":   "",
			"waterproof": "yes",
			"fit":        "baggy",
			"colour":     "red",
			"$where":     "1",
		}
		err := attrs.Validate(ctx, bad)
		var e *transport.Error
		if !errors.As(err, &e) || e.Code != transport.CodeInvalid {
			t.Fatalf("Validate = %v, want invalid", err)
		}
		if len(e.Fields) != len(bad) {
			t.Fatalf("got %d field errors, want one per bad value: %v", len(e.Fields), e.Fields)
		}
		for code := range bad {
			ct.WantField(t, err, "attributes."+code)
		}
		if !strings.Contains(e.Field("attributes.fit"), `"slim"`) {
			t.Fatalf("enum message %q does not list the allowed values", e.Field("attributes.fit"))
		}
		// Other wrong shapes.
		for _, v := range []any{nil, []any{1}, map[string]any{"a": 1}} {
			ct.WantField(t, attrs.Validate(ctx, map[string]any{"width": v}), "attributes.width")
		}
		ct.WantField(t, attrs.Validate(ctx, map[string]any{"material": strings.Repeat("x", attribute.MaxTextValue+1)}), "attributes.material")
		ct.WantField(t, attrs.Validate(ctx, map[string]any{"material": "a\x00b"}), "attributes.material")
		ct.WantField(t, attrs.Validate(ctx, map[string]any{"waterproof": 1}), "attributes.waterproof")
		// A wrong body shape is invalid on the wire.
		_, err = bus.Call(ctx, attribute.MethodValidate, []byte(`{"values": [1, 2]}`))
		ct.WantCode(t, err, transport.CodeInvalid)
	})
}

func TestValidateMany(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		attrs := c.Attributes
		define(t, c)
		ctx := context.Background()

		tooMany := map[string]any{}
		for i := range attribute.MaxValues + 1 {
			tooMany["a"+strconv.Itoa(i)] = "x"
		}
		items := []map[string]any{
			{"width": 12.5, "material": "cotton", "waterproof": true, "fit": "slim"},
			{"width": "wide", "fit": "baggy", "colour": "red", "$where": "1"},
			nil,
			{"material": ""},
			tooMany,
			{"fit": "regular"},
		}
		res := ct.Must(attrs.ValidateMany(c.Customer, attribute.ValidateManyRequest{Items: items}))(t) // public
		if len(res) != len(items) {
			t.Fatalf("%d results for %d items", len(res), len(items))
		}
		for i, values := range items {
			want := attrs.Validate(ctx, values)
			got := res[i].Error
			if want == nil {
				if got != nil {
					t.Errorf("item %d: got %v, want valid", i, got)
				}
				continue
			}
			var w *transport.Error
			if !errors.As(want, &w) || got == nil || got.Code != w.Code || got.Message != w.Message || !slices.Equal(got.Fields, w.Fields) {
				t.Errorf("item %d: got %v, want %v", i, got, want)
				continue
			}
			// The product service merges the field errors of an item.
			var f kit.Fields
			if !f.Merge(got) || f.Len() != len(w.Fields) {
				t.Errorf("item %d: Merge took %d of the %d field errors of %v", i, f.Len(), len(w.Fields), got)
			}
		}
		if res[1].Error == nil || len(res[1].Error.Fields) != 4 {
			t.Fatalf("item 1: %v, want 4 field errors", res[1].Error)
		}

		var tooManyItems []map[string]any
		for range attribute.MaxValidateMany + 1 {
			tooManyItems = append(tooManyItems, map[string]any{"fit": "slim"})
		}
		for _, bad := range [][]map[string]any{nil, {}, tooManyItems} {
			_, err := attrs.ValidateMany(ctx, attribute.ValidateManyRequest{Items: bad})
			ct.WantField(t, err, "items")
		}
		// A wrong body shape is invalid on the wire.
		_, err := bus.Call(ctx, attribute.MethodValidateMany, []byte(`{"items": [[1, 2]]}`))
		ct.WantCode(t, err, transport.CodeInvalid)
	})
}

func TestAdminRequired(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		c := ct.Start(t, bus, ct.Config{})
		attrs := c.Attributes
		define(t, c)
		name := "x"
		for _, tc := range []struct {
			ctx  context.Context
			code transport.Code
		}{
			{context.Background(), transport.CodeUnauthenticated},
			{c.Customer, transport.CodeForbidden},
		} {
			_, err := attrs.Create(tc.ctx, attribute.CreateRequest{Code: "x", Name: "X", Type: attribute.TypeText})
			ct.WantCode(t, err, tc.code)
			_, err = attrs.Update(tc.ctx, attribute.UpdateRequest{Code: "width", Name: &name})
			ct.WantCode(t, err, tc.code)
			_, err = attrs.Delete(tc.ctx, attribute.CodeRequest{Code: "width"})
			ct.WantCode(t, err, tc.code)
			_, err = attrs.CreateGroup(tc.ctx, attribute.CreateGroupRequest{Code: "g", Name: "G"})
			ct.WantCode(t, err, tc.code)
			_, err = attrs.UpdateGroup(tc.ctx, attribute.UpdateGroupRequest{Code: "g", Name: &name})
			ct.WantCode(t, err, tc.code)
			_, err = attrs.DeleteGroup(tc.ctx, attribute.CodeRequest{Code: "g"})
			ct.WantCode(t, err, tc.code)
		}
		// Reads and validation are public.
		if err := attrs.Validate(c.Customer, map[string]any{"fit": "slim"}); err != nil {
			t.Fatal(err)
		}
		if got := ct.Must(attrs.Get(context.Background(), attribute.CodeRequest{Code: "width"}))(t); got.Version != 1 {
			t.Fatalf("refused writes changed %+v", got)
		}
	})
}
