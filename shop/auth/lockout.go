package auth

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/shopbus/shopbus/internal/docstore"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/transport"
)

// The lockout.
//
// An attempt to prove an address's password (a login, a password change)
// is counted before the password is verified, and only if the address's
// budget allows it: its failures in the current window plus its attempts
// being verified must stay below MaxFailedLogins. Counting first means
// that concurrent guesses, through any number of replicas, never get more
// than MaxFailedLogins passwords verified per window: the others are
// refused as locked without running bcrypt.
//
// When the verification ends the attempt is settled: a wrong password
// becomes a failure (the one that reaches MaxFailedLogins locks the
// address for LockoutDuration); a right one forgives the failures that
// were counted before it began, never those of attempts that ran
// alongside it, and nothing while the address is locked; an attempt that
// could not be verified (a storage error, a deadline) is withdrawn.
//
// The record of an address is changed by compare-and-set on its version
// (docstore.Versions), which holds across processes on MongoDB (a replace
// filtered on _id and version) and on FerretDB (an insert into the
// version log). An attempt whose process dies before it is settled keeps
// its place in the budget until the window ends, erring on the side of
// caution.
//
// A repeated login (see recheck) is checked differently, so that a repeat
// with the right password leaves the database as it was: see
// beginRecheck.

// failureDoc is the lockout record of one e-mail address (its _id): the
// failed logins and the attempts being verified in the window that began
// at FirstAt. LockedUntil is the zero time unless the address was locked
// in this window.
type failureDoc struct {
	Email       string    `bson:"_id"`
	Version     int64     `bson:"version"`
	Count       int       `bson:"count"`   // wrong passwords
	Pending     int       `bson:"pending"` // attempts counted, not yet settled
	FirstAt     time.Time `bson:"first_at"`
	LockedUntil time.Time `bson:"locked_until"`
}

// attempt is an attempt counted by beginAttempt, for finishAttempt.
type attempt struct {
	email   string
	window  time.Time // FirstAt of the window it was counted in
	forgive int       // failures its success forgives
}

// outcome is how an attempt ended.
type outcome int

const (
	attemptWithdrawn outcome = iota // not verified: it does not count
	attemptFailed                   // wrong password
	attemptSucceeded                // right password
)

// changeFailures applies change to the lockout record of email by
// compare-and-set, loading it again and retrying while other writers get
// there first. change gets the record (nil if there is none) and the
// time, and returns the record to store, or nil to store nothing.
func (s *Server) changeFailures(ctx context.Context, email string, change func(f *failureDoc, now time.Time) (*failureDoc, error)) error {
	defer s.failLock.Lock(email)() // fewer conflicts within the process
	const tries = 50               // each lost round means another writer progressed
	for try := 0; try < tries; try++ {
		var f failureDoc
		rev, found, err := s.loadFailures(ctx, email, &f)
		if err != nil {
			return err
		}
		cur := &f
		if !found {
			cur = nil
		}
		next, err := change(cur, s.now())
		if err != nil || next == nil {
			return err
		}
		next.Email, next.Version = email, rev.Version+1
		ok, err := s.failVersions.Store(ctx, email, next, rev)
		if err != nil {
			return s.internal(ctx, "store failed logins", err)
		}
		if ok {
			return nil
		}
		// Pause briefly, with jitter, so that competing writers spread out.
		t := time.NewTimer(time.Duration(rand.Int64N(int64(min(try+1, 10)) * int64(time.Millisecond))))
		select {
		case <-ctx.Done():
			t.Stop()
			return transport.ContextError(ctx)
		case <-t.C:
		}
	}
	return s.internal(ctx, "store failed logins", errors.New("record keeps changing"))
}

// loadFailures loads the lockout record of email into f. A record written
// by an earlier release (without a version) is dropped: it counted at
// most one window's failures.
func (s *Server) loadFailures(ctx context.Context, email string, f *failureDoc) (rev docstore.Rev, found bool, err error) {
	for range 2 {
		rev, found, err = s.failVersions.Load(ctx, email, f)
		if err == nil {
			return rev, found, nil
		}
		raw, rerr := s.failures.FindOne(ctx, bson.D{{Key: "_id", Value: email}}).Raw()
		if rerr != nil || raw.Lookup("version").Type != 0 {
			break
		}
		if _, derr := s.failures.DeleteOne(ctx, bson.D{{Key: "_id", Value: email}, {Key: "version", Value: bson.D{{Key: "$exists", Value: false}}}}); derr != nil {
			break
		}
		s.log.InfoContext(ctx, "auth: dropped a lockout record without a version", "email", email)
	}
	return rev, false, s.internal(ctx, "look up failed logins", err)
}

// current returns f, or a fresh record starting a window at now if f no
// longer counts: there is none, it does not lock the address and its
// window or its lock is over, or it holds neither failures nor attempts
// (the next attempt starts a window).
func (s *Server) current(f *failureDoc, now time.Time) *failureDoc {
	if f != nil && f.LockedUntil.After(now) {
		return f
	}
	if f == nil || f.Count == 0 && f.Pending == 0 ||
		!now.Before(f.FirstAt.Add(s.opts.LockoutWindow)) ||
		!f.LockedUntil.IsZero() && !f.LockedUntil.After(now) {
		return &failureDoc{FirstAt: now}
	}
	return f
}

// refused reports whether f, as current returns it, admits no attempt at
// now: the address is locked, or its budget is taken.
func (s *Server) refused(f *failureDoc, now time.Time) bool {
	return f.LockedUntil.After(now) || f.Count+f.Pending >= s.opts.MaxFailedLogins
}

// beginAttempt counts an attempt to prove the password of email, or
// returns errLocked if the address is locked or its budget is taken.
func (s *Server) beginAttempt(ctx context.Context, email string) (attempt, error) {
	var a attempt
	err := s.changeFailures(ctx, email, func(f *failureDoc, now time.Time) (*failureDoc, error) {
		f = s.current(f, now)
		if s.refused(f, now) {
			return nil, errLocked()
		}
		a = attempt{email: email, window: f.FirstAt, forgive: f.Count}
		f.Pending++
		return f, nil
	})
	return a, err
}

// finishAttempt settles a. It runs even if ctx is cancelled, and logs what
// it cannot store: an attempt left unsettled counts against the address
// until its window ends.
func (s *Server) finishAttempt(ctx context.Context, a attempt, how outcome) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	locked := false
	err := s.changeFailures(ctx, a.email, func(f *failureDoc, now time.Time) (*failureDoc, error) {
		locked = false
		if f == nil || !f.FirstAt.Equal(a.window) {
			return nil, nil // its window is over: nothing to settle
		}
		f.Pending = max(f.Pending-1, 0)
		switch how {
		case attemptFailed:
			locked = s.fail(f, now)
		case attemptSucceeded:
			if !f.LockedUntil.After(now) {
				f.Count -= min(a.forgive, f.Count)
			}
		}
		return f, nil
	})
	if err != nil {
		s.log.ErrorContext(ctx, "auth: cannot settle a login attempt", "err", err)
	} else if locked {
		s.lockedWarning(ctx, a.email)
	}
}

// fail counts a failure in f, locking the address at the last one
// allowed, and reports whether it locked it.
func (s *Server) fail(f *failureDoc, now time.Time) bool {
	f.Count++
	if f.Count >= s.opts.MaxFailedLogins && f.LockedUntil.IsZero() {
		f.LockedUntil = now.Add(s.opts.LockoutDuration)
		return true
	}
	return false
}

func (s *Server) lockedWarning(ctx context.Context, email string) {
	s.log.WarnContext(ctx, "auth: e-mail address locked after failed logins", "email", email)
}

// recheckDoc marks a repeated login of an address being checked (see
// beginRecheck).
type recheckDoc struct {
	Email string    `bson:"_id"`
	At    time.Time `bson:"at"`
}

// recheckStale is how old a recheck mark must be to be taken for one its
// process left behind when it died.
const recheckStale = time.Minute

// beginRecheck admits the check of a repeated login's password for email
// and returns the function that ends it, or errLocked if the address
// admits no attempt now.
//
// A repeat with the right password must leave the database as it was
// (see package idem), so its check is not counted like a login's: it is
// admitted only while the address admits attempts, and only one at a
// time per address across all processes (a mark inserted on the
// address's _id and deleted afterwards); a wrong password is counted
// before the mark is removed. So guesses through repeats are serial and
// stop at the lock. (A repeat needs the request id of a login that
// succeeded within the request memory's TTL, for the same address.)
func (s *Server) beginRecheck(ctx context.Context, email string) (end func(failed bool), err error) {
	var f failureDoc
	if _, found, err := s.loadFailures(ctx, email, &f); err != nil {
		return nil, err
	} else if now := s.now(); found && s.refused(s.current(&f, now), now) {
		return nil, errLocked()
	}
	mark := recheckDoc{Email: email, At: s.now()}
	if _, err := s.rechecks.InsertOne(ctx, mark); mongo.IsDuplicateKeyError(err) {
		var old recheckDoc
		if s.rechecks.FindOne(ctx, bson.D{{Key: "_id", Value: email}}).Decode(&old) != nil || old.At.After(mark.At.Add(-recheckStale)) {
			return nil, shop.Unavailable("auth: a repeat of this login is being checked; try again")
		}
		// Left by a process that died: take it over.
		ok, err := docstore.Replace(ctx, s.rechecks, email, mark, false, docstore.Equal("at", old.At))
		if err != nil {
			return nil, s.internal(ctx, "mark login recheck", err)
		}
		if !ok {
			return nil, shop.Unavailable("auth: a repeat of this login is being checked; try again")
		}
	} else if err != nil {
		return nil, s.internal(ctx, "mark login recheck", err)
	}
	return func(failed bool) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if failed {
			locked := false
			err := s.changeFailures(ctx, email, func(f *failureDoc, now time.Time) (*failureDoc, error) {
				f = s.current(f, now)
				locked = s.fail(f, now)
				return f, nil
			})
			if err != nil {
				s.log.ErrorContext(ctx, "auth: cannot count a failed login", "err", err)
			} else if locked {
				s.lockedWarning(ctx, email)
			}
		}
		if _, err := docstore.Delete(ctx, s.rechecks, email, docstore.Equal("at", mark.At)); err != nil {
			s.log.WarnContext(ctx, "auth: cannot remove a login recheck mark", "err", err)
		}
	}, nil
}
