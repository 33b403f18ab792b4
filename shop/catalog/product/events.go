package product

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/shopbus/shopbus/internal/outbox"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/internal/kit"
	"github.com/shopbus/shopbus/transport"
)

// Subscribe makes srv re-file the products of deleted categories (see
// HandleCategoryEvent), consuming category.category.deleted on bus under
// the subscriber name "product". An undecodable event fails, so the bus
// retries it and then parks it in the dead-letter queue.
func Subscribe(bus transport.Bus, srv *Server, opts ...transport.ConsumerOption) (transport.Subscription, error) {
	return bus.Subscribe(ServiceName, shop.EventCategoryDeleted, outbox.Dedupe(srv.seen, transport.EventHandlerFunc(srv.HandleCategoryEvent)), opts...)
}

// HandleCategoryEvent handles a category.category.deleted event: every
// product filed under the deleted category is re-filed under its parent
// (or just loses it, for a root), as a normal update with its own event.
// Handling it twice changes nothing the second time.
func (s *Server) HandleCategoryEvent(ctx context.Context, ev transport.Event) error {
	var cc shop.CategoryChanged
	if err := json.Unmarshal(ev.Body, &cc); err != nil {
		return fmt.Errorf("product: malformed category event %s: %w", ev.ID, err)
	}
	if !cc.Deleted && ev.Key != shop.EventCategoryDeleted {
		return nil
	}
	id, parent := cc.Category.ID, cc.Category.ParentID
	if !kit.ValidID(id) || parent != "" && !kit.ValidID(parent) {
		return fmt.Errorf("product: category event %s has a malformed category id", ev.ID)
	}
	cur, err := s.products.Find(ctx, bson.D{{Key: "category_ids", Value: id}})
	if err != nil {
		return err
	}
	var docs []productDoc
	if err := cur.All(ctx, &docs); err != nil {
		return err
	}
	for _, d := range docs {
		if err := s.refile(ctx, d.ID, id, parent); err != nil {
			return err
		}
	}
	return nil
}

// refile replaces category from with to (or removes it when to is empty)
// in product id's categories.
func (s *Server) refile(ctx context.Context, id, from, to string) error {
	defer s.locks.Lock(id)()
	cur, err := s.load(ctx, id)
	if errors.Is(err, shop.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !slices.Contains(cur.CategoryIDs, from) {
		return nil
	}
	next := cur.clone()
	next.CategoryIDs = nil
	for _, c := range cur.CategoryIDs {
		if c == from {
			c = to
		}
		if c != "" && !slices.Contains(next.CategoryIDs, c) {
			next.CategoryIDs = append(next.CategoryIDs, c)
		}
	}
	if next.CategoryIDs == nil {
		next.CategoryIDs = []string{}
	}
	next, err = s.save(ctx, shop.EventCategoryDeleted, cur, next, shop.EventProductUpdated, "")
	if err != nil {
		return err
	}
	s.announce(ctx, next)
	return nil
}
