package kit

import (
	"context"
	"log/slog"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/shopbus/shopbus/internal/docstore"
	"github.com/shopbus/shopbus/internal/outbox"
)

// InsertBatch inserts new documents into coll with one insert, their
// events kept in one outbox batch record until published (see
// outbox.Relay.Begin). pending are the documents' ids, versions and events,
// in order; doc(k, batch) returns the k-th document to insert, which must
// carry outbox.Events{Batch: batch} instead of its events. It reports which
// documents were inserted: one whose _id exists is not (an earlier run of
// the request made it). After an insert error, which went in is unknown:
// the batch's record stays for the relay, which publishes the events of
// those that did. what names the documents in errors and logs ("products").
func InsertBatch(ctx context.Context, relay *outbox.Relay, coll *mongo.Collection, logger *slog.Logger, what string, pending []outbox.Doc, doc func(k int, batch string) any) ([]bool, error) {
	b, err := relay.Begin(ctx, pending)
	if err != nil {
		return nil, Internal("store the events of "+what, err)
	}
	docs := make([]any, len(pending))
	for k := range pending {
		docs[k] = doc(k, b.ID())
	}
	inserted, err := docstore.InsertEach(ctx, coll, docs)
	if err != nil {
		b.Leave()
		return nil, Internal("insert "+what, err)
	}
	if err := b.Commit(ctx, inserted); err != nil {
		logger.Warn("the events of new "+what+" are not published yet; the relay will retry", "count", len(pending), "err", err)
	}
	return inserted, nil
}
