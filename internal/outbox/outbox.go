// Package outbox makes a service's events as durable as its writes,
// without multi-document transactions: a per-document outbox.
//
// A service that announces its changes stores each event inside the very
// document it changes, in the same single-document write (Events.Add
// before the insert or replace). MongoDB, and any MongoDB-wire store,
// applies a single-document write atomically, so a change is never stored
// without its event. A Relay then publishes the document's events, in
// order, to the bus with publisher confirms, and removes them only once
// the broker has confirmed them. When the publish fails (the broker is
// away, the process dies in between), the events stay in the document and
// the relay publishes them later: at start-up, after every reconnect of
// the bus, when a writer's publish failed or its process died, and
// periodically (see Relay.Run).
//
// Delivery is at least once: a relay that dies after the broker confirmed
// but before it removed the events publishes them again. Events keep their
// ids, so subscribers drop the repeat (see Dedupe).
//
// Documents using the outbox are stored with these fields: "_id" (a
// string), "version" (an integer that grows with every write), "deleted"
// (a tombstone kept until its deleted event is out; the relay removes it),
// and the fields of Events ("outbox" may be left an empty array once its
// events are out).
package outbox

import (
	"encoding/json"
	"time"
)

// Field names used in the stored documents.
const (
	fieldEvents  = "outbox"
	fieldPending = "outbox_pending"
	fieldBatch   = "outbox_batch"
)

// Entry is one event waiting in a document for the relay.
type Entry struct {
	// ID is the event id subscribers deduplicate by.
	ID string `bson:"id"`
	// Key is the routing key.
	Key string `bson:"key"`
	// Body is the event's JSON body.
	Body []byte `bson:"body"`
	// Time is when the change happened.
	Time time.Time `bson:"time"`
}

// Events is embedded, inline, in a stored document:
//
//	type productDoc struct {
//		...
//		outbox.Events `bson:",inline"`
//	}
type Events struct {
	// Pending lists the events not yet confirmed by the broker, oldest first.
	Pending []Entry `bson:"outbox,omitempty"`
	// HasPending is set while Pending is not empty, so that the relay finds
	// such documents through an index.
	HasPending bool `bson:"outbox_pending,omitempty"`
	// Batch is the id of the batch that created the document, if one did
	// (see Relay.Begin).
	Batch string `bson:"outbox_batch,omitempty"`
}

// Add appends an event whose body is v encoded as JSON. It panics if v
// cannot be encoded: event bodies are plain values.
func (e *Events) Add(id, key string, v any, at time.Time) {
	body, err := json.Marshal(v)
	if err != nil {
		panic("outbox: encode event " + key + ": " + err.Error())
	}
	e.Pending = append(e.Pending, Entry{ID: id, Key: key, Body: body, Time: at})
	e.HasPending = true
}
