package docstore

import (
	"context"
	"errors"
	"sync"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// StoreItem is one write of StoreMany: Doc, the next version of document
// ID, stored if the document is still at revision Prev (see Store).
type StoreItem struct {
	ID   string
	Doc  any
	Prev Rev
}

// storeManyWorkers is how many single-document writes StoreMany has in
// flight at once where it writes document by document.
const storeManyWorkers = 8

// StoreMany is Store for many documents: it reports for each item, in
// order, whether it was stored. An item whose document moved on (or, for
// a zero Prev, exists) is false, as with Store; an error means some items
// may be stored and others not (load them again to know).
//
// New documents (a zero Prev) are inserted with one insert of them all,
// on any server: each document's insert is atomic, one that exists
// already fails alone (false), and FerretDB inserts the lot in one
// transaction where an insert each costs a transaction each.
//
// On FerretDB it claims every later version with one insert of all the
// log entries, likewise. It does not copy the documents onto the
// collection: each is rolled forward by its next Load (or by Sweep), as
// after a copy that failed in Store, so the cost of that write falls on
// the document's next reader, not on the mass change (4 times faster on
// the test machine: BenchmarkRepriceCarts in shop/cart). Until then a
// query on the collection's other fields sees the document as it was: use
// StoreMany for changes that no such query looks at. Elsewhere (MongoDB)
// it runs Store for each later version, a few at a time.
func (v *Versions) StoreMany(ctx context.Context, items []StoreItem) ([]bool, error) {
	stored := make([]bool, len(items))
	if len(items) == 0 {
		return stored, nil
	}
	var fresh, each, rest []int
	for i, it := range items {
		switch {
		case it.Prev.Version == 0:
			fresh = append(fresh, i)
		case !v.logged(ctx):
			each = append(each, i)
		default:
			rest = append(rest, i)
		}
	}
	if len(fresh) > 0 {
		docs := make([]any, len(fresh))
		for k, i := range fresh {
			raw, err := v.encode(items[i].ID, items[i].Doc, items[i].Prev)
			if err != nil {
				return stored, err
			}
			docs[k] = raw
		}
		ok, err := InsertEach(ctx, v.main, docs)
		for k, i := range fresh {
			stored[i] = ok[k]
		}
		if err != nil {
			return stored, err
		}
	}
	err := parallel(ctx, each, func(i int) error {
		ok, err := v.Store(ctx, items[i].ID, items[i].Doc, items[i].Prev)
		stored[i] = ok
		return err
	})
	if err != nil || len(rest) == 0 {
		return stored, err
	}
	v.maybeSweep()
	entries := make([]any, 0, len(rest))
	for _, i := range rest {
		it := items[i]
		raw, err := v.encode(it.ID, it.Doc, it.Prev)
		if err != nil {
			return stored, err
		}
		entries = append(entries, logEntry{ID: logKey(it.ID, it.Prev.inc, it.Prev.Version+1), Doc: raw, At: v.now()})
	}
	claimed, err := InsertEach(ctx, v.log, entries)
	for k, i := range rest {
		stored[i] = claimed[k]
	}
	return stored, err
}

// InsertEach inserts docs with one unordered insert and reports which
// were inserted: a document whose _id exists is not (and is no error).
// On another error, the documents not known to be inserted are reported
// as not.
func InsertEach(ctx context.Context, coll *mongo.Collection, docs []any) ([]bool, error) {
	inserted := make([]bool, len(docs))
	_, err := coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err == nil {
		for k := range inserted {
			inserted[k] = true
		}
		return inserted, nil
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil {
		return inserted, err
	}
	failed := make([]bool, len(docs))
	for _, we := range bwe.WriteErrors {
		if we.Index < 0 || we.Index >= len(docs) || !mongo.IsDuplicateKeyError(we) {
			return inserted, err
		}
		failed[we.Index] = true
	}
	for k := range inserted {
		inserted[k] = !failed[k]
	}
	return inserted, nil
}

// parallel calls fn for each index in idx, storeManyWorkers at a time, and
// returns the first error (the remaining calls are skipped).
func parallel(ctx context.Context, idx []int, fn func(i int) error) error {
	if len(idx) == 0 {
		return nil
	}
	next := make(chan int)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range min(storeManyWorkers, len(idx)) {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, i := range idx {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed || ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}
