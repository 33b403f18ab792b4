package auth

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"golang.org/x/crypto/bcrypt"

	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/transport"
)

// bcryptCounter counts the bcrypt runs of the Servers it is installed in.
// hold, when set, runs inside each comparison (to slow it down).
type bcryptCounter struct {
	generated, compared atomic.Int64
	hold                func(n int64)
}

func (c *bcryptCounter) install(s *Server) {
	s.bcrypt = bcryptFuncs{
		generate: func(password []byte, cost int) ([]byte, error) {
			c.generated.Add(1)
			return bcrypt.GenerateFromPassword(password, cost)
		},
		compare: func(hash, password []byte) error {
			n := c.compared.Add(1)
			if c.hold != nil {
				c.hold(n)
			}
			return bcrypt.CompareHashAndPassword(hash, password)
		},
	}
}

func newServer(t *testing.T, db *mongo.Database, opts Options) *Server {
	t.Helper()
	opts.BcryptCost = bcrypt.MinCost
	s, err := New(db, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func wantLocked(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, shop.ErrUnauthenticated) || !strings.Contains(err.Error(), "too many") {
		t.Fatalf("got %v, want the lockout error", err)
	}
}

func failureRecord(t *testing.T, s *Server, email string) failureDoc {
	t.Helper()
	var f failureDoc
	if _, _, err := s.loadFailures(testCtx(t), email, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestLockoutHoldsAcrossReplicas: 16 concurrent wrong guesses through two
// replicas sharing a database get at most MaxFailedLogins passwords
// verified, and lock the address even for the right password.
func TestLockoutHoldsAcrossReplicas(t *testing.T) {
	db := testenv.MongoDB(t, t.Name())
	var count bcryptCounter
	replicas := []*Server{newServer(t, db, Options{}), newServer(t, db, Options{})}
	for _, s := range replicas {
		count.install(s)
	}
	ctx := testCtx(t)
	if _, err := replicas[0].Register(ctx, RegisterRequest{Email: "victim@example.com", Password: "password1"}); err != nil {
		t.Fatal(err)
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	var wrong, locked atomic.Int64
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := replicas[i%2].Login(ctx, LoginRequest{Email: "victim@example.com", Password: "guess-" + string(rune('a'+i))})
			switch {
			case err != nil && strings.Contains(err.Error(), "too many"):
				locked.Add(1)
			case errors.Is(err, shop.ErrUnauthenticated):
				wrong.Add(1)
			default:
				t.Errorf("guess %d: %v", i, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	t.Logf("wrong password: %d, refused as locked: %d, passwords verified: %d", wrong.Load(), locked.Load(), count.compared.Load())
	if n := count.compared.Load(); n > DefaultMaxFailedLogins {
		t.Errorf("%d passwords verified, want at most %d", n, DefaultMaxFailedLogins)
	}
	if wrong.Load() != DefaultMaxFailedLogins {
		t.Errorf("%d guesses answered as wrong, want %d", wrong.Load(), DefaultMaxFailedLogins)
	}
	before := count.compared.Load()
	for _, s := range replicas {
		_, err := s.Login(ctx, LoginRequest{Email: "victim@example.com", Password: "password1"})
		wantLocked(t, err)
	}
	if n := count.compared.Load(); n != before {
		t.Errorf("a locked address had its password verified")
	}
	if f := failureRecord(t, replicas[1], "victim@example.com"); f.Count != DefaultMaxFailedLogins || f.Pending != 0 || f.LockedUntil.IsZero() {
		t.Errorf("lockout record %+v", f)
	}
}

// TestSuccessKeepsRacingFailures: a login with the right password that
// runs alongside wrong guesses forgives none of them (only failures
// counted before it began).
func TestSuccessKeepsRacingFailures(t *testing.T) {
	db := testenv.MongoDB(t, t.Name())
	a, b := newServer(t, db, Options{}), newServer(t, db, Options{})
	ctx := testCtx(t)
	if _, err := a.Register(ctx, RegisterRequest{Email: "kim@example.com", Password: "password1"}); err != nil {
		t.Fatal(err)
	}
	// One failure before: the success forgives it.
	if _, err := b.Login(ctx, LoginRequest{Email: "kim@example.com", Password: "wrong-password"}); !errors.Is(err, shop.ErrUnauthenticated) {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	slow := bcryptCounter{hold: func(int64) { once.Do(func() { close(entered) }); <-release }}
	slow.install(a)
	done := make(chan error, 1)
	go func() {
		_, err := a.Login(ctx, LoginRequest{Email: "kim@example.com", Password: "password1"})
		done <- err
	}()
	<-entered
	// While the right password is being checked: 3 wrong guesses fill the
	// budget (1 + 3 failures and the check under way), a 4th is refused.
	for range 3 {
		if _, err := b.Login(ctx, LoginRequest{Email: "kim@example.com", Password: "wrong-password"}); !errors.Is(err, shop.ErrUnauthenticated) || strings.Contains(err.Error(), "too many") {
			t.Fatalf("wrong guess: %v", err)
		}
	}
	_, err := b.Login(ctx, LoginRequest{Email: "kim@example.com", Password: "wrong-password"})
	wantLocked(t, err)
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("the right password: %v", err)
	}
	if f := failureRecord(t, b, "kim@example.com"); f.Count != 3 || f.Pending != 0 {
		t.Fatalf("after the success: %+v, want the 3 racing failures kept", f)
	}
	// So two more failures lock the address.
	for range 2 {
		if _, err := b.Login(ctx, LoginRequest{Email: "kim@example.com", Password: "wrong-password"}); !errors.Is(err, shop.ErrUnauthenticated) {
			t.Fatal(err)
		}
	}
	_, err = b.Login(ctx, LoginRequest{Email: "kim@example.com", Password: "password1"})
	wantLocked(t, err)
}

// TestRegisterHashesEitherWay: registering a taken address runs bcrypt
// once, like registering a free one, so the answer's timing does not tell
// which addresses exist.
func TestRegisterHashesEitherWay(t *testing.T) {
	s := newServer(t, testenv.MongoDB(t, t.Name()), Options{})
	var count bcryptCounter
	count.install(s)
	ctx := testCtx(t)
	if _, err := s.Register(ctx, RegisterRequest{Email: "lee@example.com", Password: "password1"}); err != nil {
		t.Fatal(err)
	}
	if n := count.generated.Load(); n != 1 {
		t.Fatalf("a free address: %d bcrypt runs, want 1", n)
	}
	_, err := s.Register(ctx, RegisterRequest{Email: "Lee@Example.com", Password: "password2"})
	if !errors.Is(err, shop.ErrConflict) {
		t.Fatalf("a taken address: %v, want a conflict", err)
	}
	if n := count.generated.Load() + count.compared.Load(); n != 2 {
		t.Fatalf("a taken address: %d bcrypt runs, want 1", n-1)
	}
}

// TestWrongCredentialsHashEitherWay: a login with an unknown address costs
// one bcrypt comparison, as a wrong password does, so that neither answers
// faster (counted, not timed: a timing test is at the mercy of the
// machine's load).
func TestWrongCredentialsHashEitherWay(t *testing.T) {
	s := newServer(t, testenv.MongoDB(t, t.Name()), Options{})
	if _, err := s.Register(testCtx(t), RegisterRequest{Email: "dave@example.com", Password: "password1"}); err != nil {
		t.Fatal(err)
	}
	var count bcryptCounter
	count.install(s)
	for i, email := range []string{"nobody@example.com", "dave@example.com"} {
		_, err := s.Login(testCtx(t), LoginRequest{Email: email, Password: "wrong-password"})
		if !errors.Is(err, shop.ErrUnauthenticated) {
			t.Fatalf("%s: %v, want unauthenticated", email, err)
		}
		if n := count.compared.Load() + count.generated.Load(); n != int64(i+1) {
			t.Fatalf("%s: %d bcrypt runs in all after %d logins, want one each", email, n, i+1)
		}
	}
}

// TestHashSlots: with MaxConcurrentHashes 1, a login waits while another
// one's bcrypt runs, and gives up at its deadline with a transport error
// (its attempt withdrawn, not counted as a failure).
func TestHashSlots(t *testing.T) {
	s := newServer(t, testenv.MongoDB(t, t.Name()), Options{MaxConcurrentHashes: 1})
	ctx := testCtx(t)
	if _, err := s.Register(ctx, RegisterRequest{Email: "max@example.com", Password: "password1"}); err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan int64, 4), make(chan struct{})
	count := bcryptCounter{hold: func(n int64) {
		entered <- n
		if n == 1 {
			<-release
		}
	}}
	count.install(s)
	login := func(ctx context.Context) chan error {
		done := make(chan error, 1)
		go func() {
			_, err := s.Login(ctx, LoginRequest{Email: "max@example.com", Password: "password1"})
			done <- err
		}()
		return done
	}
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	first := login(ctx)
	<-entered // the first login holds the only slot

	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	var err error
	select {
	case err = <-login(short):
	case <-time.After(5 * time.Second):
		t.Fatal("a login waiting for a slot ignored its deadline")
	}
	if !errors.Is(err, shop.ErrDeadlineExceeded) && !errors.Is(err, shop.ErrUnavailable) {
		t.Fatalf("login past its deadline: %v, want deadline_exceeded or unavailable", err)
	}

	third := login(ctx)
	select {
	case n := <-entered:
		t.Fatalf("bcrypt run %d started while the only slot was taken", n)
	case err := <-third:
		t.Fatalf("a waiting login returned %v", err)
	case <-time.After(200 * time.Millisecond): // it waits
	}
	releaseOnce.Do(func() { close(release) })
	for _, done := range []chan error{first, third} {
		if err := <-done; err != nil {
			t.Fatalf("login: %v", err)
		}
	}
	if n := count.compared.Load(); n != 2 {
		t.Errorf("%d bcrypt runs, want 2 (none for the login that gave up)", n)
	}
	if f := failureRecord(t, s, "max@example.com"); f.Count != 0 || f.Pending != 0 {
		t.Errorf("lockout record %+v: the login that gave up was counted", f)
	}
}

// TestRecheckRespectsTheLock: a repeated login is refused while its
// address is locked, without its password being verified, and a repeat
// with the right password leaves no trace.
func TestRecheckRespectsTheLock(t *testing.T) {
	db := testenv.MongoDB(t, t.Name())
	s := newServer(t, db, Options{MaxFailedLogins: 2})
	ctx := testCtx(t)
	if _, err := s.Register(ctx, RegisterRequest{Email: "ola@example.com", Password: "password1"}); err != nil {
		t.Fatal(err)
	}
	repeat := transport.WithRequestID(ctx, transport.NewRequestID())
	sess, err := s.Login(repeat, LoginRequest{Email: "ola@example.com", Password: "password1"})
	if err != nil {
		t.Fatal(err)
	}
	var count bcryptCounter
	count.install(s)
	if again, err := s.Login(repeat, LoginRequest{Email: "ola@example.com", Password: "password1"}); err != nil || again != sess {
		t.Fatalf("repeat: %+v, %v", again, err)
	}
	if n, err := db.Collection(collRechecks).CountDocuments(ctx, bson.D{}); err != nil || n != 0 {
		t.Fatalf("%d recheck marks left, %v", n, err)
	}
	for range 2 {
		if _, err := s.Login(repeat, LoginRequest{Email: "ola@example.com", Password: "wrong-password"}); !errors.Is(err, shop.ErrUnauthenticated) {
			t.Fatal(err)
		}
	}
	before := count.compared.Load()
	_, err = s.Login(repeat, LoginRequest{Email: "ola@example.com", Password: "password1"})
	wantLocked(t, err)
	if count.compared.Load() != before {
		t.Fatal("the repeat's password was verified while the address was locked")
	}
}

// TestLegacyLockoutRecord: a lockout record an earlier release wrote (no
// version) is dropped, not an error.
func TestLegacyLockoutRecord(t *testing.T) {
	db := testenv.MongoDB(t, t.Name())
	s := newServer(t, db, Options{})
	ctx := testCtx(t)
	if _, err := s.Register(ctx, RegisterRequest{Email: "old@example.com", Password: "password1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Collection(collFailures).InsertOne(ctx, bson.D{
		{Key: "_id", Value: "old@example.com"}, {Key: "count", Value: 3},
		{Key: "first_at", Value: time.Now()}, {Key: "locked_until", Value: time.Time{}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Login(ctx, LoginRequest{Email: "old@example.com", Password: "wrong-password"}); !errors.Is(err, shop.ErrUnauthenticated) || strings.Contains(err.Error(), "too many") {
		t.Fatalf("login over a legacy record: %v", err)
	}
	if f := failureRecord(t, s, "old@example.com"); f.Count != 1 || f.Version == 0 {
		t.Fatalf("record %+v, want a fresh one counting 1 failure", f)
	}
}
