package contract

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shopbus/shopbus/transport"
)

type inner struct {
	A string `json:"a"`
	B int    `json:"b,omitempty"`
	N string `json:"Name"` // tagged: wins over other.Name
	D string `json:"d"`    // clashes with other.D2 at the same depth, both tagged: dropped
}

type other struct {
	Name string // untagged, so inner.N wins
	C    bool   `json:"c"`
	D2   string `json:"d"`
}

type tree struct {
	Kids []tree `json:"kids,omitempty"`
}

// shapes holds one field of each kind the generator handles.
type shapes struct {
	inner             // flattened
	*other            // flattened through a pointer
	Named      inner  `json:"named"` // a component of its own
	Skipped    string `json:"-"`     // never encoded
	Quoted     int64  `json:"quoted,string"`
	QuotedPtr  *bool  `json:"quoted_ptr,omitempty,string"`
	Zero       inner  `json:"zero,omitzero"`
	When       time.Time
	WhenPtr    *time.Time       `json:"when_ptr"`
	Bytes      []byte           `json:"bytes"`
	Pair       [2]uint8         `json:"pair"`
	Any        any              `json:"any"`
	Raw        json.RawMessage  `json:"raw"`
	Counts     map[string]int32 `json:"counts"`
	ByID       map[int]string   `json:"by_id"`
	Ptr        *inner           `json:"ptr"`
	Tree       tree             `json:"tree"`
	Anon       struct{ X bool } `json:"anon"`
	Untagged   float64
	unexported string
	Strings    *[]string         `json:"strings,omitempty"`
	Nested     map[string][]bool `json:"nested"`
}

func TestSchemaOfGoTypes(t *testing.T) {
	s := newSchemas(nil, newDocs())
	root := s.ref(reflect.TypeFor[shapes]())
	if s.err != nil {
		t.Fatal(s.err)
	}
	got, _ := json.Marshal(map[string]any{"root": root, "defs": s.defs})
	// inner.N (tagged "Name") wins over other.Name; inner.D and other.D2,
	// both tagged "d" at the same depth, cancel out; unexported and "-"
	// fields are left out.
	want := `{"defs":{"contract.inner":{"properties":{"Name":{"type":"string"},` +
		`"a":{"type":"string"},` +
		`"b":{"format":"int64","type":"integer"},` +
		`"d":{"type":"string"}},` +
		`"required":["a","Name","d"],"type":"object"},` +
		`"contract.shapes":{"properties":{"Name":{"type":"string"},` +
		`"Untagged":{"type":"number"},` +
		`"When":{"format":"date-time","type":"string"},` +
		`"a":{"type":"string"},` +
		`"anon":{"properties":{"X":{"type":"boolean"}},` +
		`"required":["X"],"type":"object"},` +
		`"any":{},` +
		`"b":{"format":"int64","type":"integer"},` +
		`"by_id":{"additionalProperties":{"type":"string"},` +
		`"type":["object","null"]},` +
		`"bytes":{"contentEncoding":"base64","type":["string","null"]},` +
		`"c":{"type":"boolean"},` +
		`"counts":{"additionalProperties":{"format":"int32","type":"integer"},` +
		`"type":["object","null"]},` +
		`"named":{"$ref":"#/components/schemas/contract.inner"},` +
		`"nested":{"additionalProperties":{"items":{"type":"boolean"},` +
		`"type":["array","null"]},` +
		`"type":["object","null"]},` +
		`"pair":{"items":{"format":"uint32","minimum":0,"type":"integer"},` +
		`"maxItems":2,"minItems":2,"type":"array"},` +
		`"ptr":{"anyOf":[{"$ref":"#/components/schemas/contract.inner"},{"type":"null"}]},` +
		`"quoted":{"type":"string"},` +
		`"quoted_ptr":{"type":["string","null"]},` +
		`"raw":{},` +
		`"strings":{"items":{"type":"string"},` +
		`"type":["array","null"]},` +
		`"tree":{"$ref":"#/components/schemas/contract.tree"},` +
		`"when_ptr":{"format":"date-time","type":["string","null"]},` +
		`"zero":{"$ref":"#/components/schemas/contract.inner"}},` +
		`"required":["a","Name","c","named","quoted","When","when_ptr","bytes","pair","any","raw","counts","by_id","ptr","tree","anon","Untagged","nested"],"type":"object"},` +
		`"contract.tree":{"properties":{"kids":{"items":{"$ref":"#/components/schemas/contract.tree"},` +
		`"type":["array","null"]}},` +
		`"type":"object"}},` +
		`"root":{"$ref":"#/components/schemas/contract.shapes"}}`
	if string(got) != want {
		t.Errorf("schemas:\n got %s\nwant %s", got, want)
	}

	// The properties are those encoding/json writes, no more, no fewer.
	v := shapes{inner: inner{A: "a", B: 1, N: "n", D: "d"}, other: &other{Name: "shadowed", C: true, D2: "d2"}, Skipped: "s", QuotedPtr: new(bool), unexported: "u"}
	body, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var written map[string]any
	if err := json.Unmarshal(body, &written); err != nil {
		t.Fatal(err)
	}
	props := s.defs["contract.shapes"]["properties"].(jsonSchema)
	for name := range written {
		if _, ok := props[name]; !ok {
			t.Errorf("encoding/json writes %q, the schema lacks it", name)
		}
	}
	for name := range props {
		if _, ok := written[name]; !ok && name != "zero" && name != "strings" {
			t.Errorf("the schema has %q, encoding/json does not write it", name)
		}
	}
}

type selfMarshaling struct{}

func (selfMarshaling) MarshalJSON() ([]byte, error) { return []byte(`42`), nil }

type holdsSelfMarshaling struct {
	V selfMarshaling `json:"v"`
}

type holdsFuncs struct {
	F func() `json:"f"`
}

func TestSchemaRefusesWhatItCannotDescribe(t *testing.T) {
	for _, c := range []struct {
		typ  reflect.Type
		want string
	}{
		{reflect.TypeFor[holdsSelfMarshaling](), "MarshalJSON"},
		{reflect.TypeFor[holdsFuncs](), "cannot be encoded"},
		{reflect.TypeFor[map[bool]string](), "map keyed by bool"},
	} {
		s := newSchemas(nil, newDocs())
		s.ref(c.typ)
		if s.err == nil || !strings.Contains(s.err.Error(), c.want) {
			t.Errorf("schema of %v: error %v, want one about %s", c.typ, s.err, c.want)
		}
	}
}

func TestComponentNames(t *testing.T) {
	for _, c := range []struct {
		typ  reflect.Type
		want string
	}{
		{reflect.TypeFor[inner](), "contract.inner"},
		{reflect.TypeFor[time.Location](), "time.Location"},
		{reflect.TypeFor[generic[inner]](), "contract.generic_github.com_shopbus_shopbus_contract.inner"},
	} {
		if got := componentName(c.typ); got != c.want {
			t.Errorf("componentName(%v) = %q, want %q", c.typ, got, c.want)
		}
	}
}

type generic[T any] struct {
	V T `json:"v"`
}

func TestGoName(t *testing.T) {
	for in, want := range map[string]string{"place": "Place", "shipping_methods": "ShippingMethods", "get_by_slug": "GetBySlug", "": ""} {
		if got := goName(in); got != want {
			t.Errorf("goName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAssembleRefusesWhatItCannotDescribe(t *testing.T) {
	typed := func(method string) *transport.Mux {
		m := transport.NewMux()
		transport.Handle(m, method, func(context.Context, inner) (inner, error) { return inner{}, nil })
		return m
	}
	untyped := transport.NewMux()
	untyped.HandleFunc("greet.raw", func(context.Context, *transport.Request) ([]byte, error) { return nil, nil })
	for _, c := range []struct {
		svc  service
		want string
	}{
		{service{name: "greet", mux: untyped}, "greet.raw is not registered with transport.Handle"},
		{service{name: "greet", mux: typed("other.hello")}, "method other.hello is served by service greet"},
		{service{name: "greet", mux: transport.NewMux()}, "serves no method"},
	} {
		_, err := assemble([]service{c.svc}, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one saying %q", err, c.want)
		}
	}
	if _, err := assemble([]service{{name: "greet", mux: typed("greet.hello")}}, []event{{"greet.greeting.sent", reflect.TypeFor[inner]()}}); err != nil {
		t.Errorf("a typed service: %v", err)
	}
}
