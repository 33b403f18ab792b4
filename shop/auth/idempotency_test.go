package auth_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/idem"
	"github.com/shopbus/shopbus/internal/idem/idemtest"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/transport"
)

// TestRequestsApplyOnce sends every state-changing method twice with one
// request id: the first call changes something, the repeat answers the
// same and changes nothing.
func TestRequestsApplyOnce(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus, auth.Options{})
		f.register(t, "login@example.com", "password1")
		f.register(t, "out@example.com", "password1")
		out := f.login(t, "out@example.com", "password1")
		f.register(t, "change@example.com", "old-password")
		change := f.login(t, "change@example.com", "old-password")
		f.login(t, "change@example.com", "old-password") // a session the change ends
		asChange := func(*testing.T) context.Context { return shop.WithToken(context.Background(), change.Token) }
		cases := []idemtest.Case{
			{Method: auth.MethodRegister, Body: `{"email":"new@example.com","password":"password1"}`},
			{Method: auth.MethodLogin, Body: `{"email":"login@example.com","password":"password1"}`},
			// A failed login counts once.
			{Method: auth.MethodLogin, Body: `{"email":"login@example.com","password":"wrong-password"}`},
			{Method: auth.MethodLogout, Body: fmt.Sprintf(`{"token":%q}`, out.Token)},
			{Method: auth.MethodChangePassword, Body: `{"old_password":"old-password","new_password":"new-password"}`, Ctx: asChange},
		}
		for _, c := range cases {
			t.Run(c.Method, func(t *testing.T) {
				before := idemtest.Snapshot(t, f.db)
				idemtest.Twice(t, bus, f.db, c, idemtest.Options{})
				if reflect.DeepEqual(before, idemtest.Snapshot(t, f.db)) {
					t.Errorf("%s %s changed nothing: the case proves nothing", c.Method, c.Body)
				}
			})
		}
		idemtest.Covered(t, auth.Handler(f.srv).Methods(), []string{auth.MethodAuthenticate}, cases)
	})
}

// TestRegisterAgainAfterACrash: a registration run again because its
// outcome was not remembered (its runner died after the change) answers
// the same user and creates no second one, whichever of its writes the
// first run made.
func TestRegisterAgainAfterACrash(t *testing.T) {
	f := start(t, bustest.New(t, "inproc"), auth.Options{})
	for i, lost := range []string{"", "emails"} { // what the crash lost besides the outcome
		ctx := transport.WithRequestID(ctxT(t), transport.NewRequestID())
		email := fmt.Sprintf("crash%d@example.com", i)
		req := auth.RegisterRequest{Email: email, Password: "password1"}
		u1, err := f.srv.Register(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.db.Collection(idem.Collection).DeleteMany(ctx, bson.D{}); err != nil {
			t.Fatal(err)
		}
		if lost != "" {
			if _, err := f.db.Collection(lost).DeleteOne(ctx, bson.D{{Key: "_id", Value: email}}); err != nil {
				t.Fatal(err)
			}
		}
		u2, err := f.srv.Register(ctx, req)
		if err != nil {
			t.Fatalf("run again (lost %q): %v", lost, err)
		}
		if u2.ID != u1.ID || u2.Email != u1.Email || !u2.CreatedAt.Equal(u1.CreatedAt) {
			t.Errorf("run again (lost %q): %+v, first %+v", lost, u2, u1)
		}
		if n, err := f.db.Collection("users").CountDocuments(ctx, bson.D{{Key: "email", Value: email}}); err != nil || n != 1 {
			t.Errorf("users with %s: %d, %v; want 1", email, n, err)
		}
		var em bson.M
		if err := f.db.Collection("emails").FindOne(ctx, bson.D{{Key: "_id", Value: email}}).Decode(&em); err != nil || em["user_id"] != u1.ID {
			t.Errorf("the address is reserved for %v (%v), want %s", em["user_id"], err, u1.ID)
		}
		f.login(t, email, "password1")
	}
	// Without a request id nothing is remembered: a second registration
	// of the address is a conflict, as ever.
	_, err := f.srv.Register(ctxT(t), auth.RegisterRequest{Email: "crash0@example.com", Password: "password1"})
	wantCode(t, err, transport.CodeConflict)
}

// TestRepeatedLoginNeedsThePassword: the request memory knows a login by
// its address, not its password, so a repeat gets the remembered session
// only with the right password; the id of a login cannot be reused for
// another address.
func TestRepeatedLoginNeedsThePassword(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus, auth.Options{})
		f.register(t, "mia@example.com", "password1")
		f.register(t, "noah@example.com", "password1")
		ctx := transport.WithRequestID(ctxT(t), transport.NewRequestID())
		s1, err := f.client.Login(ctx, auth.LoginRequest{Email: "mia@example.com", Password: "password1"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.client.Login(ctx, auth.LoginRequest{Email: "mia@example.com", Password: "wrong-password"})
		wantCode(t, err, transport.CodeUnauthenticated)
		s2, err := f.client.Login(ctx, auth.LoginRequest{Email: "mia@example.com", Password: "password1"})
		if err != nil || s2 != s1 {
			t.Fatalf("repeat with the password: %+v, %v; want %+v", s2, err, s1)
		}
		_, err = f.client.Login(ctx, auth.LoginRequest{Email: "noah@example.com", Password: "password1"})
		if e := wantCode(t, err, transport.CodeInvalid); e.Field("request_id") == "" {
			t.Errorf("reused id: %v does not name request_id", e)
		}
		if n, err := f.db.Collection("sessions").CountDocuments(ctxT(t), bson.D{}); err != nil || n != 1 {
			t.Errorf("sessions: %d, %v; want 1", n, err)
		}
		// The wrong password counted as a failed login.
		var fail struct {
			Count int `bson:"count"`
		}
		if err := f.db.Collection("login_failures").FindOne(ctxT(t), bson.D{{Key: "_id", Value: "mia@example.com"}}).Decode(&fail); err != nil || fail.Count != 1 {
			t.Errorf("failed logins of mia: %d, %v; want 1", fail.Count, err)
		}
	})
}
