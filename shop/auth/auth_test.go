package auth_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"golang.org/x/crypto/bcrypt"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/idem"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/transport"
)

// clock is an adjustable clock for Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fixture is an auth Server on a fresh database, bound on a bus, and a
// client calling it over that bus.
type fixture struct {
	db     *mongo.Database
	srv    *auth.Server
	client *auth.Client
	clock  *clock
	bus    transport.Bus
}

func start(t *testing.T, bus transport.Bus, opts auth.Options) *fixture {
	t.Helper()
	f := &fixture{db: testenv.MongoDB(t, t.Name()), clock: newClock(), bus: bus}
	if opts.BcryptCost == 0 {
		opts.BcryptCost = bcrypt.MinCost
	}
	if opts.Now == nil {
		opts.Now = f.clock.Now
	}
	srv, err := auth.New(f.db, opts)
	if err != nil {
		t.Fatalf("auth.New: %v", err)
	}
	sub, err := auth.Bind(bus, srv)
	if err != nil {
		t.Fatalf("auth.Bind: %v", err)
	}
	t.Cleanup(func() { sub.Close() })
	f.srv, f.client = srv, auth.NewClient(bus)
	return f
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func wantCode(t *testing.T, err error, code transport.Code) *transport.Error {
	t.Helper()
	var e *transport.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("got error %v, want code %s", err, code)
	}
	return e
}

func (f *fixture) register(t *testing.T, email, password string) auth.User {
	t.Helper()
	u, err := f.client.Register(ctxT(t), auth.RegisterRequest{Email: email, Password: password})
	if err != nil {
		t.Fatalf("Register(%s): %v", email, err)
	}
	return u
}

func (f *fixture) login(t *testing.T, email, password string) auth.Session {
	t.Helper()
	s, err := f.client.Login(ctxT(t), auth.LoginRequest{Email: email, Password: password})
	if err != nil {
		t.Fatalf("Login(%s): %v", email, err)
	}
	return s
}

func TestRegisterLoginAuthenticate(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus, auth.Options{})
		ctx := ctxT(t)
		u := f.register(t, "  Alice@Example.COM ", "correct horse")
		if u.ID == "" || u.Email != "alice@example.com" || len(u.Roles) != 1 || u.Roles[0] != shop.RoleCustomer {
			t.Fatalf("Register returned %+v", u)
		}
		if !u.CreatedAt.Equal(f.clock.Now()) {
			t.Errorf("CreatedAt = %v, want %v", u.CreatedAt, f.clock.Now())
		}
		s := f.login(t, "ALICE@example.com", "correct horse")
		if s.UserID != u.ID || s.Token == "" {
			t.Fatalf("Login returned %+v", s)
		}
		if want := f.clock.Now().Add(auth.DefaultSessionTTL); !s.ExpiresAt.Equal(want) {
			t.Errorf("ExpiresAt = %v, want %v", s.ExpiresAt, want)
		}
		p, err := f.client.Authenticate(ctx, s.Token)
		if err != nil {
			t.Fatal(err)
		}
		if p.UserID != u.ID || p.Email != "alice@example.com" || !p.Has(shop.RoleCustomer) || p.Has(shop.RoleAdmin) {
			t.Fatalf("Authenticate = %+v", p)
		}
		// shop.Caller goes through the same path with the token in ctx.
		if p2, err := shop.Caller(shop.WithToken(ctx, s.Token), f.client); err != nil || p2.UserID != u.ID {
			t.Fatalf("Caller = %+v, %v", p2, err)
		}
		// Each login is its own session.
		s2 := f.login(t, "alice@example.com", "correct horse")
		if s2.Token == s.Token {
			t.Fatal("two logins returned the same token")
		}
	})
}

func TestRegisterDuplicateEmail(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus, auth.Options{})
		f.register(t, "bob@example.com", "password1")
		_, err := f.client.Register(ctxT(t), auth.RegisterRequest{Email: " BOB@example.com", Password: "password2"})
		wantCode(t, err, transport.CodeConflict)
		// The first account is intact.
		f.login(t, "bob@example.com", "password1")
		n, err := f.db.Collection("users").CountDocuments(ctxT(t), bson.D{})
		if err != nil || n != 1 {
			t.Fatalf("users: %d, %v; want 1", n, err)
		}
	})
}

func TestRegisterConcurrentSameEmail(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus, auth.Options{})
		const n = 6
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = f.client.Register(ctxT(t), auth.RegisterRequest{Email: "race@example.com", Password: "password1"})
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, shop.ErrConflict):
			default:
				t.Fatalf("unexpected error: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d registrations succeeded, want 1", ok)
		}
		users, err := f.db.Collection("users").CountDocuments(ctxT(t), bson.D{})
		if err != nil || users != 1 {
			t.Fatalf("users: %d, %v; want 1 (losers must be removed)", users, err)
		}
	})
}

func TestRegisterInvalid(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus, auth.Options{})
		ok := "password1"
		cases := []struct {
			name, email, password string
			fields                []string
		}{
			{"empty", "", "", []string{"email", "password"}},
			{"blank email", "   ", ok, []string{"email"}},
			{"no at", "alice.example.com", ok, []string{"email"}},
			{"two ats", "a@b@example.com", ok, []string{"email"}},
			{"display name", "Alice <alice@example.com>", ok, []string{"email"}},
			{"operator", "$gt", ok, []string{"email"}},
			{"operator address", "$where@example.com", ok, []string{"email"}},
			{"nul", "alice\x00@example.com", ok, []string{"email"}},
			{"space", "ali ce@example.com", ok, []string{"email"}},
			{"bad domain", "alice@-example.com", ok, []string{"email"}},
			{"long email", strings.Repeat("a", 60) + "@" + strings.Repeat("b", 200) + ".com", ok, []string{"email"}},
			{"long local part", strings.Repeat("a", 65) + "@example.com", ok, []string{"email"}},
			{"short password", "alice@example.com", "1234567", []string{"password"}},
			{"long password", "alice@example.com", strings.Repeat("p", 129), []string{"password"}},
			{"nul password", "alice@example.com", "pass\x00word", []string{"password"}},
		}
		for _, c := range cases {
			_, err := f.client.Register(ctxT(t), auth.RegisterRequest{Email: c.email, Password: c.password})
			e := wantCode(t, err, transport.CodeInvalid)
			for _, field := range c.fields {
				if e.Field(field) == "" {
					t.Errorf("%s: no field error for %s in %v", c.name, field, e)
				}
			}
			if len(e.Fields) != len(c.fields) {
				t.Errorf("%s: field errors %v, want only %v", c.name, e.Fields, c.fields)
			}
		}
		// Limits are inclusive.
		f.register(t, "edge@example.com", strings.Repeat("p", 128))
		f.register(t, "edge2@example.com", "12345678")

		// Wrong JSON types, including an operator object smuggled in a
		// string field, never get past the decoder.
		for _, body := range []string{
			`{"email": {"$gt": ""}, "password": "password1"}`,
			`{"email": "alice@example.com", "password": 12345678}`,
			`{"email": ["alice@example.com"], "password": "password1"}`,
			`not json`,
		} {
			_, err := bus.Call(ctxT(t), auth.MethodRegister, []byte(body))
			e := wantCode(t, err, transport.CodeInvalid)
			if len(e.Fields) == 0 {
				t.Errorf("%s: no field errors in %v", body, e)
			}
		}
		_, err := bus.Call(ctxT(t), auth.MethodLogin, []byte(`{"email": "alice@example.com", "password": {"$ne": ""}}`))
		if e := wantCode(t, err, transport.CodeInvalid); e.Field("password") == "" {
			t.Errorf("no password field error in %v", e)
		}
		n, err := f.db.Collection("users").CountDocuments(ctxT(t), bson.D{})
		if err != nil || n != 2 {
			t.Fatalf("users: %d, %v; want only the 2 valid ones", n, err)
		}
	})
}

func TestLoginInvalid(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus, auth.Options{})
		_, err := f.client.Login(ctxT(t), auth.LoginRequest{})
		e := wantCode(t, err, transport.CodeInvalid)
		if e.Field("email") == "" || e.Field("password") == "" {
			t.Fatalf("field errors: %v", e)
		}
		_, err = f.client.Login(ctxT(t), auth.LoginRequest{Email: "$ne", Password: "x"})
		wantCode(t, err, transport.CodeInvalid)
		_, err = f.client.Login(ctxT(t), auth.LoginRequest{Email: "a@example.com", Password: strings.Repeat("x", 129)})
		wantCode(t, err, transport.CodeInvalid)
	})
}

func TestLongPasswordsCountInFull(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus, auth.Options{})
		pw := strings.Repeat("a", 100) + "1"
		f.register(t, "long@example.com", pw)
		f.login(t, "long@example.com", pw)
		// bcrypt alone would ignore everything after byte 72.
		_, err := f.client.Login(ctxT(t), auth.LoginRequest{Email: "long@example.com", Password: strings.Repeat("a", 100) + "2"})
		wantCode(t, err, transport.CodeUnauthenticated)
	})
}

func TestWrongCredentialsLookAlike(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus, auth.Options{})
		f.register(t, "carol@example.com", "password1")
		_, errUnknown := f.client.Login(ctxT(t), auth.LoginRequest{Email: "nobody@example.com", Password: "password1"})
		_, errWrong := f.client.Login(ctxT(t), auth.LoginRequest{Email: "carol@example.com", Password: "password2"})
		e1 := wantCode(t, errUnknown, transport.CodeUnauthenticated)
		e2 := wantCode(t, errWrong, transport.CodeUnauthenticated)
		if e1.Error() != e2.Error() {
			t.Fatalf("unknown address: %q, wrong password: %q; want the same", e1, e2)
		}
	})
}

func TestLockout(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus, auth.Options{})
		f.register(t, "erin@example.com", "password1")
		fail := func(email string) error {
			_, err := f.client.Login(ctxT(t), auth.LoginRequest{Email: email, Password: "wrong-password"})
			return err
		}
		loginErr := func(email string) error {
			_, err := f.client.Login(ctxT(t), auth.LoginRequest{Email: email, Password: "password1"})
			return err
		}

		// Failures spread wider than the window do not lock.
		for range 4 {
			wantCode(t, fail("erin@example.com"), transport.CodeUnauthenticated)
		}
		f.clock.Advance(auth.DefaultLockoutWindow)
		for range 4 {
			wantCode(t, fail("erin@example.com"), transport.CodeUnauthenticated)
		}
		if err := loginErr("erin@example.com"); err != nil {
			t.Fatalf("login after 4 failures in the window: %v", err)
		}
		// A successful login resets the count.
		for range 4 {
			wantCode(t, fail("erin@example.com"), transport.CodeUnauthenticated)
		}
		if err := loginErr("erin@example.com"); err != nil {
			t.Fatalf("login after a reset and 4 failures: %v", err)
		}

		// Five failures within 15 minutes lock the address, even for the
		// right password.
		for i := range 5 {
			wantCode(t, fail("erin@example.com"), transport.CodeUnauthenticated)
			f.clock.Advance(time.Minute)
			_ = i
		}
		// Now 1 minute after the 5th failure.
		e := wantCode(t, loginErr("Erin@Example.com"), transport.CodeUnauthenticated)
		if !strings.Contains(e.Message, "too many") {
			t.Errorf("locked login says %q", e.Message)
		}
		f.clock.Advance(13 * time.Minute) // 14 minutes after the lock
		wantCode(t, loginErr("erin@example.com"), transport.CodeUnauthenticated)
		f.clock.Advance(time.Minute + time.Second) // past 15 minutes
		if err := loginErr("erin@example.com"); err != nil {
			t.Fatalf("login after the lock ended: %v", err)
		}

		// Unknown addresses lock the same way, so a lock reveals nothing.
		for range 5 {
			wantCode(t, fail("ghost@example.com"), transport.CodeUnauthenticated)
		}
		e2 := wantCode(t, fail("ghost@example.com"), transport.CodeUnauthenticated)
		if e2.Message != e.Message {
			t.Errorf("unknown locked address says %q, known one %q", e2.Message, e.Message)
		}
		// Other addresses are unaffected.
		if err := loginErr("erin@example.com"); err != nil {
			t.Fatalf("erin after ghost's lock: %v", err)
		}
	})
}

func TestLockoutConcurrentFailures(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus, auth.Options{})
		f.register(t, "frank@example.com", "password1")
		var wg sync.WaitGroup
		for range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := f.client.Login(ctxT(t), auth.LoginRequest{Email: "frank@example.com", Password: "wrong-password"})
				if !errors.Is(err, shop.ErrUnauthenticated) {
					t.Errorf("failed login: %v", err)
				}
			}()
		}
		wg.Wait()
		// No failure may be lost: the five lock the address.
		_, err := f.client.Login(ctxT(t), auth.LoginRequest{Email: "frank@example.com", Password: "password1"})
		wantCode(t, err, transport.CodeUnauthenticated)
	})
}

func TestSessionExpiry(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus, auth.Options{SessionTTL: time.Hour})
		ctx := ctxT(t)
		f.register(t, "gina@example.com", "password1")
		s := f.login(t, "gina@example.com", "password1")
		if want := f.clock.Now().Add(time.Hour); !s.ExpiresAt.Equal(want) {
			t.Fatalf("ExpiresAt = %v, want %v", s.ExpiresAt, want)
		}
		f.clock.Advance(59 * time.Minute)
		if _, err := f.client.Authenticate(ctx, s.Token); err != nil {
			t.Fatalf("before expiry: %v", err)
		}
		fresh := f.login(t, "gina@example.com", "password1")
		f.clock.Advance(time.Minute)
		_, err := f.client.Authenticate(ctx, s.Token)
		wantCode(t, err, transport.CodeUnauthenticated)
		if _, err := f.client.Authenticate(ctx, fresh.Token); err != nil {
			t.Fatalf("fresh session: %v", err)
		}

		// Cleanup removes the expired session and keeps the live one.
		sessions := f.db.Collection("sessions")
		if n, _ := sessions.CountDocuments(ctx, bson.D{}); n != 2 {
			t.Fatalf("%d sessions before cleanup, want 2", n)
		}
		removed, err := f.srv.CleanupExpired(ctx)
		if err != nil || removed != 1 {
			t.Fatalf("CleanupExpired = %d, %v; want 1", removed, err)
		}
		if n, _ := sessions.CountDocuments(ctx, bson.D{}); n != 1 {
			t.Fatalf("%d sessions after cleanup, want 1", n)
		}
		if _, err := f.client.Authenticate(ctx, fresh.Token); err != nil {
			t.Fatalf("fresh session after cleanup: %v", err)
		}
	})
}

func TestCleanupFailedLogins(t *testing.T) {
	bus := bustest.New(t, "inproc")
	f := start(t, bus, auth.Options{})
	ctx := ctxT(t)
	for range 5 {
		_, err := f.client.Login(ctx, auth.LoginRequest{Email: "x@example.com", Password: "wrong-password"})
		wantCode(t, err, transport.CodeUnauthenticated)
	}
	_, err := f.client.Login(ctx, auth.LoginRequest{Email: "y@example.com", Password: "wrong-password"})
	wantCode(t, err, transport.CodeUnauthenticated)
	failures := f.db.Collection("login_failures")
	f.clock.Advance(auth.DefaultLockoutWindow)
	// y's window is over; x is still locked (locked at the same instant,
	// until exactly now + 0: the lock ends at the window end).
	f.clock.Advance(-time.Second)
	if removed, err := f.srv.CleanupExpired(ctx); err != nil || removed != 0 {
		t.Fatalf("CleanupExpired before the window ends = %d, %v; want 0", removed, err)
	}
	f.clock.Advance(2 * time.Second)
	if removed, err := f.srv.CleanupExpired(ctx); err != nil || removed != 2 {
		t.Fatalf("CleanupExpired = %d, %v; want 2", removed, err)
	}
	if n, _ := failures.CountDocuments(ctx, bson.D{}); n != 0 {
		t.Fatalf("%d failure records left", n)
	}
}

func TestRunCleansUp(t *testing.T) {
	bus := bustest.New(t, "inproc")
	f := start(t, bus, auth.Options{SessionTTL: time.Minute, CleanupInterval: 10 * time.Millisecond})
	ctx := ctxT(t)
	f.register(t, "nina@example.com", "password1")
	f.login(t, "nina@example.com", "password1")
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.srv.Run(runCtx) }()
	sessions := f.db.Collection("sessions")
	time.Sleep(50 * time.Millisecond)
	if n, _ := sessions.CountDocuments(ctx, bson.D{}); n != 1 {
		t.Fatalf("Run removed a live session: %d left", n)
	}
	f.clock.Advance(time.Minute)
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := sessions.CountDocuments(ctx, bson.D{})
		if err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("expired session still there: %d, %v", n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
}

func TestTokenIsStoredOnlyAsHash(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus, auth.Options{})
		ctx := ctxT(t)
		const password = "secret password 42"
		f.register(t, "hank@example.com", password)
		s := f.login(t, "hank@example.com", password)
		sum := sha256.Sum256([]byte(s.Token))
		var doc bson.M
		if err := f.db.Collection("sessions").FindOne(ctx, bson.D{{Key: "_id", Value: hex.EncodeToString(sum[:])}}).Decode(&doc); err != nil {
			t.Fatalf("no session keyed by the token's SHA-256: %v", err)
		}
		names, err := f.db.ListCollectionNames(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			cur, err := f.db.Collection(name).Find(ctx, bson.D{})
			if err != nil {
				t.Fatal(err)
			}
			var docs []bson.Raw
			if err := cur.All(ctx, &docs); err != nil {
				t.Fatal(err)
			}
			for _, d := range docs {
				text := d.String()
				// The request memory keeps Login's reply until it expires.
				if strings.Contains(text, s.Token) && name != idem.Collection {
					t.Errorf("collection %s stores the raw token: %s", name, text)
				}
				if strings.Contains(text, password) {
					t.Errorf("collection %s stores the raw password: %s", name, text)
				}
			}
		}
	})
}

func TestAuthenticateRejectsBadTokens(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus, auth.Options{})
		ctx := ctxT(t)
		f.register(t, "ivan@example.com", "password1")
		s := f.login(t, "ivan@example.com", "password1")
		sum := sha256.Sum256([]byte(s.Token))
		for _, tok := range []string{
			"", "$gt", `{"$ne": null}`, strings.Repeat("A", 43), s.Token + "x", s.Token[:42],
			hex.EncodeToString(sum[:]), // the stored hash is not a token
			strings.Repeat("x", 10000),
		} {
			_, err := f.client.Authenticate(ctx, tok)
			wantCode(t, err, transport.CodeUnauthenticated)
		}
		_, err := bus.Call(ctx, auth.MethodAuthenticate, []byte(`{"token": {"$ne": ""}}`))
		wantCode(t, err, transport.CodeInvalid)
	})
}

func TestLogout(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus, auth.Options{})
		ctx := ctxT(t)
		f.register(t, "judy@example.com", "password1")
		a := f.login(t, "judy@example.com", "password1")
		b := f.login(t, "judy@example.com", "password1")
		if err := f.client.Logout(ctx, a.Token); err != nil {
			t.Fatal(err)
		}
		_, err := f.client.Authenticate(ctx, a.Token)
		wantCode(t, err, transport.CodeUnauthenticated)
		if _, err := f.client.Authenticate(ctx, b.Token); err != nil {
			t.Fatalf("the other session ended too: %v", err)
		}
		// Logging out again, or a token that never existed, is fine.
		if err := f.client.Logout(ctx, a.Token); err != nil {
			t.Fatalf("second logout: %v", err)
		}
		if err := f.client.Logout(ctx, "$gt"); err != nil {
			t.Fatalf("logout of garbage: %v", err)
		}
		wantCode(t, f.client.Logout(ctx, ""), transport.CodeInvalid)
	})
}

func TestChangePassword(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus, auth.Options{})
		ctx := ctxT(t)
		f.register(t, "kate@example.com", "old-password")
		f.register(t, "other@example.com", "other-password")
		a := f.login(t, "kate@example.com", "old-password")
		b := f.login(t, "kate@example.com", "old-password")
		other := f.login(t, "other@example.com", "other-password")
		asA := shop.WithToken(ctx, a.Token)

		// No token, or a bad one.
		wantCode(t, f.client.ChangePassword(ctx, auth.ChangePasswordRequest{OldPassword: "old-password", NewPassword: "new-password"}), transport.CodeUnauthenticated)
		wantCode(t, f.client.ChangePassword(shop.WithToken(ctx, "nope"), auth.ChangePasswordRequest{OldPassword: "old-password", NewPassword: "new-password"}), transport.CodeUnauthenticated)
		// Bad input.
		e := wantCode(t, f.client.ChangePassword(asA, auth.ChangePasswordRequest{NewPassword: "short"}), transport.CodeInvalid)
		if e.Field("old_password") == "" || e.Field("new_password") == "" {
			t.Fatalf("field errors: %v", e)
		}
		// Wrong old password.
		e = wantCode(t, f.client.ChangePassword(asA, auth.ChangePasswordRequest{OldPassword: "wrong-password", NewPassword: "new-password"}), transport.CodeInvalid)
		if e.Field("old_password") == "" {
			t.Fatalf("field errors: %v", e)
		}
		if _, err := f.client.Authenticate(ctx, b.Token); err != nil {
			t.Fatalf("a failed change ended a session: %v", err)
		}

		if err := f.client.ChangePassword(asA, auth.ChangePasswordRequest{OldPassword: "old-password", NewPassword: "new-password"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.client.Authenticate(ctx, a.Token); err != nil {
			t.Fatalf("the caller's session ended: %v", err)
		}
		_, err := f.client.Authenticate(ctx, b.Token)
		wantCode(t, err, transport.CodeUnauthenticated)
		if _, err := f.client.Authenticate(ctx, other.Token); err != nil {
			t.Fatalf("another user's session ended: %v", err)
		}
		_, err = f.client.Login(ctx, auth.LoginRequest{Email: "kate@example.com", Password: "old-password"})
		wantCode(t, err, transport.CodeUnauthenticated)
		f.login(t, "kate@example.com", "new-password")
	})
}

func TestChangePasswordCountsTowardsLockout(t *testing.T) {
	bus := bustest.New(t, "inproc")
	f := start(t, bus, auth.Options{})
	ctx := ctxT(t)
	f.register(t, "leo@example.com", "password1")
	s := f.login(t, "leo@example.com", "password1")
	asLeo := shop.WithToken(ctx, s.Token)
	for range 5 {
		wantCode(t, f.client.ChangePassword(asLeo, auth.ChangePasswordRequest{OldPassword: "guess-guess", NewPassword: "new-password"}), transport.CodeInvalid)
	}
	wantCode(t, f.client.ChangePassword(asLeo, auth.ChangePasswordRequest{OldPassword: "password1", NewPassword: "new-password"}), transport.CodeUnauthenticated)
	_, err := f.client.Login(ctx, auth.LoginRequest{Email: "leo@example.com", Password: "password1"})
	wantCode(t, err, transport.CodeUnauthenticated)
}

func TestAdminAccount(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		opts := auth.Options{AdminEmail: "Admin@Shop.test", AdminPassword: "admin-password"}
		f := start(t, bus, opts)
		ctx := ctxT(t)
		s := f.login(t, "admin@shop.test", "admin-password")
		p, err := f.client.Authenticate(ctx, s.Token)
		if err != nil || !p.Has(shop.RoleAdmin) {
			t.Fatalf("admin principal = %+v, %v", p, err)
		}
		if _, err := shop.RequireAdmin(shop.WithToken(ctx, s.Token), f.client); err != nil {
			t.Fatalf("RequireAdmin: %v", err)
		}

		// New again on the same database (a restart): no second account,
		// and a changed password option does not reset the password.
		opts.BcryptCost, opts.Now = bcrypt.MinCost, f.clock.Now
		opts.AdminPassword = "another-password"
		if _, err := auth.New(f.db, opts); err != nil {
			t.Fatalf("second New: %v", err)
		}
		if n, _ := f.db.Collection("users").CountDocuments(ctx, bson.D{}); n != 1 {
			t.Fatalf("%d users after restart, want 1", n)
		}
		f.login(t, "admin@shop.test", "admin-password")

		// A customer is not an admin.
		f.register(t, "mia@example.com", "password1")
		cs := f.login(t, "mia@example.com", "password1")
		_, err = shop.RequireAdmin(shop.WithToken(ctx, cs.Token), f.client)
		wantCode(t, err, transport.CodeForbidden)
	})
}

// TestAdminEmailRegisteredFirst: an account registered with the admin
// e-mail address before the shop was configured (say by a stranger on the
// public site) becomes the admin account only with the configured
// password; the password its registrant chose no longer gets in, and the
// sessions it had are ended.
func TestAdminEmailRegisteredFirst(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus, auth.Options{})
		ctx := ctxT(t)
		squatter := f.register(t, "Boss@Shop.test", "squatter-password")
		s1 := f.login(t, "boss@shop.test", "squatter-password")
		s2 := f.login(t, "boss@shop.test", "squatter-password")

		var logs testenv.Buffer
		opts := auth.Options{BcryptCost: bcrypt.MinCost, Now: f.clock.Now, Logger: logs.Logger(),
			AdminEmail: "boss@shop.test", AdminPassword: "configured-password"}
		if _, err := auth.New(f.db, opts); err != nil {
			t.Fatalf("New with the admin e-mail taken: %v", err)
		}
		if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), squatter.ID) {
			t.Errorf("no warning naming the account was logged:\n%s", logs.String())
		}
		for _, s := range []auth.Session{s1, s2} {
			_, err := f.client.Authenticate(ctx, s.Token)
			wantCode(t, err, transport.CodeUnauthenticated)
		}
		_, err := f.client.Login(ctx, auth.LoginRequest{Email: "boss@shop.test", Password: "squatter-password"})
		wantCode(t, err, transport.CodeUnauthenticated)
		admin := f.login(t, "boss@shop.test", "configured-password")
		p := mustAuth(t, f.client, admin.Token)
		if p.UserID != squatter.ID || !p.Has(shop.RoleAdmin) || !p.Has(shop.RoleCustomer) {
			t.Fatalf("admin principal %+v, want the account %s with both roles", p, squatter.ID)
		}
		if n, _ := f.db.Collection("users").CountDocuments(ctx, bson.D{}); n != 1 {
			t.Fatalf("%d users, want 1", n)
		}

		// A restart leaves the admin account, its password and its
		// sessions alone.
		opts.AdminPassword = "another-password"
		if _, err := auth.New(f.db, opts); err != nil {
			t.Fatalf("New again: %v", err)
		}
		mustAuth(t, f.client, admin.Token)
		f.login(t, "boss@shop.test", "configured-password")
	})
}

func mustAuth(t *testing.T, c *auth.Client, token string) shop.Principal {
	t.Helper()
	p, err := c.Authenticate(ctxT(t), token)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNewRejectsBadOptions(t *testing.T) {
	db := testenv.MongoDB(t, t.Name())
	for _, o := range []auth.Options{
		{BcryptCost: 3},
		{BcryptCost: 32},
		{SessionTTL: -time.Second},
		{AdminEmail: "admin@shop.test"},
		{AdminPassword: "password1"},
		{AdminEmail: "not-an-email", AdminPassword: "password1"},
		{AdminEmail: "admin@shop.test", AdminPassword: "short"},
		{MaxFailedLogins: -1},
		{MaxConcurrentHashes: -1},
	} {
		if _, err := auth.New(db, o); !errors.Is(err, shop.ErrInvalid) {
			t.Errorf("New(%+v) = %v, want invalid", o, err)
		}
	}
}
