package contract

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// A validator checks JSON bodies against the schemas of the AsyncAPI
// document with github.com/santhosh-tekuri/jsonschema (JSON Schema draft
// 2020-12, formats such as date-time asserted), so that the schemas are
// checked by a reader that knows JSON Schema, not by our reading of it.
// A schema is named by its JSON pointer in the document (genDoc.request,
// reply, event); its $refs resolve within the document.
//
// A strict validator reads the document with additionalProperties false
// added to every object schema that lists properties and says nothing of
// others: an object may then hold only the properties its schema lists,
// which catches a schema that misses a field encoding/json writes (the
// document itself, read tolerantly as a client does, allows it).
type validator struct {
	c  *jsonschema.Compiler
	mu sync.Mutex
	m  map[string]*jsonschema.Schema
}

// documentURL names the document for the compiler; nothing is loaded
// from it.
const documentURL = "urn:shopbus:asyncapi.json"

// newValidator returns a validator of the schemas of the document doc
// (asyncapi.json's text).
func newValidator(t testing.TB, doc []byte, strict bool) *validator {
	t.Helper()
	root, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("the document is not JSON: %v", err)
	}
	if strict {
		closeObjects(root)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(noLoader{}) // every $ref is local to the document
	if err := c.AddResource(documentURL, root); err != nil {
		t.Fatal(err)
	}
	return &validator{c: c, m: map[string]*jsonschema.Schema{}}
}

// noLoader refuses to load anything: a $ref outside the document is an
// error in it.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("the document refers to %s, outside itself", url)
}

// schema compiles the schema at the JSON pointer ptr of the document, once.
func (v *validator) schema(ptr string) (*jsonschema.Schema, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if s, ok := v.m[ptr]; ok {
		return s, nil
	}
	s, err := v.c.Compile(documentURL + "#" + ptr)
	if err != nil {
		return nil, fmt.Errorf("compiling the schema at %s: %w", ptr, err)
	}
	v.m[ptr] = s
	return s, nil
}

// validate checks the JSON text body against the schema at ptr. A
// mismatch is reported as the validator's message, whose lines name the
// instance locations as JSON pointers ("at '/address/country': ...").
func (v *validator) validate(ptr string, body []byte) error {
	s, err := v.schema(ptr)
	if err != nil {
		return err
	}
	value, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("not JSON: %v", err)
	}
	err = s.Validate(value)
	var ve *jsonschema.ValidationError
	if errors.As(err, &ve) {
		// The first line names the schema by its URL; the rest says what
		// is wrong where.
		_, rest, _ := strings.Cut(ve.Error(), "\n")
		return errors.New(strings.TrimSpace(rest))
	}
	return err
}

// closeObjects adds additionalProperties false to every object schema of
// doc that lists properties and has no additionalProperties, walking the
// schemas where they are: the document's components/schemas, the
// messages' payloads and the index's request, reply and body schemas.
func closeObjects(doc any) {
	root, _ := doc.(map[string]any)
	components, _ := root["components"].(map[string]any)
	if schemas, ok := components["schemas"].(map[string]any); ok {
		for _, s := range schemas {
			closeSchema(s)
		}
	}
	if messages, ok := components["messages"].(map[string]any); ok {
		for _, m := range messages {
			if m, ok := m.(map[string]any); ok {
				closeSchema(m["payload"])
			}
		}
	}
	index, _ := root["x-shopbus-index"].(map[string]any)
	for _, list := range []string{"methods", "events"} {
		entries, _ := index[list].([]any)
		for _, e := range entries {
			if e, ok := e.(map[string]any); ok {
				for _, k := range []string{"request", "reply", "body"} {
					closeSchema(e[k])
				}
			}
		}
	}
}

// closeSchema closes the object schema s and the schemas inside it.
func closeSchema(s any) {
	sch, ok := s.(map[string]any)
	if !ok {
		return
	}
	if props, ok := sch["properties"].(map[string]any); ok {
		if _, has := sch["additionalProperties"]; !has {
			sch["additionalProperties"] = false
		}
		for _, p := range props {
			closeSchema(p)
		}
	}
	closeSchema(sch["items"])
	closeSchema(sch["additionalProperties"])
	for _, k := range []string{"anyOf", "oneOf", "allOf"} {
		alts, _ := sch[k].([]any)
		for _, a := range alts {
			closeSchema(a)
		}
	}
}
