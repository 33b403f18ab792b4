package filter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shopbus/shopbus/internal/outbox"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/transport"
)

// Event patterns the service consumes; StockEvents feeds Query.InStock.
const (
	ProductEvents  = "product.product.*"
	CategoryEvents = "category.category.*"
	StockEvents    = shop.EventStockChanged
)

// Subscribe feeds srv's read model from the product, category and stock
// (inventory.stock.changed) events on bus, under the subscriber name
// "filter", and for a named replica also under its own name (see
// Options.Subscriber). Handling is idempotent (see Index), and an event id handled before is dropped, so redeliveries and
// relayed duplicates are harmless; an undecodable event fails, is
// retried and ends in the dead-letter queue.
//
// Events that wait are handled in batches of up to DefaultEventBatch,
// two batches at once (see DefaultEventBatch); a WithBatch or
// WithConcurrency among opts sets them instead (a concurrency alone, a
// batch of half of it).
func Subscribe(bus transport.Bus, srv *Server, opts ...transport.ConsumerOption) (transport.Subscription, error) {
	h := outbox.Dedupe(srv.seen, eventHandler{srv})
	opts = transport.BatchDefaults(DefaultEventBatch, opts)
	type subscription struct {
		name string
		opts []transport.ConsumerOption
	}
	subscriptions := []subscription{{ServiceName, opts}}
	if name := srv.opts.Subscriber; name != "" && name != ServiceName {
		expiry := srv.opts.ReplicaQueueExpiry
		if expiry <= 0 {
			expiry = DefaultReplicaQueueExpiry
		}
		own := append(slices.Clip(opts), transport.WithQueueExpiry(expiry))
		subscriptions = append(subscriptions, subscription{name, own})
	}
	var subs multiSub
	for _, sn := range subscriptions {
		for _, pattern := range []string{ProductEvents, CategoryEvents, StockEvents} {
			sub, err := bus.Subscribe(sn.name, pattern, h, sn.opts...)
			if err != nil {
				_ = subs.Close()
				return nil, err
			}
			subs = append(subs, sub)
		}
	}
	if len(subscriptions) > 1 {
		// Events handled by other replicas between New and now reached
		// the database only.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := srv.load(ctx); err != nil {
			_ = subs.Close()
			return nil, err
		}
	}
	return subs, nil
}

type multiSub []transport.Subscription

func (m multiSub) Close() error {
	var errs []error
	for _, s := range m {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// handleEvent applies one product, category or stock event. A body that cannot be
// decoded or lacks an id is an error, so the bus retries it and then parks
// it in the dead-letter queue; events of other kinds are ignored.
func (s *Server) handleEvent(ctx context.Context, ev transport.Event) error {
	applied, err := s.applyEvent(ctx, ev)
	switch {
	case err != nil:
		s.failed.Add(1)
	case applied:
		s.applied.Add(1)
	default:
		s.ignored.Add(1)
	}
	return err
}

func (s *Server) applyEvent(ctx context.Context, ev transport.Event) (bool, error) {
	c, err := s.decodeEvent(ev)
	if err != nil {
		return false, err
	}
	switch c.kind {
	case productChange:
		return s.applyProduct(ctx, c.product)
	case categoryChange:
		return s.applyCategory(ctx, c.category)
	case stockChange:
		return s.applyStockChange(ctx, c.stock)
	}
	return false, nil
}

// changeKind says which part of the read model an event changes.
type changeKind int

const (
	noChange       changeKind = iota // an event of a kind the service does not use
	productChange                    // a product.product.* event
	categoryChange                   // a category.category.* event
	stockChange                      // an inventory.stock.changed event
)

// change is what one event asks of the read model: the product, category
// or SKU's stock that kind names.
type change struct {
	kind     changeKind
	product  product
	category categoryRec
	stock    stockRec
}

// decodeEvent decodes a product, category or stock event. A body that
// cannot be decoded or lacks an id is an error (and a warning in the
// log); an event of another kind is noChange.
func (s *Server) decodeEvent(ev transport.Event) (change, error) {
	switch {
	case strings.HasPrefix(ev.Key, "product.product."):
		var body shop.ProductChanged
		if err := json.Unmarshal(ev.Body, &body); err != nil {
			s.log.Warn("filter: undecodable product event", "key", ev.Key, "id", ev.ID, "attempt", ev.Attempt, "err", err)
			return change{}, fmt.Errorf("filter: undecodable product event %s: %w", ev.ID, err)
		}
		p, err := productFromEvent(body, body.Deleted || ev.Key == shop.EventProductDeleted)
		if err != nil {
			s.log.Warn("filter: malformed product event", "key", ev.Key, "id", ev.ID, "attempt", ev.Attempt, "err", err)
			return change{}, err
		}
		return change{kind: productChange, product: p}, nil
	case strings.HasPrefix(ev.Key, "category.category."):
		var body shop.CategoryChanged
		if err := json.Unmarshal(ev.Body, &body); err != nil {
			s.log.Warn("filter: undecodable category event", "key", ev.Key, "id", ev.ID, "attempt", ev.Attempt, "err", err)
			return change{}, fmt.Errorf("filter: undecodable category event %s: %w", ev.ID, err)
		}
		c, err := categoryFromEvent(body, body.Deleted || ev.Key == shop.EventCategoryDeleted)
		if err != nil {
			s.log.Warn("filter: malformed category event", "key", ev.Key, "id", ev.ID, "attempt", ev.Attempt, "err", err)
			return change{}, err
		}
		return change{kind: categoryChange, category: c}, nil
	case ev.Key == shop.EventStockChanged:
		var body shop.StockChanged
		if err := json.Unmarshal(ev.Body, &body); err != nil {
			s.log.Warn("filter: undecodable stock event", "key", ev.Key, "id", ev.ID, "attempt", ev.Attempt, "err", err)
			return change{}, fmt.Errorf("filter: undecodable stock event %s: %w", ev.ID, err)
		}
		st, err := stockFromEvent(body)
		if err != nil {
			s.log.Warn("filter: malformed stock event", "key", ev.Key, "id", ev.ID, "attempt", ev.Attempt, "err", err)
			return change{}, err
		}
		return change{kind: stockChange, stock: st}, nil
	}
	return change{}, nil
}
