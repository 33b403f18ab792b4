// Package idem makes a service's state-changing methods safe to repeat: it
// remembers each request it has handled, by request id (see
// transport.RequestID), with its outcome, in the service's own database,
// and answers a repeat of the request with that outcome instead of running
// it again.
//
// Requests are delivered at least once: a consumer that dies before
// acknowledging a request has it redelivered to another replica, and a
// caller whose connection dropped retries with the same id. Do wraps one
// method's work:
//
//	func (s *Server) Create(ctx context.Context, r CreateRequest) (Thing, error) {
//		return idem.Do(ctx, s.requests, MethodCreate, r, func(ctx context.Context) (Thing, error) {
//			... the change ...
//		})
//	}
//
// A request is claimed before it runs (a record on _id "<method> <id>",
// state "running", with a lease the runner renews), so a duplicate that
// arrives while it runs waits for its outcome instead of running too. Its
// outcome replaces the claim and is kept for Options.TTL (default 10
// minutes). Outcomes that say "try again" (unavailable, deadline_exceeded,
// internal) are not kept: the claim is dropped, and a retry runs afresh.
//
// One gap remains where the change and the record are two writes: a
// runner that dies after its change but before recording the outcome
// leaves a claim whose lease runs out, and the next attempt runs the work
// again. Work that must not be applied twice even then stores the request
// id inside the document it changes (the cart does), or derives the ids
// of what it creates from the request id (NewID), so the second run finds
// its own earlier write.
//
// A request id used again with a different request (another body, or
// another caller) is invalid, never answered with someone else's outcome.
package idem

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/shopbus/shopbus/internal/deflate"
	"github.com/shopbus/shopbus/internal/docstore"
	"github.com/shopbus/shopbus/internal/keylock"
	"github.com/shopbus/shopbus/transport"
)

// Defaults for Options fields left zero.
const (
	DefaultTTL   = 10 * time.Minute
	DefaultLease = 10 * time.Second
	// Collection is the collection a Store keeps its records in.
	Collection = "requests"
)

// Options configure a Store. The zero value means the defaults.
type Options struct {
	// TTL is how long an outcome is remembered (default 10 minutes).
	TTL time.Duration
	// Lease is how long a claim holds without being renewed (default 10
	// s). A runner renews it every third of that; a duplicate takes over
	// a claim whose lease ran out (its runner died).
	Lease time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives storage failures (default slog.Default()).
	Logger *slog.Logger
}

// Store remembers handled requests in one collection. A nil *Store
// remembers nothing: Do then just runs the work.
type Store struct {
	coll      *mongo.Collection
	opts      Options
	locks     keylock.Map
	lastSweep atomic.Int64 // Unix nanoseconds of the last sweep's start
	sweepCost atomic.Int64 // how long the last sweep took (a time.Duration)
}

// New returns a Store keeping its records in db's "requests" collection.
func New(db *mongo.Database, opts Options) *Store {
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Store{coll: db.Collection(Collection), opts: opts}
	s.lastSweep.Store(opts.Now().UnixNano())
	return s
}

// States of a record.
const (
	stateRunning = "running"
	stateDone    = "done"
)

// record is one request in the collection.
type record struct {
	ID          string    `bson:"_id"` // "<method> <request id>"
	Fingerprint string    `bson:"fp"`
	State       string    `bson:"state"`
	Owner       string    `bson:"owner,omitempty"` // the claim's holder
	Lease       time.Time `bson:"lease,omitempty"` // a running claim holds until then
	Reply       []byte    `bson:"reply,omitempty"` // JSON result
	// ReplyZ is a JSON result of more than compressAbove bytes, compressed
	// (DEFLATE), in place of Reply.
	ReplyZ  []byte    `bson:"reply_z,omitempty"`
	Err     []byte    `bson:"err,omitempty"` // JSON transport.Error
	Expires time.Time `bson:"expires"`
}

// Do runs fn as the handling of the request under way in ctx (method, req
// and the caller's token identify it), unless it was handled already: then
// it returns the remembered outcome. Without a request id in ctx, or with
// a nil Store, it just runs fn.
func Do[Resp any](ctx context.Context, s *Store, method string, req any, fn func(ctx context.Context) (Resp, error)) (Resp, error) {
	id := transport.RequestID(ctx)
	if s == nil || id == "" {
		return fn(ctx)
	}
	var zero Resp
	key := method + " " + id
	fp, err := Fingerprint(ctx, method, req)
	if err != nil {
		return zero, err
	}
	defer s.locks.Lock(key)() // a duplicate in this process waits here
	claim, done, err := s.claim(ctx, key, fp)
	if err != nil {
		return zero, err
	}
	if done != nil {
		return outcome[Resp](done)
	}
	stop := s.renew(key, claim)
	returned := false
	defer func() {
		stop()
		if !returned { // fn panicked: let a retry run afresh
			s.drop(ctx, key, claim)
		}
	}()
	out, runErr := fn(ctx)
	returned = true
	stop()
	s.settle(ctx, key, claim, fp, out, runErr)
	return out, runErr
}

// Fingerprint identifies what a request asks (method and req, as JSON) and
// on whose behalf (the caller's authorization header): a hex SHA-256.
func Fingerprint(ctx context.Context, method string, req any) (string, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return "", fmt.Errorf("idem: encode request: %w", err)
	}
	h := sha256.New()
	h.Write([]byte(method))
	h.Write([]byte{0})
	h.Write([]byte(transport.HeaderFrom(ctx, "authorization")))
	h.Write([]byte{0})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// claim records that this process runs the request key, and returns the
// claim's owner token; or, when the request was handled already, its
// record. A duplicate waits while another runner's claim is live.
func (s *Store) claim(ctx context.Context, key, fp string) (owner string, done *record, err error) {
	owner = uuid.NewString()
	delay := 10 * time.Millisecond
	for {
		now := s.opts.Now()
		s.maybeSweep(now)
		rec := record{ID: key, Fingerprint: fp, State: stateRunning, Owner: owner, Lease: now.Add(s.opts.Lease), Expires: now.Add(s.opts.TTL)}
		_, err := s.coll.InsertOne(ctx, rec)
		if err == nil {
			return owner, nil, nil
		}
		if !mongo.IsDuplicateKeyError(err) {
			return "", nil, s.storageError(ctx, "claim request", err)
		}
		var old record
		err = s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&old)
		switch {
		case errors.Is(err, mongo.ErrNoDocuments):
			continue // it was just dropped: claim again
		case err != nil:
			return "", nil, s.storageError(ctx, "read request", err)
		case old.Fingerprint != fp && old.Expires.After(now):
			return "", nil, transport.Invalid("request id reused", "request_id", "was used for a different request")
		case old.State == stateDone && old.Expires.After(now):
			return "", &old, nil
		case old.State == stateRunning && old.Lease.After(now):
			// Another runner holds it: wait for its outcome.
			if err := sleep(ctx, delay); err != nil {
				return "", nil, &transport.Error{Code: transport.CodeUnavailable, Message: "an earlier attempt of this request is still running", Cause: err}
			}
			delay = min(2*delay, 250*time.Millisecond)
			continue
		}
		// Expired, or a runner that died: take it over if nobody else did.
		cond := docstore.Equal("owner", old.Owner)
		if old.Owner == "" { // a record from before owners were kept
			cond = docstore.Equal("expires", old.Expires)
		}
		took, err := docstore.Replace(ctx, s.coll, key, rec, false, cond)
		if err != nil {
			return "", nil, s.storageError(ctx, "take over request", err)
		}
		if took {
			return owner, nil, nil
		}
		if err := sleep(ctx, delay); err != nil { // someone else took it: look again
			return "", nil, transport.ContextError(ctx)
		}
	}
}

// renew keeps the claim's lease alive while its work runs; the returned
// function stops it.
func (s *Store) renew(key, owner string) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(s.opts.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), s.opts.Lease/3)
				_, err := docstore.Update(ctx, s.coll, key,
					bson.D{{Key: "$set", Value: bson.D{{Key: "lease", Value: s.opts.Now().Add(s.opts.Lease)}}}}, false, docstore.Equal("owner", owner))
				cancel()
				if err != nil {
					s.opts.Logger.Warn("idem: cannot renew a request's lease", "request", key, "err", err)
				}
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); <-finished }) }
}

// drop deletes the claim key if owner still holds it.
func (s *Store) drop(ctx context.Context, key, owner string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := docstore.Delete(ctx, s.coll, key, docstore.Equal("owner", owner)); err != nil {
		s.opts.Logger.Warn("idem: cannot drop a failed request's claim; it lapses with its lease", "request", key, "err", err)
	}
}

// settle records the outcome of the request key claimed by owner, or drops
// the claim when the outcome asks for a retry.
func (s *Store) settle(ctx context.Context, key, owner, fp string, out any, runErr error) {
	if runErr != nil && transient(runErr) {
		s.drop(ctx, key, owner)
		return
	}
	// The change is made: record it even if the caller has gone. The
	// record keeps its owner, so that whoever takes it over once it
	// expires can do so on that condition.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	rec := record{ID: key, Fingerprint: fp, State: stateDone, Owner: owner, Expires: s.opts.Now().Add(s.opts.TTL)}
	var err error
	if runErr != nil {
		rec.Err, err = json.Marshal(transport.AsError(runErr))
	} else if rec.Reply, err = json.Marshal(out); err == nil && len(rec.Reply) > compressAbove {
		rec.ReplyZ, err = deflate.Compress(rec.Reply)
		rec.Reply = nil
	}
	var stored bool
	if err == nil {
		// This runner holds the claim (its lease is renewed until now), so
		// the condition almost always holds: Swap writes in one round trip
		// where Replace reads first (FerretDB). Should the claim have been
		// taken over, this outcome shows until Swap puts the claim back,
		// which is harmless: it is an outcome of this very request.
		stored, err = docstore.Swap(ctx, s.coll, key, rec, docstore.Equal("owner", owner))
		if err == nil && !stored {
			err = errors.New("the claim was taken over (its lease ran out)")
		}
	}
	if err != nil {
		s.opts.Logger.Error("idem: cannot record a request's outcome; a repeat may run it again", "request", key, "err", err)
	}
}

// transient reports whether an outcome says "try again": such outcomes are
// not remembered.
func transient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	switch transport.CodeOf(err) {
	case transport.CodeUnavailable, transport.CodeDeadlineExceeded, transport.CodeInternal:
		return true
	}
	return false
}

// outcome decodes a remembered outcome.
func outcome[Resp any](rec *record) (Resp, error) {
	var out Resp
	if len(rec.Err) > 0 {
		var e transport.Error
		if err := json.Unmarshal(rec.Err, &e); err != nil {
			return out, fmt.Errorf("idem: decode remembered error: %w", err)
		}
		return out, &e
	}
	reply := rec.Reply
	if len(rec.ReplyZ) > 0 {
		var err error
		if reply, err = deflate.Decompress(rec.ReplyZ, maxReply); err != nil {
			return out, fmt.Errorf("idem: decode remembered reply: %w", err)
		}
	}
	if err := json.Unmarshal(reply, &out); err != nil {
		return out, fmt.Errorf("idem: decode remembered reply: %w", err)
	}
	return out, nil
}

// compressAbove is the size of a JSON reply above which its record holds
// it compressed. Bulk replies (25 products with their variants: 80 KB)
// shrink to a fifth or less: a fifth of the bytes to write, and to read
// again in every sweep, which on FerretDB reads every record.
const compressAbove = 2048

// maxReply bounds a decompressed reply: what a bus message can carry.
const maxReply = 16 << 20

// maybeSweep deletes expired records in the background, at most once per
// half TTL, and no sooner than sweepSpacing times the last sweep's
// duration after it (on FerretDB a sweep reads every record: 10 s for the
// 4,000 records of a 100,000-product seed). Deleting expired records is
// safe to repeat, so a sweep that fails or runs on two replicas at once
// does no harm.
func (s *Store) maybeSweep(now time.Time) {
	last := s.lastSweep.Load()
	wait := max(s.opts.TTL/2, sweepSpacing*time.Duration(s.sweepCost.Load()))
	if now.UnixNano()-last < int64(wait) || !s.lastSweep.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	go func() {
		start := time.Now()
		if _, err := s.Sweep(context.Background()); err != nil {
			s.opts.Logger.Warn("idem: sweeping expired requests failed", "err", err)
		}
		s.sweepCost.Store(int64(time.Since(start)))
	}()
}

// sweepSpacing: sweeps take at most about 1/sweepSpacing of the time.
const sweepSpacing = 20

// Sweep deletes the records whose time is up and returns how many.
func (s *Store) Sweep(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	res, err := s.coll.DeleteMany(ctx, bson.D{{Key: "expires", Value: bson.D{{Key: "$lte", Value: s.opts.Now()}}}})
	if err != nil {
		return 0, err
	}
	return res.DeletedCount, nil
}

func (s *Store) storageError(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return transport.ContextError(ctx)
	}
	s.opts.Logger.Error("idem: "+what, "err", err)
	return &transport.Error{Code: transport.CodeUnavailable, Message: "cannot check whether the request was handled already", Cause: err}
}

// NewID returns the id of an entity the request under way in ctx creates:
// derived from the request id and name (what the entity is to the request,
// e.g. "product" or "variant:RED-M") when ctx carries a request id, so
// that running the request again creates it with the same id; a fresh
// random one otherwise. The result is a UUID.
func NewID(ctx context.Context, name string) string {
	id := transport.RequestID(ctx)
	if id == "" {
		return uuid.NewString()
	}
	return transport.DeriveRequestID(id, "idem.NewID", []byte(name))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
