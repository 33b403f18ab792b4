package order

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/internal/audit"
	"github.com/shopbus/shopbus/internal/docstore"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/inventory"
	"github.com/shopbus/shopbus/transport"
)

// Reasons a checkout fails, as the shopper reads them.
const (
	reasonDeclined      = "the payment was declined"
	reasonProviderError = "the payment failed: the payment provider reported an error"
	reasonTimeout       = "the payment failed: the payment provider did not answer in time"
	reasonExpired       = "the stock held for the order was released before the payment completed"
	reasonUnavailable   = "the checkout could not be completed: a service it needs did not answer"
)

func productGet(id string) product.GetRequest { return product.GetRequest{ID: id} }

// lineOf returns the order line of cart line cl at the price product p
// has now, and false if p or its variant is not for sale.
func lineOf(p product.Product, cl cart.Line) (lineDoc, bool) {
	if p.ID != cl.ProductID || p.Status != shop.StatusPublished {
		return lineDoc{}, false
	}
	l := lineDoc{ProductID: p.ID, Title: p.Title, SKU: p.SKU, UnitPrice: p.Price, Quantity: int64(cl.Quantity)}
	if cl.VariantID != "" {
		found := false
		for _, v := range p.Variants {
			if v.ID == cl.VariantID {
				l.VariantID, l.SKU, l.Options, found = v.ID, v.SKU, v.Options, true
				if v.Price.Currency != "" {
					l.UnitPrice = v.Price
				}
			}
		}
		if !found {
			return lineDoc{}, false
		}
	} else if len(p.Variants) > 0 {
		return lineDoc{}, false
	}
	if l.SKU == "" || l.Quantity < 1 || l.UnitPrice.Validate("price") != nil {
		return lineDoc{}, false
	}
	return l, true
}

// claim makes this process the runner of d, whose lease ran out, and
// reports whether it did; d and rev are updated on success.
func (s *Server) claim(ctx context.Context, d *orderDoc, rev *docstore.Rev) (bool, error) {
	next := *d
	next.Owner, next.Lease = uuid.NewString(), s.now().Add(s.opts.Lease)
	ok, err := s.store(ctx, "", d, &next, rev, "")
	if ok {
		*d = next
	}
	return ok, err
}

// runDetached runs d's saga, which this call has claimed at rev, in a
// context that survives the caller giving up (the saga is not left
// half-done because a shopper closed the page) but ends with the lease.
// It returns the order as the run left it.
func (s *Server) runDetached(ctx context.Context, d *orderDoc, rev docstore.Rev) (Order, error) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.Lease)
	defer cancel()
	return s.run(wctx, d, rev).public(), nil
}

// run does the steps of d one after the other, storing each outcome with
// a compare-and-set that also renews the lease, until the order is
// settled, a step fails transiently (recovery retries it), or another
// runner has taken the order over. It returns the order as it knows it.
// Each step done is recorded in the order's audit log as the saga's own
// (SagaAction+step), naming no one, whoever started the run.
func (s *Server) run(ctx context.Context, d *orderDoc, rev docstore.Rev) *orderDoc {
	ctx = audit.WithActor(ctx, shop.Principal{})
	for d.Step != "" {
		if ctx.Err() != nil {
			return d
		}
		if s.crash != nil && s.crash(d.Step, false) {
			return d
		}
		next, event, err := s.step(ctx, d)
		if s.crash != nil && s.crash(d.Step, true) {
			return d
		}
		if err != nil {
			next, event = s.failedAttempt(ctx, d, err)
		}
		ok, serr := s.store(context.WithoutCancel(ctx), SagaAction+d.Step, d, next, &rev, event)
		if serr != nil {
			return d // the lease runs out; recovery carries on
		}
		if !ok {
			// Another runner took over (our lease ran out): show its view.
			if cur, _, found, err := s.load(context.WithoutCancel(ctx), d.ID); err == nil && found {
				return cur
			}
			return d
		}
		d = next
		if err != nil && d.Step != stepCompensate {
			return d // recovery retries the step
		}
	}
	return d
}

// failedAttempt is the next state of d after its step failed transiently
// with err: the lease is given up at once (recovery retries the step),
// and a checkout whose step failed Options.MaxAttempts times is
// compensated.
func (s *Server) failedAttempt(ctx context.Context, d *orderDoc, err error) (*orderDoc, string) {
	next := *d
	next.Attempts++
	s.log.WarnContext(ctx, "order: a step failed; it will be retried", "order", d.ID, "step", d.Step, "attempt", next.Attempts, "err", err)
	switch d.Step {
	case stepReserve, stepAuthorize, stepCommit:
		if next.Attempts >= s.opts.MaxAttempts {
			next.Step, next.Attempts, next.Reason = stepCompensate, 0, reasonUnavailable
			next.Lease = s.now().Add(s.opts.Lease)
			return &next, ""
		}
	}
	next.Lease = s.now()
	return &next, ""
}

// step does d's current step and returns the order's next state and the
// event to announce with it; an error says the step failed transiently.
func (s *Server) step(ctx context.Context, d *orderDoc) (*orderDoc, string, error) {
	next := *d
	next.Attempts = 0
	next.Lease = s.now().Add(s.opts.Lease)
	compensate := func(reason string) (*orderDoc, string, error) {
		next.Step, next.Reason = stepCompensate, reason
		return &next, "", nil
	}
	sctx, cancel := context.WithTimeout(ctx, s.opts.StepTimeout)
	defer cancel()
	pctx, pcancel := context.WithTimeout(ctx, s.opts.PaymentTimeout)
	defer pcancel()
	order := inventory.OrderRequest{OrderID: d.ID}
	switch d.Step {
	case stepReserve:
		req := inventory.ReserveRequest{OrderID: d.ID, ExpiresIn: int64(s.opts.Reservation / time.Second)}
		for _, l := range d.Lines {
			req.Lines = append(req.Lines, inventory.Line{SKU: l.SKU, Quantity: l.Quantity})
		}
		_, err := s.opts.Stock.Reserve(sctx, req)
		switch code := transport.CodeOf(err); {
		case err == nil:
			next.Step, next.PaymentTried = stepAuthorize, true
		case code == transport.CodeConflict:
			return compensate(shortReason(d, err))
		case code == transport.CodeInvalid || code == transport.CodeForbidden || code == transport.CodeNotFound:
			return compensate("the stock could not be reserved: " + messageOf(err))
		default:
			return nil, "", err
		}
	case stepAuthorize:
		id, err := s.opts.Payment.Authorize(pctx, d.ID, d.amount())
		switch {
		case err == nil:
			next.Step, next.AuthID, next.Payment = stepCommit, id, PaymentAuthorized
		case ctx.Err() != nil:
			return nil, "", err // this runner ran out of time, not the provider
		case errors.Is(err, ErrDeclined):
			return compensate(reasonDeclined)
		case pctx.Err() != nil:
			return compensate(reasonTimeout)
		default:
			return compensate(reasonProviderError)
		}
	case stepCommit:
		_, err := s.opts.Stock.Commit(sctx, order)
		switch code := transport.CodeOf(err); {
		case err == nil:
			next.Step, next.Committed, next.Status, next.Reason = stepCapture, true, StatusPaid, ""
			return &next, shop.EventOrderConfirmed, nil
		case code == transport.CodeConflict || code == transport.CodeNotFound:
			return compensate(reasonExpired)
		default:
			return nil, "", err
		}
	case stepCapture:
		err := s.opts.Payment.Capture(pctx, d.ID, d.amount())
		switch {
		case err == nil:
			next.Step, next.Payment = "", PaymentCaptured
		case errors.Is(err, ErrDeclined) && ctx.Err() == nil:
			s.log.ErrorContext(ctx, "order: the provider refused to capture an authorised payment; look at it", "order", d.ID, "err", err)
			next.Step, next.Payment = "", PaymentCaptureFailed
		default:
			return nil, "", err
		}
	case stepCompensate:
		_, err := s.opts.Stock.Release(sctx, order)
		if errors.Is(err, shop.ErrConflict) {
			// Committed after all (a commit whose answer was lost): the
			// order goes forward, not back, while its payment stands.
			if res, gerr := s.opts.Stock.GetReservation(sctx, order); gerr == nil && res.State == inventory.StateCommitted && d.Payment == PaymentAuthorized {
				next.Step, next.Reason = stepCommit, ""
				return &next, "", nil
			}
		}
		if err != nil {
			return nil, "", err
		}
		if d.PaymentTried && d.Payment != PaymentVoided {
			if err := s.opts.Payment.Void(pctx, d.ID); err != nil {
				return nil, "", err
			}
			next.Payment = PaymentVoided
		}
		next.Step, next.Status = "", StatusFailed
		return &next, shop.EventOrderFailed, nil
	case stepCancel:
		switch d.Payment {
		case PaymentCaptured:
			if err := s.opts.Payment.Refund(pctx, d.ID, d.amount()); err != nil {
				return nil, "", err
			}
			next.Payment = PaymentRefunded
		case PaymentAuthorized:
			if err := s.opts.Payment.Void(pctx, d.ID); err != nil {
				return nil, "", err
			}
			next.Payment = PaymentVoided
		}
		if d.Committed {
			octx, err := s.operatorContext(sctx)
			if err != nil {
				return nil, "", err
			}
			for i := d.Restocked; i < len(d.Lines); i++ {
				l := d.Lines[i]
				// One request id per order and line: a re-run of the
				// cancel does not put the units back twice.
				rctx := transport.WithRequestID(octx, transport.DeriveRequestID(d.ID, "order.restock", []byte(strconv.Itoa(i)+"\x00"+l.SKU)))
				if _, err := s.opts.Stock.Adjust(rctx, inventory.AdjustRequest{SKU: l.SKU, Delta: l.Quantity}); err != nil {
					return nil, "", err
				}
			}
			next.Restocked = len(d.Lines)
		}
		next.Step, next.Status = "", StatusCancelled
		return &next, shop.EventOrderCancelled, nil
	default:
		return nil, "", fmt.Errorf("order: unknown step %q", d.Step)
	}
	return &next, "", nil
}

// shortReason turns inventory's conflict about short lines into what the
// shopper reads: "out of stock: Mug (only 0 left), Tea (only 2 left)".
func shortReason(d *orderDoc, err error) string {
	var e *shop.Error
	if !errors.As(err, &e) || len(e.Fields) == 0 {
		return "not enough stock: " + messageOf(err)
	}
	var parts []string
	for _, f := range e.Fields {
		rest, ok := strings.CutPrefix(f.Field, "lines[")
		idx, _, _ := strings.Cut(rest, "]")
		i, convErr := strconv.Atoi(idx)
		if !ok || convErr != nil || i < 0 || i >= len(d.Lines) {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", d.Lines[i].Title, strings.Replace(f.Message, "available", "left", 1)))
	}
	if len(parts) == 0 {
		return "not enough stock: " + messageOf(err)
	}
	return "out of stock: " + strings.Join(parts, ", ")
}

func messageOf(err error) string {
	var e *shop.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

// operatorContext returns ctx carrying the operator's session token.
func (s *Server) operatorContext(ctx context.Context) (context.Context, error) {
	if s.opts.Operator == nil {
		return nil, shop.Unavailable("the order service has no operator session configured")
	}
	token, err := s.opts.Operator(ctx)
	if err != nil {
		return nil, err
	}
	return shop.WithToken(ctx, token), nil
}

// ---- recovery ----

// Recover takes over the sagas whose runner is gone (their lease ran
// out) and runs them on, as the operator: forward where they can go
// forward, compensating where a step failed for good. It returns how many
// it took over. Any number of replicas may recover at once: an order is
// claimed by a compare-and-set on its version, so exactly one of them
// runs it. Run calls it periodically.
func (s *Server) Recover(ctx context.Context) (int, error) {
	cur, err := s.orders.Find(ctx, bson.D{{Key: "open", Value: true}}, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return 0, s.internal(ctx, "find open orders", err)
	}
	var ids []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &ids); err != nil {
		return 0, s.internal(ctx, "find open orders", err)
	}
	n := 0
	var errs []error
	for _, id := range ids {
		took, err := s.recoverOne(ctx, id.ID)
		if took {
			n++
		}
		if err != nil {
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			errs = append(errs, err)
		}
	}
	return n, errors.Join(errs...)
}

func (s *Server) recoverOne(ctx context.Context, id string) (bool, error) {
	defer s.locks.Lock(id)()
	d, rev, found, err := s.load(ctx, id)
	if err != nil || !found || d.Step == "" || s.now().Before(d.Lease) {
		return false, err
	}
	octx, err := s.operatorContext(ctx)
	if err != nil {
		return false, fmt.Errorf("order %s: %w", id, err)
	}
	if ok, err := s.claim(ctx, d, &rev); err != nil || !ok {
		return false, err // another replica has it
	}
	wctx, cancel := context.WithTimeout(octx, s.opts.Lease)
	defer cancel()
	s.run(wctx, d, rev)
	return true, nil
}

// ---- the operator's session ----

// Sessions is what AdminSession needs from the auth service
// (auth.NewClient(bus) is one).
type Sessions interface {
	Login(ctx context.Context, r auth.LoginRequest) (auth.Session, error)
	Authenticate(ctx context.Context, token string) (shop.Principal, error)
}

// AdminSession returns an Options.Operator that logs in with an admin's
// email and password, keeps the session, and logs in again when it no
// longer authenticates.
func AdminSession(a Sessions, email, password string) func(ctx context.Context) (string, error) {
	var mu sync.Mutex
	token := ""
	return func(ctx context.Context) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if token != "" {
			_, err := a.Authenticate(ctx, token)
			if err == nil {
				return token, nil
			}
			if !errors.Is(err, shop.ErrUnauthenticated) {
				return "", err
			}
		}
		sess, err := a.Login(ctx, auth.LoginRequest{Email: email, Password: password})
		if err != nil {
			return "", err
		}
		token = sess.Token
		return token, nil
	}
}
