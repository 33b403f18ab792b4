package contract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/transport"
)

// Version is the version of the contract the document describes
// (info.version): shop.ContractVersion, which every service also answers
// to "<service>.describe". It changes when a method, event or field is
// removed or changes meaning; additions keep it.
const Version = shop.ContractVersion

// namespace is the namespace the document's queue and exchange names use;
// a deployment with another one (rabbit.Options.Namespace) replaces it.
const namespace = "shop"

// Where things are, for references inside the document.
const (
	repliesChannel = "replies"
	errorMessage   = "error"
	amqpBinding    = "0.3.0" // the AsyncAPI AMQP bindings version used
)

// document is the AsyncAPI 3.0 document, with its top-level fields in
// the specification's order.
type document struct {
	AsyncAPI           string `json:"asyncapi"`
	Info               object `json:"info"`
	DefaultContentType string `json:"defaultContentType"`
	Channels           object `json:"channels"`
	Operations         object `json:"operations"`
	Components         object `json:"components"`
	Index              index  `json:"x-shopbus-index"`
}

// object is a JSON object whose keys encoding/json writes sorted.
type object = map[string]any

// index is the document's extension x-shopbus-index: every method and
// event with its schemas, one lookup away.
type index struct {
	Methods []methodEntry `json:"methods"`
	Events  []eventEntry  `json:"events"`
}

type methodEntry struct {
	Method  string     `json:"method"`
	Service string     `json:"service"`
	Queue   string     `json:"queue"`
	Request jsonSchema `json:"request"`
	Reply   jsonSchema `json:"reply"`
}

type eventEntry struct {
	Key       string     `json:"key"`
	Publisher string     `json:"publisher"`
	Exchange  string     `json:"exchange"`
	Body      jsonSchema `json:"body"`
}

// Generate builds the AsyncAPI 3.0 document (JSON, indented, ending in a
// newline) of every shopbus service's methods and every event, from the
// Go types the services' handlers register, with their doc comments as
// descriptions: it reads the packages' source, so it needs the go command
// and the module's files (go generate has both). Document returns what it
// built when the file was last generated; TestUpToDate checks that the two
// agree.
func Generate() ([]byte, error) {
	doc, err := assemble(services(), events())
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func ref(path ...string) object {
	for i, p := range path {
		path[i] = strings.NewReplacer("~", "~0", "/", "~1").Replace(p)
	}
	return object{"$ref": "#/" + strings.Join(path, "/")}
}

// assemble makes the document of svcs and evs.
func assemble(svcs []service, evs []event) (*document, error) {
	d := newDocs()
	s := newSchemas(enums(), d)
	channels, operations, messages := object{}, object{}, object{}
	replyMessages := object{errorMessage: ref("components", "messages", errorMessage)}
	doc := &document{
		AsyncAPI: "3.0.0",
		Info: object{
			"title":       "shopbus",
			"version":     Version,
			"description": infoDescription,
		},
		DefaultContentType: "application/json",
		Channels:           channels,
		Operations:         operations,
	}
	for _, svc := range svcs {
		queue := namespace + "." + svc.name
		serviceMessages := object{}
		if err := d.load(svc.pkg); err != nil {
			return nil, err
		}
		methods := svc.mux.Methods()
		if len(methods) == 0 {
			return nil, fmt.Errorf("contract: service %s serves no method", svc.name)
		}
		for _, method := range methods {
			reqType, respType, ok := svc.mux.Types(method)
			if !ok {
				return nil, fmt.Errorf("contract: %s is not registered with transport.Handle: its types are unknown", method)
			}
			if got, err := transport.ServiceOf(method); err != nil || got != svc.name {
				return nil, fmt.Errorf("contract: method %s is served by service %s", method, svc.name)
			}
			reqSchema, respSchema := s.ref(reqType), s.ref(respType)
			reqID, replyID := method+".request", method+".reply"
			messages[reqID] = object{
				"name":          method,
				"title":         method + " request",
				"summary":       fmt.Sprintf("Request %s: published to the default exchange with routing key %s and type %s.", method, queue, method),
				"contentType":   "application/json",
				"payload":       reqSchema,
				"headers":       ref("components", "schemas", "RequestHeaders"),
				"correlationId": ref("components", "correlationIds", "correlation_id"),
				"bindings":      object{"amqp": object{"messageType": method, "bindingVersion": amqpBinding}},
			}
			messages[replyID] = object{
				"name":          "result",
				"title":         method + " reply",
				"summary":       fmt.Sprintf("Successful reply to %s (type result).", method),
				"contentType":   "application/json",
				"payload":       respSchema,
				"correlationId": ref("components", "correlationIds", "correlation_id"),
				"bindings":      object{"amqp": object{"messageType": "result", "bindingVersion": amqpBinding}},
			}
			serviceMessages[reqID] = ref("components", "messages", reqID)
			replyMessages[replyID] = ref("components", "messages", replyID)
			_, name, _ := strings.Cut(method, ".")
			op := object{
				"action":  "receive",
				"title":   method,
				"summary": fmt.Sprintf("The %s service answers %s.", svc.name, method),
				"channel": ref("channels", svc.name),
				"messages": []any{
					ref("channels", svc.name, "messages", reqID),
				},
				"reply": object{
					"address": object{"location": "$message.header#/reply_to", "description": "amq.rabbitmq.reply-to (direct reply-to), as the request's reply_to property"},
					"channel": ref("channels", repliesChannel),
					"messages": []any{
						ref("channels", repliesChannel, "messages", replyID),
						ref("channels", repliesChannel, "messages", errorMessage),
					},
				},
			}
			if text := d.get(svc.pkg + ".Service." + goName(name)); text != "" {
				op["description"] = text
			} else if name == transport.DescribeMethod {
				op["description"] = fmt.Sprintf(describeDescription, svc.name)
			}
			operations[method] = op
			doc.Index.Methods = append(doc.Index.Methods, methodEntry{method, svc.name, queue, reqSchema, respSchema})
		}
		channels[svc.name] = object{
			"address":     queue,
			"title":       queue,
			"description": strings.TrimSpace(d.get(svc.pkg) + fmt.Sprintf(" The %s service's request queue: publish a request to the default exchange (\"\") with this routing key and the method as its type.", svc.name)),
			"messages":    serviceMessages,
			"bindings": object{"amqp": object{
				"is":             "queue",
				"queue":          object{"name": queue, "durable": true, "exclusive": false, "autoDelete": false, "vhost": "/"},
				"bindingVersion": amqpBinding,
			}},
		}
	}
	channels[repliesChannel] = object{
		"address":     nil,
		"title":       "replies",
		"description": "Replies, delivered to the caller's direct reply-to consumer (amq.rabbitmq.reply-to, consumed with no_ack before publishing) with the request's correlation_id. type is result (the reply body) or error (an error object, header x-shop-error = its code).",
		"messages":    replyMessages,
	}
	messages[errorMessage] = object{
		"name":          errorMessage,
		"title":         "error reply",
		"summary":       "Failed reply to any method (type error, header x-shop-error = the code).",
		"contentType":   "application/json",
		"payload":       s.ref(reflect.TypeFor[transport.Error]()),
		"headers":       ref("components", "schemas", "ErrorHeaders"),
		"correlationId": ref("components", "correlationIds", "correlation_id"),
		"bindings":      object{"amqp": object{"messageType": "error", "bindingVersion": amqpBinding}},
	}

	exchange := namespace + ".events"
	for _, ev := range evs {
		publisher, _, _ := strings.Cut(ev.key, ".")
		body := s.ref(ev.body)
		messages[ev.key] = object{
			"name":        ev.key,
			"title":       ev.key,
			"summary":     fmt.Sprintf("Event %s, published by the %s service to the topic exchange %s.", ev.key, publisher, exchange),
			"contentType": "application/json",
			"payload":     body,
			"headers":     ref("components", "schemas", "EventHeaders"),
			"bindings":    object{"amqp": object{"messageType": ev.key, "bindingVersion": amqpBinding}},
		}
		channels[ev.key] = object{
			"address":     ev.key,
			"title":       ev.key,
			"description": fmt.Sprintf("Routing key %s on the topic exchange %s; subscribers bind their queue %s.events.<subscriber> with patterns such as %s.#.", ev.key, exchange, namespace, publisher),
			"messages":    object{ev.key: ref("components", "messages", ev.key)},
			"bindings": object{"amqp": object{
				"is":             "routingKey",
				"exchange":       object{"name": exchange, "type": "topic", "durable": true, "autoDelete": false, "vhost": "/"},
				"bindingVersion": amqpBinding,
			}},
		}
		operations[ev.key] = object{
			"action":   "send",
			"title":    ev.key,
			"summary":  fmt.Sprintf("The %s service announces %s.", publisher, ev.key),
			"channel":  ref("channels", ev.key),
			"messages": []any{ref("channels", ev.key, "messages", ev.key)},
			"bindings": object{"amqp": object{"deliveryMode": 2, "timestamp": true, "bindingVersion": amqpBinding}},
		}
		doc.Index.Events = append(doc.Index.Events, eventEntry{ev.key, publisher, exchange, body})
	}
	if s.err != nil {
		return nil, s.err
	}
	schemas := object{}
	for name, sch := range s.defs {
		schemas[name] = sch
	}
	for name, sch := range headerSchemas {
		schemas[name] = sch
	}
	doc.Components = object{
		"schemas":        schemas,
		"messages":       messages,
		"correlationIds": object{"correlation_id": object{"location": "$message.header#/correlation_id", "description": "The AMQP correlation_id property: a fresh UUID per attempt; the reply carries the request's."}},
	}
	return doc, nil
}

// describeDescription describes "<service>.describe", which every
// service's Mux answers itself (transport.NewServiceMux).
const describeDescription = `The %s service describes itself: its name, the methods it answers (sorted, this one included) and the version of this contract it follows (info.version). It needs no session. Every service answers <service>.describe.`

const infoDescription = `Every method and event of the shopbus services on RabbitMQ (AMQP 0-9-1), generated from their Go types by package github.com/shopbus/shopbus/contract. CONTRACT.md in the repository specifies the envelope: properties, headers, deadlines, retries, idempotency, errors and dead-lettering.

The document describes the services: each operation with action receive is a method a service answers (a client sends its request and receives the reply), and each operation with action send is an event a service publishes (a client receives it). Queue and exchange names use the default namespace "shop"; a deployment may choose another, which replaces "shop" everywhere.

Schemas use only keywords that mean the same in JSON Schema draft-07 and draft 2020-12. A property listed in required is always present in what a service writes; a request may leave out any property (a server reads it as its zero value and checks it), and unknown properties are ignored. Integers with format int64 may exceed 2^53.`

// headerSchemas are the schemas of the AMQP headers (the message's header
// table; AMQP properties such as type, correlation_id and reply_to are in
// the bindings and descriptions).
var headerSchemas = map[string]jsonSchema{
	"RequestHeaders": {
		"type": "object",
		"properties": jsonSchema{
			"x-shop-deadline":   jsonSchema{"description": "The absolute deadline, Unix milliseconds (an integer or a decimal string); the server caps it at 30 s from now.", "type": []any{"integer", "string"}},
			"x-shop-request-id": jsonSchema{"description": "The request id, the same for every attempt of one logical call (the idempotency key); the correlation_id stands in when it is absent.", "type": "string", "minLength": 1, "maxLength": 128},
			"authorization":     jsonSchema{"description": "The caller's session token (from auth.login), for methods that need one.", "type": "string"},
			"traceparent":       jsonSchema{"description": "W3C trace context.", "type": "string"},
			"tracestate":        jsonSchema{"description": "W3C trace context.", "type": "string"},
		},
	},
	"ErrorHeaders": {
		"type":       "object",
		"properties": jsonSchema{"x-shop-error": jsonSchema{"description": "The error code, as in the body.", "type": "string"}},
		"required":   []any{"x-shop-error"},
	},
	"EventHeaders": {
		"type": "object",
		"properties": jsonSchema{
			"x-shop-time": jsonSchema{"description": "When it happened, RFC 3339 with nanoseconds.", "type": "string", "format": "date-time"},
			"traceparent": jsonSchema{"description": "W3C trace context.", "type": "string"},
			"tracestate":  jsonSchema{"description": "W3C trace context.", "type": "string"},
		},
	},
}
