package contract

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode"
)

// jsonSchema is a JSON Schema, written as encoding/json writes a map: keys in
// sorted order. The generator emits only keywords whose meaning is the
// same in JSON Schema draft-07 (AsyncAPI's default schema format) and
// draft 2020-12: type, properties, required, additionalProperties, items,
// minItems, maxItems, anyOf, enum, format, contentEncoding, minimum,
// maximum, description, and $ref to "#/components/schemas/<name>".
type jsonSchema = map[string]any

// schemaRefPrefix is where named schemas live in the document.
const schemaRefPrefix = "#/components/schemas/"

// A schemas builds the JSON Schemas of Go types as encoding/json encodes
// and decodes them. Named struct types become components referenced with
// $ref (so recursive types work); everything else is inlined.
type schemas struct {
	defs   map[string]jsonSchema   // component name -> schema
	names  map[reflect.Type]string // named struct type -> component name
	owners map[string]reflect.Type // component name -> its type, to detect clashes
	enums  map[reflect.Type][]string
	docs   *docs // descriptions
	err    error
}

func newSchemas(enums map[reflect.Type][]string, docs *docs) *schemas {
	return &schemas{
		defs:   map[string]jsonSchema{},
		names:  map[reflect.Type]string{},
		owners: map[string]reflect.Type{},
		enums:  enums,
		docs:   docs,
	}
}

var (
	timeType          = reflect.TypeFor[time.Time]()
	rawMessageType    = reflect.TypeFor[json.RawMessage]()
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
	componentNameRE   = regexp.MustCompile(`[^A-Za-z0-9._-]+`)
)

// fail records the first error.
func (s *schemas) fail(format string, args ...any) {
	if s.err == nil {
		s.err = fmt.Errorf(format, args...)
	}
}

// ref returns the schema of t, a $ref for named struct types.
func (s *schemas) ref(t reflect.Type) jsonSchema {
	if values, ok := s.enums[t]; ok {
		enum := make([]any, len(values))
		for i, v := range values {
			enum[i] = v
		}
		return jsonSchema{"type": "string", "enum": enum}
	}
	if t.Kind() == reflect.Pointer {
		return nullable(s.ref(t.Elem()))
	}
	switch {
	case t == timeType:
		return jsonSchema{"type": "string", "format": "date-time"}
	case t == rawMessageType:
		return jsonSchema{} // any JSON value
	case t.Implements(jsonMarshalerType) || reflect.PointerTo(t).Implements(jsonMarshalerType):
		// Its JSON is whatever its MarshalJSON writes: reflection cannot
		// know. Refuse rather than describe it wrongly.
		s.fail("contract: %v has its own MarshalJSON; teach contract its schema", t)
		return jsonSchema{}
	case t.Kind() != reflect.Map && (t.Implements(textMarshalerType) || reflect.PointerTo(t).Implements(textMarshalerType)):
		return jsonSchema{"type": "string"}
	}
	switch t.Kind() {
	case reflect.Bool:
		return jsonSchema{"type": "boolean"}
	case reflect.String:
		return jsonSchema{"type": "string"}
	case reflect.Int, reflect.Int64:
		return jsonSchema{"type": "integer", "format": "int64"}
	case reflect.Int8, reflect.Int16, reflect.Int32:
		return jsonSchema{"type": "integer", "format": "int32"}
	case reflect.Uint, reflect.Uint64, reflect.Uintptr:
		return jsonSchema{"type": "integer", "format": "uint64", "minimum": 0}
	case reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return jsonSchema{"type": "integer", "format": "uint32", "minimum": 0}
	case reflect.Float32, reflect.Float64:
		return jsonSchema{"type": "number"}
	case reflect.Interface:
		return jsonSchema{} // any JSON value
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 && !t.Elem().Implements(jsonMarshalerType) && !t.Elem().Implements(textMarshalerType) {
			return jsonSchema{"type": []any{"string", "null"}, "contentEncoding": "base64"}
		}
		return jsonSchema{"type": []any{"array", "null"}, "items": s.ref(t.Elem())}
	case reflect.Array:
		return jsonSchema{"type": "array", "items": s.ref(t.Elem()), "minItems": t.Len(), "maxItems": t.Len()}
	case reflect.Map:
		switch k := t.Key(); {
		case k.Kind() == reflect.String, k.Implements(textMarshalerType):
		case k.Kind() >= reflect.Int && k.Kind() <= reflect.Uintptr:
		default:
			s.fail("contract: %v: encoding/json cannot encode a map keyed by %v", t, k)
		}
		return jsonSchema{"type": []any{"object", "null"}, "additionalProperties": s.ref(t.Elem())}
	case reflect.Struct:
		if t.Name() == "" {
			return s.object(t)
		}
		return jsonSchema{"$ref": schemaRefPrefix + s.define(t)}
	}
	s.fail("contract: %v cannot be encoded as JSON", t)
	return jsonSchema{}
}

// nullable returns sch, also allowing null.
func nullable(sch jsonSchema) jsonSchema {
	switch typ := sch["type"].(type) {
	case string:
		out := jsonSchema{}
		for k, v := range sch {
			out[k] = v
		}
		out["type"] = []any{typ, "null"}
		if enum, ok := sch["enum"].([]any); ok {
			out["enum"] = append(append([]any(nil), enum...), nil)
		}
		return out
	case []any:
		for _, v := range typ {
			if v == "null" {
				return sch
			}
		}
	}
	if len(sch) == 0 { // any value, null included
		return sch
	}
	return jsonSchema{"anyOf": []any{sch, jsonSchema{"type": "null"}}}
}

// define makes t's component, once, and returns its name.
func (s *schemas) define(t reflect.Type) string {
	if name, ok := s.names[t]; ok {
		return name
	}
	name := componentName(t)
	if other, ok := s.owners[name]; ok && other != t {
		s.fail("contract: %v and %v would both be schema %q", other, t, name)
	}
	s.names[t] = name
	s.owners[name] = t
	s.defs[name] = nil // placeholder: t may refer to itself
	if err := s.docs.load(t.PkgPath()); err != nil {
		s.fail("%w", err)
	}
	obj := s.object(t)
	if text := s.docs.get(t.PkgPath() + "." + t.Name()); text != "" {
		obj["description"] = text
	}
	s.defs[name] = obj
	return name
}

// componentName names t's component after its package and type: "order.Order".
func componentName(t reflect.Type) string {
	pkg := t.PkgPath()
	if i := strings.LastIndex(pkg, "/"); i >= 0 {
		pkg = pkg[i+1:]
	}
	name := t.Name()
	if pkg != "" {
		name = pkg + "." + name
	}
	return strings.Trim(componentNameRE.ReplaceAllString(name, "_"), "_")
}

// object is the schema of struct type t.
func (s *schemas) object(t reflect.Type) jsonSchema {
	props := jsonSchema{}
	var required []any
	for _, f := range jsonFields(t) {
		sch := s.ref(f.typ)
		if f.quoted {
			sch = quotedSchema(f.typ, sch)
		}
		if f.owner.Name() != "" {
			if err := s.docs.load(f.owner.PkgPath()); err != nil {
				s.fail("%w", err)
			}
			if text := s.docs.get(f.owner.PkgPath() + "." + f.owner.Name() + "." + f.goName); text != "" {
				sch["description"] = text
			}
		}
		props[f.name] = sch
		if !f.optional {
			required = append(required, f.name)
		}
	}
	out := jsonSchema{"type": "object", "properties": props}
	if len(required) > 0 {
		out["required"] = required
	}
	return out
}

// quotedSchema is the schema of a field tagged ",string": encoding/json
// writes its bool, number or string value as a JSON string.
func quotedSchema(t reflect.Type, sch jsonSchema) jsonSchema {
	nullOK := false
	if t.Kind() == reflect.Pointer {
		t, nullOK = t.Elem(), true
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.String:
		if nullOK {
			return jsonSchema{"type": []any{"string", "null"}}
		}
		return jsonSchema{"type": "string"}
	}
	return sch // ",string" does not apply to other kinds
}

// A jsonField is one field of a struct as encoding/json sees it.
type jsonField struct {
	name     string
	typ      reflect.Type
	optional bool // omitempty or omitzero: the encoder may leave it out
	quoted   bool // ",string"
	tagged   bool
	index    []int
	owner    reflect.Type // the struct that declares it
	goName   string       // its name in owner
}

// jsonFields lists the fields encoding/json encodes for struct type t,
// following its rules: exported fields, "-" skips, embedded structs
// without a name in their tag are flattened, and of several fields with one
// name the shallowest wins (a tagged one among equals), or none if still
// ambiguous. They come in the order encoding/json writes them.
func jsonFields(t reflect.Type) []jsonField {
	type queued struct {
		t     reflect.Type
		index []int
	}
	var all []jsonField
	seen := map[reflect.Type]bool{}
	level := []queued{{t, nil}}
	for len(level) > 0 {
		var next []queued
		for _, q := range level {
			if seen[q.t] {
				continue
			}
			seen[q.t] = true
			for i := range q.t.NumField() {
				sf := q.t.Field(i)
				ft := sf.Type
				if sf.Anonymous {
					if ft.Kind() == reflect.Pointer {
						ft = ft.Elem()
					}
					if !sf.IsExported() && ft.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				if !validTagName(name) {
					name = ""
				}
				index := append(append([]int(nil), q.index...), i)
				if name == "" && sf.Anonymous && ft.Kind() == reflect.Struct {
					next = append(next, queued{ft, index})
					continue
				}
				f := jsonField{name: name, typ: sf.Type, index: index, tagged: name != "", owner: q.t, goName: sf.Name}
				if f.name == "" {
					f.name = sf.Name
				}
				for o := range strings.SplitSeq(opts, ",") {
					switch o {
					case "omitempty", "omitzero":
						f.optional = true
					case "string":
						f.quoted = true
					}
				}
				all = append(all, f)
			}
		}
		level = next
	}
	// Resolve clashes: shallowest first, then tagged first.
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].name != all[j].name {
			return all[i].name < all[j].name
		}
		if len(all[i].index) != len(all[j].index) {
			return len(all[i].index) < len(all[j].index)
		}
		return all[i].tagged && !all[j].tagged
	})
	var out []jsonField
	for i := 0; i < len(all); {
		j := i + 1
		for j < len(all) && all[j].name == all[i].name {
			j++
		}
		group := all[i:j]
		i = j
		if len(group) > 1 && len(group[1].index) == len(group[0].index) && group[1].tagged == group[0].tagged {
			continue // ambiguous: encoding/json drops the name
		}
		out = append(out, group[0])
	}
	sort.Slice(out, func(i, j int) bool { return lessIndex(out[i].index, out[j].index) })
	return out
}

func lessIndex(a, b []int) bool {
	for k := range min(len(a), len(b)) {
		if a[k] != b[k] {
			return a[k] < b[k]
		}
	}
	return len(a) < len(b)
}

// validTagName reports whether encoding/json accepts name from a tag.
func validTagName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}
