package cart

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

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
	opts = append([]transport.ConsumerOption{transport.WithHandlerTimeout(ProductEventTimeout)}, opts...)
	dedupe := outbox.Dedupe(srv.seen, transport.EventHandlerFunc(srv.HandleEvent))
	h := transport.EventHandlerFunc(func(ctx context.Context, ev transport.Event) error {
		if ev.Key == shop.EventProductCreated {
			return nil // a new product is in no cart: not worth remembering either
		}
		return dedupe.HandleEvent(ctx, ev)
	})
	return bus.Subscribe(ServiceName, ProductEvents, h, opts...)
}

// ProductEventTimeout is the deadline of one run of the product event
// handler (Subscribe; a caller's transport.WithHandlerTimeout overrides
// it): a price change rewrites every cart holding the product in that run,
// 20,000 carts in about 50 s on the embedded store of a loaded 2-core
// machine. A run that ends early (a crash, the deadline) leaves the carts
// it wrote, and the redelivery writes the rest.
const ProductEventTimeout = 5 * time.Minute

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

// OrderSubscriber names the cart's durable subscription to order events.
const OrderSubscriber = ServiceName + "-orders"

// SubscribeOrders feeds srv the order.order.confirmed events, on the
// durable subscription "cart-orders": the lines of a confirmed order
// leave its buyer's cart (see RemoveOrdered). The cart learns of an order
// by event rather than by a call from the order service: the event is
// stored with the confirmation (the order's outbox), so the cart is
// cleared even when the order service is recovering a checkout without
// the shopper's session, and the order service needs no right to change
// carts. A malformed event fails every delivery and ends up in the
// dead-letter queue; an event id handled before is dropped.
func SubscribeOrders(bus transport.Bus, srv *Server, opts ...transport.ConsumerOption) (transport.Subscription, error) {
	return bus.Subscribe(OrderSubscriber, shop.EventOrderConfirmed, outbox.Dedupe(srv.seen, transport.EventHandlerFunc(srv.HandleOrderEvent)), opts...)
}

// HandleOrderEvent handles one order.order.confirmed event (see
// SubscribeOrders); other keys are ignored.
func (s *Server) HandleOrderEvent(ctx context.Context, ev transport.Event) error {
	if ev.Key != shop.EventOrderConfirmed {
		return nil
	}
	var oc shop.OrderChanged
	if err := json.Unmarshal(ev.Body, &oc); err != nil {
		s.log.ErrorContext(ctx, "cart: malformed order event", "key", ev.Key, "id", ev.ID, "attempt", ev.Attempt, "err", err)
		return fmt.Errorf("cart: malformed %s event %s: %w", ev.Key, ev.ID, err)
	}
	if oc.OrderID == "" || oc.UserID == "" || checkRef(oc.UserID, true) != "" {
		s.log.ErrorContext(ctx, "cart: order event without order or user", "key", ev.Key, "id", ev.ID, "attempt", ev.Attempt)
		return fmt.Errorf("cart: %s event %s names no order or user", ev.Key, ev.ID)
	}
	return s.RemoveOrdered(ctx, oc)
}

// RemoveOrdered takes the lines of a confirmed order out of its buyer's
// cart: each line's quantity goes down by what was ordered, and a line
// left with none is removed (units the shopper added after checking out
// stay). The change is recorded in the cart under the order id, so
// applying one order twice removes its lines once. A user without a cart
// has nothing to remove.
func (s *Server) RemoveOrdered(ctx context.Context, oc shop.OrderChanged) error {
	ctx = transport.ServingRequestID(ctx, "order:"+oc.OrderID)
	o := owner{cartID: userCartID(oc.UserID), userID: oc.UserID, keepExpiry: true}
	_, err := s.update(ctx, "order.confirmed", oc.OrderID, o, func(c *cartDoc, _ time.Time) error {
		changed := false
		for _, ol := range oc.Lines {
			i := c.find(ol.ProductID, ol.VariantID)
			if i < 0 || ol.Quantity <= 0 {
				continue
			}
			changed = true
			if int64(c.Lines[i].Quantity) > ol.Quantity {
				c.Lines[i].Quantity -= int(ol.Quantity)
				continue
			}
			c.Lines = append(c.Lines[:i], c.Lines[i+1:]...)
		}
		if !changed {
			return errUnchanged
		}
		return nil
	})
	if errors.Is(err, shop.ErrNotFound) {
		return nil
	}
	return err
}
