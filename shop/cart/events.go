package cart

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/internal/outbox"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/transport"
)

// ProductEvents is the pattern of the events the cart subscribes to.
const ProductEvents = "product.product.*"

// Subscribe feeds srv the product events it keeps cart lines current
// with, on the durable subscription "cart". A malformed event fails every
// delivery and so ends up in the dead-letter queue; applying an event
// twice, or an older one after a newer, changes nothing (see
// HandleProductChanged), and an event id handled before is dropped.
func Subscribe(bus transport.Bus, srv *Server, opts ...transport.ConsumerOption) (transport.Subscription, error) {
	return bus.Subscribe(ServiceName, ProductEvents, outbox.Dedupe(srv.seen, transport.EventHandlerFunc(srv.HandleEvent)), opts...)
}

// HandleEvent handles one product.product.* event (see Subscribe).
func (s *Server) HandleEvent(ctx context.Context, ev transport.Event) error {
	if ev.Key == shop.EventProductCreated {
		return nil // a new product is in no cart
	}
	var pc shop.ProductChanged
	if err := json.Unmarshal(ev.Body, &pc); err != nil {
		s.log.ErrorContext(ctx, "cart: malformed product event", "key", ev.Key, "id", ev.ID, "attempt", ev.Attempt, "err", err)
		return fmt.Errorf("cart: malformed %s event %s: %w", ev.Key, ev.ID, err)
	}
	if pc.Product.ID == "" {
		s.log.ErrorContext(ctx, "cart: product event without product id", "key", ev.Key, "id", ev.ID, "attempt", ev.Attempt)
		return fmt.Errorf("cart: %s event %s has no product id", ev.Key, ev.ID)
	}
	if ev.Key == shop.EventProductDeleted {
		pc.Deleted = true
	}
	return s.HandleProductChanged(ctx, pc)
}

// HandleProductChanged brings every cart line of the product up to date
// with pc: a new price is applied and flagged (PriceChanged and
// PreviousPrice), a deleted or unpublished product, or a variant that is
// gone, marks the line unavailable, and a product back on sale makes it
// available again. A line applies an event only if the product's Version
// is newer than the one it reflects, so repeats and stale events change
// nothing.
func (s *Server) HandleProductChanged(ctx context.Context, pc shop.ProductChanged) error {
	p := pc.Product
	// A scan on FerretDB (only _id lookups are served by an index there),
	// indexed on MongoDB; product changes are rare next to cart reads.
	cur, err := s.carts.Find(ctx, bson.D{{Key: "lines.product_id", Value: p.ID}},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}, {Key: "user_id", Value: 1}}))
	if err != nil {
		return s.internal(ctx, "find carts of product", err)
	}
	var ids []struct {
		ID     string `bson:"_id"`
		UserID string `bson:"user_id"`
	}
	if err := cur.All(ctx, &ids); err != nil {
		return s.internal(ctx, "find carts of product", err)
	}
	for _, id := range ids {
		_, err := s.update(ctx, "", nil, owner{cartID: id.ID, userID: id.UserID, keepExpiry: true}, func(c *cartDoc, now time.Time) error {
			changed := false
			for i := range c.Lines {
				if l := &c.Lines[i]; l.ProductID == p.ID && p.Version > l.ProductVersion {
					l.apply(pc)
					changed = true
				}
			}
			if !changed {
				return errUnchanged
			}
			return nil
		})
		if shop.IsCode(err, shop.ErrNotFound.Code) {
			continue // deleted or expired meanwhile
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// apply brings l up to date with the product in pc.
func (l *lineDoc) apply(pc shop.ProductChanged) {
	p := pc.Product
	l.ProductVersion = p.Version
	if pc.Deleted || p.Status != shop.StatusPublished {
		l.Unavailable = true
		return
	}
	price := p.Price
	if l.VariantID != "" {
		v, ok := findVariant(p, l.VariantID)
		if !ok {
			l.Unavailable = true
			return
		}
		l.SKU, l.Options, price = v.SKU, v.Options, variantPrice(p, v)
	}
	if price.Validate("price") != nil {
		l.Unavailable = true
		return
	}
	l.Title, l.Slug = p.Title, p.Slug
	l.Unavailable = false
	switch {
	case price == l.UnitPrice:
	case l.PreviousPrice != nil && price == *l.PreviousPrice:
		// Back to what the customer saw: nothing to flag any more.
		l.PriceChanged, l.PreviousPrice = false, nil
	default:
		if l.PreviousPrice == nil {
			seen := l.UnitPrice
			l.PreviousPrice = &seen
		}
		l.PriceChanged = true
	}
	l.UnitPrice = price
}
