package outbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/internal/docstore"
	"github.com/shopbus/shopbus/internal/indexes"
	"github.com/shopbus/shopbus/internal/keylock"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/transport"
)

// Defaults of Config.
const (
	DefaultInterval     = 15 * time.Second
	DefaultMinAge       = time.Second
	DefaultFlushTimeout = 5 * time.Second
	DefaultLease        = 30 * time.Second
	// readyPoll is how often Run looks whether the bus came back.
	readyPoll = 200 * time.Millisecond
	// scanSpacing: after looking for waiting events, a relay lets at
	// least this many times that look's duration pass before it looks
	// again, unless a writer's publish failed or the bus came back. Where
	// the store scans the whole collection for them (FerretDB: about 2 s
	// with 60,000 products) that keeps the scans under 5% of the time;
	// where it uses the index (MongoDB: milliseconds), it changes nothing.
	scanSpacing = 20
)

// leaseCollection holds, per outbox collection, which relay sweeps it.
const leaseCollection = "outbox_leases"

// Config configures a Relay.
type Config struct {
	// Collection holds the documents with outboxes.
	Collection *mongo.Collection
	// Publisher receives the events (usually the bus). With none, events
	// are kept until one is configured.
	Publisher shop.Publisher
	// Locks are the writers' per-document locks: the relay takes a
	// document's lock while it publishes and clears its events, so that
	// within one process a document's events go out in order.
	Locks *keylock.Map
	// Name names the relay in logs, e.g. "product".
	Name string
	// Logger reports publish failures; slog.Default() when nil.
	Logger *slog.Logger
	// Interval is the time between periodic sweeps (DefaultInterval).
	Interval time.Duration
	// MinAge: sweeps leave events younger than this to the writer that
	// stored them, which is publishing them (DefaultMinAge).
	MinAge time.Duration
	// FlushTimeout bounds a writer's own publish after its write
	// (DefaultFlushTimeout); what does not make it waits for the relay.
	FlushTimeout time.Duration
	// Lease is how long a sweeping relay holds the collection against the
	// relays of other workers of the same service (DefaultLease).
	Lease time.Duration
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
}

// Relay publishes the events stored in the documents of one collection.
// Writers call Flush after each write; Run sweeps for what they could not
// publish. It is safe for concurrent use.
type Relay struct {
	cfg    Config
	coll   *mongo.Collection
	leases *mongo.Collection
	// batches holds the events of bulk creations (see Begin).
	batches *mongo.Collection
	owner   string
	kick    chan struct{}
	log     *slog.Logger
	// scanCost is how long the last look for waiting events took.
	scanCost atomic.Int64 // nanoseconds
	// onScan, when set, runs inside each look (tests make looks slow).
	onScan func()
	// changes counts the writes (Flush) and publishes through this relay:
	// Backlog's last answer holds only while it has not moved.
	changes atomic.Int64
	// backlog is Backlog's last answer, reused for a while (see Backlog).
	backlog struct {
		sync.Mutex
		at      time.Time // of the last successful look
		changes int64     // r.changes when it began
		value   shop.EventBacklog
		err     error
		looking chan struct{} // closed when the look under way ends
	}
}

// New returns a relay for cfg.Collection, creating the index it sweeps by.
func New(ctx context.Context, cfg Config) (*Relay, error) {
	if cfg.Collection == nil {
		return nil, errors.New("outbox: nil collection")
	}
	if cfg.Locks == nil {
		cfg.Locks = new(keylock.Map)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Name == "" {
		cfg.Name = cfg.Collection.Name()
	}
	cfg.Interval = cmp.Or(cfg.Interval, DefaultInterval)
	cfg.MinAge = cmp.Or(cfg.MinAge, DefaultMinAge)
	cfg.FlushTimeout = cmp.Or(cfg.FlushTimeout, DefaultFlushTimeout)
	cfg.Lease = cmp.Or(cfg.Lease, DefaultLease)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Relay{
		cfg:     cfg,
		coll:    cfg.Collection,
		leases:  cfg.Collection.Database().Collection(leaseCollection),
		batches: cfg.Collection.Database().Collection(cfg.Collection.Name() + batchSuffix),
		owner:   uuid.NewString(),
		kick:    make(chan struct{}, 1),
		log:     cfg.Logger,
	}
	if err := indexes.Ensure(ctx, r.coll, bson.D{{Key: fieldPending, Value: 1}}); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	return r, nil
}

// Doc is what a writer knows of a document it has just stored.
type Doc struct {
	// ID is the document's _id.
	ID string
	// Version is its version after the write.
	Version int64
	// Deleted says the document is a tombstone, removed once its events are out.
	Deleted bool
	// Events is what it stored in the document's outbox.
	Events Events
}

// stored is a document as the relay reads it.
type stored struct {
	ID      string `bson:"_id"`
	Version int64  `bson:"version"`
	Deleted bool   `bson:"deleted,omitempty"`
	Events  `bson:",inline"`
}

// Flush publishes the events a writer has just stored with d and removes
// them from the document once the broker confirmed them. The writer calls
// it while it still holds the document's lock (Config.Locks), so that the
// document's events leave in order. It does not wait for a bus that is
// down: it leaves the events to the relay and returns the reason, which
// the writer may log; the write itself has succeeded either way. A
// tombstone without events (a service announcing nothing) is removed.
func (r *Relay) Flush(ctx context.Context, d Doc) error {
	defer r.changes.Add(1)
	switch {
	case len(d.Events.Pending) > 0:
		if err := r.ready(); err != nil {
			r.poke()
			return err
		}
	case !d.Deleted:
		return nil
	}
	ctx, cancel := r.detach(ctx)
	defer cancel()
	if err := r.publishAndClear(ctx, stored{ID: d.ID, Version: d.Version, Deleted: d.Deleted, Events: d.Events}); err != nil {
		r.poke()
		return err
	}
	return nil
}

// Drain publishes every event waiting in the collection, whatever its age,
// and returns how many it published. It stops at the first failure.
func (r *Relay) Drain(ctx context.Context) (int, error) {
	n, _, err := r.sweep(ctx, 0, true)
	return n, err
}

// Run relays until ctx ends: it sweeps at once, whenever the bus comes
// back after being away, after a writer's publish failed, and every
// Interval. Only one relay per collection sweeps at a time (a lease in
// the service's database), so several workers of one service do not
// storm the broker with the same events. Failures are logged and retried;
// Run returns nil when ctx ends.
//
// Where looking through the whole collection is expensive (a store that
// scans it: FerretDB), the periodic sweeps look only at batch records,
// and through the collection only when something may have been left
// there: a writer's process died (its heartbeat, which Run keeps in the
// lease collection, lapsed), or a relay without the lease asked (its
// writer's publish failed, or it has just started).
func (r *Relay) Run(ctx context.Context) error {
	alive := make(chan struct{})
	go func() {
		defer close(alive)
		r.keepAlive(ctx)
	}()
	defer func() { <-alive }()
	periodic := time.NewTicker(r.cfg.Interval)
	defer periodic.Stop()
	poll := time.NewTicker(readyPoll)
	defer poll.Stop()
	retry := time.NewTimer(0) // the sweep at start-up
	defer retry.Stop()
	wasReady := r.ready() == nil
	var lastSweep, lastFull time.Time
	for {
		// A sweep of the whole collection, not only of its batch records;
		// asked for, from the lease's holder, by a relay that is not it.
		full, asking := true, true
		select {
		case <-ctx.Done():
			return nil
		case <-periodic.C:
			if time.Since(lastSweep) < r.spaced(r.cfg.Interval) {
				continue // the last look was expensive: let the store breathe
			}
			full, asking = r.scanIsCheap(), false
		case <-retry.C:
		case <-r.kick:
			// Leave the writer's events the time to become old enough.
			retry.Reset(r.cfg.MinAge)
			continue
		case <-poll.C:
			ready := r.ready() == nil
			back := ready && !wasReady
			wasReady = ready
			if !back {
				continue
			}
			r.log.Info("outbox: bus is back; relaying stored events", "service", r.cfg.Name)
		}
		if r.ready() != nil {
			continue // the poll sweeps once it is back
		}
		held, asked, err := r.acquire(ctx)
		if err != nil || !held {
			switch {
			case err != nil && ctx.Err() == nil:
				r.log.Warn("outbox: lease", "service", r.cfg.Name, "err", err)
			case err == nil && asking:
				r.ask(ctx)
			}
			continue
		}
		// Read before every sweep, and removed after one through the whole
		// collection: also where every sweep looks (MongoDB), so that the
		// heartbeats of dead writers do not pile up.
		lapsed, err := r.lapsedWriters(ctx)
		if err != nil && ctx.Err() == nil {
			r.log.Warn("outbox: heartbeats", "service", r.cfg.Name, "err", err)
		}
		if !full && time.Since(lastFull) >= r.spaced(r.cfg.Interval) {
			full = err == nil && (len(lapsed) > 0 || !asked.IsZero())
		}
		n, younger, err := r.sweep(ctx, r.cfg.MinAge, full)
		lastSweep = time.Now()
		if full && err == nil {
			lastFull = lastSweep
			r.forget(ctx, lapsed, asked)
		}
		switch {
		case err != nil && ctx.Err() == nil:
			r.log.Warn("outbox: relaying stored events failed; will retry", "service", r.cfg.Name, "relayed", n, "err", err)
			retry.Reset(r.spaced(time.Second))
		case younger:
			retry.Reset(r.spaced(r.cfg.MinAge))
		}
		if n > 0 {
			r.log.Info("outbox: relayed stored events", "service", r.cfg.Name, "events", n)
		}
	}
}

// scanIsCheap reports whether the last look through the collection was
// cheap enough to repeat every Interval.
func (r *Relay) scanIsCheap() bool {
	return r.spaced(r.cfg.Interval) <= r.cfg.Interval
}

// spaced returns how long to wait before looking for waiting events
// again: at least wait, and at least scanSpacing times the last look.
func (r *Relay) spaced(wait time.Duration) time.Duration {
	return max(wait, scanSpacing*time.Duration(r.scanCost.Load()))
}

// Backlog reports the events waiting in the collection.
//
// Looking costs a scan of the collection where the store has no usable
// index (FerretDB: about 20 s with 100,000 products), so Backlog looks at
// most once at a time: callers arriving meanwhile share that look, which
// goes on (and is kept) when a caller's ctx ends first. An answer is
// reused for scanSpacing times the look's duration while nothing has been
// written or published through this relay; where a look takes longer than
// exactLookLimit, it is reused for that long even then (what other
// processes change shows after that time in any case).
func (r *Relay) Backlog(ctx context.Context) (shop.EventBacklog, error) {
	b := &r.backlog
	b.Lock()
	exact := time.Duration(r.scanCost.Load()) < exactLookLimit
	if !b.at.IsZero() && time.Since(b.at) < r.spaced(0) && (b.changes == r.changes.Load() || !exact) {
		defer b.Unlock()
		return b.value, nil
	}
	if b.looking == nil {
		b.looking = make(chan struct{})
		go r.lookForBacklog(b.looking)
	}
	looking := b.looking
	b.Unlock()
	select {
	case <-looking:
		b.Lock()
		defer b.Unlock()
		return b.value, b.err
	case <-ctx.Done():
		return shop.EventBacklog{}, ctx.Err()
	}
}

// exactLookLimit: Backlog's answers follow this process's own writes at
// once only where a look takes less than this.
const exactLookLimit = time.Second

// lookForBacklog runs Backlog's shared look and closes done.
func (r *Relay) lookForBacklog(done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	changes := r.changes.Load()
	docs, err := r.pendingDocs(ctx)
	var v shop.EventBacklog
	count := func(events []Entry) {
		if len(events) == 0 {
			return
		}
		v.Pending += len(events)
		if t := events[0].Time; v.Oldest.IsZero() || t.Before(v.Oldest) {
			v.Oldest = t
		}
	}
	for _, d := range docs {
		count(d.Pending)
	}
	if err == nil {
		// A batch under way counts too: its events are not out yet.
		var recs []batchDoc
		recs, err = r.pendingBatches(ctx)
		for _, rec := range recs {
			for _, d := range rec.Docs {
				count(d.Events)
			}
		}
	}
	b := &r.backlog
	b.Lock()
	defer b.Unlock()
	b.value, b.err = v, err
	if err == nil {
		b.at, b.changes = time.Now(), changes
	}
	b.looking = nil
	close(done)
}

// pendingDocs returns the documents with waiting events, oldest event
// first across documents (parents are created before their children, so
// creation events keep that order too).
func (r *Relay) pendingDocs(ctx context.Context) ([]stored, error) {
	start := time.Now()
	defer func() { r.scanCost.Store(int64(time.Since(start))) }()
	if r.onScan != nil {
		r.onScan()
	}
	cur, err := r.coll.Find(ctx, bson.D{{Key: fieldPending, Value: true}},
		options.Find().SetProjection(bson.D{{Key: "version", Value: 1}, {Key: "deleted", Value: 1}, {Key: fieldEvents, Value: 1}, {Key: fieldPending, Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("outbox: find waiting events: %w", err)
	}
	var docs []stored
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("outbox: read waiting events: %w", err)
	}
	slices.SortFunc(docs, func(a, b stored) int { return oldest(a).Compare(oldest(b)) })
	return docs, nil
}

// oldest returns the time of d's oldest event; the zero time when d is
// flagged but has none.
func oldest(d stored) time.Time {
	if len(d.Pending) == 0 {
		return time.Time{}
	}
	return d.Pending[0].Time
}

// sweep publishes the waiting events of the batch records and, if full,
// of every document whose newest event is at least minAge old, and
// reports how many it published and whether it left younger ones.
func (r *Relay) sweep(ctx context.Context, minAge time.Duration, full bool) (n int, younger bool, err error) {
	if r.cfg.Publisher == nil {
		return 0, false, nil
	}
	n, younger, err = r.sweepBatches(ctx, minAge)
	if err != nil || !full {
		return n, younger, err
	}
	docs, err := r.pendingDocs(ctx)
	if err != nil {
		return n, younger, err
	}
	now := r.cfg.Now()
	for _, d := range docs {
		if minAge > 0 && len(d.Pending) > 0 && now.Sub(d.Pending[len(d.Pending)-1].Time) < minAge {
			younger = true
			continue
		}
		sent, err := r.relayOne(ctx, d.ID)
		n += sent
		if err != nil {
			return n, younger, err
		}
	}
	return n, younger, nil
}

// relayOne publishes the waiting events of document id under its lock,
// reading them again: a writer may have published them meanwhile, or
// added more.
func (r *Relay) relayOne(ctx context.Context, id string) (int, error) {
	unlock := r.cfg.Locks.Lock(id)
	defer unlock()
	var d stored
	err := r.coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("outbox: read %s: %w", id, err)
	}
	if len(d.Pending) == 0 {
		if !d.HasPending {
			return 0, nil
		}
		// Flagged, but without events (a clear that set the flag again
		// raced with the other writer's): drop the flag.
		if _, err := docstore.Update(ctx, r.coll, id, unsetEvents, false, docstore.Equal("version", d.Version)); err != nil {
			return 0, fmt.Errorf("outbox: clear the flag of %s: %w", id, err)
		}
		return 0, nil
	}
	if err := r.publishAndClear(ctx, d); err != nil {
		return 0, err
	}
	return len(d.Pending), nil
}

// publishAndClear publishes d's events in order, then removes them from
// the document if it is still at d.Version (or removes the tombstone).
// Had another worker changed the document meanwhile, its events stay and
// go out again later: a duplicate, which subscribers drop.
func (r *Relay) publishAndClear(ctx context.Context, d stored) error {
	defer r.changes.Add(1)
	// Events go to every subscriber: never with a caller's session token.
	ctx = shop.WithToken(ctx, "")
	for _, e := range d.Pending {
		err := r.cfg.Publisher.Publish(ctx, transport.Event{ID: e.ID, Key: e.Key, Time: e.Time, Body: e.Body})
		if err != nil {
			return fmt.Errorf("outbox: publish %s of %s: %w", e.Key, d.ID, err)
		}
	}
	if err := r.clear(ctx, d); err != nil {
		return fmt.Errorf("outbox: clear published events of %s: %w", d.ID, err)
	}
	return nil
}

// unsetEvents removes a document's outbox.
var unsetEvents = bson.D{{Key: "$unset", Value: bson.D{{Key: fieldEvents, Value: ""}, {Key: fieldPending, Value: ""}}}}

// clear removes d's events, just published, from its document, or the
// document if it is a tombstone.
//
// Where the server checks a write's filter itself (MongoDB), the events
// are removed, or the tombstone deleted, if the document is still at
// d.Version: had another worker written it meanwhile, its write carried
// them on, and they go out again later (a duplicate). That is one round
// trip. On FerretDB, whose filters other than {_id} scan the collection,
// docstore checks the version by reading the document first: two round
// trips, which clear still takes for tombstones. For events it takes one:
// it pulls exactly d's events out of the document by _id ($pullAll: a
// write of another worker meanwhile keeps its own) and unsets the waiting
// flag, and looks at what the document has left. Should other events
// remain, it sets the flag again, so that a sweep finds them (a process
// that dies just before leaves them to its next write of the document,
// or to the writer's own publish); should d's own remain (stored in
// another form than sent back), it removes them as on MongoDB.
func (r *Relay) clear(ctx context.Context, d stored) error {
	atVersion := docstore.Equal("version", d.Version)
	if d.Deleted {
		_, err := docstore.Delete(ctx, r.coll, d.ID, atVersion)
		return err
	}
	if len(d.Pending) == 0 || serverChecks || !docstore.ScansFilters(ctx, r.coll.Database().Client()) {
		_, err := docstore.Update(ctx, r.coll, d.ID, unsetEvents, false, atVersion)
		return err
	}
	byID := bson.D{{Key: "_id", Value: d.ID}}
	published := make(map[string]bool, len(d.Pending))
	pull := make(bson.A, len(d.Pending))
	for i, e := range d.Pending {
		published[e.ID] = true
		pull[i] = e
	}
	var after stored
	err := r.coll.FindOneAndUpdate(ctx, byID, bson.D{
		{Key: "$pullAll", Value: bson.D{{Key: fieldEvents, Value: pull}}},
		{Key: "$unset", Value: bson.D{{Key: fieldPending, Value: ""}}},
	}, options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&after)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return nil // gone meanwhile
	case err != nil:
		return err
	case len(after.Pending) == 0:
		return nil
	}
	for _, e := range after.Pending {
		if published[e.ID] && after.Version == d.Version {
			ok, err := docstore.Update(ctx, r.coll, d.ID, unsetEvents, false, atVersion)
			if err != nil || ok {
				return err
			}
			break
		}
	}
	_, err = r.coll.UpdateOne(ctx, byID, bson.D{{Key: "$set", Value: bson.D{{Key: fieldPending, Value: true}}}})
	return err
}

// serverChecks makes clear send its condition to the server even where
// the server scans for it (tests take both ways on one server).
var serverChecks bool

// lease is what acquire reads of a collection's record in the lease
// collection (which also holds its owner and until).
type lease struct {
	// Asked, when set, is when a relay without the lease asked for a
	// sweep of the whole collection.
	Asked time.Time `bson:"asked,omitempty"`
}

// acquire takes or renews the sweeping lease and reports whether this
// relay holds it, and if so whether a sweep of the whole collection was
// asked for (when).
func (r *Relay) acquire(ctx context.Context) (held bool, asked time.Time, err error) {
	now := r.cfg.Now()
	filter := bson.D{
		{Key: "_id", Value: r.coll.Name()},
		{Key: "$or", Value: bson.A{
			bson.D{{Key: "owner", Value: r.owner}},
			bson.D{{Key: "until", Value: bson.D{{Key: "$lt", Value: now}}}},
		}},
	}
	update := bson.D{{Key: "$set", Value: bson.D{{Key: "owner", Value: r.owner}, {Key: "until", Value: now.Add(r.cfg.Lease)}}}}
	var l lease
	err = r.leases.FindOneAndUpdate(ctx, filter, update,
		options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)).Decode(&l)
	if mongo.IsDuplicateKeyError(err) {
		return false, time.Time{}, nil // another worker's relay holds it
	}
	if err != nil {
		return false, time.Time{}, fmt.Errorf("outbox: take the sweeping lease: %w", err)
	}
	return true, l.Asked, nil
}

// ask asks the lease's holder for a sweep of the whole collection.
// Failing, it logs: the holder's next look at the writers' heartbeats, or
// this relay's own next turn with the lease, covers it.
func (r *Relay) ask(ctx context.Context) {
	_, err := r.leases.UpdateOne(ctx, bson.D{{Key: "_id", Value: r.coll.Name()}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "asked", Value: r.cfg.Now()}}}})
	if err != nil && ctx.Err() == nil {
		r.log.Warn("outbox: ask for a sweep", "service", r.cfg.Name, "err", err)
	}
}

// A heartbeat is a writer's record in the lease collection: its process
// is alive until Until. Its _id is the collection's name, "/writer/" and
// the relay's owner id.
type heartbeat struct {
	ID    string    `bson:"_id"`
	Until time.Time `bson:"until"`
}

// heartbeatIDs returns the range of the collection's heartbeat ids, and
// this relay's own.
func (r *Relay) heartbeatIDs() (from, to, own string) {
	from = r.coll.Name() + "/writer/"
	return from, r.coll.Name() + "/writer0", from + r.owner
}

// keepAlive renews this relay's heartbeat every third of the lease until
// ctx ends, then removes it: a process that stops cleanly leaves nothing
// to look for, one that dies leaves a heartbeat that lapses.
func (r *Relay) keepAlive(ctx context.Context) {
	_, _, own := r.heartbeatIDs()
	byID := bson.D{{Key: "_id", Value: own}}
	tick := time.NewTicker(r.cfg.Lease / 3)
	defer tick.Stop()
	for {
		update := bson.D{{Key: "$set", Value: bson.D{{Key: "until", Value: r.cfg.Now().Add(r.cfg.Lease)}}}}
		if _, err := r.leases.UpdateOne(ctx, byID, update, options.UpdateOne().SetUpsert(true)); err != nil && ctx.Err() == nil {
			r.log.Warn("outbox: heartbeat", "service", r.cfg.Name, "err", err)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			_, _ = r.leases.DeleteOne(stop, byID)
			return
		}
	}
}

// lapsedWriters returns the heartbeats of other writers that lapsed: their
// processes died, perhaps between a write and its publish.
func (r *Relay) lapsedWriters(ctx context.Context) ([]heartbeat, error) {
	from, to, own := r.heartbeatIDs()
	cur, err := r.leases.Find(ctx, bson.D{
		{Key: "_id", Value: bson.D{{Key: "$gt", Value: from}, {Key: "$lt", Value: to}, {Key: "$ne", Value: own}}},
		{Key: "until", Value: bson.D{{Key: "$lt", Value: r.cfg.Now()}}},
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: find lapsed writers: %w", err)
	}
	var beats []heartbeat
	if err := cur.All(ctx, &beats); err != nil {
		return nil, fmt.Errorf("outbox: read lapsed writers: %w", err)
	}
	return beats, nil
}

// forget removes what a sweep of the whole collection answered: the lapsed
// heartbeats and the request asked at asked (unless renewed or asked
// again meanwhile). Failing, it logs: the next sweep is one too many, no
// more.
func (r *Relay) forget(ctx context.Context, lapsed []heartbeat, asked time.Time) {
	var errs []error
	for _, b := range lapsed {
		_, err := r.leases.DeleteOne(ctx, bson.D{{Key: "_id", Value: b.ID}, {Key: "until", Value: b.Until}})
		errs = append(errs, err)
	}
	if !asked.IsZero() {
		_, err := r.leases.UpdateOne(ctx, bson.D{{Key: "_id", Value: r.coll.Name()}, {Key: "asked", Value: asked}},
			bson.D{{Key: "$unset", Value: bson.D{{Key: "asked", Value: ""}}}})
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil && ctx.Err() == nil {
		r.log.Warn("outbox: forget answered sweep requests", "service", r.cfg.Name, "err", err)
	}
}

// ready reports why the publisher cannot take events now, if it can tell.
func (r *Relay) ready() error {
	if r.cfg.Publisher == nil {
		return errors.New("outbox: no publisher")
	}
	if p, ok := r.cfg.Publisher.(interface{ Ready() error }); ok {
		return p.Ready()
	}
	return nil
}

// poke asks Run for a sweep soon.
func (r *Relay) poke() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// detach returns a context for publishing after a write: it survives the
// caller giving up (the change is stored) but is bounded by FlushTimeout.
func (r *Relay) detach(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), r.cfg.FlushTimeout)
}
