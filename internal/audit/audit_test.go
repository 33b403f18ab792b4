package audit_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopbus/shopbus/internal/audit"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
)

type thing struct {
	ID        string            `bson:"_id"`
	Name      string            `bson:"name"`
	Tags      []string          `bson:"tags,omitempty"`
	Attrs     map[string]any    `bson:"attrs,omitempty"`
	Labels    map[string]string `bson:"labels,omitempty"`
	Version   int64             `bson:"version"`
	UpdatedAt time.Time         `bson:"updated_at"`
	Deleted   bool              `bson:"deleted,omitempty"`
	audit.Log `bson:",inline"`
}

func TestChanged(t *testing.T) {
	base := thing{ID: "a", Name: "Hat", Tags: []string{"x"}, Attrs: map[string]any{"a": 1, "b": "two", "c": true, "d": 4.5}, Version: 1}
	next := base
	next.Version, next.UpdatedAt = 2, time.Now()
	next.Attrs = map[string]any{"d": 4.5, "c": true, "b": "two", "a": 1} // same map, built again
	if got := audit.Changed(base, next); len(got) != 0 {
		t.Fatalf("bookkeeping and map order reported as changes: %v", got)
	}
	next.Name = "Cap"
	next.Tags = nil
	next.Labels = map[string]string{"k": "v"}
	if got, want := audit.Changed(base, next), []string{"labels", "name", "tags"}; !slices.Equal(got, want) {
		t.Fatalf("Changed = %v, want %v", got, want)
	}
	if got, want := audit.Changed(base, next, "labels"), []string{"name", "tags"}; !slices.Equal(got, want) {
		t.Fatalf("Changed ignoring labels = %v, want %v", got, want)
	}
	if got, want := audit.Changed(nil, base), []string{"attrs", "name", "tags"}; !slices.Equal(got, want) {
		t.Fatalf("Changed from nothing = %v, want %v", got, want)
	}
	cleared := base
	cleared.Name = ""
	if got, want := audit.Changed(base, cleared), []string{"name"}; !slices.Equal(got, want) {
		t.Fatalf("Changed from nothing = %v, want %v", got, want)
	}
	// An empty value and a missing one are the same stored value.
	if got := audit.Changed(thing{ID: "a"}, thing{ID: "a", Tags: []string{}, Attrs: map[string]any{}}); len(got) != 0 {
		t.Fatalf("empty vs missing list reported: %v", got)
	}
	nested := base
	nested.Attrs = map[string]any{"a": 1, "b": "two", "c": false, "d": 4.5}
	if got := audit.Changed(base, nested); !slices.Equal(got, []string{"attrs"}) {
		t.Fatalf("a changed map value not reported: %v", got)
	}
}

func TestRecordKeepsTheLastChangesAndTheActor(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}))
	ctx = audit.WithActor(ctx, shop.Principal{UserID: "u1", Email: "ada@example.com", Roles: []shop.Role{shop.RoleAdmin}})
	var l audit.Log
	start := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	for i := range shop.MaxHistory + 5 {
		l.Record(ctx, fmt.Sprintf("thing.update%d", i), start.Add(time.Duration(i)*time.Minute), []string{"name"})
	}
	if len(l.Entries) != shop.MaxHistory {
		t.Fatalf("kept %d entries, want %d", len(l.Entries), shop.MaxHistory)
	}
	before := slices.Clone(l.Entries)
	copyOfLog := l
	l.Record(context.Background(), "thing.delete", start.Add(time.Hour), nil)
	if !slices.EqualFunc(copyOfLog.Entries, before, func(a, b audit.Entry) bool { return a.Action == b.Action }) {
		t.Fatal("Record changed an earlier copy's entries")
	}
	h := l.History("thing", "a", false)
	if len(h.Changes) != shop.MaxHistory {
		t.Fatalf("history has %d changes", len(h.Changes))
	}
	newest, second, oldest := h.Changes[0], h.Changes[1], h.Changes[len(h.Changes)-1]
	if newest.Action != "thing.delete" || newest.UserID != "" || newest.Email != "" || newest.TraceID != "" {
		t.Fatalf("newest = %+v, want the delete made by no one", newest)
	}
	if second.Action != fmt.Sprintf("thing.update%d", shop.MaxHistory+4) || second.Email != "ada@example.com" ||
		second.UserID != "u1" || second.TraceID != tid.String() || !slices.Equal(second.Fields, []string{"name"}) {
		t.Fatalf("second = %+v", second)
	}
	if oldest.Action != "thing.update6" {
		t.Fatalf("oldest kept = %s, want thing.update6", oldest.Action)
	}
}

func TestRead(t *testing.T) {
	ctx := audit.WithActor(context.Background(), shop.Principal{UserID: "u1", Email: "ada@example.com"})
	db := testenv.MongoDB(t, "audit")
	coll := db.Collection("things")
	retired := audit.NewRetired(db)

	d := thing{ID: "t1", Name: "Hat", Version: 1}
	d.Record(ctx, "thing.create", time.Now(), audit.Changed(nil, d))
	if _, err := coll.InsertOne(ctx, d); err != nil {
		t.Fatal(err)
	}
	h, err := audit.Read(ctx, coll, retired, "thing", "t1")
	if err != nil {
		t.Fatal(err)
	}
	if h.Deleted || len(h.Changes) != 1 || h.Changes[0].Action != "thing.create" || h.Changes[0].Email != "ada@example.com" ||
		!slices.Equal(h.Changes[0].Fields, []string{"name"}) {
		t.Fatalf("history = %+v", h)
	}

	if _, err := audit.Read(ctx, coll, retired, "thing", "nope"); !errors.Is(err, shop.ErrNotFound) {
		t.Fatalf("unknown entity: err = %v, want not_found", err)
	}

	// A tombstone reads as deleted, its log included.
	d.Deleted = true
	d.Record(ctx, "thing.delete", time.Now(), nil)
	if _, err := coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: "t1"}}, d); err != nil {
		t.Fatal(err)
	}
	if h, err = audit.Read(ctx, coll, retired, "thing", "t1"); err != nil || !h.Deleted || len(h.Changes) != 2 {
		t.Fatalf("tombstone: %+v, %v", h, err)
	}

	// Gone, with its log kept first: still answered.
	if err := retired.Keep(ctx, "thing", "t1", d.Log); err != nil {
		t.Fatal(err)
	}
	if err := retired.Keep(ctx, "thing", "t1", d.Log); err != nil { // a retried delete
		t.Fatal(err)
	}
	if _, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: "t1"}}); err != nil {
		t.Fatal(err)
	}
	h, err = audit.Read(ctx, coll, retired, "thing", "t1")
	if err != nil || !h.Deleted || len(h.Changes) != 2 || h.Changes[0].Action != "thing.delete" {
		t.Fatalf("deleted: %+v, %v", h, err)
	}

	// Kept, but the delete failed: the live document's log wins.
	live := thing{ID: "t2", Name: "Cap", Version: 1}
	live.Record(ctx, "thing.create", time.Now(), nil)
	if _, err := coll.InsertOne(ctx, live); err != nil {
		t.Fatal(err)
	}
	gone := live.Log
	gone.Record(ctx, "thing.delete", time.Now(), nil)
	if err := retired.Keep(ctx, "thing", "t2", gone); err != nil {
		t.Fatal(err)
	}
	if h, err = audit.Read(ctx, coll, retired, "thing", "t2"); err != nil || h.Deleted || len(h.Changes) != 1 {
		t.Fatalf("live entity with a kept log: %+v, %v", h, err)
	}

	// A store that cannot answer is not "no history".
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := audit.Read(cancelled, coll, retired, "thing", "t2"); err == nil || errors.Is(err, shop.ErrNotFound) {
		t.Fatalf("cancelled read: err = %v, want a failure other than not_found", err)
	}
}
