// Package idemtest checks that a service applies a request at most once:
// the same request sent twice with one request id must give the same reply
// and change nothing the second time.
package idemtest

import (
	"bytes"
	"context"
	"sort"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/shopbus/shopbus/internal/idem"
	"github.com/shopbus/shopbus/transport"
)

// Case is one state-changing request.
type Case struct {
	// Method is the full method name, e.g. "category.create".
	Method string
	// Body is the JSON request. Ctx, when set, returns the context of the
	// call (a caller's token, say); it runs before the call, so it may
	// prepare state the request needs.
	Body string
	Ctx  func(t *testing.T) context.Context
}

// Options tune Twice.
type Options struct {
	// Ignore lists top-level fields left out of the comparison of the
	// database (e.g. the outbox fields a relay clears on its own time).
	Ignore []string
	// Settle, when set, runs after each call and before the database is
	// read (e.g. waiting for a relay to publish).
	Settle func(t *testing.T)
}

// Twice sends c twice over bus with one fresh request id. The first call
// must succeed (or fail with a remembered, non-transient error); the
// second must give the same outcome and leave every collection of db
// (except the request memory) as the first left it.
func Twice(t *testing.T, bus transport.Bus, db *mongo.Database, c Case, opts Options) {
	t.Helper()
	ctx := context.Background()
	if c.Ctx != nil {
		ctx = c.Ctx(t)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ctx = transport.WithRequestID(ctx, transport.NewRequestID())

	first, err1 := bus.Call(ctx, c.Method, []byte(c.Body))
	if transport.CodeOf(err1) == transport.CodeUnavailable || transport.CodeOf(err1) == transport.CodeInternal {
		t.Fatalf("%s: first call failed: %v", c.Method, err1)
	}
	if opts.Settle != nil {
		opts.Settle(t)
	}
	before := Snapshot(t, db, opts.Ignore...)

	second, err2 := bus.Call(ctx, c.Method, []byte(c.Body))
	if opts.Settle != nil {
		opts.Settle(t)
	}
	after := Snapshot(t, db, opts.Ignore...)

	if transport.CodeOf(err1) != transport.CodeOf(err2) {
		t.Errorf("%s: first call: %v; repeat: %v", c.Method, err1, err2)
	}
	if !bytes.Equal(first, second) {
		t.Errorf("%s: the repeat answered differently:\nfirst:  %s\nrepeat: %s", c.Method, first, second)
	}
	for coll, docs := range after {
		if b := before[coll]; b != docs {
			t.Errorf("%s: the repeat changed collection %s:\nbefore: %.2000s\nafter:  %.2000s", c.Method, coll, b, docs)
		}
	}
	for coll := range before {
		if _, ok := after[coll]; !ok {
			t.Errorf("%s: the repeat emptied collection %s", c.Method, coll)
		}
	}
}

// Snapshot returns every collection of db but the request memory, each as
// the extended JSON of its documents in _id order, without the fields
// named in ignore.
func Snapshot(t testing.TB, db *mongo.Database, ignore ...string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatalf("list collections: %v", err)
	}
	sort.Strings(names)
	out := make(map[string]string, len(names))
	for _, name := range names {
		if name == idem.Collection {
			continue
		}
		cur, err := db.Collection(name).Find(ctx, bson.D{})
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		var docs []bson.D
		if err := cur.All(ctx, &docs); err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		var buf bytes.Buffer
		keys := make([]string, 0, len(docs))
		byKey := map[string][]byte{}
		for _, d := range docs {
			kept := bson.D{}
			for _, e := range d {
				if !contains(ignore, e.Key) {
					kept = append(kept, e)
				}
			}
			j, err := bson.MarshalExtJSON(kept, true, false)
			if err != nil {
				t.Fatalf("encode %s: %v", name, err)
			}
			id, _ := bson.MarshalExtJSON(bson.D{{Key: "_id", Value: idOf(d)}}, true, false)
			keys = append(keys, string(id))
			byKey[string(id)] = j
		}
		sort.Strings(keys)
		for _, k := range keys {
			buf.Write(byKey[k])
			buf.WriteByte('\n')
		}
		out[name] = buf.String()
	}
	return out
}

func idOf(d bson.D) any {
	for _, e := range d {
		if e.Key == "_id" {
			return e.Value
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Covered fails t unless cases name every method of served except those
// in reads (methods that change nothing) and "<service>.describe", which
// a service Mux answers itself (transport.NewServiceMux).
func Covered(t *testing.T, served []string, reads []string, cases []Case) {
	t.Helper()
	have := map[string]bool{}
	for _, c := range cases {
		have[c.Method] = true
	}
	for _, m := range served {
		service, _ := transport.ServiceOf(m)
		if m == service+"."+transport.DescribeMethod {
			continue
		}
		if !have[m] && !contains(reads, m) {
			t.Errorf("state-changing method %s has no idempotency case", m)
		}
	}
}
