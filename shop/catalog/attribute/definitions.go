package attribute

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/internal/audit"
	"github.com/shopbus/shopbus/shop/catalog/internal/kit"
)

// definitionsMaxAge bounds how long Validate trusts its copy of the
// definitions without reading them again, should a write's stamp have
// been lost (a crash between the write and its stamp).
const definitionsMaxAge = 30 * time.Second

// stampID is the _id of the definitions' stamp in attribute_stamp.
const stampID = "attributes"

// newDefinitions returns the in-memory copy of every attribute definition,
// by code, that Validate checks values against (product.create validates
// every product's attributes); see kit.Snapshot.
func (s *Server) newDefinitions() *kit.Snapshot[map[string]attributeDoc] {
	return kit.NewSnapshot(s.stamps, stampID, definitionsMaxAge, s.logger, func(ctx context.Context) (map[string]attributeDoc, error) {
		docs, err := kit.List[attributeDoc](ctx, s.attrs, "attributes", bson.D{},
			options.Find().SetProjection(bson.D{{Key: audit.Field, Value: 0}})) // the logs are not needed here
		if err != nil {
			return nil, err
		}
		defs := make(map[string]attributeDoc, len(docs))
		for _, d := range docs {
			defs[d.Code] = d
		}
		return defs, nil
	})
}
