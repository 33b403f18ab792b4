package category

import (
	"context"
	"encoding/json"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/shopbus/shopbus/internal/docstore"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/internal/kit"
	"github.com/shopbus/shopbus/transport"
)

// ProductEvents is the pattern of the events the category service consumes.
const ProductEvents = "product.product.*"

// Subscribe feeds srv's product read model (which category holds which
// product) from the product events on bus, under the subscriber name
// "category". Handling is idempotent: an event older than what is stored
// for the product is ignored. An undecodable event fails, so the bus
// retries it and then parks it in the dead-letter queue. Repeats are not
// looked up in a store of handled event ids: that would cost two writes'
// worth of commands for every event to spare one for a rare repeat.
func Subscribe(bus transport.Bus, srv *Server, opts ...transport.ConsumerOption) (transport.Subscription, error) {
	return bus.Subscribe(ServiceName, ProductEvents, transport.EventHandlerFunc(srv.HandleProductEvent), opts...)
}

// HandleProductEvent applies one product.product.* event to the read model.
func (s *Server) HandleProductEvent(ctx context.Context, ev transport.Event) error {
	var pc shop.ProductChanged
	if err := json.Unmarshal(ev.Body, &pc); err != nil {
		return fmt.Errorf("category: malformed product event %s: %w", ev.ID, err)
	}
	p := pc.Product
	if !kit.ValidID(p.ID) || p.Version <= 0 {
		return fmt.Errorf("category: product event %s lacks a product id or version", ev.ID)
	}
	deleted := pc.Deleted || ev.Key == shop.EventProductDeleted
	ids := []string{}
	if !deleted {
		for _, id := range p.CategoryIDs {
			if kit.ValidID(id) {
				ids = append(ids, id)
			}
		}
	}
	// Only over an older version: if a newer one is stored, the event is
	// stale and changes nothing.
	older := docstore.Less("version", p.Version)
	fields := bson.D{{Key: "category_ids", Value: ids}, {Key: "version", Value: p.Version}, {Key: "deleted", Value: deleted}}
	if p.Version == 1 {
		// A new product, rarely stored yet: one insert, also on FerretDB
		// (these three fields are the whole document).
		_, err := docstore.ReplaceNew(ctx, s.refs, p.ID, append(bson.D{{Key: "_id", Value: p.ID}}, fields...), older)
		return err
	}
	_, err := docstore.Update(ctx, s.refs, p.ID, bson.D{{Key: "$set", Value: fields}}, true, older)
	return err
}
