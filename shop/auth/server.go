package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"golang.org/x/crypto/bcrypt"

	"github.com/shopbus/shopbus/internal/docstore"
	"github.com/shopbus/shopbus/internal/idem"
	"github.com/shopbus/shopbus/internal/indexes"
	"github.com/shopbus/shopbus/internal/keylock"
	"github.com/shopbus/shopbus/shop"
)

// Defaults for Options fields left zero.
const (
	DefaultBcryptCost      = 12
	DefaultSessionTTL      = 7 * 24 * time.Hour
	DefaultMaxFailedLogins = 5
	DefaultLockoutWindow   = 15 * time.Minute
	DefaultLockoutDuration = 15 * time.Minute
	DefaultCleanupInterval = 10 * time.Minute
)

// Options configure a Server. The zero value means the defaults.
type Options struct {
	// BcryptCost is the bcrypt work factor for new password hashes
	// (bcrypt.MinCost to bcrypt.MaxCost; default 12). Tests use
	// bcrypt.MinCost.
	BcryptCost int
	// SessionTTL is how long a session lasts after login (default 7 days).
	SessionTTL time.Duration
	// AdminEmail and AdminPassword, when both set, make New ensure an
	// account with the admin role exists. It is created with this password
	// if missing. An account that has the admin role already keeps its
	// password (a changed AdminPassword does not reset it). An account
	// without the admin role, say one registered as a customer on the
	// public site before the shop was configured, never becomes the admin
	// with a password someone else chose: New replaces its password with
	// AdminPassword, grants the role, ends every session it had, and logs
	// a warning.
	AdminEmail, AdminPassword string
	// MaxFailedLogins is how many failed logins for one e-mail address
	// within LockoutWindow lock the address (default 5). It also bounds the
	// passwords verified per window: an attempt is counted before its
	// password is checked, and refused as locked while the failures plus
	// the attempts under way reach this number, however many replicas
	// serve them. A successful login forgives the failures counted before
	// it began, not those of attempts running alongside it, and none
	// while the address is locked.
	MaxFailedLogins int
	// LockoutWindow is the period failed logins are counted in (default
	// 15 minutes from the first attempt that did not succeed at once).
	LockoutWindow time.Duration
	// LockoutDuration is how long a locked address rejects every login
	// (default 15 minutes).
	LockoutDuration time.Duration
	// CleanupInterval is how often Run calls CleanupExpired (default 10
	// minutes).
	CleanupInterval time.Duration
	// MaxConcurrentHashes is how many bcrypt runs (hashing or checking a
	// password) may run at once (default half the CPUs the process may
	// use, runtime.GOMAXPROCS(0)/2, at least 1), so that a flood of logins
	// or registrations leaves CPUs to everything else. A request waiting for a slot gives up when
	// its context ends, with a deadline_exceeded (or unavailable) error.
	MaxConcurrentHashes int
	// Now is the clock (default time.Now); tests inject their own.
	Now func() time.Time
	// Logger receives what the service logs (default slog.Default()). It
	// never sees a password, hash or token.
	Logger *slog.Logger
}

// Collection names in the service's database.
const (
	collUsers    = "users"
	collEmails   = "emails"
	collSessions = "sessions"
	collFailures = "login_failures"
	collRechecks = "login_rechecks"
)

// Server is the auth service on MongoDB. Create it with New. Its methods
// are safe for concurrent use.
type Server struct {
	opts      Options
	log       *slog.Logger
	users     *mongo.Collection
	emails    *mongo.Collection
	sessions  *mongo.Collection
	failures  *mongo.Collection
	rechecks  *mongo.Collection
	requests  *idem.Store // the requests handled (see package idem)
	dummyHash []byte      // compared against when the e-mail address is unknown
	// failVersions writes the failures collection by compare-and-set (see
	// changeFailures); failLock serialises those writes per e-mail
	// address within the process, to spare conflicts.
	failVersions *docstore.Versions
	failLock     keylock.Map
	hashSlots    chan struct{} // one element per bcrypt run under way
	bcrypt       bcryptFuncs
}

// userDoc is an account in the users collection.
type userDoc struct {
	ID                string      `bson:"_id"`
	Email             string      `bson:"email"`
	PasswordHash      string      `bson:"password_hash"`
	Roles             []shop.Role `bson:"roles"`
	CreatedAt         time.Time   `bson:"created_at"`
	PasswordChangedAt time.Time   `bson:"password_changed_at"`
}

// emailDoc reserves a normalised e-mail address (its _id) for one user.
type emailDoc struct {
	Email  string `bson:"_id"`
	UserID string `bson:"user_id"`
}

// sessionDoc is a session, keyed by the hex SHA-256 of its token. It
// carries what Authenticate returns so that it needs no second lookup.
type sessionDoc struct {
	ID        string      `bson:"_id"`
	UserID    string      `bson:"user_id"`
	Email     string      `bson:"email"`
	Roles     []shop.Role `bson:"roles"`
	CreatedAt time.Time   `bson:"created_at"`
	ExpiresAt time.Time   `bson:"expires_at"`
}

// New returns the auth service storing its data in db. It creates the
// indexes it needs and, if Options.AdminEmail and AdminPassword are set,
// ensures the admin account (see Options). Invalid options give an
// invalid error.
func New(db *mongo.Database, opts Options) (*Server, error) {
	if db == nil {
		return nil, errors.New("auth: nil database")
	}
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	s := &Server{
		opts:     opts,
		log:      opts.Logger,
		users:    db.Collection(collUsers),
		emails:   db.Collection(collEmails),
		sessions: db.Collection(collSessions),
		failures: db.Collection(collFailures),
		rechecks: db.Collection(collRechecks),
		requests: idem.New(db, idem.Options{Logger: opts.Logger}),

		hashSlots: make(chan struct{}, opts.MaxConcurrentHashes),
		bcrypt:    realBcrypt,
	}
	s.failVersions = docstore.NewVersions(s.failures, "version", opts.Logger)
	var err error
	s.dummyHash, err = bcrypt.GenerateFromPassword(prehash("not a real password"), opts.BcryptCost)
	if err != nil {
		return nil, fmt.Errorf("auth: dummy hash: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Only _id lookups are hot; these indexes serve the rare scans
	// (ending a user's sessions, cleanup) on a real MongoDB. TTL indexes
	// are not used: FerretDB lacks them, and CleanupExpired does the job.
	if err := indexes.Ensure(ctx, s.sessions, bson.D{{Key: "user_id", Value: 1}}, bson.D{{Key: "expires_at", Value: 1}}); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if opts.AdminEmail != "" {
		if err := s.ensureAdmin(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Validate reports whether New would accept o: an invalid error naming
// the first field (as spelled in Options) that is out of range.
func (o Options) Validate() error { return o.setDefaults() }

func (o *Options) setDefaults() error {
	switch {
	case o.BcryptCost == 0:
		o.BcryptCost = DefaultBcryptCost
	case o.BcryptCost < bcrypt.MinCost || o.BcryptCost > bcrypt.MaxCost:
		return shop.Invalid("invalid auth options", "BcryptCost", fmt.Sprintf("must be %d to %d", bcrypt.MinCost, bcrypt.MaxCost))
	}
	durations := []struct {
		name string
		d    *time.Duration
		def  time.Duration
	}{
		{"SessionTTL", &o.SessionTTL, DefaultSessionTTL},
		{"LockoutWindow", &o.LockoutWindow, DefaultLockoutWindow},
		{"LockoutDuration", &o.LockoutDuration, DefaultLockoutDuration},
		{"CleanupInterval", &o.CleanupInterval, DefaultCleanupInterval},
	}
	for _, f := range durations {
		if *f.d < 0 {
			return shop.Invalid("invalid auth options", f.name, "must not be negative")
		}
		if *f.d == 0 {
			*f.d = f.def
		}
	}
	if o.MaxFailedLogins < 0 {
		return shop.Invalid("invalid auth options", "MaxFailedLogins", "must not be negative")
	}
	if o.MaxFailedLogins == 0 {
		o.MaxFailedLogins = DefaultMaxFailedLogins
	}
	if o.MaxConcurrentHashes < 0 {
		return shop.Invalid("invalid auth options", "MaxConcurrentHashes", "must not be negative")
	}
	if o.MaxConcurrentHashes == 0 {
		o.MaxConcurrentHashes = max(1, runtime.GOMAXPROCS(0)/2)
	}
	if (o.AdminEmail == "") != (o.AdminPassword == "") {
		return shop.Invalid("invalid auth options", "AdminEmail", "AdminEmail and AdminPassword must be set together")
	}
	if o.AdminEmail != "" {
		email, msg := normaliseEmail(o.AdminEmail)
		if msg != "" {
			return shop.Invalid("invalid auth options", "AdminEmail", msg)
		}
		o.AdminEmail = email
		if msg := checkNewPassword(o.AdminPassword); msg != "" {
			return shop.Invalid("invalid auth options", "AdminPassword", msg)
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// now returns the clock's time in UTC at the millisecond precision that
// BSON dates keep, so stored and computed times compare exactly.
func (s *Server) now() time.Time { return s.opts.Now().UTC().Truncate(time.Millisecond) }

// errBadCredentials is the one answer for an unknown address or a wrong
// password.
func errBadCredentials() error { return shop.Unauthenticated("wrong e-mail address or password") }

func errNoSession() error { return shop.Unauthenticated("invalid or expired session") }

func errLocked() error {
	return shop.Unauthenticated("too many failed logins for this e-mail address; try again later")
}

// Register implements Service. The password stays out of the request
// memory: a repeat is recognised by its address (and caller).
func (s *Server) Register(ctx context.Context, r RegisterRequest) (User, error) {
	return idem.Do(ctx, s.requests, MethodRegister, RegisterRequest{Email: r.Email}, func(ctx context.Context) (User, error) {
		email, emailMsg := normaliseEmail(r.Email)
		pwMsg := checkNewPassword(r.Password)
		if err := fieldErrors("invalid registration", "email", emailMsg, "password", pwMsg); err != nil {
			return User{}, err
		}
		// The id derives from the request id, so that a run of this request
		// that crashed before its outcome was remembered is found again.
		id := idem.NewID(ctx, "user")
		// Hash before looking the address up, so that a taken address
		// costs the same bcrypt run as a free one and the answer's timing
		// does not tell which addresses are registered.
		hash, err := s.hash(ctx, r.Password)
		if err != nil {
			return User{}, err
		}
		// The check spares the inserts for a taken address; the insert of
		// the address is what guarantees uniqueness.
		var em emailDoc
		if err := s.emails.FindOne(ctx, bson.D{{Key: "_id", Value: email}}).Decode(&em); err == nil {
			if em.UserID != id {
				return User{}, errEmailTaken()
			}
		} else if !errors.Is(err, mongo.ErrNoDocuments) {
			return User{}, s.internal(ctx, "look up e-mail", err)
		}
		u, err := s.create(ctx, id, email, hash, []shop.Role{shop.RoleCustomer})
		if err != nil {
			return User{}, err
		}
		return u.public(), nil
	})
}

func errEmailTaken() error { return shop.Conflict("e-mail address already registered") }

// create inserts the user id, with the password hash, and then reserves
// its e-mail address; if the address is taken the user is removed again
// and a conflict returned. (A crash in between leaves a user nobody can
// reach, which is harmless.) A user id that exists already, with this
// address, was left by an earlier run of the same request: create carries
// on with it, and returns it.
func (s *Server) create(ctx context.Context, id, email, hash string, roles []shop.Role) (userDoc, error) {
	now := s.now()
	u := userDoc{ID: id, Email: email, PasswordHash: hash, Roles: roles, CreatedAt: now, PasswordChangedAt: now}
	if _, err := s.users.InsertOne(ctx, u); mongo.IsDuplicateKeyError(err) {
		old, lerr := s.userByID(ctx, id)
		switch {
		case lerr != nil:
			return userDoc{}, lerr
		case old == nil:
			return userDoc{}, s.internal(ctx, "insert user", err) // removed meanwhile: try again
		case old.Email != email:
			// The request id was used before, for another address.
			return userDoc{}, shop.Invalid("request id reused", "request_id", "was used for a different request")
		}
		u = *old
	} else if err != nil {
		return userDoc{}, s.internal(ctx, "insert user", err)
	}
	if _, err := s.emails.InsertOne(ctx, emailDoc{Email: email, UserID: u.ID}); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			var em emailDoc
			if s.emails.FindOne(ctx, bson.D{{Key: "_id", Value: email}}).Decode(&em) == nil && em.UserID == u.ID {
				return u, nil // reserved by the earlier run
			}
		}
		if _, derr := s.users.DeleteOne(context.WithoutCancel(ctx), bson.D{{Key: "_id", Value: u.ID}}); derr != nil {
			s.log.WarnContext(ctx, "auth: cannot remove user after failed registration", "user_id", u.ID, "err", derr)
		}
		if mongo.IsDuplicateKeyError(err) {
			return userDoc{}, errEmailTaken()
		}
		return userDoc{}, s.internal(ctx, "reserve e-mail", err)
	}
	return u, nil
}

func (u userDoc) public() User {
	return User{ID: u.ID, Email: u.Email, Roles: u.Roles, CreatedAt: u.CreatedAt}
}

// ensureAdmin makes sure the account of Options.AdminEmail exists and has
// the admin role. An account that lacked the role gets the configured
// password in the same write as the role, and its sessions are ended (see
// Options.AdminEmail).
func (s *Server) ensureAdmin(ctx context.Context) error {
	email := s.opts.AdminEmail
	var hash string
	adminHash := func() (string, error) {
		if hash != "" {
			return hash, nil
		}
		var err error
		hash, err = s.hash(ctx, s.opts.AdminPassword)
		return hash, err
	}
	for attempt := 0; attempt < 3; attempt++ {
		var em emailDoc
		err := s.emails.FindOne(ctx, bson.D{{Key: "_id", Value: email}}).Decode(&em)
		if errors.Is(err, mongo.ErrNoDocuments) {
			h, err := adminHash()
			if err != nil {
				return err
			}
			_, err = s.create(ctx, uuid.NewString(), email, h, []shop.Role{shop.RoleCustomer, shop.RoleAdmin})
			if errors.Is(err, shop.ErrConflict) {
				continue // created concurrently: look at it
			}
			if err == nil {
				s.log.InfoContext(ctx, "auth: admin account created", "email", email)
			}
			return err
		}
		if err != nil {
			return s.internal(ctx, "look up admin e-mail", err)
		}
		u, err := s.userByID(ctx, em.UserID)
		if err != nil {
			return err
		}
		if u == nil {
			// The address is reserved for a user that does not exist
			// (should not happen): free it and create the account.
			if _, err := docstore.Delete(ctx, s.emails, email, docstore.Equal("user_id", em.UserID)); err != nil {
				return s.internal(ctx, "free admin e-mail", err)
			}
			continue
		}
		if !slices.Contains(u.Roles, shop.RoleAdmin) {
			// Someone else chose this account's password (it was
			// registered before the shop was configured): the role and
			// the configured password are one write, so that no crash
			// leaves an admin with the old password.
			h, err := adminHash()
			if err != nil {
				return err
			}
			res, err := s.users.UpdateOne(ctx,
				bson.D{{Key: "_id", Value: u.ID}, {Key: "roles", Value: bson.D{{Key: "$ne", Value: shop.RoleAdmin}}}},
				bson.D{
					{Key: "$set", Value: bson.D{{Key: "password_hash", Value: h}, {Key: "password_changed_at", Value: s.now()}}},
					{Key: "$addToSet", Value: bson.D{{Key: "roles", Value: shop.RoleAdmin}}},
				})
			if err != nil {
				return s.internal(ctx, "grant admin role", err)
			}
			if res.MatchedCount == 0 {
				continue // changed meanwhile: look again
			}
			s.log.WarnContext(ctx, "auth: the admin e-mail address belonged to an account without the admin role; "+
				"it was made the admin account with the configured password, and its sessions are ended",
				"email", email, "user_id", u.ID)
		}
		// Sessions started before the account had the admin role lack it:
		// end them. This runs on every start, so that it also ends those
		// a crash right after the promotion left behind.
		if _, err := s.sessions.DeleteMany(ctx, bson.D{
			{Key: "user_id", Value: u.ID},
			{Key: "roles", Value: bson.D{{Key: "$ne", Value: shop.RoleAdmin}}},
		}); err != nil {
			return s.internal(ctx, "end sessions of the admin account", err)
		}
		return nil
	}
	return fmt.Errorf("auth: cannot ensure admin account %s: it keeps changing", email)
}

// Login implements Service. A repeat (same request id, caller and
// address) is answered with the session the first one started, once its
// password is checked again: the request memory does not know the
// password, and must not give the session to a wrong one.
func (s *Server) Login(ctx context.Context, r LoginRequest) (Session, error) {
	ran := false
	sess, err := idem.Do(ctx, s.requests, MethodLogin, LoginRequest{Email: r.Email}, func(ctx context.Context) (Session, error) {
		ran = true
		return s.login(ctx, r)
	})
	if err != nil || ran {
		return sess, err
	}
	return s.recheck(ctx, r, sess)
}

// recheck returns the remembered session sess of a repeated login if r
// holds the password of its user, and fails like a wrong password
// otherwise. A wrong password counts towards the lockout; a right one
// leaves the database as it was (see beginRecheck).
func (s *Server) recheck(ctx context.Context, r LoginRequest, sess Session) (Session, error) {
	email, _ := normaliseEmail(r.Email)
	end, err := s.beginRecheck(ctx, email)
	if err != nil {
		return Session{}, err
	}
	failed := false
	defer func() { end(failed) }()
	u, err := s.userByID(ctx, sess.UserID)
	if err != nil {
		return Session{}, err
	}
	hash := s.dummyHash
	if u != nil {
		hash = []byte(u.PasswordHash)
	}
	ok, err := s.verify(ctx, hash, r.Password)
	if err != nil {
		return Session{}, err
	}
	if !ok || u == nil {
		failed = true
		return Session{}, errBadCredentials()
	}
	return sess, nil
}

// login checks r's credentials and starts a session. The attempt is
// counted before the password is verified (see beginAttempt).
func (s *Server) login(ctx context.Context, r LoginRequest) (Session, error) {
	email, emailMsg := normaliseEmail(r.Email)
	pwMsg := checkPassword(r.Password)
	if err := fieldErrors("invalid login", "email", emailMsg, "password", pwMsg); err != nil {
		return Session{}, err
	}
	a, err := s.beginAttempt(ctx, email)
	if err != nil {
		return Session{}, err
	}
	how := attemptWithdrawn
	defer func() { s.finishAttempt(ctx, a, how) }()
	u, err := s.userByEmail(ctx, email)
	if err != nil {
		return Session{}, err
	}
	hash := s.dummyHash
	if u != nil {
		hash = []byte(u.PasswordHash)
	}
	// Always run bcrypt, against a dummy hash of the same cost for an
	// unknown address, so the answer takes as long either way.
	ok, err := s.verify(ctx, hash, r.Password)
	if err != nil {
		return Session{}, err
	}
	if u == nil || !ok {
		how = attemptFailed
		return Session{}, errBadCredentials()
	}
	how = attemptSucceeded
	return s.startSession(ctx, u, s.now())
}

// userByEmail returns the user with the normalised address, or nil.
func (s *Server) userByEmail(ctx context.Context, email string) (*userDoc, error) {
	var em emailDoc
	err := s.emails.FindOne(ctx, bson.D{{Key: "_id", Value: email}}).Decode(&em)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, s.internal(ctx, "look up e-mail", err)
	}
	return s.userByID(ctx, em.UserID)
}

// userByID returns the user with id, or nil.
func (s *Server) userByID(ctx context.Context, id string) (*userDoc, error) {
	var u userDoc
	err := s.users.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&u)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, s.internal(ctx, "look up user", err)
	}
	return &u, nil
}

func (s *Server) startSession(ctx context.Context, u *userDoc, now time.Time) (Session, error) {
	token, err := newToken()
	if err != nil {
		return Session{}, s.internal(ctx, "generate token", err)
	}
	doc := sessionDoc{
		ID:        hashToken(token),
		UserID:    u.ID,
		Email:     u.Email,
		Roles:     u.Roles,
		CreatedAt: now,
		ExpiresAt: now.Add(s.opts.SessionTTL),
	}
	if _, err := s.sessions.InsertOne(ctx, doc); err != nil {
		return Session{}, s.internal(ctx, "insert session", err)
	}
	return Session{Token: token, UserID: u.ID, ExpiresAt: doc.ExpiresAt}, nil
}

// Authenticate implements Service and shop.Authenticator. It is one
// lookup by _id, never runs bcrypt, and rejects an expired session.
//
// The filter names _id alone and the expiry is checked on the document
// found: FerretDB uses its _id index only for a filter whose sole key is
// _id, and {_id, expires_at: {$gt: now}} would scan every session
// (measured: 50 times slower with 700 sessions; see BenchmarkAuth).
func (s *Server) Authenticate(ctx context.Context, token string) (shop.Principal, error) {
	if !wellFormedToken(token) {
		return shop.Principal{}, errNoSession()
	}
	var doc sessionDoc
	err := s.sessions.FindOne(ctx, bson.D{{Key: "_id", Value: hashToken(token)}}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return shop.Principal{}, errNoSession()
	}
	if err != nil {
		return shop.Principal{}, s.internal(ctx, "look up session", err)
	}
	if !doc.ExpiresAt.After(s.now()) {
		return shop.Principal{}, errNoSession()
	}
	return shop.Principal{UserID: doc.UserID, Email: doc.Email, Roles: doc.Roles}, nil
}

// Logout implements Service.
func (s *Server) Logout(ctx context.Context, token string) error {
	_, err := idem.Do(ctx, s.requests, MethodLogout, TokenRequest{Token: token}, func(ctx context.Context) (none, error) {
		if token == "" {
			return none{}, shop.Invalid("invalid logout", "token", "is required")
		}
		if !wellFormedToken(token) {
			return none{}, nil // no such session can exist
		}
		if _, err := s.sessions.DeleteOne(ctx, bson.D{{Key: "_id", Value: hashToken(token)}}); err != nil {
			return none{}, s.internal(ctx, "delete session", err)
		}
		return none{}, nil
	})
	return err
}

// none is the reply of the methods that return only an error.
type none struct{}

// ChangePassword implements Service. A wrong old password counts as a
// failed login for the account's address, so a stolen session cannot be
// used to guess the password faster than a login could.
//
// The passwords stay out of the request memory: a repeat is recognised by
// its caller's token alone.
func (s *Server) ChangePassword(ctx context.Context, r ChangePasswordRequest) error {
	p, err := shop.Caller(ctx, s)
	if err != nil {
		return err
	}
	_, err = idem.Do(ctx, s.requests, MethodChangePassword, ChangePasswordRequest{}, func(ctx context.Context) (none, error) {
		return none{}, s.changePassword(ctx, p, r)
	})
	return err
}

func (s *Server) changePassword(ctx context.Context, p shop.Principal, r ChangePasswordRequest) error {
	token := shop.TokenFrom(ctx)
	if err := fieldErrors("invalid password change",
		"old_password", checkPassword(r.OldPassword),
		"new_password", checkNewPassword(r.NewPassword)); err != nil {
		return err
	}
	a, err := s.beginAttempt(ctx, p.Email)
	if err != nil {
		return err
	}
	how := attemptWithdrawn
	defer func() { s.finishAttempt(ctx, a, how) }()
	u, err := s.userByID(ctx, p.UserID)
	if err != nil {
		return err
	}
	if u == nil {
		return errNoSession()
	}
	ok, err := s.verify(ctx, []byte(u.PasswordHash), r.OldPassword)
	if err != nil {
		return err
	}
	if !ok {
		how = attemptFailed
		return shop.Invalid("wrong password", "old_password", "is not the current password")
	}
	how = attemptSucceeded
	hash, err := s.hash(ctx, r.NewPassword)
	if err != nil {
		return err
	}
	if _, err := s.users.UpdateOne(ctx, bson.D{{Key: "_id", Value: u.ID}}, bson.D{{Key: "$set", Value: bson.D{
		{Key: "password_hash", Value: hash},
		{Key: "password_changed_at", Value: s.now()},
	}}}); err != nil {
		return s.internal(ctx, "update password", err)
	}
	if _, err := s.sessions.DeleteMany(ctx, bson.D{
		{Key: "user_id", Value: u.ID},
		{Key: "_id", Value: bson.D{{Key: "$ne", Value: hashToken(token)}}},
	}); err != nil {
		return s.internal(ctx, "end other sessions", err)
	}
	s.log.InfoContext(ctx, "auth: password changed", "user_id", u.ID)
	return nil
}

// CleanupExpired deletes expired sessions and failed-login records that
// no longer count or lock, and returns how many documents it removed.
// Expiry is enforced by every query anyway; this only reclaims space.
// Call it periodically (Run does).
func (s *Server) CleanupExpired(ctx context.Context) (int64, error) {
	now := s.now()
	res, err := s.sessions.DeleteMany(ctx, bson.D{{Key: "expires_at", Value: bson.D{{Key: "$lte", Value: now}}}})
	if err != nil {
		return 0, s.internal(ctx, "delete expired sessions", err)
	}
	n := res.DeletedCount
	res, err = s.failures.DeleteMany(ctx, bson.D{
		{Key: "first_at", Value: bson.D{{Key: "$lte", Value: now.Add(-s.opts.LockoutWindow)}}},
		{Key: "locked_until", Value: bson.D{{Key: "$lte", Value: now}}},
	})
	if err != nil {
		return n, s.internal(ctx, "delete stale failed logins", err)
	}
	n += res.DeletedCount
	res, err = s.rechecks.DeleteMany(ctx, bson.D{{Key: "at", Value: bson.D{{Key: "$lte", Value: now.Add(-recheckStale)}}}})
	if err != nil {
		return n, s.internal(ctx, "delete stale login recheck marks", err)
	}
	return n + res.DeletedCount, nil
}

// Run calls CleanupExpired every Options.CleanupInterval until ctx ends,
// logging failures, and then returns nil.
func (s *Server) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.CleanupInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if n, err := s.CleanupExpired(ctx); err != nil {
				if ctx.Err() == nil {
					s.log.ErrorContext(ctx, "auth: cleanup failed", "err", err)
				}
			} else if n > 0 {
				s.log.DebugContext(ctx, "auth: cleaned up", "removed", n)
			}
		}
	}
}

// internal logs a storage failure and returns the error the caller
// sees (shop.StorageFailure).
func (s *Server) internal(ctx context.Context, what string, err error) error {
	out := shop.StorageFailure(ctx, "auth: "+what, err)
	if errors.Is(out, shop.ErrInternal) {
		s.log.ErrorContext(ctx, "auth: "+what, "err", err)
	}
	return out
}

// prehash maps a password of any length to 44 bytes (base64 of its
// SHA-256) for bcrypt, which ignores everything after 72 bytes and
// rejects NUL-free input longer than that.
func prehash(password string) []byte {
	sum := sha256.Sum256([]byte(password))
	out := make([]byte, base64.StdEncoding.EncodedLen(len(sum)))
	base64.StdEncoding.Encode(out, sum[:])
	return out
}

// tokenBytes is the number of random bytes in a session token.
const tokenBytes = 32

// tokenLen is the length of an encoded token.
var tokenLen = base64.RawURLEncoding.EncodedLen(tokenBytes)

func newToken() (string, error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// hashToken returns what the service stores for a token, as the session
// document's _id: the hex SHA-256 of it.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// wellFormedToken reports whether token looks like one newToken makes.
func wellFormedToken(token string) bool {
	if len(token) != tokenLen {
		return false
	}
	for i := 0; i < len(token); i++ {
		c := token[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
