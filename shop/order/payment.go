package order

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/shopbus/shopbus/shop"
)

// Payment is a payment provider. Every method is idempotent by key (the
// order id): authorising a key again returns the authorisation it has, and
// a Capture, Void or Refund done already succeeds again without effect.
// Void of a key never authorised must record it, so that an Authorize
// arriving late (a retry overtaken by the saga's compensation) is
// declined. The order service never sees card data: the provider holds
// the means of payment, the shop only amounts and keys.
type Payment interface {
	// Authorize reserves amount on the shopper's means of payment and
	// returns the authorisation's id. A refusal wraps ErrDeclined; any
	// other error is the provider failing (the saga compensates it).
	Authorize(ctx context.Context, key string, amount shop.Money) (string, error)
	// Capture takes the authorised amount.
	Capture(ctx context.Context, key string, amount shop.Money) error
	// Void cancels an authorisation not captured.
	Void(ctx context.Context, key string) error
	// Refund gives back a captured amount.
	Refund(ctx context.Context, key string, amount shop.Money) error
}

// ErrDeclined is the error (wrapped) of a payment the provider refused.
var ErrDeclined = errors.New("payment declined")

// FakeMode is how a FakePayment answers Authorize.
type FakeMode string

// Fake provider modes.
const (
	// FakeApprove authorises every payment (the default).
	FakeApprove FakeMode = "approve"
	// FakeDecline declines every payment.
	FakeDecline FakeMode = "decline"
	// FakeFail fails with a provider error, authorising nothing.
	FakeFail FakeMode = "fail"
	// FakeTimeout authorises, then does not answer until the caller gives
	// up: the worst case, an authorisation the shop never heard of.
	FakeTimeout FakeMode = "timeout"
)

// FakeCall is one call a FakePayment received.
type FakeCall struct {
	Op     string // "authorize", "capture", "void" or "refund"
	Key    string
	Amount shop.Money
	// Err is what the call returned ("" for success).
	Err string
}

// FakePayment is a payment provider in memory, for tests and the demo.
// Its mode (SetMode) decides how Authorize answers; Capture, Void and
// Refund always succeed on a key in a fitting state. It records every
// call, and counts the authorisations it made per key: a correct shop
// never makes two for one key. Safe for concurrent use.
type FakePayment struct {
	mu    sync.Mutex
	mode  FakeMode
	auths map[string]*fakeAuth
	calls []FakeCall
}

type fakeAuth struct {
	id      string
	amount  shop.Money
	state   string // one of the Payment* constants
	created int    // authorisations made for the key
}

// NewFakePayment returns a FakePayment that approves.
func NewFakePayment() *FakePayment {
	return &FakePayment{mode: FakeApprove, auths: map[string]*fakeAuth{}}
}

// SetMode sets how Authorize answers from now on.
func (f *FakePayment) SetMode(m FakeMode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode = m
}

func (f *FakePayment) record(op, key string, amount shop.Money, err error) {
	c := FakeCall{Op: op, Key: key, Amount: amount}
	if err != nil {
		c.Err = err.Error()
	}
	f.calls = append(f.calls, c)
}

// Authorize implements Payment.
func (f *FakePayment) Authorize(ctx context.Context, key string, amount shop.Money) (string, error) {
	f.mu.Lock()
	mode := f.mode
	a := f.auths[key]
	var err error
	var id string
	switch {
	case a != nil && a.state == PaymentVoided && a.created == 0:
		err = fmt.Errorf("%w: voided before it was authorised", ErrDeclined)
	case a != nil && a.created > 0:
		if a.amount != amount {
			err = fmt.Errorf("fake payment: key %s was authorised for %s, not %s", key, a.amount, amount)
		} else if a.state == PaymentVoided {
			err = fmt.Errorf("%w: the authorisation was voided", ErrDeclined)
		} else {
			id = a.id
		}
	case mode == FakeDecline:
		err = fmt.Errorf("%w: insufficient funds (fake)", ErrDeclined)
	case mode == FakeFail:
		err = errors.New("fake payment: provider error")
	default:
		sum := sha256.Sum256([]byte(key))
		a = &fakeAuth{id: "fake_" + hex.EncodeToString(sum[:8]), amount: amount, state: PaymentAuthorized, created: 1}
		f.auths[key] = a
		id = a.id
	}
	if mode == FakeTimeout && err == nil {
		f.record("authorize", key, amount, context.DeadlineExceeded)
		f.mu.Unlock()
		<-ctx.Done()
		return "", ctx.Err()
	}
	f.record("authorize", key, amount, err)
	f.mu.Unlock()
	return id, err
}

// Capture implements Payment.
func (f *FakePayment) Capture(_ context.Context, key string, amount shop.Money) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.auths[key]
	var err error
	switch {
	case a == nil || a.created == 0:
		err = fmt.Errorf("%w: nothing authorised under %s", ErrDeclined, key)
	case a.state == PaymentCaptured:
	case a.state != PaymentAuthorized:
		err = fmt.Errorf("%w: the payment is %s", ErrDeclined, a.state)
	case amount != a.amount:
		err = fmt.Errorf("%w: %s authorised, %s asked", ErrDeclined, a.amount, amount)
	default:
		a.state = PaymentCaptured
	}
	f.record("capture", key, amount, err)
	return err
}

// Void implements Payment.
func (f *FakePayment) Void(_ context.Context, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.auths[key]
	var err error
	switch {
	case a == nil:
		f.auths[key] = &fakeAuth{state: PaymentVoided}
	case a.state == PaymentAuthorized:
		a.state = PaymentVoided
	case a.state == PaymentVoided:
	default:
		err = fmt.Errorf("fake payment: cannot void a payment %s", a.state)
	}
	f.record("void", key, shop.Money{}, err)
	return err
}

// Refund implements Payment.
func (f *FakePayment) Refund(_ context.Context, key string, amount shop.Money) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.auths[key]
	var err error
	switch {
	case a == nil || (a.state != PaymentCaptured && a.state != PaymentRefunded):
		err = fmt.Errorf("fake payment: nothing captured under %s", key)
	case a.state == PaymentRefunded:
	default:
		a.state = PaymentRefunded
	}
	f.record("refund", key, amount, err)
	return err
}

// Calls returns the calls received so far.
func (f *FakePayment) Calls() []FakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]FakeCall(nil), f.calls...)
}

// Authorizations returns how many authorisations were made under key
// (calls that answered with the existing one do not count).
func (f *FakePayment) Authorizations(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a := f.auths[key]; a != nil {
		return a.created
	}
	return 0
}

// State returns the state of the payment under key: one of the Payment*
// constants ("" when the key is unknown).
func (f *FakePayment) State(key string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a := f.auths[key]; a != nil {
		return a.state
	}
	return ""
}
