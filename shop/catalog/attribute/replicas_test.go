package attribute_test

import (
	"testing"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/shop/catalog/attribute"
	ct "github.com/shopbus/shopbus/shop/catalog/internal/catalogtest"
)

// TestValidateSeesOtherReplicasWrites: Validate checks values against
// definitions kept in memory; a second replica on the same database
// (another Server, not bound to the bus) that creates, changes or deletes
// an attribute is seen by the next Validate of the first one.
func TestValidateSeesOtherReplicasWrites(t *testing.T) {
	bus := bustest.New(t, "inproc")
	c := ct.Start(t, bus, ct.Config{})
	define(t, c)
	replica, err := attribute.New(c.AttributeDB, attribute.Options{Auth: c.Auth.Client})
	if err != nil {
		t.Fatal(err)
	}
	validate := func(values map[string]any) error { return c.Attributes.Validate(c.Admin, values) }
	if err := validate(map[string]any{"fit": "slim", "width": 3}); err != nil {
		t.Fatal(err) // loads the definitions
	}
	ct.WantField(t, validate(map[string]any{"fit": "baggy"}), "attributes.fit")
	ct.WantField(t, validate(map[string]any{"colour": "red"}), "attributes.colour")

	values := []string{"slim", "regular", "loose", "baggy"}
	ct.Must(replica.Update(c.Admin, attribute.UpdateRequest{Code: "fit", Values: &values}))(t)
	ct.Must(replica.Create(c.Admin, attribute.CreateRequest{Code: "colour", Name: "Colour", Type: attribute.TypeText}))(t)
	if err := validate(map[string]any{"fit": "baggy", "colour": "red"}); err != nil {
		t.Fatalf("after the other replica's writes: %v", err)
	}
	ct.Must(replica.Delete(c.Admin, attribute.CodeRequest{Code: "colour"}))(t)
	ct.WantField(t, validate(map[string]any{"colour": "red"}), "attributes.colour")
	// And this replica's own writes, through the bus.
	values = values[:3]
	ct.Must(c.Attributes.Update(c.Admin, attribute.UpdateRequest{Code: "fit", Values: &values}))(t)
	ct.WantField(t, validate(map[string]any{"fit": "baggy"}), "attributes.fit")
}
