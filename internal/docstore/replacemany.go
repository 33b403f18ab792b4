package docstore

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// NewItem is one document for ReplaceNewMany: Doc, which carries _id ID,
// stored as ReplaceNew(ctx, coll, ID, Doc, Conds...) stores it.
type NewItem struct {
	ID    string
	Doc   any
	Conds []Cond
}

// ReplaceNewMany is ReplaceNew for many documents that are probably not
// stored yet, such as the first versions of a batch of entities in a read
// model. It inserts every item with one unordered insert, on any server:
// FerretDB writes the lot in one transaction where an insert each costs a
// transaction each, and MongoDB takes one round trip. An item whose _id
// exists already then goes the way ReplaceNew goes after its insert
// failed: the document is replaced with Doc if every one of the item's
// Conds holds (Replace with upsert), one item at a time. It reports, in
// the order of items, whether each item was written.
//
// Items may repeat an id: the first of them is inserted with the others,
// and each later one is then handled as a document that exists, in the
// order given, so that the result is that of ReplaceNew called for each
// item in turn. Items of different ids are written in no particular order.
//
// A checked write (Replace) racing the insert of one of the documents
// checks its conditions against what the insert stored (see write).
//
// A malformed condition fails the call before anything is written. Any
// other error means that some items may be written and others not (load
// them to know); the result then reports as written only the items known
// to be.
func ReplaceNewMany(ctx context.Context, coll *mongo.Collection, items []NewItem) ([]bool, error) {
	stored := make([]bool, len(items))
	if len(items) == 0 {
		return stored, nil
	}
	for _, it := range items {
		if err := checkConds(it.Conds, true); err != nil {
			return stored, err
		}
	}
	// The first item of each id is inserted; later ones wait for the
	// replace of documents that exist.
	var first, again []int
	seen := make(map[string]bool, len(items))
	for i, it := range items {
		if seen[it.ID] {
			again = append(again, i)
			continue
		}
		seen[it.ID] = true
		first = append(first, i)
	}
	docs := make([]any, len(first))
	for k, i := range first {
		docs[k] = items[i].Doc
	}
	inserted, err := InsertEach(ctx, coll, docs)
	if err != nil {
		return stored, err
	}
	var exist []int
	for k, i := range first {
		if inserted[k] {
			stored[i] = true
		} else {
			exist = append(exist, i)
		}
	}
	// again follows first: the repeats of an id come after its first
	// item, in the order given.
	for _, i := range append(exist, again...) {
		it := items[i]
		ok, err := Replace(ctx, coll, it.ID, it.Doc, true, it.Conds...)
		if err != nil {
			return stored, err
		}
		stored[i] = ok
	}
	return stored, nil
}
