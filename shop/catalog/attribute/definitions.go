package attribute

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/internal/audit"
	"github.com/shopbus/shopbus/shop/catalog/internal/kit"
)

// definitionsMaxAge bounds how long Validate trusts its copy of the
// definitions without reading them again, should a write's stamp have
// been lost (a crash between the write and its stamp).
const definitionsMaxAge = 30 * time.Second

// stampID is the _id of the stamp document in the stamps collection.
const stampID = "attributes"

// definitions is the in-memory copy of every attribute definition that
// Validate checks values against (product.create validates every
// product's attributes). Every write of an attribute raises a stamp, one
// document read by _id; Validate reads the stamp and loads the
// definitions again only when it changed, so a write made by any replica
// is seen by the next Validate of every replica.
type definitions struct {
	mu       sync.Mutex
	defs     map[string]attributeDoc // nil: not loaded
	stamp    int64
	loadedAt time.Time
}

type stampDoc struct {
	ID string `bson:"_id"`
	N  int64  `bson:"n"`
}

// definitions returns the attribute definitions by code. Callers must not
// change the map.
func (s *Server) definitions(ctx context.Context) (map[string]attributeDoc, error) {
	var st stampDoc
	err := s.stamps.FindOne(ctx, bson.D{{Key: "_id", Value: stampID}}).Decode(&st)
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return nil, kit.Internal("read attribute stamp", err)
	}
	c := &s.defs
	c.mu.Lock()
	if c.defs != nil && c.stamp == st.N && time.Since(c.loadedAt) < definitionsMaxAge {
		defs := c.defs
		c.mu.Unlock()
		return defs, nil
	}
	c.mu.Unlock()
	// The stamp was read before the definitions: if a write lands
	// between the two, the copy is labelled older than it is and is
	// loaded again next time, never the reverse.
	loadedAt := time.Now()
	docs, err := kit.List[attributeDoc](ctx, s.attrs, "attributes", bson.D{},
		options.Find().SetProjection(bson.D{{Key: audit.Field, Value: 0}})) // the logs are not needed here
	if err != nil {
		return nil, err
	}
	defs := make(map[string]attributeDoc, len(docs))
	for _, d := range docs {
		defs[d.Code] = d
	}
	c.mu.Lock()
	if c.defs == nil || st.N >= c.stamp {
		c.defs, c.stamp, c.loadedAt = defs, st.N, loadedAt
	}
	c.mu.Unlock()
	return defs, nil
}

// changed raises the stamp after a write of an attribute, so that every
// replica loads the definitions again. A failure is logged: the copies
// are then at most definitionsMaxAge old.
func (s *Server) changed(ctx context.Context) {
	s.defs.mu.Lock()
	s.defs.defs = nil
	s.defs.mu.Unlock()
	_, err := s.stamps.UpdateOne(ctx, bson.D{{Key: "_id", Value: stampID}},
		bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: int64(1)}}}}, options.UpdateOne().SetUpsert(true))
	if err != nil {
		s.logger.Warn("attribute: cannot raise the definitions' stamp; other replicas may validate against the old definitions for a while",
			"err", err, "for", definitionsMaxAge)
	}
}
