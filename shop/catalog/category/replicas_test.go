package category_test

import (
	"context"
	"strings"
	"testing"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/shop/catalog/category"
	ct "github.com/shopbus/shopbus/shop/catalog/internal/catalogtest"
)

// TestGetManySeesOtherReplicasWrites: GetMany answers from categories kept
// in memory; a second replica on the same database (another Server, not
// bound to the bus) that creates, renames or deletes a category is seen by
// the next GetMany of the first one, and so are its own writes.
func TestGetManySeesOtherReplicasWrites(t *testing.T) {
	bus := bustest.New(t, "inproc")
	c := ct.Start(t, bus, ct.Config{})
	ctx := context.Background()
	replica, err := category.New(c.CategoryDB, category.Options{Auth: c.Auth.Client})
	if err != nil {
		t.Fatal(err)
	}
	a := create(t, c, "Alpha", "")
	names := func(ids ...string) string {
		t.Helper()
		got := ct.Must(c.Categories.GetMany(ctx, category.GetManyRequest{IDs: ids}))(t)
		var out []string
		for _, g := range got {
			out = append(out, g.Name)
		}
		return strings.Join(out, ",")
	}
	if got := names(a.ID); got != "Alpha" {
		t.Fatalf("GetMany = %q, want Alpha", got) // loads the categories
	}

	b := ct.Must(replica.Create(c.Admin, category.CreateRequest{Name: "Beta"}))(t)
	if got := names(a.ID, b.ID); got != "Alpha,Beta" {
		t.Fatalf("after the other replica's create: %q, want Alpha,Beta", got)
	}
	renamed := "Alpha Prime"
	ct.Must(replica.Update(c.Admin, category.UpdateRequest{ID: a.ID, Name: &renamed}))(t)
	if got := names(a.ID, b.ID); got != "Alpha Prime,Beta" {
		t.Fatalf("after the other replica's rename: %q, want Alpha Prime,Beta", got)
	}
	ct.Must(replica.Delete(c.Admin, category.DeleteRequest{ID: b.ID}))(t)
	if got := names(a.ID, b.ID); got != "Alpha Prime" {
		t.Fatalf("after the other replica's delete: %q, want Alpha Prime", got)
	}
	// And this replica's own writes, through the bus.
	renamed = "Alpha"
	ct.Must(c.Categories.Update(c.Admin, category.UpdateRequest{ID: a.ID, Name: &renamed}))(t)
	if got := names(a.ID); got != "Alpha" {
		t.Fatalf("after its own rename: %q, want Alpha", got)
	}
}
