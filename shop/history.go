package shop

import "time"

// MethodHistory is the verb of every service's audit-log method:
// "<service>.history" (product.history, category.history, ...). It is
// admin only: a history names the admins who made each change.
const MethodHistory = "history"

// HistoryRequest asks a service for the audit log of one of its entities.
type HistoryRequest struct {
	// ID is the entity's id (for a SKU-keyed or path-keyed entity, the
	// SKU or the path).
	ID string `json:"id"`
	// Kind chooses among a service's kinds of entity when it has several
	// (attribute: "attribute" or "group"; seo: "override" or "redirect");
	// empty means the service's main kind.
	Kind string `json:"kind,omitempty"`
}

// History is the audit log of one entity, kept by the service that owns
// it: who changed it, when, and which fields, newest first. A service keeps
// the last MaxHistory changes of each entity, written in the same
// single-document write as the change itself, and keeps the log of a
// deleted entity (Deleted set).
type History struct {
	ID      string   `json:"id"`
	Kind    string   `json:"kind"`
	Deleted bool     `json:"deleted,omitempty"`
	Changes []Change `json:"changes"`
}

// MaxHistory is how many changes of one entity a service keeps.
const MaxHistory = 20

// Change is one entry of an audit log.
type Change struct {
	// Time is when the change was stored.
	Time time.Time `json:"time"`
	// Action is the method that made it, e.g. "product.update".
	Action string `json:"action"`
	// UserID and Email name the user who asked for it: an admin (a
	// customer only where customers change the entity themselves, e.g.
	// cancelling their own order); both are empty for a change the shop
	// made itself (an event handler, a saga step).
	UserID string `json:"user_id,omitempty"`
	Email  string `json:"email,omitempty"`
	// Fields lists the stored fields the change set or altered (none for
	// a delete).
	Fields []string `json:"fields,omitempty"`
	// TraceID is the W3C trace id of the request that made it, when it
	// carried one: it links the change to its trace.
	TraceID string `json:"trace_id,omitempty"`
}
