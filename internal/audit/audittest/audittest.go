// Package audittest checks the audit logs that services' History methods
// return (see package audit and shop.History), so that each service's
// TestHistory states what it expects and not how to compare it:
//
//	admin := audittest.By(shoptest.AdminEmail)
//	logs := audittest.Reader{History: products.History, Admin: adminCtx, Kind: product.ServiceName}
//	logs.Want(t, shop.HistoryRequest{ID: p.ID}, false,
//		admin(product.MethodUpdate, "price", "title"),
//		admin(product.MethodCreate, "price", "sku", "title"),
//	)
//	audittest.CheckRefusals(t, products.History, audittest.Refusals{...})
//
// WantLog checks a history already read.
//
// It depends on the contract only (shop, transport), never on a service.
package audittest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/transport"
)

// Change is an expected entry of an audit log.
type Change struct {
	// Action is the entry's exact action, e.g. "product.update".
	Action string
	// Fields are the entry's exact changed fields, in order (none for a
	// delete).
	Fields []string
	// By is the email of the user who made the change; "" for a change
	// the shop made itself, which names no one (no email, no user id).
	By string
	// Time, when set, is the entry's exact time; otherwise any time but
	// the zero one will do.
	Time time.Time
}

// By returns a maker of the changes that the user with email made ("" for
// the shop itself): admin := By(shoptest.AdminEmail); admin(action,
// fields...).
func By(email string) func(action string, fields ...string) Change {
	return func(action string, fields ...string) Change {
		return Change{Action: action, Fields: fields, By: email}
	}
}

// Auto returns the expected change action of fields that the shop made
// itself (an event handler, a saga step): it names no one.
func Auto(action string, fields ...string) Change {
	return Change{Action: action, Fields: fields}
}

// String describes c as failure messages show it.
func (c Change) String() string {
	by := c.By
	if by == "" {
		by = "the shop"
	}
	s := fmt.Sprintf("%s of %v by %s", c.Action, c.Fields, by)
	if !c.Time.IsZero() {
		s += " at " + c.Time.Format(time.RFC3339Nano)
	}
	return s
}

// Match returns an error describing how c differs from want, or nil: the
// action and the fields must be exactly want's, the email want.By, a user
// id present exactly when want.By is, and the time want.Time (when set)
// or at least not zero.
func Match(c shop.Change, want Change) error {
	var bad []string
	if c.Action != want.Action {
		bad = append(bad, "action")
	}
	if !slices.Equal(c.Fields, want.Fields) {
		bad = append(bad, "fields")
	}
	if c.Email != want.By {
		bad = append(bad, "email")
	}
	if (c.UserID == "") != (want.By == "") {
		bad = append(bad, "user id")
	}
	if c.Time.IsZero() || (!want.Time.IsZero() && !c.Time.Equal(want.Time)) {
		bad = append(bad, "time")
	}
	if bad != nil {
		return fmt.Errorf("%+v, want %s (wrong %v)", c, want, bad)
	}
	return nil
}

// WantLog fails t unless h is the history of the entity kind/id, deleted
// or not, listing exactly want, newest first (see Match).
func WantLog(t testing.TB, h shop.History, kind, id string, deleted bool, want ...Change) {
	t.Helper()
	if h.ID != id || h.Kind != kind || h.Deleted != deleted || len(h.Changes) != len(want) {
		t.Fatalf("history = %+v, want %s %s (deleted %v) with %d changes %v", h, kind, id, deleted, len(want), want)
	}
	for i, c := range h.Changes {
		if err := Match(c, want[i]); err != nil {
			t.Errorf("change %d of %s %s: %v", i, kind, id, err)
		}
	}
}

// HistoryFunc is a service's History method, e.g. products.History.
type HistoryFunc func(context.Context, shop.HistoryRequest) (shop.History, error)

// Reader reads one service's histories as an admin, to check them.
type Reader struct {
	// History is the service's History method.
	History HistoryFunc
	// Admin is an admin's context.
	Admin context.Context
	// Kind is the service's main kind: what a request without a Kind
	// gets.
	Kind string
}

// Want fails t unless the history req asks for, read as the admin, is
// that of req.ID, of req.Kind (Kind when empty), deleted or not, listing
// exactly want, newest first (see WantLog).
func (r Reader) Want(t testing.TB, req shop.HistoryRequest, deleted bool, want ...Change) {
	t.Helper()
	h, err := r.History(r.Admin, req)
	if err != nil {
		t.Fatalf("history %+v: %v", req, err)
	}
	WantLog(t, h, cmp.Or(req.Kind, r.Kind), req.ID, deleted, want...)
}

// Refusals are the requests a History method must refuse.
type Refusals struct {
	// Admin is an admin's context: it may read Readable, and is refused
	// Invalid and Unknown.
	Admin context.Context
	// Anonymous is a context without a user (context.Background() when
	// nil): it is refused Readable as unauthenticated.
	Anonymous context.Context
	// Customer is a customer's context: it is refused Readable as
	// forbidden.
	Customer context.Context
	// Readable are histories that exist: at least one.
	Readable []shop.HistoryRequest
	// Invalid are malformed requests (a malformed id, an unknown kind):
	// invalid.
	Invalid []shop.HistoryRequest
	// Unknown are well-formed requests for entities that never existed:
	// not_found.
	Unknown []shop.HistoryRequest
}

// CheckRefusals fails t unless history answers each request of r as r
// says: Readable read by the admin and refused to the anonymous and the
// customer, Invalid and Unknown refused to the admin.
func CheckRefusals(t testing.TB, history HistoryFunc, r Refusals) {
	t.Helper()
	if r.Admin == nil || r.Customer == nil || len(r.Readable) == 0 {
		t.Fatalf("audittest.Refusals needs Admin, Customer and a Readable request: %+v", r)
	}
	anon := r.Anonymous
	if anon == nil {
		anon = context.Background()
	}
	type call struct {
		who  string
		ctx  context.Context
		req  shop.HistoryRequest
		want transport.Code // "" for an answer
	}
	var calls []call
	for _, req := range r.Readable {
		calls = append(calls,
			call{"admin", r.Admin, req, ""},
			call{"anonymous", anon, req, transport.CodeUnauthenticated},
			call{"customer", r.Customer, req, transport.CodeForbidden})
	}
	for _, req := range r.Invalid {
		calls = append(calls, call{"admin", r.Admin, req, transport.CodeInvalid})
	}
	for _, req := range r.Unknown {
		calls = append(calls, call{"admin", r.Admin, req, transport.CodeNotFound})
	}
	for _, c := range calls {
		_, err := history(c.ctx, c.req)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("history %+v as %s: %v, want an answer", c.req, c.who, err)
		case c.want != "" && transport.CodeOf(err) != c.want:
			t.Errorf("history %+v as %s: %v, want code %s", c.req, c.who, describe(err), c.want)
		}
	}
}

// describe names err, or says there was none.
func describe(err error) string {
	if err == nil {
		return "an answer"
	}
	return err.Error()
}
