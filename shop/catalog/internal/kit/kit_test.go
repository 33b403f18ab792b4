package kit_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/shopbus/shopbus/shop/catalog/internal/kit"
	"github.com/shopbus/shopbus/transport"
)

func TestValidators(t *testing.T) {
	for s, want := range map[string]bool{"a": true, "a-b-1": true, "кофе-2": true, "": false, "-a": false, "a-": false, "a--b": false, "A": false, "a_b": false, "$gt": false, "café": false, "кофе #": false} {
		if kit.ValidSlug(s) != want {
			t.Errorf("ValidSlug(%q) != %v", s, want)
		}
	}
	for s, want := range map[string]bool{"size": true, "a_b-2": true, "2xl": true, "": false, "_a": false, "Size": false, "a.b": false, "$set": false, strings.Repeat("a", 65): false} {
		if kit.ValidCode(s) != want {
			t.Errorf("ValidCode(%q) != %v", s, want)
		}
	}
	for s, want := range map[string]bool{"6f1c-AB_9": true, "": false, "$ne": false, "a b": false, "a\x00": false, strings.Repeat("a", 65): false} {
		if kit.ValidID(s) != want {
			t.Errorf("ValidID(%q) != %v", s, want)
		}
	}
}

func TestFields(t *testing.T) {
	var f kit.Fields
	if f.Err("x") != nil {
		t.Fatal("no fields, yet an error")
	}
	f.Text("name", "a\tb", true, 10)
	f.LongText("description", "a\tb\nc", false, 10)
	f.Text("title", "", true, 10)
	if !f.Merge(transport.Invalid("inner", "price.currency", "bad")) || f.Merge(transport.Errorf(transport.CodeConflict, "no")) {
		t.Fatal("Merge")
	}
	err := f.Err("invalid thing")
	var e *transport.Error
	if !asError(err, &e) || e.Field("name") == "" || e.Field("description") != "" || e.Field("title") == "" || e.Field("price.currency") != "bad" {
		t.Fatalf("err = %v", err)
	}
}

func asError(err error, target **transport.Error) bool {
	e, ok := err.(*transport.Error)
	*target = e
	return ok
}

func TestEventID(t *testing.T) {
	a, b := kit.EventID("k", "id", 1), kit.EventID("k", "id", 2)
	if a == b || a != kit.EventID("k", "id", 1) || len(a) != 36 {
		t.Fatalf("EventID: %q %q", a, b)
	}
}

func TestSortPlaced(t *testing.T) {
	type item struct {
		pos      int
		name, id string
	}
	items := []item{{2, "a", "1"}, {1, "b", "2"}, {1, "B", "1"}, {1, "A", "9"}}
	kit.SortPlaced(items, func(it *item) (int, string, string) { return it.pos, it.name, it.id })
	want := []item{{1, "A", "9"}, {1, "B", "1"}, {1, "b", "2"}, {2, "a", "1"}}
	if !slices.Equal(items, want) {
		t.Fatalf("got %v, want %v", items, want)
	}
}

func TestQuoteCutsWholeCharacters(t *testing.T) {
	got := kit.Quote(strings.Repeat("ж", 30)) // 60 bytes
	if want := strconv.Quote(strings.Repeat("ж", 20) + "..."); got != want {
		t.Errorf("Quote = %s, want %s", got, want)
	}
}
