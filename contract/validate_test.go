package contract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// A validator checks JSON values against the subset of JSON Schema the
// generator emits (see jsonSchema), resolving $ref within one
// document. With strict set, an object may hold only the properties its
// schema lists (unless the schema has additionalProperties): that catches
// a schema that misses a field encoding/json writes, which the document
// itself, read tolerantly, allows.
type validator struct {
	root   map[string]any // the whole document, for $ref
	strict bool
}

// validate checks the JSON text body against schema.
func (v validator) validate(schema any, body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var value any
	if err := dec.Decode(&value); err != nil {
		return fmt.Errorf("not JSON: %v", err)
	}
	return v.check(schema, value, "$", 0)
}

func (v validator) check(schema, value any, at string, depth int) error {
	if depth > 64 {
		return fmt.Errorf("%s: schema nested too deeply", at)
	}
	sch, ok := schema.(map[string]any)
	if !ok {
		return fmt.Errorf("%s: schema is %T, not an object", at, schema)
	}
	if r, ok := sch["$ref"].(string); ok {
		target, err := v.resolve(r)
		if err != nil {
			return fmt.Errorf("%s: %v", at, err)
		}
		return v.check(target, value, at, depth+1)
	}
	if alts, ok := sch["anyOf"].([]any); ok {
		var errs []string
		for _, alt := range alts {
			err := v.check(alt, value, at, depth+1)
			if err == nil {
				errs = nil
				break
			}
			errs = append(errs, err.Error())
		}
		if errs != nil {
			return fmt.Errorf("%s: matches no alternative: %s", at, strings.Join(errs, "; "))
		}
	}
	if t, ok := sch["type"]; ok {
		var types []string
		switch t := t.(type) {
		case string:
			types = []string{t}
		case []any:
			for _, x := range t {
				s, _ := x.(string)
				types = append(types, s)
			}
		}
		if !slices.ContainsFunc(types, func(typ string) bool { return hasType(value, typ) }) {
			return fmt.Errorf("%s: %s is not of type %s", at, describe(value), strings.Join(types, " or "))
		}
	}
	if enum, ok := sch["enum"].([]any); ok && !slices.ContainsFunc(enum, func(e any) bool { return fmt.Sprint(e) == fmt.Sprint(value) && hasType(value, jsonType(e)) }) {
		return fmt.Errorf("%s: %s is not one of %v", at, describe(value), enum)
	}
	switch value := value.(type) {
	case string:
		if sch["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, value); err != nil {
				return fmt.Errorf("%s: %q is not a date-time", at, value)
			}
		}
		if n, ok := number(sch["minLength"]); ok && float64(utf8.RuneCountInString(value)) < n {
			return fmt.Errorf("%s: shorter than %v", at, n)
		}
		if n, ok := number(sch["maxLength"]); ok && float64(utf8.RuneCountInString(value)) > n {
			return fmt.Errorf("%s: longer than %v", at, n)
		}
	case json.Number:
		f, _ := value.Float64()
		if n, ok := number(sch["minimum"]); ok && f < n {
			return fmt.Errorf("%s: %s is below %v", at, value, n)
		}
		if n, ok := number(sch["maximum"]); ok && f > n {
			return fmt.Errorf("%s: %s is above %v", at, value, n)
		}
	case []any:
		if n, ok := number(sch["minItems"]); ok && float64(len(value)) < n {
			return fmt.Errorf("%s: fewer than %v items", at, n)
		}
		if n, ok := number(sch["maxItems"]); ok && float64(len(value)) > n {
			return fmt.Errorf("%s: more than %v items", at, n)
		}
		if items, ok := sch["items"]; ok {
			for i, x := range value {
				if err := v.check(items, x, fmt.Sprintf("%s[%d]", at, i), depth+1); err != nil {
					return err
				}
			}
		}
	case map[string]any:
		if req, ok := sch["required"].([]any); ok {
			for _, name := range req {
				if _, ok := value[name.(string)]; !ok {
					return fmt.Errorf("%s: property %v is missing", at, name)
				}
			}
		}
		props, _ := sch["properties"].(map[string]any)
		additional, hasAdditional := sch["additionalProperties"]
		for _, name := range sortedKeys(value) {
			x := value[name]
			if p, ok := props[name]; ok {
				if err := v.check(p, x, at+"."+name, depth+1); err != nil {
					return err
				}
				continue
			}
			switch {
			case hasAdditional:
				if err := v.check(additional, x, at+"."+name, depth+1); err != nil {
					return err
				}
			case v.strict && props != nil:
				return fmt.Errorf("%s: property %s is not in the schema", at, name)
			}
		}
	}
	return nil
}

// resolve follows a "#/a/b" reference within the document.
func (v validator) resolve(ref string) (any, error) {
	path, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("reference %s is not local", ref)
	}
	var node any = v.root
	for part := range strings.SplitSeq(path, "/") {
		part = strings.NewReplacer("~1", "/", "~0", "~").Replace(part)
		m, ok := node.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("reference %s does not resolve", ref)
		}
		if node, ok = m[part]; !ok {
			return nil, fmt.Errorf("reference %s does not resolve", ref)
		}
	}
	return node, nil
}

func hasType(value any, typ string) bool {
	switch typ {
	case "integer":
		n, ok := value.(json.Number)
		if !ok {
			return false
		}
		_, ok = new(big.Int).SetString(n.String(), 10)
		return ok
	case "number":
		_, ok := value.(json.Number)
		return ok
	}
	return jsonType(value) == typ
}

func jsonType(value any) string {
	switch value.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number, float64, int:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", value)
}

func describe(value any) string {
	b, _ := json.Marshal(value)
	if len(b) > 60 {
		b = append(b[:57], "..."...)
	}
	return string(b)
}

func number(x any) (float64, bool) {
	switch x := x.(type) {
	case float64:
		return x, true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
