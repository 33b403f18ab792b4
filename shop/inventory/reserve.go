package inventory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/shopbus/shopbus/internal/docstore"
	"github.com/shopbus/shopbus/internal/idem"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/transport"
)

// reservationDoc is one order's reservation.
type reservationDoc struct {
	OrderID string    `bson:"_id"`
	UserID  string    `bson:"user_id,omitempty"`
	State   string    `bson:"state"`
	Lines   []resLine `bson:"lines"`
	// Open is set until the state is final: the sweeper looks at these.
	Open bool `bson:"open"`
	// Short lists, for a rejected reservation, the lines that were short.
	Short     []shortLine `bson:"short,omitempty"`
	ExpiresAt time.Time   `bson:"expires_at"`
	// Lease and Owner: a transitional state is worked on by Owner until
	// Lease; after that, someone else may take it over.
	Lease     time.Time `bson:"lease,omitzero"`
	Owner     string    `bson:"owner,omitempty"`
	Reason    string    `bson:"reason,omitempty"`
	Version   int64     `bson:"version"`
	CreatedAt time.Time `bson:"created_at"`
	UpdatedAt time.Time `bson:"updated_at"`
}

type resLine struct {
	SKU      string `bson:"sku"`
	Quantity int64  `bson:"q"`
}

// shortLine is a line that could not be reserved, and what was available.
type shortLine struct {
	Index     int   `bson:"i"`
	Available int64 `bson:"a"`
}

// Reasons of released and rejected reservations.
const (
	reasonShort     = "not enough stock"
	reasonExpired   = "expired"
	reasonReleased  = "released"
	reasonAbandoned = "abandoned: its reservation was interrupted and not retried"
	reasonEarly     = "released before it was reserved"
)

func final(state string) bool {
	return state == StateCommitted || state == StateReleased || state == StateRejected
}

func (d *reservationDoc) public() Reservation {
	out := Reservation{OrderID: d.OrderID, UserID: d.UserID, State: d.State, Lines: make([]Line, len(d.Lines)),
		ExpiresAt: d.ExpiresAt, Reason: d.Reason, Version: d.Version, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
	for i, l := range d.Lines {
		out.Lines[i] = Line(l)
	}
	return out
}

// leaseLive reports whether a runner still holds d at now.
func (d *reservationDoc) leaseLive(now time.Time) bool { return now.Before(d.Lease) }

// settledError is the answer to a call that finds d rejected or
// released: the conflict that explains why; nil for any other state.
func (d *reservationDoc) settledError() error {
	switch d.State {
	case StateRejected:
		var short []string
		for _, sl := range d.Short {
			short = append(short, "lines["+strconv.Itoa(sl.Index)+"].quantity", fmt.Sprintf("only %d available", max(sl.Available, 0)))
		}
		return shop.Conflict("not enough stock for order "+quote(d.OrderID), short...)
	case StateReleased, StateReleasing:
		return shop.Conflict("the reservation of order " + quote(d.OrderID) + " was released (" + d.Reason + ")")
	}
	return nil
}

// loadRes returns the reservation of order, its revision, and whether
// it exists.
func (s *Server) loadRes(ctx context.Context, order string) (*reservationDoc, docstore.Rev, bool, error) {
	var d reservationDoc
	rev, found, err := s.resV.Load(ctx, order, &d)
	if err != nil {
		return nil, rev, false, s.internal(ctx, "load reservation", err)
	}
	return &d, rev, found, nil
}

// storeRes writes d as the next version after rev, and reports whether
// it did (false: someone else changed it first).
func (s *Server) storeRes(ctx context.Context, d *reservationDoc, rev docstore.Rev) (bool, error) {
	d.Version = rev.Version + 1
	d.UpdatedAt = s.now()
	d.Open = !final(d.State)
	if !d.Open {
		d.Lease, d.Owner = time.Time{}, ""
	}
	ok, err := s.resV.Store(ctx, d.OrderID, d, rev)
	if err != nil {
		return false, s.internal(ctx, "store reservation", err)
	}
	return ok, nil
}

// claim makes this call the runner of d in state, until the lease ends,
// and reports whether it did. d and rev are updated on success.
func (s *Server) claim(ctx context.Context, d *reservationDoc, rev *docstore.Rev, state, reason string) (bool, error) {
	next := *d
	next.State = state
	if reason != "" {
		next.Reason = reason
	}
	next.Owner = uuid.NewString()
	next.Lease = s.now().Add(s.opts.Lease)
	ok, err := s.storeRes(ctx, &next, *rev)
	if err != nil || !ok {
		return false, err
	}
	*d = next
	rev.Version = next.Version // same incarnation: d existed before
	return true, nil
}

// caller returns the authenticated caller.
func (s *Server) caller(ctx context.Context) (shop.Principal, error) {
	return shop.Caller(ctx, s.opts.Auth)
}

// mayUse checks that p may act on d: its owner, or an admin.
func mayUse(p shop.Principal, d *reservationDoc) error {
	if d.UserID == p.UserID || p.Has(shop.RoleAdmin) {
		return nil
	}
	return shop.Forbidden("the reservation of order " + quote(d.OrderID) + " is not yours")
}

// busy waits a little for another runner's lease; when ctx ends first it
// returns unavailable.
func busy(ctx context.Context) error {
	if err := sleep(ctx, 20*time.Millisecond); err != nil {
		return &shop.Error{Code: transport.CodeUnavailable, Message: "an earlier attempt for this order is still running; try again", Cause: err}
	}
	return nil
}

// detach returns the context a runner works in: it survives the caller
// giving up, so that a transition is not left half-done, but ends with
// the lease.
func (s *Server) detach(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), s.opts.Lease)
}

// ---- reserve ----

// Reserve implements Service.
func (s *Server) Reserve(ctx context.Context, r ReserveRequest) (Reservation, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return Reservation{}, err
	}
	if err := checkReserve(r); err != nil {
		return Reservation{}, err
	}
	return idem.Do(ctx, s.requests, MethodReserve, r, func(ctx context.Context) (Reservation, error) {
		return s.reserve(ctx, p, r)
	})
}

func sameLines(d *reservationDoc, lines []Line) bool {
	return slices.EqualFunc(d.Lines, lines, func(a resLine, b Line) bool { return a.SKU == b.SKU && a.Quantity == b.Quantity })
}

func (s *Server) reserve(ctx context.Context, p shop.Principal, r ReserveRequest) (Reservation, error) {
	defer s.resLocks.Lock(r.OrderID)()
	expiry := DefaultExpiry
	if r.ExpiresIn > 0 {
		expiry = time.Duration(r.ExpiresIn) * time.Second
	}
	for {
		d, rev, found, err := s.loadRes(ctx, r.OrderID)
		if err != nil {
			return Reservation{}, err
		}
		now := s.now()
		if !found {
			d = &reservationDoc{OrderID: r.OrderID, UserID: p.UserID, State: StateReserving,
				ExpiresAt: now.Add(expiry), Owner: uuid.NewString(), Lease: now.Add(s.opts.Lease), CreatedAt: now}
			for _, l := range r.Lines {
				d.Lines = append(d.Lines, resLine(l))
			}
			ok, err := s.storeRes(ctx, d, rev)
			if err != nil {
				return Reservation{}, err
			}
			if !ok {
				continue // another replica created it meanwhile
			}
			if _, rev, found, err = s.loadRes(ctx, r.OrderID); err != nil {
				return Reservation{}, err
			} else if !found || rev.Version != d.Version {
				continue
			}
			return s.runReserve(ctx, d, rev)
		}
		if err := mayUse(p, d); err != nil {
			return Reservation{}, err
		}
		if err := d.settledError(); err != nil {
			return Reservation{}, err
		}
		if !sameLines(d, r.Lines) {
			return Reservation{}, shop.Conflict("order " + quote(r.OrderID) + " has a reservation with other lines")
		}
		switch {
		case d.State != StateReserving:
			return d.public(), nil // reserved, committing or committed
		case d.leaseLive(now):
			if err := busy(ctx); err != nil {
				return Reservation{}, err
			}
		default:
			// Its runner died or gave up: carry on where it stopped.
			ok, err := s.claim(ctx, d, &rev, StateReserving, "")
			if err != nil {
				return Reservation{}, err
			}
			if ok {
				return s.runReserve(ctx, d, rev)
			}
		}
	}
}

// errShort, from a hold, says how many units were available.
type errShort struct{ available int64 }

func (e errShort) Error() string { return fmt.Sprintf("only %d available", e.available) }

// runReserve holds every line of d, which this call has claimed at rev,
// or none.
func (s *Server) runReserve(ctx context.Context, d *reservationDoc, rev docstore.Rev) (Reservation, error) {
	wctx, cancel := s.detach(ctx)
	defer cancel()
	var short []shortLine
	for i, l := range d.Lines {
		if len(short) > 0 {
			// Already rejected: only find out what else is short.
			st, found, err := s.loadStock(wctx, l.SKU)
			if err != nil {
				return s.giveUp(wctx, d, rev, err)
			}
			if avail := st.OnHand - st.Reserved; !found || avail < l.Quantity && st.holdOf(d.OrderID) < 0 {
				short = append(short, shortLine{Index: i, Available: avail})
			}
			continue
		}
		_, err := s.changeStock(wctx, l.SKU, false, func(st *stockDoc, _ time.Time) error {
			if st.holdOf(d.OrderID) >= 0 {
				return errUnchanged // held by an earlier run
			}
			avail := st.OnHand - st.Reserved
			if avail < l.Quantity {
				return errShort{avail}
			}
			if len(st.Holds) >= s.opts.MaxHolds {
				return shop.Conflict(fmt.Sprintf("%s has the maximum of %d open reservations", quote(l.SKU), s.opts.MaxHolds))
			}
			st.Holds = append(st.Holds, hold{Order: d.OrderID, Quantity: l.Quantity})
			st.Reserved += l.Quantity
			return nil
		})
		var es errShort
		switch {
		case err == nil:
		case errors.Is(err, errNoStock):
			short = append(short, shortLine{Index: i})
		case errors.As(err, &es):
			short = append(short, shortLine{Index: i, Available: es.available})
		case errors.Is(err, shop.ErrConflict):
			short = append(short, shortLine{Index: i})
		default:
			return s.giveUp(wctx, d, rev, err)
		}
	}
	next := *d
	if len(short) > 0 {
		// All or nothing: give back what this order holds.
		if err := s.applyLines(wctx, d, removeHold); err != nil {
			return s.giveUp(wctx, d, rev, err)
		}
		next.State, next.Reason, next.Short = StateRejected, reasonShort, short
	} else {
		next.State, next.Lease, next.Owner = StateReserved, time.Time{}, ""
	}
	ok, err := s.storeRes(wctx, &next, rev)
	if err != nil {
		return s.giveUp(wctx, d, rev, err)
	}
	if !ok {
		return s.afterLostLease(wctx, d)
	}
	if err := next.settledError(); err != nil {
		return Reservation{}, err
	}
	return next.public(), nil
}

// afterLostLease handles a runner of a reservation that found it changed
// by someone else (its lease ran out and another took over): what it held
// is given back unless the order is (being) reserved or committed.
func (s *Server) afterLostLease(ctx context.Context, d *reservationDoc) (Reservation, error) {
	cur, _, found, err := s.loadRes(ctx, d.OrderID)
	if err != nil {
		return Reservation{}, err
	}
	if !found || cur.State == StateReleasing || cur.State == StateReleased || cur.State == StateRejected {
		if err := s.applyLines(ctx, d, removeHold); err != nil {
			return Reservation{}, err
		}
	}
	if !found {
		return Reservation{}, shop.NotFound("reservation of order " + quote(d.OrderID))
	}
	if err := cur.settledError(); err != nil {
		return Reservation{}, err
	}
	if cur.State == StateReserving {
		return Reservation{}, shop.Unavailable("another attempt took over this order's reservation; try again")
	}
	return cur.public(), nil
}

// giveUp ends this call's lease on d early (so that a retry takes over at
// once) and returns err; the reservation stays in its state.
func (s *Server) giveUp(ctx context.Context, d *reservationDoc, rev docstore.Rev, err error) (Reservation, error) {
	next := *d
	next.Lease = s.now()
	if _, e := s.storeRes(context.WithoutCancel(ctx), &next, rev); e != nil {
		s.log.Warn("inventory: cannot end a lease early; it runs out by itself", "order", d.OrderID, "err", e)
	}
	switch transport.CodeOf(err) {
	case transport.CodeUnavailable, transport.CodeInternal, transport.CodeDeadlineExceeded:
	default:
		err = &shop.Error{Code: transport.CodeUnavailable, Message: "could not finish; try again", Cause: err}
	}
	return Reservation{}, err
}

// lineOp is what a transition does to the stock of one line.
type lineOp func(st *stockDoc, order string) error

// removeHold gives a line's units back.
func removeHold(st *stockDoc, order string) error {
	i := st.holdOf(order)
	if i < 0 {
		return errUnchanged
	}
	st.Reserved -= st.Holds[i].Quantity
	st.Holds = slices.Delete(st.Holds, i, i+1)
	return nil
}

// commitHold takes a line's units off hand.
func commitHold(st *stockDoc, order string) error {
	i := st.holdOf(order)
	if i < 0 {
		return errUnchanged // committed by an earlier run
	}
	q := st.Holds[i].Quantity
	st.Reserved -= q
	st.OnHand -= q
	st.Holds = slices.Delete(st.Holds, i, i+1)
	return nil
}

// applyLines applies op to every line of d. Each op is idempotent (it
// finds the order's hold, or not), so a re-run is harmless.
func (s *Server) applyLines(ctx context.Context, d *reservationDoc, op lineOp) error {
	for _, l := range d.Lines {
		_, err := s.changeStock(ctx, l.SKU, false, func(st *stockDoc, _ time.Time) error { return op(st, d.OrderID) })
		if err != nil && !errors.Is(err, errNoStock) {
			return err
		}
	}
	return nil
}

// ---- commit and release ----

// Commit implements Service.
func (s *Server) Commit(ctx context.Context, r OrderRequest) (Reservation, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return Reservation{}, err
	}
	if err := fieldErrors("invalid order", "order_id", checkOrderID(r.OrderID)); err != nil {
		return Reservation{}, err
	}
	return idem.Do(ctx, s.requests, MethodCommit, r, func(ctx context.Context) (Reservation, error) {
		return s.commit(ctx, p, r.OrderID)
	})
}

func (s *Server) commit(ctx context.Context, p shop.Principal, order string) (Reservation, error) {
	defer s.resLocks.Lock(order)()
	for {
		d, rev, found, err := s.loadRes(ctx, order)
		if err != nil {
			return Reservation{}, err
		}
		if !found {
			return Reservation{}, shop.NotFound("reservation of order " + quote(order))
		}
		if err := mayUse(p, d); err != nil {
			return Reservation{}, err
		}
		now := s.now()
		switch d.State {
		case StateCommitted:
			return d.public(), nil
		case StateReserved:
			if !now.Before(d.ExpiresAt) {
				// Expired: release it now rather than wait for the sweeper.
				if ok, err := s.claim(ctx, d, &rev, StateReleasing, reasonExpired); err != nil {
					return Reservation{}, err
				} else if ok {
					if _, err := s.settle(ctx, d, rev, removeHold, StateReleased); err != nil {
						return Reservation{}, err
					}
					return Reservation{}, d.settledError()
				}
				continue
			}
			if ok, err := s.claim(ctx, d, &rev, StateCommitting, ""); err != nil {
				return Reservation{}, err
			} else if ok {
				return s.settle(ctx, d, rev, commitHold, StateCommitted)
			}
		case StateCommitting:
			if d.leaseLive(now) {
				if err := busy(ctx); err != nil {
					return Reservation{}, err
				}
				continue
			}
			if ok, err := s.claim(ctx, d, &rev, StateCommitting, ""); err != nil {
				return Reservation{}, err
			} else if ok {
				return s.settle(ctx, d, rev, commitHold, StateCommitted)
			}
		case StateReserving:
			if d.leaseLive(now) {
				if err := busy(ctx); err != nil {
					return Reservation{}, err
				}
				continue
			}
			return Reservation{}, shop.Conflict("the reservation of order " + quote(order) + " is not complete: reserve it again")
		default:
			return Reservation{}, d.settledError()
		}
	}
}

// settle applies op to every line of d, which this call has claimed at
// rev, then records d in state done: the second half of a commit
// (commitHold, StateCommitted) or a release (removeHold, StateReleased).
func (s *Server) settle(ctx context.Context, d *reservationDoc, rev docstore.Rev, op lineOp, done string) (Reservation, error) {
	wctx, cancel := s.detach(ctx)
	defer cancel()
	if err := s.applyLines(wctx, d, op); err != nil {
		return s.giveUp(wctx, d, rev, err)
	}
	next := *d
	next.State = done
	ok, err := s.storeRes(wctx, &next, rev)
	if err != nil {
		return s.giveUp(wctx, d, rev, err)
	}
	if !ok {
		// Someone took over once the lease ran out; both operations are
		// idempotent per line, so whoever finishes finishes the same.
		return s.afterLostLease(wctx, d)
	}
	*d = next
	return next.public(), nil
}

// Release implements Service.
func (s *Server) Release(ctx context.Context, r OrderRequest) (Reservation, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return Reservation{}, err
	}
	if err := fieldErrors("invalid order", "order_id", checkOrderID(r.OrderID)); err != nil {
		return Reservation{}, err
	}
	return idem.Do(ctx, s.requests, MethodRelease, r, func(ctx context.Context) (Reservation, error) {
		return s.release(ctx, p, r.OrderID)
	})
}

func (s *Server) release(ctx context.Context, p shop.Principal, order string) (Reservation, error) {
	defer s.resLocks.Lock(order)()
	for {
		d, rev, found, err := s.loadRes(ctx, order)
		if err != nil {
			return Reservation{}, err
		}
		now := s.now()
		if !found {
			// Nothing reserved yet: record the release, so that a late
			// reserve of this order holds nothing.
			d = &reservationDoc{OrderID: order, UserID: p.UserID, State: StateReleased, Reason: reasonEarly, CreatedAt: now}
			ok, err := s.storeRes(ctx, d, rev)
			if err != nil {
				return Reservation{}, err
			}
			if ok {
				return d.public(), nil
			}
			continue
		}
		if err := mayUse(p, d); err != nil {
			return Reservation{}, err
		}
		switch d.State {
		case StateReleased, StateRejected:
			return d.public(), nil
		case StateCommitted:
			return Reservation{}, shop.Conflict("the reservation of order " + quote(order) + " is committed")
		case StateCommitting:
			return Reservation{}, shop.Conflict("the reservation of order " + quote(order) + " is being committed")
		case StateReserved:
			if ok, err := s.claim(ctx, d, &rev, StateReleasing, reasonReleased); err != nil {
				return Reservation{}, err
			} else if ok {
				return s.settle(ctx, d, rev, removeHold, StateReleased)
			}
		default: // reserving or releasing
			if d.leaseLive(now) {
				if err := busy(ctx); err != nil {
					return Reservation{}, err
				}
				continue
			}
			reason := d.Reason
			if d.State == StateReserving {
				reason = reasonReleased
			}
			if ok, err := s.claim(ctx, d, &rev, StateReleasing, reason); err != nil {
				return Reservation{}, err
			} else if ok {
				return s.settle(ctx, d, rev, removeHold, StateReleased)
			}
		}
	}
}

// GetReservation implements Service.
func (s *Server) GetReservation(ctx context.Context, r OrderRequest) (Reservation, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return Reservation{}, err
	}
	if err := fieldErrors("invalid order", "order_id", checkOrderID(r.OrderID)); err != nil {
		return Reservation{}, err
	}
	d, _, found, err := s.loadRes(ctx, r.OrderID)
	if err != nil {
		return Reservation{}, err
	}
	if !found {
		return Reservation{}, shop.NotFound("reservation of order " + quote(r.OrderID))
	}
	if err := mayUse(p, d); err != nil {
		return Reservation{}, err
	}
	return d.public(), nil
}

// ---- the sweeper ----

// SweepResult says what a Sweep did.
type SweepResult struct {
	// Expired counts reservations released because they expired.
	Expired int
	// Recovered counts interrupted transitions finished or undone.
	Recovered int
	// Deleted counts finished reservations forgotten after Options.Retention.
	Deleted int
}

// Sweep releases the reservations that expired, finishes or undoes those
// whose runner died (its lease out for a further Options.Lease: a commit
// or release is completed, a half-done reserve undone), and forgets
// finished ones older than Options.Retention. Any number of replicas may
// sweep at once: each reservation is claimed by a compare-and-set on its
// version, so exactly one of them works on it. Run calls it periodically.
func (s *Server) Sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	ids, err := s.openIDs(ctx, bson.D{{Key: "open", Value: true}})
	if err != nil {
		return res, err
	}
	var errs []error
	for _, id := range ids {
		expired, recovered, err := s.sweepOne(ctx, id)
		if expired {
			res.Expired++
		}
		if recovered {
			res.Recovered++
		}
		if err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			errs = append(errs, err)
		}
	}
	old, err := s.openIDs(ctx, bson.D{{Key: "open", Value: false}, {Key: "updated_at", Value: bson.D{{Key: "$lt", Value: s.now().Add(-s.opts.Retention)}}}})
	if err != nil {
		return res, errors.Join(append(errs, err)...)
	}
	for _, id := range old {
		d, rev, found, err := s.loadRes(ctx, id)
		if err != nil || !found || d.Open || !d.UpdatedAt.Before(s.now().Add(-s.opts.Retention)) {
			continue
		}
		if ok, err := docstore.Delete(ctx, s.reservations, id, docstore.Equal("version", rev.Version)); err != nil {
			errs = append(errs, err)
		} else if ok {
			res.Deleted++
		}
	}
	return res, errors.Join(errs...)
}

// openIDs returns the ids of the reservations filter selects (a scan on
// FerretDB; the sweeper's only non-_id query).
func (s *Server) openIDs(ctx context.Context, filter bson.D) ([]string, error) {
	cur, err := s.reservations.Find(ctx, filter, idsOnly())
	if err != nil {
		return nil, s.internal(ctx, "find reservations", err)
	}
	var docs []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, s.internal(ctx, "find reservations", err)
	}
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.ID
	}
	return ids, nil
}

// sweepOne looks at one open reservation, read afresh.
func (s *Server) sweepOne(ctx context.Context, id string) (expired, recovered bool, err error) {
	defer s.resLocks.Lock(id)()
	d, rev, found, err := s.loadRes(ctx, id)
	if err != nil || !found || final(d.State) {
		return false, false, err
	}
	now := s.now()
	stale := !now.Before(d.Lease.Add(s.opts.Lease)) // the lease has been out for another Lease
	var state, reason string
	switch {
	case d.State == StateReserved && !now.Before(d.ExpiresAt):
		state, reason, expired = StateReleasing, reasonExpired, true
	case d.State == StateReserving && stale:
		state, reason, recovered = StateReleasing, reasonAbandoned, true
	case (d.State == StateCommitting || d.State == StateReleasing) && stale:
		state, recovered = d.State, true
	default:
		return false, false, nil
	}
	ok, err := s.claim(ctx, d, &rev, state, reason)
	if err != nil || !ok {
		return false, false, err // another sweeper has it
	}
	if state == StateCommitting {
		_, err = s.settle(ctx, d, rev, commitHold, StateCommitted)
	} else {
		_, err = s.settle(ctx, d, rev, removeHold, StateReleased)
	}
	// The outermost code decides (not errors.Is): giveUp answers a conflict
	// met on the way as unavailable, keeping it as the cause, and that is
	// not a settlement by someone else.
	if err != nil && transport.CodeOf(err) == transport.CodeConflict {
		err = nil // someone else settled it meanwhile
	}
	return expired, recovered, err
}
