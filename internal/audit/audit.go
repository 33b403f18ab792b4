// Package audit keeps each entity's audit log (who changed it, when, and
// which fields) inside the entity's own document, written in the same
// single-document write as the change: a change is never stored without
// its entry, and reading the log is one lookup by _id, the only lookup the
// embedded store serves from an index.
//
// A service embeds Log in its stored documents, puts the admin that
// shop.RequireAdmin returned into the request's context (WithActor), and
// calls Record on the document it is about to write. Deleting an entity
// keeps its log in the service's "audit_deleted" collection (Retired),
// written before the entity goes, so "who deleted it" stays answerable.
// Read answers the service's History method from either place.
package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopbus/shopbus/shop"
)

// Field is the name of the stored log's field in an entity's document.
const Field = "audit"

// Entry is one stored change.
type Entry struct {
	Time    time.Time `bson:"time"`
	Action  string    `bson:"action"`
	UserID  string    `bson:"user_id,omitempty"`
	Email   string    `bson:"email,omitempty"`
	Fields  []string  `bson:"fields,omitempty"`
	TraceID string    `bson:"trace_id,omitempty"`
}

// Log is embedded, inline, in a stored document:
//
//	type productDoc struct {
//		...
//		audit.Log `bson:",inline"`
//	}
type Log struct {
	// Entries are the last shop.MaxHistory changes, oldest first.
	Entries []Entry `bson:"audit,omitempty"`
}

type actorKey struct{}

// WithActor returns ctx naming p as the author of the changes made under
// it. Services call it with what shop.RequireAdmin returned.
func WithActor(ctx context.Context, p shop.Principal) context.Context {
	return context.WithValue(ctx, actorKey{}, p)
}

// Actor returns the principal WithActor put in ctx; the zero Principal
// for a change the shop makes itself.
func Actor(ctx context.Context) shop.Principal {
	p, _ := ctx.Value(actorKey{}).(shop.Principal)
	return p
}

// Record appends the entry of a change made by action at time at, naming
// ctx's actor and trace, and drops the oldest entries beyond
// shop.MaxHistory. It never shares its backing array with a copy of l
// taken before.
func (l *Log) Record(ctx context.Context, action string, at time.Time, fields []string) {
	p := Actor(ctx)
	e := Entry{Time: at.UTC(), Action: action, UserID: p.UserID, Email: p.Email, Fields: slices.Clone(fields)}
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		e.TraceID = sc.TraceID().String()
	}
	keep := l.Entries[max(0, len(l.Entries)-(shop.MaxHistory-1)):]
	l.Entries = append(slices.Clip(slices.Clone(keep)), e)
}

// History returns l as the contract shows it, newest first.
func (l Log) History(kind, id string, deleted bool) shop.History {
	h := shop.History{ID: id, Kind: kind, Deleted: deleted, Changes: make([]shop.Change, 0, len(l.Entries))}
	for _, e := range slices.Backward(l.Entries) {
		h.Changes = append(h.Changes, shop.Change{
			Time: e.Time, Action: e.Action, UserID: e.UserID, Email: e.Email,
			Fields: slices.Clone(e.Fields), TraceID: e.TraceID,
		})
	}
	return h
}

// bookkeeping are the fields Changed never reports: identity, versions,
// timestamps, the outbox and the log itself.
var bookkeeping = []string{"_id", "version", "created_at", "updated_at", "deleted", "outbox", "outbox_pending", Field}

// Changed returns, sorted, the top-level fields of the stored forms of
// before and after (values BSON can encode; nil for none) whose values
// differ, leaving out bookkeeping fields and ignore. Embedded documents
// compare regardless of their keys' order, so that a Go map stored twice
// is not a change.
func Changed(before, after any, ignore ...string) []string {
	a, b := elements(before), elements(after)
	var out []string
	seen := make(map[string]bool, len(a)+len(b))
	for _, m := range []map[string]bson.RawValue{a, b} {
		for name := range m {
			if seen[name] || slices.Contains(bookkeeping, name) || slices.Contains(ignore, name) {
				continue
			}
			seen[name] = true
			va, inA := a[name]
			vb, inB := b[name]
			if inA != inB || !equal(va, vb) {
				out = append(out, name)
			}
		}
	}
	slices.Sort(out)
	return out
}

// elements returns the top-level fields of v's BSON form; none when v is
// nil or cannot be encoded.
func elements(v any) map[string]bson.RawValue {
	if v == nil {
		return nil
	}
	raw, err := bson.Marshal(v)
	if err != nil {
		return nil
	}
	return fields(raw)
}

func fields(raw bson.Raw) map[string]bson.RawValue {
	elems, err := raw.Elements()
	if err != nil {
		return nil
	}
	m := make(map[string]bson.RawValue, len(elems))
	for _, e := range elems {
		if v := e.Value(); !isEmpty(v) {
			m[e.Key()] = v
		}
	}
	return m
}

// zeroTime is Go's zero time.Time as BSON stores it (milliseconds).
var zeroTime = time.Time{}.UnixMilli()

// isEmpty reports whether v is null, an empty string, array or document,
// or the zero time: such a field reads as absent (whether a write omits
// an empty value differs between fields and writes), and a create lists
// only the fields it set.
func isEmpty(v bson.RawValue) bool {
	switch v.Type {
	case bson.TypeNull:
		return true
	case bson.TypeString:
		return v.StringValue() == ""
	case bson.TypeDateTime:
		return v.DateTime() == zeroTime
	case bson.TypeArray, bson.TypeEmbeddedDocument:
		return len(v.Value) <= 5 // the length and the terminating byte only
	}
	return false
}

// equal compares two BSON values; embedded documents regardless of the
// order of their keys.
func equal(a, b bson.RawValue) bool {
	if a.Type != b.Type {
		return false
	}
	switch a.Type {
	case bson.TypeEmbeddedDocument:
		fa, fb := fields(a.Document()), fields(b.Document())
		if len(fa) != len(fb) {
			return false
		}
		for k, va := range fa {
			vb, ok := fb[k]
			if !ok || !equal(va, vb) {
				return false
			}
		}
		return true
	case bson.TypeArray:
		va, errA := a.Array().Values()
		vb, errB := b.Array().Values()
		if errA != nil || errB != nil || len(va) != len(vb) {
			return false
		}
		for i := range va {
			if !equal(va[i], vb[i]) {
				return false
			}
		}
		return true
	}
	return bytes.Equal(a.Value, b.Value)
}

// RetiredCollection holds the logs of deleted entities, in the owning
// service's database.
const RetiredCollection = "audit_deleted"

// Retired keeps the logs of deleted entities, keyed by _id "<kind>/<id>".
type Retired struct {
	coll *mongo.Collection
}

// NewRetired returns the retired logs of the service whose database is db.
func NewRetired(db *mongo.Database) Retired {
	return Retired{coll: db.Collection(RetiredCollection)}
}

type retiredDoc struct {
	ID  string `bson:"_id"`
	Log `bson:",inline"`
}

// Keep stores l as the log of the deleted entity kind/id, replacing what
// an earlier attempt kept. A service calls it before it deletes the
// entity, with the delete's entry recorded: if the delete then fails, the
// live entity's log still wins in Read.
func (r Retired) Keep(ctx context.Context, kind, id string, l Log) error {
	key := kind + "/" + id
	_, err := r.coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: key}}, retiredDoc{ID: key, Log: l}, options.Replace().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("audit: keep the log of deleted %s: %w", key, err)
	}
	return nil
}

// Find returns the kept log of the deleted entity kind/id, and whether
// there is one. A service that lets an id be used again after a delete
// (a code, a path) starts the new entity's log from it, so that the id's
// history reads on.
func (r Retired) Find(ctx context.Context, kind, id string) (Log, bool, error) {
	var d retiredDoc
	err := r.coll.FindOne(ctx, bson.D{{Key: "_id", Value: kind + "/" + id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Log{}, false, nil
	}
	if err != nil {
		return Log{}, false, fmt.Errorf("audit: read the log of deleted %s/%s: %w", kind, id, err)
	}
	return d.Log, true, nil
}

// Read returns the history of entity kind/id, whose live document (if any)
// is coll's document with _id id. A document marked "deleted" (a tombstone
// waiting for its event to go out) counts as deleted. It answers not_found
// when neither place knows the entity, and the store's failure (see
// shop.StorageFailure) when it cannot be read.
func Read(ctx context.Context, coll *mongo.Collection, retired Retired, kind, id string) (shop.History, error) {
	var d struct {
		Deleted bool `bson:"deleted"`
		Log     `bson:",inline"`
	}
	err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}},
		options.FindOne().SetProjection(bson.D{{Key: Field, Value: 1}, {Key: "deleted", Value: 1}})).Decode(&d)
	switch {
	case err == nil && !d.Deleted:
		return d.Log.History(kind, id, false), nil
	case err != nil && !errors.Is(err, mongo.ErrNoDocuments):
		return shop.History{}, shop.StorageFailure(ctx, "read the history of "+kind+" "+id, err)
	}
	l, ok, err := retired.Find(ctx, kind, id)
	if err != nil {
		return shop.History{}, shop.StorageFailure(ctx, "read the history of "+kind+" "+id, err)
	}
	if !ok {
		if d.Deleted {
			return d.Log.History(kind, id, true), nil
		}
		return shop.History{}, shop.NotFound(kind + " " + id)
	}
	return l.History(kind, id, true), nil
}
