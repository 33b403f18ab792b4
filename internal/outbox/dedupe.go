package outbox

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/shopbus/shopbus/transport"
)

// Seen remembers which events a subscriber has handled.
type Seen interface {
	// Seen reports whether the event id was marked.
	Seen(ctx context.Context, id string) (bool, error)
	// Mark records that the event id has been handled.
	Mark(ctx context.Context, id string) error
}

// Dedupe wraps h so that an event whose id seen has marked is acknowledged
// without calling h again; an event h handled is marked afterwards. An
// event whose handling fails is not marked, so its redelivery is handled.
// Events without an id are handled every time.
func Dedupe(seen Seen, h transport.EventHandler) transport.EventHandler {
	return transport.EventHandlerFunc(func(ctx context.Context, ev transport.Event) error {
		if ev.ID == "" {
			return h.HandleEvent(ctx, ev)
		}
		done, err := seen.Seen(ctx, ev.ID)
		if err != nil {
			return err // retried
		}
		if done {
			return nil
		}
		if err := h.HandleEvent(ctx, ev); err != nil {
			return err
		}
		// Failing to mark only means a later repeat is handled again, which
		// the handlers' version checks make harmless.
		_ = seen.Mark(ctx, ev.ID)
		return nil
	})
}

// MemorySeen remembers the last Size event ids in memory: for read models
// that live in memory themselves and are rebuilt on start-up.
type MemorySeen struct {
	mu   sync.Mutex
	ids  map[string]struct{}
	ring []string
	next int
}

// NewMemorySeen returns a MemorySeen holding up to size ids (at least 1).
func NewMemorySeen(size int) *MemorySeen {
	size = max(size, 1)
	return &MemorySeen{ids: make(map[string]struct{}, size), ring: make([]string, size)}
}

// Seen implements Seen.
func (m *MemorySeen) Seen(_ context.Context, id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.ids[id]
	return ok, nil
}

// Mark implements Seen, forgetting the oldest id when full.
func (m *MemorySeen) Mark(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.ids[id]; ok {
		return nil
	}
	if old := m.ring[m.next]; old != "" {
		delete(m.ids, old)
	}
	m.ring[m.next] = id
	m.ids[id] = struct{}{}
	m.next = (m.next + 1) % len(m.ring)
	return nil
}

// StoredSeen keeps handled event ids in a collection of the subscriber's
// own database, keyed by the id, for Retention; older marks are pruned now
// and then. Redeliveries come within minutes, and a relayed duplicate
// within the relay's sweep interval, far inside the retention.
type StoredSeen struct {
	coll      *mongo.Collection
	retention time.Duration
	now       func() time.Time

	mu         sync.Mutex
	lastPruned time.Time
}

// DefaultRetention is how long StoredSeen remembers an event id.
const DefaultRetention = 7 * 24 * time.Hour

// pruneEvery is how often StoredSeen removes expired marks.
const pruneEvery = time.Hour

// NewStoredSeen returns a StoredSeen over coll; retention 0 means
// DefaultRetention and now nil means time.Now.
func NewStoredSeen(coll *mongo.Collection, retention time.Duration, now func() time.Time) *StoredSeen {
	if retention <= 0 {
		retention = DefaultRetention
	}
	if now == nil {
		now = time.Now
	}
	return &StoredSeen{coll: coll, retention: retention, now: now}
}

type seenDoc struct {
	ID string    `bson:"_id"`
	At time.Time `bson:"at"`
}

// Seen implements Seen.
func (s *StoredSeen) Seen(ctx context.Context, id string) (bool, error) {
	err := s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Err()
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, mongo.ErrNoDocuments):
		return false, nil
	default:
		return false, fmt.Errorf("outbox: look up event %s: %w", id, err)
	}
}

// Mark implements Seen.
func (s *StoredSeen) Mark(ctx context.Context, id string) error {
	now := s.now()
	_, err := s.coll.InsertOne(ctx, seenDoc{ID: id, At: now})
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("outbox: mark event %s: %w", id, err)
	}
	s.mu.Lock()
	due := now.Sub(s.lastPruned) >= pruneEvery
	if due {
		s.lastPruned = now
	}
	s.mu.Unlock()
	if due {
		_, err = s.coll.DeleteMany(ctx, bson.D{{Key: "at", Value: bson.D{{Key: "$lt", Value: now.Add(-s.retention)}}}})
		if err != nil {
			return fmt.Errorf("outbox: prune handled events: %w", err)
		}
	}
	return nil
}
