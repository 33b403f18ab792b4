// Package docstore writes one document on a condition: the compare-and-set
// the services use for optimistic concurrency ("replace product p if it is
// still at version 7") and for read models that must never go back in time
// ("store this version unless a newer one is stored").
//
// MongoDB answers such a filter ({_id: id, version: 7}) through its _id
// index. FerretDB v1 on SQLite uses an index only for a filter that is
// {_id: value} alone: with any other field it reads and parses every
// document of the collection, so each such write costs time in proportion
// to the collection's size (BenchmarkConditionalReplace). On a server like
// that, this package finds the document by _id, checks the condition in Go
// and writes by _id, under a lock per document held in this process. Two
// processes writing one document at once can still race there, as they can
// with FerretDB v1's own updates, which read and then write; on MongoDB
// the server checks the condition atomically. Documents that replicas in
// several processes write at once (carts) use Versions, whose
// compare-and-set holds across processes on FerretDB too.
//
// Each checked write costs FerretDB two round trips, a find and the write.
// Two variants take one where their case allows: Swap, for a condition
// that almost always holds (it writes first, and puts the document back
// when the condition did not hold), and ReplaceNew, for a document that is
// probably new (it inserts first).
package docstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/internal/keylock"
)

// Op compares a field with a value.
type Op int

// The comparisons a Cond can make.
const (
	Eq  Op = iota // equal
	Lt            // less than
	Lte           // less than or equal
)

// Cond is a condition on one top-level field of a document. Values may be
// integers, strings or times; a missing field fails every condition.
type Cond struct {
	Field string
	Op    Op
	Value any
}

// Equal is the condition field == v.
func Equal(field string, v any) Cond { return Cond{field, Eq, v} }

// Less is the condition field < v.
func Less(field string, v any) Cond { return Cond{field, Lt, v} }

// LessOrEqual is the condition field <= v.
func LessOrEqual(field string, v any) Cond { return Cond{field, Lte, v} }

// Replace replaces the document of coll whose _id is id with doc if every
// cond holds, and reports whether it did. With upsert, a missing document
// is inserted (doc must carry the id); an existing one that fails a
// condition is left alone (false, no error).
func Replace(ctx context.Context, coll *mongo.Collection, id any, doc any, upsert bool, conds ...Cond) (bool, error) {
	return write(ctx, coll, id, upsert, conds, func(filter bson.D) (bool, error) {
		res, err := coll.ReplaceOne(ctx, filter, doc, options.Replace().SetUpsert(upsert))
		if err != nil {
			return false, err
		}
		return res.MatchedCount > 0 || res.UpsertedCount > 0, nil
	})
}

// ReplaceNew is Replace with upsert for a document that is probably not
// stored yet, such as the first version of an entity in a read model: it
// inserts doc (which must carry the id) if there is no document id, else
// replaces the document if every cond holds, and reports whether it
// wrote. Where Replace reads the document first (FerretDB), ReplaceNew
// tries the insert first: one round trip for a new document, and the
// insert's duplicate-key error, then Replace, for one that exists. Where
// the server checks conditions itself (MongoDB) it is Replace, one round
// trip either way.
func ReplaceNew(ctx context.Context, coll *mongo.Collection, id any, doc any, conds ...Cond) (bool, error) {
	if err := checkConds(conds, true); err != nil {
		return false, err
	}
	if !scansFilters(ctx, coll.Database().Client()) {
		return Replace(ctx, coll, id, doc, true, conds...)
	}
	_, err := coll.InsertOne(ctx, doc)
	if err == nil {
		return true, nil
	}
	if !mongo.IsDuplicateKeyError(err) {
		return false, err
	}
	return Replace(ctx, coll, id, doc, true, conds...)
}

// Update applies update (e.g. a $set) to the document of coll whose _id is
// id if every cond holds, and reports whether it did. With upsert, a
// missing document is created from id and update; upsert takes no Equal
// condition (MongoDB would copy its value into the new document).
func Update(ctx context.Context, coll *mongo.Collection, id any, update bson.D, upsert bool, conds ...Cond) (bool, error) {
	return write(ctx, coll, id, upsert, conds, func(filter bson.D) (bool, error) {
		res, err := coll.UpdateOne(ctx, filter, update, options.UpdateOne().SetUpsert(upsert))
		if err != nil {
			return false, err
		}
		return res.MatchedCount > 0 || res.UpsertedCount > 0, nil
	})
}

// Delete deletes the document of coll whose _id is id if every cond holds,
// and reports whether it did.
func Delete(ctx context.Context, coll *mongo.Collection, id any, conds ...Cond) (bool, error) {
	return write(ctx, coll, id, false, conds, func(filter bson.D) (bool, error) {
		res, err := coll.DeleteOne(ctx, filter)
		if err != nil {
			return false, err
		}
		return res.DeletedCount > 0, nil
	})
}

// Swap replaces the document of coll whose _id is id with doc if every
// cond holds, and reports whether it did, like Replace without upsert, in
// one round trip where Replace takes two (FerretDB). It is for writes
// whose condition almost always holds, such as settling a record this
// process created and holds a lease on.
//
// Where the server checks conditions itself (MongoDB) it is Replace. On
// FerretDB it replaces the document by _id first (findAndModify, which
// returns the document it replaced), then checks the conditions on that
// document, and puts it back if one failed. Until it is put back (for
// good, should the process die in between), readers see doc, and a write
// that another process makes to the document meanwhile is lost; within
// the process, the document's checked writes wait for each other, as
// with Replace. Use Swap only where doc, seen for that moment, is
// harmless.
func Swap(ctx context.Context, coll *mongo.Collection, id any, doc any, conds ...Cond) (bool, error) {
	if err := checkConds(conds, false); err != nil {
		return false, err
	}
	if len(conds) == 0 || !scansFilters(ctx, coll.Database().Client()) {
		return Replace(ctx, coll, id, doc, false, conds...)
	}
	unlock := lockDoc(coll, id)
	defer unlock()
	byID := bson.D{{Key: "_id", Value: id}}
	old, err := coll.FindOneAndReplace(ctx, byID, doc, options.FindOneAndReplace().SetReturnDocument(options.Before)).Raw()
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return false, nil
	case err != nil:
		return false, err
	}
	for _, c := range conds {
		if !c.holds(old) {
			if _, err := coll.ReplaceOne(ctx, byID, old); err != nil {
				return false, fmt.Errorf("docstore: put %v back after a write whose condition failed: %w", id, err)
			}
			return false, nil
		}
	}
	return true, nil
}

// checkConds reports a condition write cannot check.
func checkConds(conds []Cond, upsert bool) error {
	for _, c := range conds {
		if c.Op < Eq || c.Op > Lte || c.Field == "" || c.Field == "_id" || (upsert && c.Op == Eq) {
			return fmt.Errorf("docstore: bad condition %+v (upsert %v)", c, upsert)
		}
		switch c.Value.(type) {
		case int, int32, int64, string, time.Time:
		default:
			return fmt.Errorf("docstore: cannot compare with a %T", c.Value)
		}
	}
	return nil
}

// lockDoc takes this process's lock on document id of coll, which the
// checked writes hold between their read and their write.
func lockDoc(coll *mongo.Collection, id any) (unlock func()) {
	return locks.Lock(coll.Database().Name() + "." + coll.Name() + "\x00" + fmt.Sprint(id))
}

// write runs op with the filter the server should see: the whole condition
// where the server indexes it, else {_id: id} after checking the condition
// here.
func write(ctx context.Context, coll *mongo.Collection, id any, upsert bool, conds []Cond, op func(filter bson.D) (bool, error)) (bool, error) {
	if err := checkConds(conds, upsert); err != nil {
		return false, err
	}
	byID := bson.D{{Key: "_id", Value: id}}
	if len(conds) == 0 || !scansFilters(ctx, coll.Database().Client()) {
		filter := append(byID, filterOf(conds)...)
		ok, err := op(filter)
		if upsert && mongo.IsDuplicateKeyError(err) {
			// It exists and fails the condition, or another writer
			// created it since the server looked: once more, now that
			// it exists, so that a condition it meets is not taken for
			// one it fails.
			ok, err = op(filter)
			if mongo.IsDuplicateKeyError(err) {
				return false, nil // it exists and fails the condition
			}
		}
		return ok, err
	}

	unlock := lockDoc(coll, id)
	defer unlock()
	cur, err := coll.FindOne(ctx, byID).Raw()
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		if !upsert {
			return false, nil
		}
		ok, err := op(byID)
		if !mongo.IsDuplicateKeyError(err) {
			return ok, err
		}
		// Created meanwhile by a writer that checks nothing (an insert,
		// perhaps of another process): check the conditions against it.
		if cur, err = coll.FindOne(ctx, byID).Raw(); err != nil {
			if errors.Is(err, mongo.ErrNoDocuments) {
				return false, nil // and gone again: let the caller look
			}
			return false, err
		}
	case err != nil:
		return false, err
	}
	for _, c := range conds {
		if !c.holds(cur) {
			return false, nil
		}
	}
	return op(byID)
}

// locks serialises the checked writes to one document within the process.
var locks keylock.Map

func filterOf(conds []Cond) bson.D {
	ops := [...]string{Lt: "$lt", Lte: "$lte"}
	f := make(bson.D, 0, len(conds))
	for _, c := range conds {
		if c.Op == Eq {
			f = append(f, bson.E{Key: c.Field, Value: c.Value})
		} else {
			f = append(f, bson.E{Key: c.Field, Value: bson.D{{Key: ops[c.Op], Value: c.Value}}})
		}
	}
	return f
}

// holds reports whether doc satisfies c, as the server would.
func (c Cond) holds(doc bson.Raw) bool {
	stored, err := doc.LookupErr(c.Field)
	if err != nil {
		return false // missing: no condition holds
	}
	cmp, ok := compare(stored, c.Value)
	if !ok {
		return false
	}
	switch c.Op {
	case Lt:
		return cmp < 0
	case Lte:
		return cmp <= 0
	default:
		return cmp == 0
	}
}

// compare compares a stored value with a Go value: -1, 0 or +1, and
// whether they are comparable at all (as in MongoDB, values of different
// kinds match no comparison).
func compare(stored bson.RawValue, v any) (int, bool) {
	switch want := v.(type) {
	case int:
		return compareInt(stored, int64(want))
	case int32:
		return compareInt(stored, int64(want))
	case int64:
		return compareInt(stored, want)
	case string:
		s, ok := stored.StringValueOK()
		if !ok {
			return 0, false
		}
		return cmp3(s < want, s > want), true
	case time.Time:
		ms, ok := stored.DateTimeOK()
		if !ok {
			return 0, false
		}
		w := want.UnixMilli()
		return cmp3(ms < w, ms > w), true
	}
	return 0, false // write checked the kinds already
}

func compareInt(stored bson.RawValue, want int64) (int, bool) {
	var n int64
	switch stored.Type {
	case bson.TypeInt32:
		n = int64(stored.Int32())
	case bson.TypeInt64:
		n = stored.Int64()
	case bson.TypeDouble:
		f, w := stored.Double(), float64(want)
		return cmp3(f < w, f > w), true
	default:
		return 0, false
	}
	return cmp3(n < want, n > want), true
}

func cmp3(less, greater bool) int {
	switch {
	case less:
		return -1
	case greater:
		return 1
	}
	return 0
}

// ScansFilters reports whether client's server reads the whole collection
// for a filter with more than _id (FerretDB, which names itself in
// buildInfo), so that a write on a condition is best made by _id after a
// check in this process, as this package does. The answer is kept per
// client; a server that cannot be asked is treated as MongoDB (always
// correct, maybe slow).
func ScansFilters(ctx context.Context, client *mongo.Client) bool {
	return scansFilters(ctx, client)
}

func scansFilters(ctx context.Context, client *mongo.Client) bool {
	return !forceServerFilters && isFerretDB(ctx, client)
}

// isFerretDB reports whether client talks to FerretDB.
func isFerretDB(ctx context.Context, client *mongo.Client) bool {
	if v, ok := servers.Load(client); ok {
		return v.(bool)
	}
	var info bson.M
	if err := client.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		return false
	}
	_, ferret := info["ferretdbVersion"]
	servers.Store(client, ferret)
	return ferret
}

var (
	servers sync.Map // *mongo.Client → bool (isFerretDB)
	// forceServerFilters makes every write send its whole condition to the
	// server (tests compare both ways on one server).
	forceServerFilters bool
)
