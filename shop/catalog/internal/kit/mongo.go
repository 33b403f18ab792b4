package kit

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/internal/docstore"
	"github.com/shopbus/shopbus/internal/indexes"
	"github.com/shopbus/shopbus/shop"
)

// Index describes one index to ensure on a collection.
type Index struct {
	Collection *mongo.Collection
	Keys       bson.D
}

// EnsureIndexes creates the indexes (see package indexes: they serve the
// occasional scans on a real MongoDB, and none is made on FerretDB v1,
// which uses only _id).
func EnsureIndexes(ixs ...Index) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, ix := range ixs {
		if err := indexes.Ensure(ctx, ix.Collection, ix.Keys); err != nil {
			return Internal("create index", err)
		}
	}
	return nil
}

// Insert stores doc, whose _id is id, in c. A document with that _id
// already there is a conflict "<what> <id> exists".
func Insert(ctx context.Context, c *mongo.Collection, what, id string, doc any) error {
	_, err := c.InsertOne(ctx, doc)
	if mongo.IsDuplicateKeyError(err) {
		return shop.Conflict(what + " " + Quote(id) + " exists")
	}
	if err != nil {
		return Internal("insert "+what, err)
	}
	return nil
}

// Find returns the document of c whose _id is id (with opts, e.g. a
// projection); none is a not_found "<what> <id>".
func Find[T any](ctx context.Context, c *mongo.Collection, what, id string, opts ...options.Lister[options.FindOneOptions]) (T, error) {
	var d T
	err := c.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, opts...).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		var zero T
		return zero, shop.NotFound(what + " " + Quote(id))
	}
	if err != nil {
		var zero T
		return zero, Internal("find "+what, err)
	}
	return d, nil
}

// Replace stores next in place of the document of c whose _id is id if
// that is still at version; if it is not (a concurrent change) that is a
// conflict "<what> changed concurrently; try again".
func Replace(ctx context.Context, c *mongo.Collection, what, id string, version int64, next any) error {
	replaced, err := docstore.Replace(ctx, c, id, next, false, docstore.Equal("version", version))
	if err != nil {
		return Internal("update "+what, err)
	}
	if !replaced {
		return shop.Conflict(what + " changed concurrently; try again")
	}
	return nil
}

// List returns the documents of c matching filter; what names them in
// error messages ("list <what>", "read <what>").
func List[T any](ctx context.Context, c *mongo.Collection, what string, filter bson.D, opts ...options.Lister[options.FindOptions]) ([]T, error) {
	cur, err := c.Find(ctx, filter, opts...)
	if err != nil {
		return nil, Internal("list "+what, err)
	}
	var docs []T
	if err := cur.All(ctx, &docs); err != nil {
		return nil, Internal("read "+what, err)
	}
	return docs, nil
}
