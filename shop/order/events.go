package order

import (
	"context"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/shopbus/shopbus/internal/outbox"
	"github.com/shopbus/shopbus/shop"
)

// eventNamespace derives event ids: the same change always has the same id.
var eventNamespace = uuid.MustParse("9b2e5c71-3a4d-5f86-8c09-1d7e6a5b4c32")

// eventID is the id of the event key of order at version.
func eventID(order, key string, version int64) string {
	return uuid.NewSHA1(eventNamespace, []byte(key+"\x00"+order+"\x00"+strconv.FormatInt(version, 10))).String()
}

// changed is the body of d's events.
func (d *orderDoc) changed(now time.Time) shop.OrderChanged {
	ev := shop.OrderChanged{OrderID: d.ID, UserID: d.UserID, Status: d.Status, Reason: d.Reason,
		Lines: make([]shop.OrderLineSnapshot, len(d.Lines)), Total: d.amount(), Version: d.Version, Occurred: now}
	for i, l := range d.Lines {
		ev.Lines[i] = shop.OrderLineSnapshot{ProductID: l.ProductID, VariantID: l.VariantID, SKU: l.SKU, Quantity: l.Quantity}
	}
	return ev
}

// announce publishes the events just stored with d. A failure is
// logged: the events wait in the document for the relay.
func (s *Server) announce(ctx context.Context, d *orderDoc) {
	if err := s.relay.Flush(ctx, outbox.Doc{ID: d.ID, Version: d.Version, Events: d.Events}); err != nil {
		s.log.Warn("order: event not published yet; the relay will retry", "order", d.ID, "version", d.Version, "err", err)
	}
}

// PublishPending publishes every order event stored but not yet
// confirmed by the broker and returns how many it published.
func (s *Server) PublishPending(ctx context.Context) (int, error) {
	return s.relay.Drain(ctx)
}

// RunRelay publishes stored events the writes could not publish, until
// ctx ends (see internal/outbox).
func (s *Server) RunRelay(ctx context.Context) error {
	return s.relay.Run(ctx)
}

// EventBacklog reports the events stored but not yet confirmed by the broker.
func (s *Server) EventBacklog(ctx context.Context) (shop.EventBacklog, error) {
	return s.relay.Backlog(ctx)
}

// Run does the service's background work until ctx ends: it relays
// stored events (RunRelay) and takes over interrupted checkouts at once
// and every Options.RecoverInterval (Recover), logging failures. It
// returns nil when ctx ends. Every replica may run it.
func (s *Server) Run(ctx context.Context) error {
	relayDone := make(chan error, 1)
	go func() { relayDone <- s.RunRelay(ctx) }()
	t := time.NewTicker(s.opts.RecoverInterval)
	defer t.Stop()
	for {
		if _, err := s.Recover(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("order: recovering interrupted checkouts failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return <-relayDone
		case <-t.C:
		}
	}
}
