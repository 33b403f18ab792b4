package outbox

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/sync/errgroup"

	"github.com/shopbus/shopbus/internal/deflate"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/transport"
)

// A batch is the outbox of many new documents inserted together (one
// InsertMany): instead of an outbox in each document, which costs a
// clearing write per document once the events are out, their events wait
// in one record of the relay's batch collection, written before the
// documents and removed once the events are out: two writes for the whole
// batch. Each document created by the batch carries the batch's id
// (Events.Batch), so that a relay recovering the record of a writer that
// died midway publishes the events of the documents the batch made and
// no others (one it found existing, say).
//
//	b, err := relay.Begin(ctx, docs) // docs' events; their locks taken
//	... insert the documents with Events{Batch: b.ID()} ...
//	err = b.Commit(ctx, stored)      // publish, remove the record, unlock
//
// Recovery: a sweep takes a record only once it is batchMinAge old (a live
// writer commits long before), or at once when its writer's Commit could
// not publish (the record then lists the documents stored).

// batchSuffix names a relay's batch collection after its collection.
const batchSuffix = "_outbox_batches"

// batchMinAge is how old an unchecked batch record must be before a sweep
// recovers it: by then its writer has inserted the documents or died.
const batchMinAge = time.Minute

// batchDoc is a batch record.
type batchDoc struct {
	ID string    `bson:"_id"`
	At time.Time `bson:"at"`
	// Checked says Docs lists only documents the batch stored (its
	// writer's Commit ran but could not publish).
	Checked bool `bson:"checked,omitempty"`
	// Docs are the batch's documents and their events. They are stored
	// in Z, and read from docs only in records an earlier version wrote.
	Docs []batchEntry `bson:"docs,omitempty"`
	// Z is Docs encoded as BSON, then deflated: a batch's events are most
	// of a record (25 products' bodies: 100 KB), which the embedded store
	// converts field by field on each write, read and delete, and which
	// shrinks to a fifth or less as one blob.
	Z []byte `bson:"z,omitempty"`
}

// maxBatchEvents bounds a batch record's events, inflated: far above what
// a bulk creation of MaxBatch documents makes, and bounded memory for a
// damaged record.
const maxBatchEvents = 64 << 20

// packedEntries is how Z holds Docs.
type packedEntries struct {
	Docs []batchEntry `bson:"docs"`
}

// pack returns entries as Z holds them.
func pack(entries []batchEntry) ([]byte, error) {
	raw, err := bson.Marshal(packedEntries{Docs: entries})
	if err != nil {
		return nil, fmt.Errorf("outbox: encode batch events: %w", err)
	}
	return deflate.Compress(raw)
}

// stored returns the record as written: its events in Z.
func (d batchDoc) stored() (batchDoc, error) {
	z, err := pack(d.Docs)
	if err != nil {
		return d, err
	}
	d.Docs, d.Z = nil, z
	return d, nil
}

// unpack reads Docs from Z, where the record holds them there.
func (d *batchDoc) unpack() error {
	if d.Z == nil {
		return nil
	}
	raw, err := deflate.Decompress(d.Z, maxBatchEvents)
	if err != nil {
		return fmt.Errorf("outbox: batch %s: %w", d.ID, err)
	}
	var p packedEntries
	if err := bson.Unmarshal(raw, &p); err != nil {
		return fmt.Errorf("outbox: batch %s: %w", d.ID, err)
	}
	d.Docs, d.Z = p.Docs, nil
	return nil
}

// batchEntry is one document of a batch and its events.
type batchEntry struct {
	ID     string  `bson:"id"`
	Events []Entry `bson:"events"`
}

// Batch is a bulk creation under way (see Relay.Begin).
type Batch struct {
	r      *Relay
	doc    batchDoc
	ids    []string // the documents, in the order given to Begin
	unlock []func()
	done   bool
}

// ID is the batch's id, which every document it creates stores in
// Events.Batch.
func (b *Batch) ID() string { return b.doc.ID }

// Begin starts a batch for new documents: it takes their locks
// (Config.Locks) and stores their events, docs[i].Events.Pending, in one
// record. The caller then inserts the documents with Events{Batch: b.ID()}
// and no pending events, and calls Commit, also when the insert failed.
// The documents' ids must be distinct.
func (r *Relay) Begin(ctx context.Context, docs []Doc) (*Batch, error) {
	b := &Batch{r: r, doc: batchDoc{ID: uuid.NewString(), At: r.cfg.Now().UTC().Truncate(time.Millisecond)}}
	for _, d := range docs {
		b.ids = append(b.ids, d.ID)
		if len(d.Events.Pending) > 0 {
			b.doc.Docs = append(b.doc.Docs, batchEntry{ID: d.ID, Events: d.Events.Pending})
		}
	}
	b.lock()
	if len(b.doc.Docs) == 0 {
		return b, nil
	}
	rec, err := b.doc.stored()
	if err == nil {
		_, err = r.batches.InsertOne(ctx, rec)
	}
	if err != nil {
		b.release()
		return nil, fmt.Errorf("outbox: store batch events: %w", err)
	}
	return b, nil
}

// Commit ends the batch: it publishes the events of the documents it
// stored (stored[i] for the i-th document given to Begin; false or
// missing: not stored, and its events are dropped), each document's in
// order and several documents' at once, in no order among them; then it
// removes the record and releases the locks. Should the bus not take the events, the record
// keeps those of the stored documents for the relay, and the reason is
// returned, which the writer may log: the documents are stored either way.
func (b *Batch) Commit(ctx context.Context, stored []bool) error {
	if b.done {
		return nil
	}
	b.done = true
	defer b.release()
	if len(b.doc.Docs) == 0 {
		return nil
	}
	r := b.r
	defer r.changes.Add(1)
	made := make(map[string]bool, len(b.ids))
	for i, id := range b.ids {
		if i < len(stored) && stored[i] {
			made[id] = true
		}
	}
	keep := b.doc.Docs[:0:0]
	for _, e := range b.doc.Docs {
		if made[e.ID] {
			keep = append(keep, e)
		}
	}
	ctx, cancel := r.detach(ctx)
	defer cancel()
	err := r.ready()
	if err == nil {
		err = r.publishBatch(ctx, keep)
	}
	if err == nil {
		return r.removeBatch(ctx, b.doc.ID)
	}
	// Keep what is left for the relay, checked: no need to look at the
	// documents again.
	r.poke()
	if len(keep) == 0 {
		return errors.Join(err, r.removeBatch(ctx, b.doc.ID))
	}
	z, uerr := pack(keep)
	if uerr == nil {
		_, uerr = r.batches.UpdateOne(ctx, bson.D{{Key: "_id", Value: b.doc.ID}}, bson.D{
			{Key: "$set", Value: bson.D{{Key: "checked", Value: true}, {Key: "z", Value: z}}},
			{Key: "$unset", Value: bson.D{{Key: "docs", Value: ""}}},
		})
	}
	if uerr != nil {
		uerr = fmt.Errorf("outbox: keep batch events: %w", uerr)
	}
	return errors.Join(err, uerr)
}

// Leave ends the batch without publishing: for a writer that cannot tell
// which documents it stored. It releases the locks and leaves the record
// to the relay, which publishes the events of the documents the batch
// made once the record is old enough (see the package's sweep).
func (b *Batch) Leave() {
	b.done = true
	b.release()
}

// lock takes the locks of the batch's documents, in one order for every
// locker (no deadlock).
func (b *Batch) lock() {
	ids := slices.Clone(b.ids)
	slices.Sort(ids)
	for _, id := range slices.Compact(ids) {
		b.unlock = append(b.unlock, b.r.cfg.Locks.Lock(id))
	}
}

// release unlocks the batch's documents.
func (b *Batch) release() {
	for _, u := range b.unlock {
		u()
	}
	b.unlock = nil
}

// batchPublishers is how many documents' events publishBatch publishes at
// once: a broker confirms each publish after storing it, and confirms of
// publishes in flight together come back together.
const batchPublishers = 16

// publishBatch publishes the events of entries: each document's in order,
// several documents at once.
func (r *Relay) publishBatch(ctx context.Context, entries []batchEntry) error {
	// Events go to every subscriber: never with a caller's session token.
	ctx = shop.WithToken(ctx, "")
	var g errgroup.Group
	g.SetLimit(batchPublishers)
	for _, d := range entries {
		g.Go(func() error {
			for _, e := range d.Events {
				err := r.cfg.Publisher.Publish(ctx, transport.Event{ID: e.ID, Key: e.Key, Time: e.Time, Body: e.Body})
				if err != nil {
					return fmt.Errorf("outbox: publish %s of %s: %w", e.Key, d.ID, err)
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// removeBatch deletes a batch record whose events are out.
func (r *Relay) removeBatch(ctx context.Context, id string) error {
	if _, err := r.batches.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		return fmt.Errorf("outbox: remove published batch %s: %w", id, err)
	}
	return nil
}

// pendingBatches returns the batch records, oldest first. The collection
// holds only the batches under way or left behind: a scan of it is cheap.
func (r *Relay) pendingBatches(ctx context.Context) ([]batchDoc, error) {
	cur, err := r.batches.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "at", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("outbox: find batch events: %w", err)
	}
	var docs []batchDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("outbox: read batch events: %w", err)
	}
	readable := docs[:0]
	for _, d := range docs {
		if err := d.unpack(); err != nil {
			// Left where it is for an operator to look at; it must not
			// hold up the others.
			r.log.Warn("outbox: unreadable batch record left in place", "service", r.cfg.Name, "collection", r.batches.Name(), "err", err)
			continue
		}
		readable = append(readable, d)
	}
	return readable, nil
}

// sweepBatches publishes the events of the batch records left behind: by
// a writer whose Commit could not publish them (checked), or that died
// before its Commit (at least minAge and batchMinAge old; with minAge 0,
// Drain's, at any age). It reports how many events it published and
// whether it left records a writer gave up on that are younger than
// minAge.
func (r *Relay) sweepBatches(ctx context.Context, minAge time.Duration) (n int, younger bool, err error) {
	recs, err := r.pendingBatches(ctx)
	if err != nil {
		return 0, false, err
	}
	now := r.cfg.Now()
	for _, rec := range recs {
		switch age := now.Sub(rec.At); {
		case rec.Checked && age < minAge:
			younger = true
			continue
		case !rec.Checked && minAge > 0 && age < max(minAge, batchMinAge):
			continue // its writer is at it; if it died, a periodic sweep comes
		}
		sent, err := r.relayBatch(ctx, rec)
		n += sent
		if err != nil {
			return n, younger, err
		}
	}
	return n, younger, nil
}

// relayBatch publishes the events of a batch record left behind, under
// its documents' locks (a writer of this process still at it finishes
// first), and removes it.
func (r *Relay) relayBatch(ctx context.Context, rec batchDoc) (int, error) {
	b := &Batch{r: r, done: true}
	for _, d := range rec.Docs {
		b.ids = append(b.ids, d.ID)
	}
	b.lock()
	defer b.release()
	err := r.batches.FindOne(ctx, bson.D{{Key: "_id", Value: rec.ID}}).Decode(&rec)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return 0, nil // its writer committed meanwhile
	case err != nil:
		return 0, fmt.Errorf("outbox: read batch %s: %w", rec.ID, err)
	}
	if err := rec.unpack(); err != nil {
		return 0, err
	}
	keep := rec.Docs
	if !rec.Checked {
		keep = keep[:0:0]
		for _, d := range rec.Docs {
			var mark struct {
				Batch string `bson:"outbox_batch"`
			}
			err := r.coll.FindOne(ctx, bson.D{{Key: "_id", Value: d.ID}},
				options.FindOne().SetProjection(bson.D{{Key: fieldBatch, Value: 1}})).Decode(&mark)
			switch {
			case errors.Is(err, mongo.ErrNoDocuments):
			case err != nil:
				return 0, fmt.Errorf("outbox: read %s: %w", d.ID, err)
			case mark.Batch == rec.ID:
				keep = append(keep, d)
			}
		}
	}
	if err := r.publishBatch(ctx, keep); err != nil {
		return 0, err
	}
	n := 0
	for _, d := range keep {
		n += len(d.Events)
	}
	r.changes.Add(1)
	return n, r.removeBatch(ctx, rec.ID)
}
