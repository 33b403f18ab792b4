package inventory

import (
	"context"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/shopbus/shopbus/internal/outbox"
	"github.com/shopbus/shopbus/shop"
)

// eventNamespace derives event ids: the same change always has the same id.
var eventNamespace = uuid.MustParse("4f1c2a9e-7b3d-5e60-9a1f-2c8d7e6b5a43")

// eventID is the id of the stock.changed event of sku at version.
func eventID(sku string, version int64) string {
	return uuid.NewSHA1(eventNamespace, []byte(shop.EventStockChanged+"\x00"+sku+"\x00"+strconv.FormatInt(version, 10))).String()
}

// announce publishes the event just stored with d. The caller holds the
// SKU's lock. A failure is logged: the event waits in the document for
// the relay.
func (s *Server) announce(ctx context.Context, d *stockDoc) {
	if err := s.relay.Flush(ctx, outbox.Doc{ID: d.SKU, Version: d.Version, Events: d.Events}); err != nil {
		s.log.Warn("inventory: event not published yet; the relay will retry", "sku", d.SKU, "version", d.Version, "err", err)
	}
}

// PublishPending publishes every stock event stored but not yet
// confirmed by the broker and returns how many it published. RunRelay
// does this by itself; events keep their ids, so a repeat is harmless.
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
// stored events (RunRelay) and sweeps reservations every
// Options.SweepInterval (Sweep), logging failures. It returns nil when
// ctx ends. Every replica may run it.
func (s *Server) Run(ctx context.Context) error {
	relayDone := make(chan error, 1)
	go func() { relayDone <- s.RunRelay(ctx) }()
	t := time.NewTicker(s.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return <-relayDone
		case <-t.C:
			if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("inventory: sweeping reservations failed", "err", err)
			}
		}
	}
}
