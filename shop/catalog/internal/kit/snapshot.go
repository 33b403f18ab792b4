package kit

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/shop"
)

// Snapshot is an in-memory copy of data a service owns and reads on
// almost every call (the attribute definitions, the categories), loaded
// again only when it may have changed. Every write of that data raises a
// stamp (Changed), one document read by _id; Get reads the stamp and loads
// the data again only when it moved, so a write made by any replica is
// seen by the next Get of every replica. Should a raise be lost (a crash
// between a write and its raise), the copy is trusted for at most maxAge.
type Snapshot[T any] struct {
	stamps *mongo.Collection
	id     string
	maxAge time.Duration
	load   func(context.Context) (T, error)
	logger *slog.Logger

	// loading lets one Get at a time load the data: those that find the
	// copy stale at once wait for the first load instead of repeating it.
	loading sync.Mutex

	mu       sync.Mutex
	value    T
	loaded   bool
	stamp    int64
	loadedAt time.Time
}

// NewSnapshot returns a Snapshot whose stamp is the document id of stamps
// and whose data load reads.
func NewSnapshot[T any](stamps *mongo.Collection, id string, maxAge time.Duration, logger *slog.Logger, load func(context.Context) (T, error)) *Snapshot[T] {
	return &Snapshot[T]{stamps: stamps, id: id, maxAge: maxAge, load: load, logger: Logger(logger)}
}

type stampDoc struct {
	ID string `bson:"_id"`
	N  int64  `bson:"n"`
}

// Get returns the data, from memory if its stamp has not moved since it
// was loaded. Callers must not change what it returns.
func (s *Snapshot[T]) Get(ctx context.Context) (T, error) {
	var zero T
	var st stampDoc
	err := s.stamps.FindOne(ctx, bson.D{{Key: "_id", Value: s.id}}).Decode(&st)
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return zero, shop.StorageFailure(ctx, "read the stamp of "+s.id, err)
	}
	if v, ok := s.fresh(st.N); ok {
		return v, nil
	}
	s.loading.Lock()
	defer s.loading.Unlock()
	if v, ok := s.fresh(st.N); ok {
		return v, nil // loaded by the Get this one waited for
	}
	// The stamp was read before the data: if a write lands between the
	// two, the copy is labelled older than it is and is loaded again next
	// time, never the reverse.
	loadedAt := time.Now()
	v, err := s.load(ctx)
	if err != nil {
		return zero, err
	}
	s.mu.Lock()
	s.value, s.loaded, s.stamp, s.loadedAt = v, true, st.N, loadedAt
	s.mu.Unlock()
	return v, nil
}

// fresh returns the copy if it was loaded under stamp and is younger than
// maxAge.
func (s *Snapshot[T]) fresh(stamp int64) (T, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loaded && s.stamp == stamp && time.Since(s.loadedAt) < s.maxAge {
		return s.value, true
	}
	var zero T
	return zero, false
}

// Changed raises the stamp after a write of the data (or an attempt that
// may have been stored), so that every replica loads it again. A failure
// is logged: the copies are then at most maxAge old. It raises the stamp
// even when ctx is cancelled (for up to 10 seconds): the write it follows
// may be stored already.
func (s *Snapshot[T]) Changed(ctx context.Context) {
	ctx, cancel := Detach(ctx, 10*time.Second)
	defer cancel()
	s.mu.Lock()
	var zero T
	s.value, s.loaded = zero, false
	s.mu.Unlock()
	// A new random value rather than an increment: FerretDB applies $inc
	// by reading and writing the document, so two raises at once could
	// both store n+1, and a copy loaded between them would miss the
	// second write. Each raise stores a value no copy has seen.
	stamp := rand.Int64()
	raise := func() error {
		_, err := s.stamps.UpdateOne(ctx, bson.D{{Key: "_id", Value: s.id}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: stamp}}}}, options.UpdateOne().SetUpsert(true))
		return err
	}
	err := raise()
	if mongo.IsDuplicateKeyError(err) {
		// Another raise created the stamp first (FerretDB does not retry
		// such an upsert itself): it exists now.
		err = raise()
	}
	if err != nil {
		s.logger.Warn("cannot raise the stamp of "+s.id+"; other replicas may read an older copy for a while",
			"err", err, "for", s.maxAge)
	}
}
