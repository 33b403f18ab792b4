// Package contract is the machine-readable shopbus wire contract: an
// AsyncAPI 3.0 document (asyncapi.json in this directory) that describes
// every service's request queue, every method's request and reply body
// as JSON Schema, the error object, and every event's routing key and
// body. CONTRACT.md at the module root specifies the envelope (properties,
// headers, deadlines, retries); this document specifies the bodies, so a
// client in another language needs no Go source.
//
// The document is generated from the Go types: each service's Handler
// records its methods' request and reply types (transport.Handle,
// transport.Mux.Types), and the events are the Event… constants of package
// shop with their body types. Regenerate it after changing a service's
// types with
//
//	go generate ./contract
//
// (which runs go test -run TestUpToDate -update); the test fails while
// the checked-in file differs from what Generate builds.
//
// Every service's Handler is a service Mux (shop.NewMux), which also
// answers "<service>.describe" (transport.Description): the document lists
// it among each service's methods, and its version is Version.
//
// The tests validate bodies against the document with a third-party JSON
// Schema validator (github.com/santhosh-tekuri/jsonschema, draft 2020-12):
// a value of every type, CONTRACT.md's examples, and every request, reply
// and error a whole shop's services exchange while a test drives it.
//
// Descriptions are the Go doc comments of the types, fields and Service
// methods. JSON field names follow the json tags; a field with omitempty or
// omitzero is not required; time.Time is a date-time string; slices, maps
// and pointers may be null, as encoding/json writes nil ones.
package contract

//go:generate go test -run TestUpToDate -update .

import _ "embed"

//go:embed asyncapi.json
var checkedIn []byte

// Document returns the checked-in AsyncAPI document (a copy).
func Document() []byte { return append([]byte(nil), checkedIn...) }
