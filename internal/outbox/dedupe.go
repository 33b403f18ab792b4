package outbox

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/transport"
)

// Seen remembers which events a subscriber has handled.
type Seen interface {
	// Seen reports whether the event id was marked.
	Seen(ctx context.Context, id string) (bool, error)
	// Mark records that the event id has been handled.
	Mark(ctx context.Context, id string) error
}

// BatchSeen is a Seen that can also mark several ids with one write.
type BatchSeen interface {
	Seen
	// MarkMany records that the event ids have been handled.
	MarkMany(ctx context.Context, ids []string) error
}

// Dedupe wraps h so that an event whose id seen has marked is acknowledged
// without calling h again; an event h handled is marked afterwards. An
// event whose handling fails is not marked, so its redelivery is handled.
// Events without an id are handled every time.
//
// When h is a transport.BatchEventHandler, so is the result: its
// HandleEvents drops the events already marked, and the repeats of an id
// within the batch, passes the rest to h.HandleEvents in one call and
// marks those h handled (with one MarkMany when seen has it). A repeat
// gets the result of the first event of its id.
func Dedupe(seen Seen, h transport.EventHandler) transport.EventHandler {
	if bh, ok := h.(transport.BatchEventHandler); ok {
		return &batchDedupe{EventHandler: dedupeOne(seen, h), seen: seen, h: bh}
	}
	return dedupeOne(seen, h)
}

// dedupeOne is Dedupe of one event at a time.
func dedupeOne(seen Seen, h transport.EventHandler) transport.EventHandler {
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

// batchDedupe is Dedupe of a transport.BatchEventHandler.
type batchDedupe struct {
	transport.EventHandler // one event at a time
	seen                   Seen
	h                      transport.BatchEventHandler
}

// HandleEvents implements transport.BatchEventHandler.
func (d *batchDedupe) HandleEvents(ctx context.Context, evs []transport.Event) []error {
	errs := make([]error, len(evs))
	// first[i] is the index of the first event with evs[i]'s id, -1 for
	// an event that is to be handled or needs nothing more.
	first := make([]int, len(evs))
	byID := make(map[string]int, len(evs))
	var todo []transport.Event
	var todoAt []int // todoAt[j] is the index in evs of todo[j]
	for i, ev := range evs {
		first[i] = -1
		if ev.ID != "" {
			if j, ok := byID[ev.ID]; ok {
				first[i] = j
				continue
			}
			byID[ev.ID] = i
			done, err := d.seen.Seen(ctx, ev.ID)
			if err != nil {
				errs[i] = err // retried
				continue
			}
			if done {
				continue
			}
		}
		todo, todoAt = append(todo, ev), append(todoAt, i)
	}
	if len(todo) > 0 {
		results := d.h.HandleEvents(ctx, todo)
		if len(results) != len(todo) {
			err := fmt.Errorf("outbox: event handler returned %d results for %d events", len(results), len(todo))
			results = make([]error, len(todo))
			for j := range results {
				results[j] = err
			}
		}
		var handled []string
		for j, err := range results {
			errs[todoAt[j]] = err
			if err == nil && todo[j].ID != "" {
				handled = append(handled, todo[j].ID)
			}
		}
		// Failing to mark only means a later repeat is handled again, which
		// the handlers' version checks make harmless.
		_ = markAll(ctx, d.seen, handled)
	}
	for i, j := range first {
		if j >= 0 {
			errs[i] = errs[j]
		}
	}
	return errs
}

// markAll marks ids with one MarkMany when seen has it, else one by one.
func markAll(ctx context.Context, seen Seen, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	if m, ok := seen.(BatchSeen); ok {
		return m.MarkMany(ctx, ids)
	}
	var errs []error
	for _, id := range ids {
		errs = append(errs, seen.Mark(ctx, id))
	}
	return errors.Join(errs...)
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

// MarkMany implements BatchSeen.
func (m *MemorySeen) MarkMany(ctx context.Context, ids []string) error {
	for _, id := range ids {
		m.Mark(ctx, id)
	}
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
	return s.prune(ctx, now)
}

// MarkMany implements BatchSeen with one unordered InsertMany; ids
// already marked stay as they are.
func (s *StoredSeen) MarkMany(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	now := s.now()
	docs := make([]seenDoc, len(ids))
	for i, id := range ids {
		docs[i] = seenDoc{ID: id, At: now}
	}
	_, err := s.coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err != nil && !onlyDuplicates(err) {
		return fmt.Errorf("outbox: mark %d events: %w", len(ids), err)
	}
	return s.prune(ctx, now)
}

// onlyDuplicates reports whether err is a bulk write error whose every
// failure is a duplicate key: marks that were there already.
func onlyDuplicates(err error) bool {
	var bulk mongo.BulkWriteException
	if !errors.As(err, &bulk) || bulk.WriteConcernError != nil || len(bulk.WriteErrors) == 0 {
		return false
	}
	for _, we := range bulk.WriteErrors {
		if !mongo.IsDuplicateKeyError(we) {
			return false
		}
	}
	return true
}

// prune removes the marks older than the retention, at most once every
// pruneEvery.
func (s *StoredSeen) prune(ctx context.Context, now time.Time) error {
	s.mu.Lock()
	due := now.Sub(s.lastPruned) >= pruneEvery
	if due {
		s.lastPruned = now
	}
	s.mu.Unlock()
	if due {
		_, err := s.coll.DeleteMany(ctx, bson.D{{Key: "at", Value: bson.D{{Key: "$lt", Value: now.Add(-s.retention)}}}})
		if err != nil {
			return fmt.Errorf("outbox: prune handled events: %w", err)
		}
	}
	return nil
}
